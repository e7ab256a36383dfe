"""DreamBlend on the built-in world: personalize two-tone subjects, sample every checkpoint and blends
(early checkpoint guiding the late one), score subject fidelity, prompt fidelity and diversity; prints
JSON and writes OUT/dreamblend.png (the checkpoint trade-off) and OUT/<subject>/grid.png.

    python benchmarks/dreamblend.py [--out runs/dreamblend] [--train-steps 200] [--save-every 25] [--lr 1e-3]
        [--seeds 4] [--alphas 0.5,1,2] [--guidance-steps 10] [--targets to_v,to_out.0] [--handoffs 2,10,18]
        [--local-blend 0.8] [--first-seed 4]
        [--coloured-class]
        [--clip HUB_ID --dino HUB_ID]

Subject fidelity: pattern (pixel check of the two-tone split, world/subjects.pattern_match), CLIP-I and
DINO (built-in CLIP image tower: pooled embedding; patch tokens) against the references. Prompt
fidelity: context (reference evaluator on the prompt beyond the subject) and CLIP-T. combined = the
mean of pattern and context. objects: objects the reference evaluator finds per image (the prompts ask for
2-3). blend_minus_end_combined_95: each blend's combined score minus each end's, 95 % interval of a paired bootstrap
over the context prompts within subjects (all configurations sample the same prompts and seeds). Reruns resume
(personalization checkpoints are kept in OUT).

--local-blend T: rows local_ALPHA, the blends with local blending (sampling/guidance.py): the edit checkpoint's latent
only where the guide attends to the subject, the guide's elsewhere, every step.

--handoffs K,...: a diagnosis beside the blends (rows handoff_K): the guide checkpoint denoises the first K steps
and the edit checkpoint the rest, from the same noise; it shows in which denoising steps the edit checkpoint
gains the subject and loses the context.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from diffalign.evaluation.personalization import (  # noqa: E402
    ClipFeatures, DinoFeatures, PatchFeatures, context_score, diversity, mean_similarity, paired_similarity,
    without_token)
from diffalign.evaluation.reference import detect  # noqa: E402
from diffalign.evaluation.stats import gain_interval  # noqa: E402
from diffalign.models import default_guidance, load_adapter, load_pipeline  # noqa: E402
from diffalign.images import save_grid  # noqa: E402
from diffalign.sampling import SamplerConfig, sample  # noqa: E402
from diffalign.sampling.guidance import CrossAttentionGuidance, GuidanceConfig  # noqa: E402
from diffalign.sampling.sampler import decode, encode_images  # noqa: E402
from diffalign.training import AdapterConfig, TrainConfig  # noqa: E402
from diffalign.training.personalize import PersonalizeConfig, personalize  # noqa: E402
from diffalign.world.spec import ObjectSpec  # noqa: E402
from diffalign.world.subjects import SUBJECTS, Subject, pattern_match, render_subject  # noqa: E402
from diffalign.world.vocab import COLORS, PLURALS  # noqa: E402

TOKEN = "sks"
PAPER = {"clip_i": 0.808, "clip_t": 0.308, "dino": 0.675}  # DreamBlend on the DreamBooth benchmark (SD)
# The subject beside another object of its class, with new colours, counts, textures and positions: the
# built-in base model binds a colour to a different shape poorly, so contexts keep the subject's shape.
CONTEXTS = ("{s} and a {c} {shape}", "{s} and two {c} {plural}", "{s} to the left of a {c} {shape}",
            "{s} above a {c} {shape}", "{s} and a small {c} striped {shape}", "{s} below a large {c} {shape}")


def context_prompts(subject: Subject, instance_prompt: str) -> list[str]:
    """The subject (its instance prompt) in new contexts, in colours other than its own."""
    others = [c for c in COLORS if c not in subject.colors]
    return [t.format(s=instance_prompt, c=others[i % len(others)], shape=subject.shape,
                     plural=PLURALS[subject.shape]) for i, t in enumerate(CONTEXTS)]


class Handoff:
    """Sampler hook (LatentSteer) that leaves the latent alone and switches the active adapter from the
    guide to the edit checkpoint after `k` denoising steps."""

    def __init__(self, unet, k: int, guide: str, edit: str) -> None:
        self.unet, self.k, self.guide, self.edit = unet, k, guide, edit

    def begin(self, batch_size: int) -> None:
        pass

    def start(self, latents, context, prompts, scheduler, generators) -> None:
        pass

    def finish(self, latents: torch.Tensor) -> torch.Tensor:
        return latents

    def steer(self, index: int, timestep: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        self.unet.set_adapters(self.guide if index < self.k else self.edit)
        return latents

    def step(self, state) -> None:
        pass

    def end(self) -> dict:
        return {}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def score(images: np.ndarray, prompts: list[str], subject: Subject, refs: dict, clip, dino) -> tuple[dict, list]:
    """Per-configuration means of every metric, and each sample's combined score (for the intervals)."""
    image_clip, image_dino = clip.images(images), dino.images(images)
    texts = clip.texts([without_token(p, TOKEN) for p in prompts])
    pattern = np.array([pattern_match(im, subject).score for im in images])
    context = np.array([context_score(im, p, TOKEN, subject) for im, p in zip(images, prompts)])
    metrics = {
        "pattern": pattern.mean(),
        "clip_i": mean_similarity(image_clip, refs["clip"]).mean().item(),
        "dino": mean_similarity(image_dino, refs["dino"]).mean().item(),
        "context": context.mean(),
        "clip_t": paired_similarity(image_clip, texts).mean().item(),
        "diversity": diversity(image_dino, prompts),
        "objects": np.mean([len(detect(im)[0]) for im in images]),  # the prompts ask for 2 or 3
    }
    metrics["combined"] = (metrics["pattern"] + metrics["context"]) / 2
    return {k: float(v) for k, v in metrics.items()}, ((pattern + context) / 2).tolist()


def run_subject(args, subject: Subject, clip, dino, sampler: SamplerConfig) -> dict:
    out = args.out / subject.name
    rng = np.random.default_rng(args.seed + SUBJECTS.index(subject))
    refs = np.stack([render_subject(subject, rng) for _ in range(args.references)])
    (out / "refs").mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(refs):
        Image.fromarray(im).save(out / "refs" / f"{i}.png")
    adapter = AdapterConfig(kind="lora", rank=8, alpha=8, target_modules=args.targets and tuple(args.targets))
    class_prompt = (ObjectSpec(subject.shape, color=subject.colors[0]).phrase() if args.coloured_class
                    else subject.class_prompt)
    config = PersonalizeConfig(token=TOKEN, class_prompt=class_prompt, save_every=args.save_every,
                               class_images=args.class_images, adapter=adapter,
                               train=TrainConfig(steps=args.train_steps, batch_size=8, lr=args.lr, seed=args.seed),
                               sampler=sampler)
    t0 = time.perf_counter()
    checkpoints = personalize(load_pipeline(args.model), refs, config, out, progress=False)
    log(f"{subject.name}: personalized in {time.perf_counter() - t0:.0f}s")
    pipe = load_pipeline(args.model)
    for folder in checkpoints:
        load_adapter(pipe, folder, args.model, name=folder.name)
    ceiling = decode(pipe, encode_images(pipe, refs))  # what the autoencoder can show of the subject at best
    ref_features = {"clip": clip.images(refs), "dino": dino.images(refs)}
    contexts = context_prompts(subject, config.prompt())
    prompts = [p for p in contexts for _ in range(args.seeds)]
    seeds = [args.first_seed + k for _ in contexts for k in range(args.seeds)]
    results, combined, grids, seconds = {}, {}, [], {}
    for name in ["base", *(f.name for f in checkpoints)]:
        if name == "base":
            pipe.unet.disable_adapters()
        else:
            pipe.unet.enable_adapters()
            pipe.unet.set_adapters(name)
        t0 = time.perf_counter()
        samples = sample(pipe, prompts, seeds, sampler, progress=False)
        seconds[name] = time.perf_counter() - t0
        results[name], combined[name] = score(np.stack([s.image for s in samples]), prompts, subject, ref_features,
                                              clip, dino)
        grids.append([s.image for s in samples[:: args.seeds]])
    guide, edit = checkpoints[args.guide_index].name, checkpoints[-1].name
    hooks = {f"blend_{alpha:g}": CrossAttentionGuidance(pipe, GuidanceConfig(alpha, args.guidance_steps, guide, edit),
                                                        sampler.guidance) for alpha in args.alphas}
    hooks.update({f"local_{alpha:g}": CrossAttentionGuidance(
        pipe, GuidanceConfig(alpha, args.guidance_steps, guide, edit, local_blend=args.local_blend, token=TOKEN),
        sampler.guidance) for alpha in (args.alphas if args.local_blend is not None else ())})
    hooks.update({f"handoff_{k}": Handoff(pipe.unet, k, guide, edit) for k in args.handoffs})
    for name, hook in hooks.items():
        t0 = time.perf_counter()
        samples = sample(pipe, prompts, seeds, sampler, (hook,), progress=False)
        seconds[name] = time.perf_counter() - t0
        row, combined[name] = score(np.stack([s.image for s in samples]), prompts, subject, ref_features, clip, dino)
        if isinstance(hook, CrossAttentionGuidance):
            row["attention_distance"] = float(np.mean([s.scores["attention_distance"] for s in samples]))
        results[name] = row
        grids.append([s.image for s in samples[:: args.seeds]])
    save_grid([im for row in grids for im in row], columns=len(CONTEXTS), path=out / "grid.png")
    log(f"{subject.name}: " + ", ".join(f"{k} combined {v['combined']:.3f}" for k, v in results.items()))
    return {"results": results, "combined": combined, "prompts": prompts, "guide": guide, "edit": edit,
            "seconds": seconds,
            "pattern_ceiling": float(np.mean([pattern_match(im, subject).score for im in ceiling]))}


def combined_rows(per_subject: dict, config: str) -> dict:
    """One configuration's per-sample combined scores as a benchmark dict (a subject stands for a category), so
    that evaluation.stats gives paired intervals: every configuration samples the same prompts and seeds."""
    return {"rows": [{"category": name, "prompt": p, "score": c}
                     for name, r in per_subject.items() for p, c in zip(r["prompts"], r["combined"][config])]}


def plot(summary: dict, steps: list[int], path: Path) -> None:
    fig, (curves, plane) = plt.subplots(1, 2, figsize=(11, 4))
    names = ["base", *(f"checkpoint-{s}" for s in steps)]
    steps = [0, *steps]
    blends = [k for k in summary if k.startswith(("blend_", "local_"))]
    for metric, style in (("pattern", "o-"), ("clip_i", "s--"), ("dino", "^--"), ("context", "o-"), ("clip_t", "v--")):
        line, = curves.plot(steps, [summary[n][metric] for n in names], style, label=metric)
        for b in blends:
            curves.axhline(summary[b][metric], color=line.get_color(), lw=0.8, ls=":")
    curves.set_xlabel("fine-tuning step (0: base model)")
    curves.set_ylabel("score (dotted: blend)")
    curves.set_title("subject (pattern, CLIP-I, DINO) vs prompt (context, CLIP-T) fidelity")
    curves.legend(fontsize=7)
    plane.plot([summary[n]["context"] for n in names], [summary[n]["pattern"] for n in names], "o-", color="grey")
    for s, n in zip(steps, names):
        plane.annotate(str(s), (summary[n]["context"], summary[n]["pattern"]), fontsize=7)
    for b in blends:
        label = b.replace("_", " alpha ").replace("local", "local blend")
        plane.plot(summary[b]["context"], summary[b]["pattern"], "*", ms=12, label=label)
    plane.set_xlabel("prompt fidelity (context, reference evaluator)")
    plane.set_ylabel("subject fidelity (pattern)")
    plane.set_title("checkpoints (grey) and blends")
    plane.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="builtin")
    parser.add_argument("--out", type=Path, default=Path("runs/dreamblend"))
    parser.add_argument("--subjects", type=int, default=len(SUBJECTS), help="use the first N subjects")
    parser.add_argument("--references", type=int, default=4)
    parser.add_argument("--class-images", type=int, default=16)
    parser.add_argument("--train-steps", type=int, default=200)
    parser.add_argument("--save-every", type=int, default=25)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seeds", type=int, default=4, help="samples per context prompt")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="sample seeds FIRST..FIRST+SEEDS-1 (other seeds than a tuning run's: a held-out check)")
    parser.add_argument("--steps", type=int, default=20, help="denoising steps")
    parser.add_argument("--alphas", type=lambda s: [float(a) for a in s.split(",")], default=[0.5, 1.0, 2.0])
    parser.add_argument("--guidance-steps", type=int, default=10)
    parser.add_argument("--local-blend", type=float, metavar="THRESHOLD",
                        help="also sample every alpha with local blending (rows local_ALPHA): outside the guide's "
                        "subject mask at this threshold, the guide's latent")
    parser.add_argument("--handoffs", type=lambda s: [int(k) for k in s.split(",")], default=[],
                        help="also sample hand-offs: the guide for the first K steps, then the edit checkpoint")
    parser.add_argument("--guide-index", type=int, default=0, help="which checkpoint guides (0 = the first)")
    parser.add_argument("--clip", help="CLIP hub id for CLIP-I/CLIP-T (default: the built-in CLIP)")
    parser.add_argument("--dino", help="Dinov2Model/ViTModel hub id for DINO (default: built-in patch features)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--coloured-class", action="store_true",
                        help="class prompt 'an orange square' (the subject's first colour) instead of 'a square': "
                        "every built-in caption colours every object, so the bare class lies outside the base "
                        "model's prior")
    parser.add_argument("--targets", type=lambda s: s.split(","),
                        help="UNet modules the LoRA adapts, e.g. to_v,to_out.0 to leave the attention maps' query "
                        "and key projections to the base (key-locked); default: the model family's")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    t0 = time.perf_counter()
    clip = ClipFeatures.from_pretrained(args.clip) if args.clip else ClipFeatures.builtin()
    dino = DinoFeatures(args.dino) if args.dino else PatchFeatures.builtin()
    sampler = SamplerConfig(steps=args.steps, guidance=default_guidance(args.model))
    per_subject = {s.name: run_subject(args, s, clip, dino, sampler) for s in SUBJECTS[: args.subjects]}
    configs = list(next(iter(per_subject.values()))["results"])
    summary = {c: {m: round(float(np.mean([r["results"][c][m] for r in per_subject.values()])), 4)
                   for m in next(iter(per_subject.values()))["results"][c]} for c in configs}
    steps = [int(c.split("-")[1]) for c in configs if c.startswith("checkpoint-")]
    plot(summary, steps, args.out / "dreamblend.png")
    ends = [f"checkpoint-{steps[args.guide_index]}", f"checkpoint-{steps[-1]}"]
    blends = [c for c in configs if c.startswith(("blend_", "local_"))]
    plain_s = sum(r["seconds"][ends[1]] for r in per_subject.values())
    print(json.dumps({
        "model": args.model, "subjects": list(per_subject), "token": TOKEN, "coloured_class": args.coloured_class,
        "contexts": len(CONTEXTS), "sample_seeds": [args.first_seed, args.first_seed + args.seeds - 1],
        "samples_per_config": len(CONTEXTS) * args.seeds * len(per_subject), "denoising_steps": args.steps,
        "guidance_steps": args.guidance_steps, "guide": ends[0], "edit": ends[1],
        "summary": summary,
        "blend_beats_both_ends_on_combined": {b: all(summary[b]["combined"] > summary[e]["combined"] for e in ends)
                                              for b in blends},
        "blend_minus_end_combined_95": {b: {e: [round(v, 4) for v in gain_interval(combined_rows(per_subject, e),
                                                                                   combined_rows(per_subject, b))]
                                            for e in ends} for b in blends},
        "pattern_ceiling_vae_roundtrip": {k: round(v["pattern_ceiling"], 4) for k, v in per_subject.items()},
        "cost_guided_over_plain": {b: round(sum(r["seconds"][b] for r in per_subject.values()) / plain_s, 3)
                                   for b in blends},
        "paper_anchor_dreambooth_benchmark": PAPER,
        "per_subject": {k: v["results"] for k, v in per_subject.items()},
        "plot": str(args.out / "dreamblend.png"), "seconds": round(time.perf_counter() - t0, 1),
    }, indent=1))


if __name__ == "__main__":
    main()
