"""How sure a gain is: a paired bootstrap over val prompts of the benchmark's mean (the mean of the category means).

Two benchmarks of the same run share their prompts and seeds, so the gain is paired: each prompt's images are
compared with its own images before. Resampling prompts (with all their seeds, within each category, so that every
category keeps its weight) gives an interval for the gain that accounts for which prompts happened to be in the
val set; it does not cover the spread between training runs (e.g. another adapter init).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np


def prompt_differences(before: dict, after: dict) -> dict[str, np.ndarray]:
    """Per category, each val prompt's mean score after minus before (benchmark dicts with their `rows`)."""
    scores: dict[tuple[str, str], list[list[float]]] = defaultdict(lambda: [[], []])
    for side, bench in enumerate((before, after)):
        for row in bench["rows"]:
            scores[row["category"], row["prompt"]][side].append(row["score"])
    if any(len(b) != len(a) for b, a in scores.values()):
        raise ValueError("the two benchmarks do not hold the same prompts and seeds")
    out: dict[str, list[float]] = defaultdict(list)
    for (category, _), (b, a) in scores.items():
        out[category].append(float(np.mean(a) - np.mean(b)))
    return {c: np.array(v) for c, v in out.items()}


def gain_interval(before: dict, after: dict, category: str | None = None, level: float = 0.95,
                  resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Interval (in score units) of the gain in the mean of category means, or in one category's mean;
    deterministic for a seed."""
    rng = np.random.default_rng(seed)
    per_category = prompt_differences(before, after)
    if category is not None:
        per_category = {category: per_category[category]}
    means = np.zeros(resamples)
    for diffs in per_category.values():
        picks = rng.integers(0, len(diffs), size=(resamples, len(diffs)))
        means += diffs[picks].mean(axis=1)
    means /= len(per_category)
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))
