"""Val benchmark of the fine stage: plain sampling vs regeneration with cross-attention re-weighting of
the objects the segmentation reward finds weak. The reference evaluator scores both (evaluation only).

    PYTHONPATH=src python benchmarks/attention_reweight.py --per-category 10 --per-prompt 2 --weight 2
prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from diffalign.builtin import BUILTIN_GUIDANCE
from diffalign.evaluation.bench import score_images, summarise
from diffalign.methods.realign import ReweightConfig, regenerate
from diffalign.models import load_pipeline
from diffalign.sampling import SamplerConfig, sample
from diffalign.scorers import make_scorer
from diffalign.world.prompts import first_per_category, shipped_prompts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="builtin")
    ap.add_argument("--per-category", type=int, default=10)
    ap.add_argument("--per-prompt", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--weights", default="2,4", help="comma-separated attention weights to try")
    ap.add_argument("--weak-below", type=float, default=ReweightConfig.weak_below)
    ap.add_argument("--until", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    pipe = load_pipeline(args.model, device="cpu")
    prompts = first_per_category(shipped_prompts("val"), args.per_category)
    expanded = [p for p in prompts for _ in range(args.per_prompt)]
    seeds = [k for _ in prompts for k in range(args.per_prompt)]
    sampler = SamplerConfig(steps=args.steps, guidance=BUILTIN_GUIDANCE, scheduler="dpm")
    scorer = make_scorer("segments")
    result = {"model": args.model, "prompts": len(prompts), "images": len(expanded), "steps": args.steps,
              "weak_below": args.weak_below, "until": args.until, "runs": []}
    first = sample(pipe, [p.text for p in expanded], seeds, sampler, progress=False)
    baseline = summarise(score_images(expanded, [s.image for s in first], seeds), 0)
    result["without"] = {"mean": baseline.mean, "categories": baseline.categories}
    for weight in (float(w) for w in args.weights.split(",")):
        t0 = time.time()
        out = regenerate(pipe, [p.text for p in expanded], seeds, sampler, scorer,
                         ReweightConfig(weight, args.weak_below, args.until), progress=False, first=first)
        changed = [k for k, b in enumerate(out.boosted) if b]
        after = summarise(score_images(expanded, [s.image for s in out.final], seeds), 0)
        before_rows = np.array([r.score for r in baseline.rows])
        after_rows = np.array([r.score for r in after.rows])
        result["runs"].append({
            "weight": weight, "mean": after.mean, "categories": after.categories,
            "regenerated": len(changed),
            "regenerated_score_before": float(before_rows[changed].mean()) if changed else None,
            "regenerated_score_after": float(after_rows[changed].mean()) if changed else None,
            "seconds": round(time.time() - t0, 1)})
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
