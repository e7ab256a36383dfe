"""How well the reference evaluator reads the shapes world: prints JSON.

For each category it renders fresh images of random prompts of that category. It then reports
the mean score of the images against their true prompts and the pass rate (score == 1.0) against
the same prompts with exactly one thing changed: one specified attribute (colour, shape, texture
or size) of one object, a count, or the relation. A valid evaluator scores ~1.0 on true prompts
and ~0 on changed ones. Every score comes from a full `evaluate(image, spec, category)` call.

    python benchmarks/evaluator_validity.py [--n 2000] [--seed 0] [--categories color spatial ...]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from diffalign.evaluation.reference import evaluate
from diffalign.world.perturb import one_change_variants
from diffalign.world.prompts import random_spec
from diffalign.world.render import render_prompt
from diffalign.world.vocab import AUX_CATEGORIES, CATEGORIES





def run_category(category: str, n: int, seed: int) -> dict:
    rng = np.random.default_rng([seed, (CATEGORIES + AUX_CATEGORIES).index(category)])
    scores, well_formed, swaps = [], [], {}
    for i in range(n):
        spec = random_spec(category, rng)
        image, _ = render_prompt(spec, int(rng.integers(2**31)))
        result = evaluate(image, spec, category)
        scores.append(result.score)
        well_formed.append(result.well_formed)
        for kind, other in one_change_variants(spec, rng):
            swaps.setdefault(kind, []).append(evaluate(image, other, category).score == 1.0)
    all_swaps = [p for passed in swaps.values() for p in passed]
    return {
        "n": n,
        "mean_score": float(np.mean(scores)),
        "perfect_rate": float(np.mean(np.array(scores) == 1.0)),
        "well_formed_rate": float(np.mean(well_formed)),
        "swapped": {
            "n": len(all_swaps),
            "pass_rate": float(np.mean(all_swaps)),
            "by_kind": {k: {"n": len(v), "pass_rate": float(np.mean(v))} for k, v in sorted(swaps.items())},
        },
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="renders in total, split evenly over the categories")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--categories", nargs="+", default=list(CATEGORIES),
                        choices=list(CATEGORIES + AUX_CATEGORIES))
    args = parser.parse_args(argv)
    if args.n < len(args.categories):
        parser.error(f"--n must be at least the number of categories ({len(args.categories)})")

    start = time.perf_counter()
    base, extra = divmod(args.n, len(args.categories))
    per_category = {c: run_category(c, base + (k < extra), args.seed) for k, c in enumerate(args.categories)}
    n = sum(r["n"] for r in per_category.values())
    n_swapped = sum(r["swapped"]["n"] for r in per_category.values())
    report = {
        "n": n,
        "seed": args.seed,
        "per_category": per_category,
        "overall": {
            "mean_score": sum(r["mean_score"] * r["n"] for r in per_category.values()) / n,
            "well_formed_rate": sum(r["well_formed_rate"] * r["n"] for r in per_category.values()) / n,
            "swapped_n": n_swapped,
            "swapped_pass_rate": sum(r["swapped"]["pass_rate"] * r["swapped"]["n"]
                                     for r in per_category.values()) / n_swapped,
            "worst_category_mean_score": min(r["mean_score"] for r in per_category.values()),
            "worst_swapped_pass_rate": max(k["pass_rate"] for r in per_category.values()
                                           for k in r["swapped"]["by_kind"].values()),
        },
        "wall_time_s": round(time.perf_counter() - start, 2),
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
