"""`diffalign compare`: finished align runs side by side (gain per category, sampling compute), or `diffalign bench`
results folders of one suite (the first is the base: a before/after table with bootstrap intervals)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..reporting.bench_compare import compare_benches, is_bench_folder, write_bench_comparison
from ..reporting.compare import comparison_table, summarise_run, write_comparison


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="compare finished align runs (e.g. mitune vs dreamsync vs realign)",
                       description="Prints each run's gain over its base model per category with the UNet "
                       "evaluations its candidates cost, and writes OUT/compare.html with a bar chart.")
    p.add_argument("runs", type=Path, nargs="+", help="run folders written by `diffalign align --out`, or "
                   "results folders of `diffalign bench` (the base first)")
    p.add_argument("--out", type=Path, default=Path("runs/compare"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    if any(is_bench_folder(r) for r in args.runs):
        table, payload = compare_benches(args.runs)
        page = write_bench_comparison(table, payload, args.out)
        print(table)
        print(f"comparison: {page}")
        return
    rows = [summarise_run(r) for r in args.runs]
    page = write_comparison(rows, args.out)
    print(comparison_table(rows))
    print(f"comparison: {page}")
