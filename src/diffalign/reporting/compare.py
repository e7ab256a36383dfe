"""Recipes side by side: per-category gain over the base model, at the sampling compute each one spent."""

from __future__ import annotations

import html
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..errors import UserInputError  # noqa: E402
from ..evaluation.stats import gain_interval  # noqa: E402
from ..io import atomic_write_text, write_json  # noqa: E402
from ..pool import Pool  # noqa: E402
from ..run_folder import CompareFolder, RunFolder  # noqa: E402
from .report import load_evals  # noqa: E402


def sampling_compute(run: RunFolder) -> int:
    """UNet evaluations spent generating candidates: prompts x candidates x steps x (2 with CFG), summed over rounds."""
    recipe = json.loads(run.recipe.read_text())
    per_image = recipe["sampler"]["steps"] * (2 if recipe["sampler"]["guidance"] > 1 else 1)
    pools = [run.round(r).pool for r in run.rounds()]
    return per_image * sum(_count(p) for p in pools if p.exists())


def _count(folder: Path) -> int:
    with Pool(folder) as pool:
        return pool.count()


def summarise_run(out: Path) -> dict:
    run = RunFolder(out)
    evals = load_evals(run)
    if len(evals) < 2:
        raise UserInputError(f"{out} has no finished round with a val benchmark: "
                             f"run `diffalign align --out {out}` first")
    base, last = evals[0], evals[-1]
    recipe = json.loads(run.recipe.read_text())
    formed = [sum(e["well_formed"].values()) / len(e["well_formed"]) if e["well_formed"] else None  # None: not
              for e in (base, last)]  # checked (a scorer-based val benchmark)
    return {"run": str(out), "recipe": recipe["name"], "split": recipe.get("eval", {}).get("split", "val"),
            "rounds": len(evals) - 1,
            "unet_evals": sampling_compute(run), "base": base["categories"] | {"mean": base["mean"]},
            "delta": {c: last["categories"][c] - base["categories"][c] for c in base["categories"]}
            | {"mean": last["mean"] - base["mean"]},
            "interval_95": {c: gain_interval(base, last, c) for c in base["categories"]}
            | {"mean": gain_interval(base, last)},
            "well_formed": {"base": formed[0], "after": formed[1]}}


def evaluated_split(rows: list[dict]) -> str:
    """The split every run was evaluated on; gains on different splits are not comparable."""
    splits = {r["split"] for r in rows}
    if len(splits) > 1:
        raise UserInputError("the runs were evaluated on different splits (" + ", ".join(
            f"{Path(r['run']).name}: {r['split']}" for r in rows) + "): compare runs of one --eval-split")
    return splits.pop()


def comparison_table(rows: list[dict]) -> str:
    columns = list(rows[0]["delta"])
    lines = [f"{'run':<20}{'recipe':<12}{'R':>2}{'UNet evals':>11}" + "".join(f"{c:>9}" for c in columns)
             + f"{'mean 95 %':>16}{'formed':>10}"]
    for r in rows:
        before, after = r["well_formed"]["base"], r["well_formed"]["after"]
        formed = "-" if before is None else f"{100 * before:.0f}->{100 * after:.0f}"
        deltas = "".join(f"{100 * r['delta'][c]:>+9.1f}" for c in columns)
        name = Path(r["run"]).name
        interval = "[{:+.1f}, {:+.1f}]".format(*(100 * v for v in r["interval_95"]["mean"]))
        lines.append(f"{name:<20}{r['recipe']:<12}{r['rounds']:>2}{r['unet_evals']:>11}{deltas}{interval:>16}"
                     f"{formed:>10}")
    return "\n".join(lines) + (f"\n(mean 95 %: interval of the mean gain over the {evaluated_split(rows)} prompts, "
                               "paired bootstrap; compare.json has one per category)")


def _bars(rows: list[dict], path: Path) -> None:
    columns = list(rows[0]["delta"])
    x = np.arange(len(columns))
    width = 0.8 / len(rows)
    fig, ax = plt.subplots(figsize=(8, 3.5))
    for i, r in enumerate(rows):
        ax.bar(x + i * width, [100 * r["delta"][c] for c in columns], width, label=Path(r["run"]).name)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(x + width * (len(rows) - 1) / 2, columns)
    ax.set_ylabel("gain over base (points)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_comparison(rows: list[dict], out: Path) -> Path:
    """compare.html + compare.png + compare.json in `out`, from summarise_run of finished align runs."""
    folder = CompareFolder(out)
    folder.root.mkdir(parents=True, exist_ok=True)
    _bars(rows, folder.figure)
    write_json(folder.table, rows)
    table = comparison_table(rows)
    page = folder.page
    atomic_write_text(page, "<!doctype html><meta charset='utf-8'><title>diffalign: recipes compared</title>"
                    "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}</style>"
                    f"<h1>Recipes compared</h1><p>Gain on the {evaluated_split(rows)} prompts over each run's base "
                    "model, points of the reference evaluator; UNet evals = candidate sampling compute.</p>"
                    f"<pre>{html.escape(table)}</pre><img src='{folder.figure.name}'>"
                    + "".join(f"<p><a href='{html.escape(str(RunFolder(Path(r['run']).resolve()).report_page))}'>"
                              f"{html.escape(r['run'])} report</a></p>" for r in rows))
    return page
