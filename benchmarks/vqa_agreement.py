"""Agreement of the VQA scorer with the reference evaluator on generated images; prints JSON.

The built-in model generates images of val prompts. Each image is asked (a) the grammar questions of
its prompt and (b) those of prompts one change away (perturb.one_change_variants and a swapped-binding
negative), so "no" answers are measured too. Reference answers come from the objects the reference
evaluator detects (`evaluation.reference.evaluate(...).objects`, well-formed ones), read with the same
question semantics the VQA training labels use (builtin.scene_answers); a question whose parent the
reference answers "no" is skipped, as DSG would. Reported:
- per_question: agreement per question kind (entity, attribute, count, relation), with the reference's
  yes-rate and the balanced accuracy (mean of the yes- and no-recall), for (a) and for (a)+(b);
- group_level: the evaluator's own questions (one per object group, one per relation) against the
  VQA verdict on the matching grammar questions (all of the group's questions passed, DSG rule);
- per_image: correlation of VQA faithfulness with the evaluator's all-questions score.

    python benchmarks/vqa_agreement.py [--per-category 20] [--per-prompt 2] [--vqa builtin] [--renders]
                                       [--images runs/vqa_agreement.npz]  (reused when it exists)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np

from diffalign.builtin import BUILTIN_MODEL_DIR, BUILTIN_SCORER_DIR
from diffalign.questions.scene_answers import SceneObject
from diffalign.builtin_training.vqa_data import scene_questions
from diffalign.evaluation.reference import evaluate
from diffalign.questions import GrammarQuestionGenerator, QuestionSet, passed
from diffalign.scorers import make_scorer
from diffalign.world import parse
from diffalign.world.prompts import first_per_category, shipped_prompts
from diffalign.world.render import render_prompt


def images_of(prompts, per_prompt: int, renders: bool, guidance: float) -> list[np.ndarray]:
    if renders:  # a control: clean renders of the same prompts
        return [render_prompt(parse(p.text), s)[0] for p in prompts for s in range(per_prompt)]
    from diffalign.models import load_pipeline
    from diffalign.sampling import SamplerConfig, sample

    pipe = load_pipeline("builtin", device="cpu")
    texts = [p.text for p in prompts for _ in range(per_prompt)]
    seeds = [s for _ in prompts for s in range(per_prompt)]
    return [s.image for s in sample(pipe, texts, seeds, SamplerConfig(guidance=guidance))]


def group_verdicts(qs: QuestionSet, verdict: dict[int, bool]) -> list[bool]:
    """Per object group (entity roots in order) whether all its questions passed, then the relation's."""
    roots = [q.id for q in qs.questions if not q.parents]
    out = [all(verdict[q.id] for q in qs.questions if q.id == r or q.parents == (r,)) for r in roots]
    return out + [verdict[q.id] for q in qs.questions if q.kind == "relation"]


def summary(pairs: list[tuple[str, bool, bool]]) -> dict:
    """pairs of (kind, reference answer, VQA answer) -> per-kind agreement, yes-rate, balanced accuracy."""
    out = {}
    for kind in (*dict.fromkeys(k for k, _, _ in pairs), "all"):
        sel = [(r, v) for k, r, v in pairs if kind in ("all", k)]
        if not sel:
            continue
        ref, vqa = np.array(sel).T
        recalls = [float((vqa[ref == side] == side).mean()) for side in (True, False) if (ref == side).any()]
        out[kind] = {"n": len(sel), "agreement": round(float((ref == vqa).mean()), 4),
                     "reference_yes_rate": round(float(ref.mean()), 4),
                     "balanced_accuracy": round(float(np.mean(recalls)), 4)}
    return out


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-category", type=int, default=20)
    parser.add_argument("--per-prompt", type=int, default=2)
    parser.add_argument("--vqa", default="builtin", help="VQA model: builtin or a BLIP hub id / path")
    parser.add_argument("--guidance", type=float, default=3.0)
    parser.add_argument("--renders", action="store_true", help="clean renders instead of generated images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--images", type=Path,
                        help="an .npz of the images: written after generating, read if it exists")
    args = parser.parse_args()
    t0 = time.perf_counter()
    prompts = first_per_category(shipped_prompts("val"), args.per_category)
    if args.images and args.images.exists():
        images = list(np.load(args.images)["images"])
    else:
        images = images_of(prompts, args.per_prompt, args.renders, args.guidance)
        if args.images:
            args.images.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(args.images, images=np.stack(images))
    t_images = time.perf_counter() - t0
    if len(images) != len(prompts) * args.per_prompt:
        raise SystemExit(f"{args.images} holds {len(images)} images, not {len(prompts)} prompts x {args.per_prompt}")
    scorer = make_scorer("vqa", model=args.vqa, questions="grammar")
    generator = GrammarQuestionGenerator()
    rng = np.random.default_rng(args.seed)
    own, neighbours, groups, faith, ref_scores = [], [], [], [], []
    for k, image in enumerate(images):
        prompt = prompts[k // args.per_prompt]
        spec = parse(prompt.text)
        result = evaluate(image, spec, prompt.category)
        seen = [SceneObject(o.shape, o.color, o.texture, o.size, o.cx, o.cy) for o in result.objects if o.well_formed]
        asked = scene_questions(spec, seen, generator, rng)
        p = scorer.answerer.p_yes(np.stack([image] * len(asked)), [t for t, _, _ in asked])
        mine = {q.text for q in generator.generate(prompt.text).questions}
        for (text, kind, ref), value in zip(asked, p):
            (own if text in mine else neighbours).append((kind, ref, bool(value >= scorer.threshold)))
        qs = generator.generate(prompt.text)
        answers = scorer.answers(image[None], [qs])[0]
        verdict = passed(qs, answers, scorer.threshold)
        groups.extend(zip((q.kind for q in result.questions), (q.answer for q in result.questions),
                          group_verdicts(qs, verdict)))
        faith.append(sum(verdict.values()) / len(verdict))
        ref_scores.append(float(np.mean([q.answer for q in result.questions])))
    faith, ref_scores = np.array(faith), np.array(ref_scores)
    print(json.dumps({
        "images": len(images), "source": "renders" if args.renders else "generated (builtin, guidance "
        f"{args.guidance})", "prompts": len(prompts), "vqa": args.vqa,
        "weights": {"unet": digest(Path(str(BUILTIN_MODEL_DIR)) / "unet" / "diffusion_pytorch_model.safetensors"),
                    **({"vqa": digest(Path(str(BUILTIN_SCORER_DIR)) / "vqa" / "model.safetensors")}
                       if args.vqa == "builtin" else {})},
        "per_question": {"prompt_questions": summary(own), "with_one_change_questions": summary(own + neighbours)},
        "group_level": summary(groups),
        "per_image": {"pearson_faithfulness_vs_reference": round(float(np.corrcoef(faith, ref_scores)[0, 1]), 4)
                      if faith.std() > 0 and ref_scores.std() > 0 else None,
                      "mean_faithfulness": round(float(faith.mean()), 4),
                      "mean_reference_score": round(float(ref_scores.mean()), 4)},
        "seconds": {"images": round(t_images, 1), "total": round(time.perf_counter() - t0, 1)},
    }, indent=1))


if __name__ == "__main__":
    main()
