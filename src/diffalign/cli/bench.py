"""`diffalign bench`: per-category alignment scores on the shapes world with the reference evaluator."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UserInputError
from ..evaluation.bench import check_prompts, run_bench
from ..models import load_pipeline
from ..world.prompts import first_per_category, shipped_prompts
from ..world.vocab import AUX_CATEGORIES, CATEGORIES
from .common import add_model_args, add_sampler_args, read_prompts, sampler_config


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmark alignment per category (reference evaluator, shapes world)",
                       description="Default prompts: the shipped val sets of all six categories. Writes "
                       "OUT/results.json (per-category scores, per-image answers) and OUT/grid.png.")
    p.add_argument("--prompts", type=Path, help="prompt file (.txt with --category or a name like color_val.txt; "
                   ".jsonl with prompt and category)")
    p.add_argument("--category", choices=CATEGORIES + AUX_CATEGORIES, help="category of a .txt prompt file")
    p.add_argument("--categories", help="comma-separated subset of categories to run")
    p.add_argument("--per-prompt", type=int, default=4, help="images per prompt (seeds SEED..SEED+N-1)")
    p.add_argument("--limit", type=int, help="use only the first N prompts of each category")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-images", action="store_true", help="also write every image")
    p.add_argument("--out", type=Path, default=Path("runs/bench"))
    add_model_args(p)
    add_sampler_args(p)
    p.set_defaults(func=run, prompt=None)


def run(args: argparse.Namespace) -> None:
    if args.per_prompt < 1:
        raise UserInputError("--per-prompt must be at least 1")
    prompts = read_prompts(args) if args.prompts else shipped_prompts("val")
    if args.categories:
        wanted = [c.strip() for c in args.categories.split(",")]
        present = list(dict.fromkeys(p.category for p in prompts))
        unknown = [c for c in wanted if c not in present]
        if unknown:
            raise UserInputError(f"--categories: {', '.join(unknown)} not in the prompts; they have "
                                 f"{', '.join(map(str, present))}")
        prompts = [p for p in prompts if p.category in wanted]
    if args.limit:
        prompts = first_per_category(prompts, args.limit)
    if not prompts:
        raise UserInputError("no prompts left to benchmark: --limit must be at least 1")
    check_prompts(prompts)
    pipe = load_pipeline(args.model, args.adapter, args.device)
    result = run_bench(pipe, prompts, args.per_prompt, args.seed, sampler_config(args), args.out, args.save_images)
    print(result.table())
    print(f"{len(result.rows)} images in {result.seconds:.0f} s; results in {args.out / 'results.json'}, "
          f"grid {args.out / 'grid.png'}")
