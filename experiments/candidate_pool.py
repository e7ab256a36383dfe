"""Sample a candidate pool as `diffalign align`'s first round does (the recipe's [builtin] sampler and candidates,
the same seeds), without scoring or training it: the input of objective_ablation.py when the question is what a
selection could give, not what a scorer gives. Reruns resume after the last complete batch.

    python experiments/candidate_pool.py runs/pool900/pool --prompts-per-category 150
"""

from __future__ import annotations

import argparse
from pathlib import Path

from diffalign.methods.loop import generate_pool
from diffalign.methods.recipe import load_recipe, override
from diffalign.models import load_pipeline
from diffalign.pool import Pool
from diffalign.world.prompts import first_per_category, shipped_prompts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pool", type=Path)
    ap.add_argument("--recipe", default="mitune")
    ap.add_argument("--prompts-per-category", type=int, default=150, help="the first N train prompts per category")
    ap.add_argument("--candidates", type=int, help="per prompt (default: the recipe's)")
    args = ap.parse_args()
    # the orthogonal MI estimate comes free with sampling; any other scorer would run after it, which this skips
    recipe = override(load_recipe(args.recipe, builtin_model=True), candidates=args.candidates,
                      **{"mi.estimator": "orthogonal"})
    prompts = first_per_category(shipped_prompts("train"), args.prompts_per_category)
    rows = generate_pool(load_pipeline("builtin"), recipe, prompts, Pool(args.pool), 1)
    print(f"{len(rows)} candidates in {args.pool}")


if __name__ == "__main__":
    main()
