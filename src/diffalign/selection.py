"""Selectors: pure functions from a pool's rows to the rows used for fine-tuning.

Each works per prompt and breaks ties deterministically (by seed), so a rerun selects the same rows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from .errors import UserInputError
from .pool import PoolRow


def by_prompt(rows: list[PoolRow]) -> dict[str, list[PoolRow]]:
    groups: dict[str, list[PoolRow]] = defaultdict(list)
    for r in rows:
        groups[r.prompt].append(r)
    return groups


def _require(rows: list[PoolRow], names: list[str]) -> None:
    missing = {n for r in rows for n in names if n not in r.scores}
    if missing:
        raise UserInputError(f"pool rows lack score(s) {sorted(missing)}: score the pool before selecting")


def top_k(rows: list[PoolRow], score: str, k: int = 1, higher_is_better: bool = True) -> list[PoolRow]:
    """MI-Tune: the k best candidates of every prompt by one score."""
    _require(rows, [score])
    sign = -1.0 if higher_is_better else 1.0
    out = []
    for group in by_prompt(rows).values():
        out.extend(sorted(group, key=lambda r: (sign * r.scores[score], r.seed))[:k])
    return out


def threshold(rows: list[PoolRow], minimums: dict[str, float], rank_by: str) -> list[PoolRow]:
    """DreamSync: candidates passing every minimum; the best passing one per prompt by `rank_by`."""
    _require(rows, [*minimums, rank_by])
    out = []
    for group in by_prompt(rows).values():
        passing = [r for r in group if all(r.scores[n] >= m for n, m in minimums.items())]
        if passing:
            out.append(min(passing, key=lambda r: (-r.scores[rank_by], r.seed)))
    return out


def preferences(group: list[PoolRow], scores: list[str], raw: bool = False) -> np.ndarray:
    """One preference per candidate of a prompt: the sum of its per-score ranks (higher rank = better), or of
    the raw scores; with one score, that score's order."""
    matrix = np.array([[r.scores[n] for n in scores] for r in group])
    return matrix.sum(1) if raw else matrix.argsort(0).argsort(0).sum(1)


def rank_sum(rows: list[PoolRow], scores: list[str], k: int = 1, raw: bool = False) -> list[PoolRow]:
    """RealignDiff: rank candidates by each score within a prompt, sum the ranks, keep the top k.
    raw=True sums the raw scores instead (what the public RealignDiff code does)."""
    _require(rows, scores)
    out = []
    for group in by_prompt(rows).values():
        preference = preferences(group, scores, raw)
        order = sorted(range(len(group)), key=lambda i: (-preference[i], group[i].seed))
        out.extend(group[i] for i in order[:k])
    return out


SELECTOR_KINDS = ("top_k", "threshold", "rank_sum", "sum")


@dataclass(frozen=True)
class SelectorConfig:
    kind: str = "top_k"  # one of SELECTOR_KINDS
    scores: list[str] = field(default_factory=list)  # the score columns that rank a prompt's candidates
    k: int = 1
    minimums: dict[str, float] = field(default_factory=dict)
    fallback_top_k: bool = False  # threshold only: when nothing passes at all, keep the top k by scores[0]
    pairs: int = 1  # preference objectives: rejected partners per chosen candidate (its prompt's least preferred)


def select(rows: list[PoolRow], config: SelectorConfig) -> list[PoolRow]:
    if config.kind == "top_k":
        return top_k(rows, config.scores[0], config.k)
    if config.kind == "threshold":
        chosen = threshold(rows, config.minimums, config.scores[0])
        return chosen or (top_k(rows, config.scores[0], config.k) if config.fallback_top_k else [])
    if config.kind in ("rank_sum", "sum"):
        return rank_sum(rows, config.scores, config.k, raw=config.kind == "sum")
    raise UserInputError(f"unknown selector {config.kind!r}; choose from {', '.join(SELECTOR_KINDS)}")


def preference_pairs(rows: list[PoolRow], chosen: list[PoolRow],
                     config: SelectorConfig) -> list[tuple[PoolRow, PoolRow]]:
    """Pair every chosen candidate with its prompt's `config.pairs` least preferred unchosen ones, by the
    selector's own ordering (the sum of ranks for rank_sum, raw sum for sum, else the first score); for
    preference objectives such as Diffusion-DPO. A prompt with no unchosen candidate gives no pair; ties go to
    the higher seed."""
    scores = config.scores if config.kind in ("rank_sum", "sum") else config.scores[:1]
    _require(rows, scores)
    raw = config.kind == "sum" or len(scores) == 1
    chosen_ids = {c.id for c in chosen}
    worst_first = {prompt: [g for _, g in sorted(zip(preferences(group, scores, raw), group),
                                                 key=lambda pg: (pg[0], -pg[1].seed)) if g.id not in chosen_ids]
                   for prompt, group in by_prompt(rows).items()}
    return [(c, r) for c in chosen for r in worst_first[c.prompt][:config.pairs]]
