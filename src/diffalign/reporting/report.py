"""report.html for an align run: tables, before/after grids, score distributions, selections, curves."""

from __future__ import annotations

import html
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from ..evaluation.stats import gain_interval  # noqa: E402
from ..evaluation.table import before_after_table  # noqa: E402
from ..images import save_grid  # noqa: E402
from ..io import atomic_write_text  # noqa: E402
from ..pool import Pool  # noqa: E402
from ..run_folder import RunFolder  # noqa: E402

PROMPTS_PER_CATEGORY = 3


def load_evals(run: RunFolder) -> list[dict]:
    evals = []
    while run.eval_results(len(evals)).exists():
        evals.append(json.loads(run.eval_results(len(evals)).read_text()))
    return evals


def _curves(evals: list[dict], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 3.5))
    rounds = range(len(evals))
    for c in evals[0]["categories"]:
        ax.plot(rounds, [100 * e["categories"][c] for e in evals], marker="o", label=c)
    mean = [100 * e["mean"] for e in evals]
    bounds = [(0.0, 0.0)] + [gain_interval(evals[0], e) for e in evals[1:]]  # of the gain over the base
    below = [max(0.0, m - mean[0] - 100 * lo) for m, (lo, _) in zip(mean, bounds)]
    above = [max(0.0, mean[0] + 100 * hi - m) for m, (_, hi) in zip(mean, bounds)]
    ax.errorbar(rounds, mean, yerr=[below, above], marker="s", color="black", lw=2, capsize=3,
                label="mean (bars: 95 % of the gain)")
    ax.set_xlabel("round (0 = base)")
    ax.set_ylabel(f"val score ({evals[0].get('evaluator', 'reference')})"[:60])
    ax.set_xticks(list(rounds))
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _before_after(run: RunFolder, evals: list[dict]) -> list[tuple[Path, str]]:
    """Per category, the same val prompts and seeds: base row above, last round below (none where a benchmark kept
    no images, e.g. a base benchmark brought in from `diffalign bench` without --save-images)."""
    first, last = evals[0]["rows"], evals[-1]["rows"]
    if any(r.get("image") is None for r in first + last):
        return []
    figures = []
    for c in evals[0]["categories"]:
        prompts = list(dict.fromkeys(r["prompt"] for r in first if r["category"] == c))[:PROMPTS_PER_CATEGORY]
        pick = [i for i, r in enumerate(first) if r["prompt"] in prompts]
        images = [np.asarray(Image.open(run.eval_dir(0) / first[i]["image"])) for i in pick]
        images += [np.asarray(Image.open(run.eval_dir(len(evals) - 1) / last[i]["image"])) for i in pick]
        path = run.before_after_figure(c)
        save_grid(images, columns=len(pick), path=path, scale=2)
        figures.append((path, f"{c}: base (top) vs round {len(evals) - 1} (bottom) — " + "; ".join(prompts)))
    return figures


def _histograms(rows: list, chosen: set[str], scores: list[str], path: Path) -> None:
    fig, axes = plt.subplots(1, len(scores), figsize=(4 * len(scores), 3), squeeze=False)
    for ax, score in zip(axes[0], scores):
        ax.hist([r.scores[score] for r in rows], bins=40, color="#999", label="all candidates")
        ax.hist([r.scores[score] for r in rows if r.id in chosen], bins=40, color="#d62", alpha=0.8, label="selected")
        ax.set_xlabel(score)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _pool_figures(run: RunFolder, scores: list[str]) -> list[tuple[Path, str]]:
    """Per round: the distribution of each score with the selected candidates marked, and for a few
    prompts the selected sample beside rejected ones."""
    figures = []
    for r in run.rounds():
        folder = run.round(r)
        pool, selected_file = Pool(folder.pool), folder.selected
        rows = pool.rows()
        shown_scores = [s for s in scores if rows and s in rows[0].scores]
        if not shown_scores or not selected_file.exists():
            continue
        chosen = {json.loads(line)["id"] for line in selected_file.read_text().splitlines()}
        path = run.scores_hist_figure(r)
        _histograms(rows, chosen, shown_scores, path)
        figures.append((path, f"{folder.name}: distribution of {', '.join(shown_scores)} over the pool"))
        by_prompt: dict[str, list] = {}
        for row in rows:
            by_prompt.setdefault(row.prompt, []).append(row)
        shown = list(by_prompt)[:: max(1, len(by_prompt) // 6)][:6]
        key = shown_scores[0]
        images = []
        for prompt in shown:
            ordered = sorted(by_prompt[prompt], key=lambda row: (row.id not in chosen, -row.scores[key]))[:8]
            images.extend(pool.image(row) for row in ordered)
        path = run.selected_vs_rejected_figure(r)
        save_grid(images, columns=8, path=path, scale=2)
        figures.append((path, f"{folder.name}: per row one prompt, the selected sample first (if any), then others "
                              f"by {key} (highest first): " + "; ".join(shown)))
    return figures


def _selection_table(run: RunFolder) -> str:
    lines = [f"{'round':<8}{'candidates':>11}{'passing':>9}{'acceptance':>12}{'selected':>10}{'prompts kept':>14}"]
    for folder in (run.round(r) for r in run.rounds() if run.round(r).selection.exists()):
        s = json.loads(folder.selection.read_text())
        lines.append(f"{folder.name:<8}{s['candidates']:>11}{s['passing']:>9}{100 * s['acceptance_rate']:>11.1f}%"
                     f"{s['selected']:>10}{s['prompts_with_selection']:>8} / {s['prompts']}")
    return "\n".join(lines) if len(lines) > 1 else ""


def write_report(out: Path) -> Path:
    """run/report.html with its figures in run/report/ (names: RunFolder)."""
    run = RunFolder(out)
    run.report_dir.mkdir(parents=True, exist_ok=True)
    evals = load_evals(run)
    recipe = json.loads(run.recipe.read_text()) if run.recipe.exists() else {}
    split = recipe.get("eval", {}).get("split", "val")
    figures = []
    if len(evals) > 1:
        _curves(evals, run.curves_figure)
        figures.append((run.curves_figure, f"{split} score per category across rounds"))
        figures += _before_after(run, evals)
    figures += _pool_figures(run, recipe.get("scorers", ["mi"]))
    body = [f"<h1>diffalign run: {html.escape(run.name)}</h1>",
            f"<h2>Scores on the {split} prompts (%)</h2>",
            f"<pre>{html.escape(before_after_table(evals, split))}</pre>" if evals else "<p>no evaluation yet</p>"]
    selection = _selection_table(run)
    if selection:
        body.append(f"<h2>Selection per round</h2><pre>{html.escape(selection)}</pre>")
    for path, caption in figures:
        body.append(f"<figure><img src='{path.relative_to(run.root).as_posix()}'>"
                    f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    body.append(f"<h2>Recipe</h2><pre>{html.escape(run.recipe.read_text() if run.recipe.exists() else '{}')}</pre>")
    page = run.report_page
    atomic_write_text(page, "<!doctype html><meta charset='utf-8'><title>diffalign report</title>"
                    "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}img{image-rendering:pixelated;"
                    "max-width:100%}figure{margin:1em 0}</style>" + "\n".join(body))
    return page
