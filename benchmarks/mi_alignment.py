"""Point-wise MI as an alignment measure: Kendall tau, within each prompt's candidates, between MI
and the reference evaluator's score, averaged over prompts; prints JSON.

MI two ways: filled in during sampling (the trajectory estimate MI-Tune uses, each kappa variant at each
--cutoffs value) and, with --image-mi N, re-estimated on the finished image (N stratified timesteps over
t > --image-cutoff) by each of --estimators.

    python benchmarks/mi_alignment.py [--model builtin] [--per-category 10] [--candidates 16] [--image-mi 16]
        [--estimators orthogonal standard contrastive] [--cutoffs 0 50 500] [--image-cutoff 500]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from scipy.stats import kendalltau

from diffalign.evaluation.bench import score_images
from diffalign.models import default_guidance, load_pipeline
from diffalign.sampling import SamplerConfig, sample
from diffalign.scorers.mi import ESTIMATORS, KAPPA_VARIANTS, MIConfig, MIScorer, PointwiseMIHook
from diffalign.world.prompts import shipped_prompts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="builtin")
    parser.add_argument("--per-category", type=int, default=10)
    parser.add_argument("--candidates", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--scheduler", default=None)
    parser.add_argument("--guidance", type=float, default=None, help="default: the model's")
    parser.add_argument("--image-mi", type=int, default=0, help="also MI of the final images with N timesteps")
    parser.add_argument("--estimators", nargs="+", default=["orthogonal"], choices=ESTIMATORS,
                        help="with --image-mi: which estimators of the final images' MI (default: orthogonal, Eq. 2)")
    parser.add_argument("--cutoffs", nargs="+", type=int, default=[0, 50],
                        help="the hook's min_timestep values to measure (default: 0 50)")
    parser.add_argument("--image-cutoff", type=int, default=50, help="with --image-mi: its min_timestep")
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
                for kappa in KAPPA_VARIANTS for cut in args.cutoffs}
    hooks = []
    for name, cfg in variants.items():
        hook = PointwiseMIHook(pipe, cfg)
        hook.name = name
        hooks.append(hook)
    guidance = args.guidance or default_guidance(args.model)
    samples = sample(pipe, [p.text for p in expanded], seeds,
                     SamplerConfig(steps=args.steps, scheduler=args.scheduler, guidance=guidance), tuple(hooks))
    rows = score_images(expanded, [s.image for s in samples], seeds)
    names = list(variants)
    sample_and_evaluate_seconds, scoring_seconds = round(time.perf_counter() - t0, 1), {}
    if args.image_mi:
        images = np.stack([s.image for s in samples])
        for estimator in args.estimators:
            name = f"image_mi_{estimator}_t>{args.image_cutoff}"
            scorer = MIScorer(MIConfig(estimator=estimator, min_timestep=args.image_cutoff, n_timesteps=args.image_mi), pipe)
            start = time.perf_counter()
            for s, value in zip(samples, scorer.score(images, [p.text for p in expanded])["mi"]):
                s.scores[name] = float(value)
            scoring_seconds[name] = round(time.perf_counter() - start, 1)
            names.append(name)
    result = {}
    for name in names:
        taus, per_category = [], {}
        for i, p in enumerate(prompts):
            block = slice(i * args.candidates, (i + 1) * args.candidates)
            ref = [r.score for r in rows[block]]
            mi = [s.scores[name] for s in samples[block]]
            if len(set(ref)) > 1:  # tau is undefined when the evaluator gives every candidate one score
                tau = kendalltau(mi, ref).statistic
                taus.append(tau)
                per_category.setdefault(p.category, []).append(tau)
        result[name] = {"mean_tau": round(float(np.mean(taus)), 4) if taus else None,
                        "prompts_with_ties_only": len(prompts) - len(taus),
                        "per_category": {c: round(float(np.mean(v)), 4) for c, v in per_category.items()}}
    print(json.dumps({"model": args.model, "prompts": len(prompts), "candidates": args.candidates,
                      "steps": args.steps, "guidance": guidance, "kendall_tau_mi_vs_reference": result,
                      "sample_and_evaluate_seconds": sample_and_evaluate_seconds, "image_mi_seconds": scoring_seconds,
                      "seconds": round(time.perf_counter() - t0, 1)}, indent=1))


if __name__ == "__main__":
    main()
