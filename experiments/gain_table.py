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

from diffalign.evaluation.stats import gain_interval

CATEGORIES = ["color", "shape", "texture", "spatial", "numeracy", "complex"]


def load(folder: str) -> dict:
    return json.loads((Path(folder) / "results.json").read_text())


def pooled(folders: list[str]) -> dict:
    """One benchmark dict whose rows are all the folders' rows (each prompt then has len(folders) x seeds images)."""
    results = [load(f) for f in folders]
    return {"rows": [row for r in results for row in r["rows"]]}


def mean_score(bench: dict, category: str | None = None) -> float:
    """The benchmark's mean of category means (or one category's mean) from its rows."""
    def category_mean(c):
        scores = [row["score"] for row in bench["rows"] if row["category"] == c]
        return sum(scores) / len(scores)
    return category_mean(category) if category else sum(map(category_mean, CATEGORIES)) / len(CATEGORIES)


def well_formed(bench: dict) -> float:
    return sum(bool(row["well_formed"]) for row in bench["rows"]) / len(bench["rows"])


def gain_row(label: str, base: str, afters: list[str]) -> dict:
    before, after = load(base), pooled(afters)
    before_matched = {"rows": before["rows"] * len(afters)}
    row = {"label": label, "mean": mean_score(after), "categories": {}, "well_formed": [well_formed(before),
                                                                                         well_formed(after)]}
    for c in [*CATEGORIES, None]:
        lo, hi = gain_interval(before_matched, after, c)
        entry = {"gain": mean_score(after, c) - mean_score(before, c), "interval_95": [lo, hi]}
        if c is None:
            row |= entry
            if len(afters) > 1:
                row["per_run"] = [mean_score(load(f)) - mean_score(before) for f in afters]
        else:
            row["categories"][c] = entry
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
