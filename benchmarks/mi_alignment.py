"""Point-wise MI as an alignment measure: Kendall tau, within each prompt's candidates, between MI
(filled in during sampling) and the reference evaluator's score, averaged over prompts; prints JSON.

    python benchmarks/mi_alignment.py [--model builtin] [--per-category 10] [--candidates 16]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from scipy.stats import kendalltau

from diffalign.evaluation.bench import score_images
from diffalign.models import load_pipeline
from diffalign.sampling import SamplerConfig, sample
from diffalign.scorers.mi import MIConfig, PointwiseMIHook
from diffalign.world.prompts import shipped_prompts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="builtin")
    parser.add_argument("--per-category", type=int, default=10)
    parser.add_argument("--candidates", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--scheduler", default=None)
    args = parser.parse_args()
    t0 = time.perf_counter()
    pipe = load_pipeline(args.model)
    prompts = []
    for p in shipped_prompts("val"):
        if sum(q.category == p.category for q in prompts) < args.per_category:
            prompts.append(p)
    expanded = [p for p in prompts for _ in range(args.candidates)]
    seeds = [k for _ in prompts for k in range(args.candidates)]
    variants = {f"{kappa}_t>{cut}": MIConfig(kappa=kappa, min_timestep=cut)
                for kappa in ("official", "paper") for cut in (0, 50)}
    hooks = []
    for name, cfg in variants.items():
        hook = PointwiseMIHook(pipe.scheduler, cfg)
        hook.name = name
        hooks.append(hook)
    samples = sample(pipe, [p.text for p in expanded], seeds, SamplerConfig(steps=args.steps, scheduler=args.scheduler),
                     tuple(hooks))
    rows = score_images(expanded, [s.image for s in samples], seeds)
    result = {}
    for name in variants:
        taus, per_category = [], {}
        for i, p in enumerate(prompts):
            block = slice(i * args.candidates, (i + 1) * args.candidates)
            ref = [r.score for r in rows[block]]
            mi = [s.scores[name] for s in samples[block]]
            if len(set(ref)) > 1:  # tau is undefined when the evaluator gives every candidate one score
                tau = kendalltau(mi, ref).statistic
                taus.append(tau)
                per_category.setdefault(p.category, []).append(tau)
        result[name] = {"mean_tau": round(float(np.mean(taus)), 4) if taus else None, "prompts_with_ties_only": len(prompts) - len(taus),
                        "per_category": {c: round(float(np.mean(v)), 4) for c, v in per_category.items()}}
    print(json.dumps({"model": args.model, "prompts": len(prompts), "candidates": args.candidates,
                      "steps": args.steps, "kendall_tau_mi_vs_reference": result,
                      "seconds": round(time.perf_counter() - t0, 1)}, indent=1))


if __name__ == "__main__":
    main()
