"""`diffalign bench`: per-category alignment scores: the shapes world with its reference evaluator (--suite shapes,
the built-in model's benchmark), or T2I-CompBench / GenEval with their evaluator models on any model."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UserInputError
from ..models import is_shapes_world_model, load_pipeline
from ..processes import start as start_processes
from ..world.prompts import first_per_category, shipped_prompts
from ..world.vocab import AUX_CATEGORIES, CATEGORIES
from .common import add_model_args, add_sampler_args, parse_options, read_prompts, sampler_config

SUITES = ("shapes", "compbench", "geneval")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmark alignment per category (shapes world, T2I-CompBench or GenEval)",
                       description="--suite shapes (default): the shipped val sets of the world's six categories, read "
                       "by the reference evaluator. --suite compbench: T2I-CompBench's val prompts scored per category "
                       "(BLIP-VQA, detector, depth, CLIP, 3-in-1); --suite geneval: GenEval's 553 prompts scored by "
                       "detections and CLIP colours. Evaluator models by --option ROLE=hub id or folder. Writes "
                       "OUT/results.json (per-category scores, per-image answers, evaluator sources) and OUT/grid.png; "
                       "`diffalign compare A B` compares two results folders.")
    p.add_argument("--suite", choices=SUITES, default="shapes")
    p.add_argument("--prompts", type=Path, help="prompt file: shapes / compbench: .txt with --category or a name like "
                   "color_val.txt, .jsonl with prompt and category; geneval: .jsonl in GenEval's metadata format")
    p.add_argument("--category", help="category of a .txt prompt file")
    p.add_argument("--split", choices=("val", "test"), default="val", help="--suite shapes without --prompts: the "
                   "shipped val sets (tune on them) or test sets (never tuned on: report them)")
    p.add_argument("--categories", help="comma-separated subset of categories (GenEval: tags) to run")
    p.add_argument("--per-prompt", type=int, default=4, help="images per prompt (seeds SEED..SEED+N-1)")
    p.add_argument("--limit", type=int, help="use only the first N prompts of each category")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-images", action="store_true", help="also write every image")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="an evaluator option of --suite compbench / geneval (repeatable): the models (compbench: vqa, "
                   "detector, clip, depth; geneval: detector, clip) as hub ids or folders, thresholds, device, dtype; "
                   "VALUE is JSON when it parses, else text; see docs/benchmarks.md")
    p.add_argument("--out", type=Path, help="results folder (default: runs/bench, runs/bench-<suite> for the others)")
    add_model_args(p)
    add_sampler_args(p)
    p.set_defaults(func=run, prompt=None)


def _select(prompts: list, args: argparse.Namespace) -> list:
    if args.categories:
        wanted = [c.strip() for c in args.categories.split(",")]
        present = list(dict.fromkeys(p.category for p in prompts))
        unknown = [c for c in wanted if c not in present]
        if unknown:
            raise UserInputError(f"--categories: {', '.join(unknown)} not in the prompts; they have "
                                 f"{', '.join(map(str, present))}")
        prompts = [p for p in prompts if p.category in wanted]
    if args.limit is not None:
        if args.limit < 1:
            raise UserInputError("no prompts left to benchmark: --limit must be at least 1")
        prompts = first_per_category(prompts, args.limit)
    if not prompts:
        raise UserInputError("no prompts left to benchmark")
    return prompts


def run(args: argparse.Namespace) -> None:
    if args.per_prompt < 1:
        raise UserInputError("--per-prompt must be at least 1")
    if args.suite == "shapes":
        return _run_shapes(args)
    from ..evaluation.suites import suite_options

    raw = parse_options(args.option)
    procs = start_processes(args.device)
    device = str(procs.device) if procs.count > 1 else args.device  # several processes: each its own device
    if device:
        raw.setdefault("device", device)  # --device places the evaluators too, unless --option device= says
    out = args.out or Path(f"runs/bench-{args.suite}")
    if args.suite == "compbench":
        from ..evaluation.compbench import CompBenchOptions, run_compbench
        from ..evaluation.suites import check_categories
        from ..prompt_sets import COMPBENCH_CATEGORIES, compbench_prompts

        options = suite_options(CompBenchOptions, raw, "compbench")
        prompts = _select(read_prompts(args) if args.prompts else compbench_prompts("val"), args)
        check_categories(prompts, COMPBENCH_CATEGORIES, "compbench")
        sampler = sampler_config(args)
        pipe = load_pipeline(args.model, args.adapter, procs.device)
        result = run_compbench(pipe, prompts, args.per_prompt, args.seed, sampler, options, out, args.save_images)
    else:
        from ..evaluation.geneval import GenEvalOptions, geneval_prompts, run_geneval

        if args.category:
            raise UserInputError("--category: GenEval prompts carry their tag; use --categories to pick tags")
        if args.prompts and args.prompts.suffix != ".jsonl":
            raise UserInputError(f"--suite geneval reads GenEval metadata (.jsonl), not {args.prompts.name}")
        options = suite_options(GenEvalOptions, raw, "geneval")
        prompts = _select(geneval_prompts(args.prompts), args)
        sampler = sampler_config(args)
        pipe = load_pipeline(args.model, args.adapter, procs.device)
        result = run_geneval(pipe, prompts, args.per_prompt, args.seed, sampler, options, out, args.save_images)
    _print(result, out)


def _print(result, out: Path) -> None:
    if result is None:  # not the main process: it reports
        return
    print(result.table())
    print(f"{len(result.rows)} images in {result.seconds:.0f} s; results in {out / 'results.json'}, "
          f"grid {out / 'grid.png'}")


def _run_shapes(args: argparse.Namespace) -> None:
    from ..evaluation.bench import check_prompts, run_bench

    if args.option:
        raise UserInputError("--option sets evaluators of --suite compbench / geneval; the shapes world's reference "
                             "evaluator takes none")
    if args.category is not None and args.category not in CATEGORIES + AUX_CATEGORIES:
        raise UserInputError(f"--category {args.category!r}: the shapes world's are "
                             f"{', '.join(CATEGORIES + AUX_CATEGORIES)}")
    prompts = _select(read_prompts(args) if args.prompts else shipped_prompts(args.split), args)
    check_prompts(prompts)
    if not is_shapes_world_model(args.model):
        raise UserInputError(f"--suite shapes reads images with the shapes world's reference evaluator, which says "
                             f"nothing about {args.model!r} (not a shapes-world model); on your own model, run "
                             f"`diffalign bench --suite compbench` or `--suite geneval`, or `diffalign align`")
    out = args.out or Path("runs/bench")
    pipe = load_pipeline(args.model, args.adapter, start_processes(args.device).device)
    _print(run_bench(pipe, prompts, args.per_prompt, args.seed, sampler_config(args), out, args.save_images), out)
