"""The built-in benchmark: generate for val prompts, read every image with the reference evaluator,
and report per-category scores (the shapes-world counterpart of T2I-CompBench)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from ..errors import UserInputError
from ..images import save_grid
from ..io import write_json
from ..processes import current as current_processes
from ..sampling import SamplerConfig, sample
from ..world.grammar import parse
from ..world.prompts import Prompt
from .reference import evaluate


@dataclass
class BenchRow:
    prompt: str
    category: str
    seed: int
    score: float
    well_formed: bool | None  # None: no evaluator that can tell (a scorer-based benchmark)
    answers: dict[str, bool]
    objects: int  # objects the evaluator found (diagnoses extra or missing ones)
    image: str | None = None


@dataclass
class BenchResult:
    categories: dict[str, float]  # mean score per category
    well_formed: dict[str, float]  # share of well-formed images per category
    mean: float  # mean of the category means
    rows: list[BenchRow]
    seconds: float

    def table(self) -> str:
        lines = [f"{'category':<10} {'score':>7} {'formed':>7} {'images':>7}"]
        for c, s in self.categories.items():
            n = sum(r.category == c for r in self.rows)
            formed = f"{self.well_formed[c]:>7.3f}" if c in self.well_formed else f"{'-':>7}"
            lines.append(f"{c:<10} {s:>7.3f} {formed} {n:>7d}")
        lines.append(f"{'mean':<10} {self.mean:>7.3f}")
        return "\n".join(lines)


def check_prompts(prompts: list[Prompt]) -> None:
    """The reference evaluator reads only shapes-world prompts with a known category."""
    for p in prompts:
        if p.category is None:
            raise UserInputError(f"no category for {p.text!r}: pass --category or name the file like color_val.txt")
        parse(p.text)


def score_images(prompts: list[Prompt], images: list[np.ndarray], seeds: list[int]) -> list[BenchRow]:
    rows = []
    for p, image, seed in zip(prompts, images, seeds):
        e = evaluate(image, parse(p.text), p.category)
        rows.append(BenchRow(p.text, p.category, seed, e.score, e.well_formed,
                             {q.text: q.answer for q in e.questions}, len(e.objects)))
    return rows


def score_pool_rows(pool, rows: list) -> list[BenchRow]:
    """The reference evaluator on candidates of an align run's pool (benchmarks and diagnoses only)."""
    return score_images([Prompt(r.prompt, r.category) for r in rows], [pool.image(r) for r in rows],
                        [r.seed for r in rows])


def summarise(rows: list[BenchRow], seconds: float) -> BenchResult:
    categories = list(dict.fromkeys(r.category for r in rows))
    means = {c: float(np.mean([r.score for r in rows if r.category == c])) for c in categories}
    formed = {c: float(np.mean([r.well_formed for r in rows if r.category == c])) for c in categories
              if all(r.well_formed is not None for r in rows if r.category == c)}
    return BenchResult(means, formed, float(np.mean(list(means.values()))), rows, seconds)


def sample_and_score(pipe, prompts: list[Prompt], per_prompt: int, seed: int, config: SamplerConfig,
                     score: Callable[[list[Prompt], list[np.ndarray], list[int]], list[BenchRow]]
                     ) -> tuple[list[BenchRow], list[np.ndarray]]:
    """Seeds seed..seed+per_prompt-1 for every prompt, sampled and read by `score`, each process its contiguous
    share of the images; the rows and images of all of them, in order, on the main process ([] on the others)."""
    procs = current_processes()
    expanded = [p for p in prompts for _ in range(per_prompt)]
    seeds = [seed + k for _ in prompts for k in range(per_prompt)]
    part = procs.shard(range(len(expanded)))
    mine, my_seeds = [expanded[i] for i in part], [seeds[i] for i in part]
    images = [s.image for s in sample(pipe, [p.text for p in mine], my_seeds, config, progress=procs.main)]
    rows = score(mine, images, my_seeds) if mine else []
    gathered = procs.gather(list(zip(rows, images)))
    return [r for r, _ in gathered], [image for _, image in gathered]


def run_bench(pipe, prompts: list[Prompt], per_prompt: int = 4, seed: int = 0,
              config: SamplerConfig = SamplerConfig(), out: Path | None = None,
              save_images: bool = False) -> BenchResult | None:
    """Seeds seed..seed+per_prompt-1 for every prompt, so two models are compared on the same noise. Split over
    the run's processes; the result (and out/, written by the main process) on the main process, None elsewhere."""
    check_prompts(prompts)
    t0 = time.time()
    rows, images = sample_and_score(pipe, prompts, per_prompt, seed, config, score_images)
    if not current_processes().main:
        return None
    result = summarise(rows, time.time() - t0)
    if out is not None:
        write_bench(result, images, out, per_prompt, save_images)
    return result


def write_bench(result: BenchResult, images: list[np.ndarray], out: Path, per_prompt: int,
                save_images: bool, evaluator: str = "reference (shapes world)") -> None:
    out.mkdir(parents=True, exist_ok=True)
    if save_images:
        (out / "images").mkdir(exist_ok=True)
        for i, (row, image) in enumerate(zip(result.rows, images)):
            row.image = f"images/{i:05d}.png"
            Image.fromarray(image).save(out / row.image)
    picked = []  # grid: the first four prompts of each category, two prompts with all their seeds per row
    for c in result.categories:
        picked.extend([images[i] for i, r in enumerate(result.rows) if r.category == c][: 4 * per_prompt])
    save_grid(picked, columns=2 * per_prompt, path=out / "grid.png")
    payload = {k: v for k, v in asdict(result).items() if k != "rows"} | {"evaluator": evaluator}
    write_json(out / "results.json", payload | {"rows": [asdict(r) for r in result.rows]})  # last: marks it done
