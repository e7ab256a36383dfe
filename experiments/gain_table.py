"""Gains per category with 95 % intervals (paired bootstrap over prompts, evaluation/stats.py) for pairs of
benchmark folders, the rows of docs/results.md. `AFTER` may join several benchmarks of the same prompts with `+`
(training seeds): their rows are pooled, so the gain is the mean over those runs and the interval covers the
prompts (the spread between the runs is printed beside it, never folded into the interval).

    python experiments/gain_table.py "label=BASE,AFTER[+AFTER...]" ... [--markdown]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from diffalign.evaluation.bench import BenchRow, summarise
from diffalign.evaluation.stats import gain_interval
from diffalign.reporting.bench_compare import load_bench
from diffalign.world.vocab import CATEGORIES


def pooled(benches: list[dict]) -> dict:
    """One benchmark of all the given ones' rows (each prompt then has len(benches) x seeds images), with the
    category means, well-formed shares and mean a `diffalign bench` results.json holds."""
    rows = [row for bench in benches for row in bench["rows"]]
    summary = summarise([BenchRow(**row) for row in rows], seconds=0.0)
    return {"rows": rows, "categories": summary.categories, "well_formed": summary.well_formed, "mean": summary.mean}


def gain_row(label: str, base: str, afters: list[str]) -> dict:
    before, runs = load_bench(Path(base)), [load_bench(Path(f)) for f in afters]
    after = pooled(runs)
    before_matched = {"rows": before["rows"] * len(runs)}  # paired with every run's images of the same prompt
    formed = [sum(b["well_formed"].values()) / len(b["well_formed"]) for b in (before, after)]
    row = {"label": label, "mean": after["mean"], "well_formed": formed,
           "gain": after["mean"] - before["mean"], "interval_95": list(gain_interval(before_matched, after)),
           "categories": {c: {"gain": after["categories"][c] - before["categories"][c],
                              "interval_95": list(gain_interval(before_matched, after, c))} for c in CATEGORIES}}
    if len(runs) > 1:
        row["per_run"] = [run["mean"] - before["mean"] for run in runs]
    return row


def markdown(row: dict) -> str:
    def cell(e):
        lo, hi = e["interval_95"]
        return f"{100 * e['gain']:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]"
    runs = " (runs: " + " / ".join(f"{100 * g:+.1f}" for g in row["per_run"]) + ")" if "per_run" in row else ""
    b, a = row["well_formed"]
    return (f"| {row['label']} | {100 * row['mean']:.1f} | " + " | ".join(cell(row["categories"][c]) for c in CATEGORIES)
            + f" | **{cell(row)}**{runs} | {100 * b:.1f} -> {100 * a:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pairs", nargs="+", help="label=BASE,AFTER[+AFTER...]")
    parser.add_argument("--markdown", action="store_true", help="table rows instead of JSON")
    args = parser.parse_args()
    rows = []
    for spec in args.pairs:
        label, folders = spec.split("=", 1)
        base, after = folders.split(",")
        rows.append(gain_row(label, base, after.split("+")))
    print("\n".join(map(markdown, rows)) if args.markdown else json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
