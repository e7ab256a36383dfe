"""Sanity figures of the RealignDiff rewards on the shapes world, printed as one JSON object.

1. captioner: exact match and per-field accuracy of captions of fresh renders (clean, and after a round
   trip through the built-in VAE, which is closer to what the diffusion model draws);
2. rewards on renders: how often the true prompt beats a one-attribute-swapped prompt (caption,
   segments), and how often erasing an object lowers the segmentation reward;
3. rewards on generated candidates (K per val prompt): Spearman correlation with the reference
   evaluator's score, and the reference score of the candidate that rank_sum / sum / each reward alone /
   a random pick would select (the reference evaluator is used for evaluation only).

    PYTHONPATH=src python benchmarks/realign_rewards.py --renders 200 --prompts-per-category 5 --k 8
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from scipy.stats import spearmanr

from diffalign.builtin import BUILTIN_GUIDANCE
from diffalign.builtin_training.captioner import describe
from diffalign.builtin_training.vqa_data import vae_round_trip
from diffalign.evaluation.bench import score_images
from diffalign.models import load_pipeline
from diffalign.pool import PoolRow
from diffalign.sampling import SamplerConfig, sample
from diffalign.scorers import make_scorer
from diffalign.selection import by_prompt, rank_sum, top_k
from diffalign.world.grammar import PromptError, parse
from diffalign.world.prompts import first_per_category, random_spec, shipped_prompts
from diffalign.world.render import render_prompt
from diffalign.world.vocab import BACKGROUND, CATEGORIES, COLORS, OPPOSITE_RELATION

FIELDS = ("shape", "color", "texture", "size", "count")


def renders(n: int, seed: int):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        spec = random_spec(str(rng.choice(CATEGORIES + ("single",))), rng)
        image, objects = render_prompt(spec, seed * 100_000 + i)
        out.append((spec, image, objects))
    return out


def caption_accuracy(captions: list[str], targets: list[str]) -> dict:
    """Exact string match, and per-field accuracy up to object order (the captioner cannot know which
    object a prompt named first): the caption's objects are paired with the truth's in the order that
    matches more fields; a relation counts as right when it holds in that pairing."""
    hits = {f: [] for f in FIELDS} | {"relation": [], "parsed": [], "objects_all_right": []}
    for caption, target in zip(captions, targets):
        truth = parse(target)
        try:
            got = parse(caption)
        except PromptError:
            got = None
        hits["parsed"].append(got is not None)
        if got is None or len(got.objects) != len(truth.objects):
            for f in FIELDS:
                hits[f].extend([False] * len(truth.objects))
            hits["objects_all_right"].append(False)
            if truth.relation:
                hits["relation"].append(False)
            continue
        orders = [got.objects, got.objects[::-1]] if len(got.objects) == 2 else [got.objects]
        agree = [[[getattr(a, f) == getattr(b, f) for f in FIELDS] for a, b in zip(o, truth.objects)] for o in orders]
        best = max(range(len(orders)), key=lambda k: sum(map(sum, agree[k])))
        for row in agree[best]:
            for f, ok in zip(FIELDS, row):
                hits[f].append(ok)
        hits["objects_all_right"].append(all(map(all, agree[best])))
        if truth.relation:
            said = got.relation if best == 0 else OPPOSITE_RELATION.get(got.relation)
            hits["relation"].append(said == truth.relation)
    result = {"exact_match": float(np.mean([c == t for c, t in zip(captions, targets)]))}
    return result | {k: float(np.mean(v)) if v else None for k, v in hits.items()}


def selection_quality(rows: list[PoolRow]) -> dict[str, float]:
    """Mean reference score of the candidates each selector keeps (rows carry caption, segments, reference)."""
    picked = {"rank_sum": rank_sum(rows, ["caption", "segments"]),
              "sum": rank_sum(rows, ["caption", "segments"], raw=True),
              "caption_only": top_k(rows, "caption"), "segments_only": top_k(rows, "segments"),
              "lowest_seed (random)": [min(g, key=lambda r: r.seed) for g in by_prompt(rows).values()],
              "oracle": top_k(rows, "reference")}
    return {n: float(np.mean([r.scores["reference"] for r in chosen])) for n, chosen in picked.items()}


def swapped(spec):
    color = spec.objects[0].color or "red"
    return spec.with_object(0, color=next(c for c in COLORS if c != color)).text()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--renders", type=int, default=200)
    ap.add_argument("--prompts-per-category", type=int, default=5)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()
    caption, segments = make_scorer("caption"), make_scorer("segments")
    pipe = load_pipeline("builtin", device="cpu")
    out: dict = {}

    scenes = renders(args.renders, seed=7)
    images = np.stack([im for _, im, _ in scenes])
    targets = [describe(spec, objects) for spec, _, objects in scenes]
    trip = vae_round_trip(pipe.vae, torch.from_numpy(images), None).numpy()
    out["captioner"] = {"renders": len(scenes), "clean": caption_accuracy(caption.captioner(images), targets),
                        "vae_round_trip": caption_accuracy(caption.captioner(trip), targets)}

    true = [spec.text() for spec, _, _ in scenes]
    wrong = [swapped(spec) for spec, _, _ in scenes]
    c_true, c_wrong = caption.score(images, true)["caption"], caption.score(images, wrong)["caption"]
    s_true, s_wrong = segments.score(images, true)["segments"], segments.score(images, wrong)["segments"]
    erased = images.copy()
    for k, (_, _, objects) in enumerate(scenes):
        o = objects[0]
        erased[k, o.y : o.y + o.side, o.x : o.x + o.side] = BACKGROUND
    s_erased = segments.score(erased, true)["segments"]
    out["renders"] = {"caption_true_beats_recoloured": float(np.mean(c_true > c_wrong)),
                      "segments_true_beats_recoloured": float(np.mean(s_true > s_wrong)),
                      "segments_drops_when_object_erased": float(np.mean(s_erased < s_true)),
                      "caption_mean_true": float(c_true.mean()), "segments_mean_true": float(s_true.mean())}

    prompts = first_per_category(shipped_prompts("val"), args.prompts_per_category)
    texts = [p.text for p in prompts for _ in range(args.k)]
    seeds = [s for _ in prompts for s in range(args.k)]
    config = SamplerConfig(steps=args.steps, guidance=BUILTIN_GUIDANCE, scheduler="dpm")
    generated = np.stack([s.image for s in sample(pipe, texts, seeds, config, progress=False)])
    expanded = [p for p in prompts for _ in range(args.k)]
    reference = np.array([r.score for r in score_images(expanded, list(generated), seeds)])
    rewards = {"caption": caption.score(generated, texts)["caption"],
               "segments": segments.score(generated, texts)["segments"]}
    rows = [PoolRow(id=str(i), prompt=t, category=p.category, seed=s, round=1, image="", latents="",
                    scores={"caption": float(rewards["caption"][i]), "segments": float(rewards["segments"][i]),
                            "reference": float(reference[i])})
            for i, (t, p, s) in enumerate(zip(texts, expanded, seeds))]
    out["generated"] = {
        "prompts": len(prompts), "k": args.k, "mean_reference_score": float(reference.mean()),
        "spearman_with_reference": {n: float(spearmanr(v, reference).statistic) for n, v in rewards.items()},
        "reference_score_of_selected": selection_quality(rows)}
    out["seconds"] = round(time.time() - t0, 1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
