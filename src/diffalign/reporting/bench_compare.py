"""Two or more `diffalign bench` results folders side by side: the first is the base, each later one's gain per
category with its paired-bootstrap interval (the before/after table of an align run), when all hold results.json of
the same suite on the same prompts and seeds (e.g. the base model, then the model with --adapter)."""

from __future__ import annotations

import html
import json
from pathlib import Path

from ..errors import UserInputError
from ..evaluation.stats import gain_interval
from ..evaluation.table import before_after_table
from ..io import atomic_write_text, write_json
from ..run_folder import CompareFolder


def is_bench_folder(path: Path) -> bool:
    """A folder `diffalign bench` wrote: results.json at its top (an align run keeps its benchmarks in rounds)."""
    return (Path(path) / "results.json").is_file()


def load_bench(path: Path) -> dict:
    try:
        result = json.loads((Path(path) / "results.json").read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise UserInputError(f"{path}: no readable results.json ({err})") from None
    if not isinstance(result, dict) or "rows" not in result or "categories" not in result:
        raise UserInputError(f"{path}/results.json is not a `diffalign bench` result")
    result.setdefault("suite", "shapes")
    return result


def _sources(result: dict) -> dict:
    return {role: (r.get("source"), r.get("revision")) for role, r in result.get("evaluators", {}).items()}


def compare_benches(paths: list[Path]) -> tuple[str, dict]:
    """(the printed table, the compare.json payload); two results of other suites, categories, prompts or seeds are
    one line saying which."""
    if len(paths) < 2:
        raise UserInputError("compare two bench folders at least: the base first, then the ones to set against it")
    results = [load_bench(p) for p in paths]
    base = results[0]
    for path, r in zip(paths[1:], results[1:]):
        if r["suite"] != base["suite"]:
            raise UserInputError(f"{path} is a --suite {r['suite']} result, {paths[0]} a --suite {base['suite']} one: "
                                 f"compare results of one suite")
        if list(r["categories"]) != list(base["categories"]):
            raise UserInputError(f"{path} has categories {', '.join(r['categories'])}, {paths[0]} "
                                 f"{', '.join(base['categories'])}: bench both on the same prompts")
        try:
            gain_interval(base, r, resamples=1)
        except ValueError:
            raise UserInputError(f"{path} and {paths[0]} do not hold the same prompts and seeds: bench both with the "
                                 f"same --prompts, --limit, --per-prompt and --seed") from None
    lines = [f"base: {paths[0]}"] + [f"R={i}: {p}" for i, p in enumerate(paths[1:], 1)]
    differ = [str(p) for p, r in zip(paths[1:], results[1:]) if _sources(r) != _sources(base)]
    if differ:
        lines.append(f"note: {', '.join(differ)} scored with other evaluators (source or revision) than {paths[0]}; "
                     f"the gains mix model and evaluator")
    table = "\n".join(lines + [before_after_table(results, "benchmarked")])  # results.json names no split
    last = results[-1]
    payload = {"suite": base["suite"], "folders": [str(p) for p in paths], "evaluator": base.get("evaluator"),
               "evaluators": [r.get("evaluators") for r in results],
               "base": base["categories"] | {"mean": base["mean"]},
               "delta": {c: last["categories"][c] - base["categories"][c] for c in base["categories"]}
               | {"mean": last["mean"] - base["mean"]},
               "interval_95": {c: gain_interval(base, last, c) for c in base["categories"]}
               | {"mean": gain_interval(base, last)},
               "evaluators_differ": differ}
    return table, payload


def write_bench_comparison(table: str, payload: dict, out: Path) -> Path:
    folder = CompareFolder(out)
    folder.root.mkdir(parents=True, exist_ok=True)
    write_json(folder.table, payload)
    atomic_write_text(folder.page, "<!doctype html><meta charset='utf-8'><title>diffalign: benchmarks compared</title>"
                      "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}</style>"
                      f"<h1>{html.escape(payload['suite'])} benchmarks compared</h1>"
                      "<p>Scores in points; delta and its 95 % interval (paired bootstrap over the prompts) of the "
                      "last folder against the first.</p>"
                      f"<pre>{html.escape(table)}</pre>")
    return folder.page
