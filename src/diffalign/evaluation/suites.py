"""What the real-model benchmark suites (compbench, geneval) share: their result with the evaluators it was scored
by, the evaluator sources with their exact revision, the suite options given as KEY=VALUE, and the run loop.

A suite's results.json is the shapes bench's (`write_bench`: categories, well_formed, mean, rows, seconds,
evaluator) plus `suite`, `evaluators` (role -> source, revision, default, differs) and `options` (the scoring
thresholds), so `diffalign compare` can tell whether two results were scored alike.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import UserInputError
from ..processes import current as current_processes
from ..sampling import SamplerConfig
from ..world.prompts import Prompt
from .bench import BenchResult, BenchRow, sample_and_score, summarise, write_bench

SNAPSHOT = re.compile(r"models--(?P<org>[^/]+?)--(?P<name>[^/]+)/snapshots/(?P<rev>[0-9a-f]{40})")


@dataclass
class SuiteResult(BenchResult):
    suite: str
    evaluators: dict[str, dict]  # role -> source_record(...)
    options: dict  # the scoring options (thresholds, margins) the rows were scored with

    def table(self) -> str:
        return evaluator_header(self.suite, self.evaluators) + "\n" + super().table()


def evaluator_header(suite: str, evaluators: dict[str, dict]) -> str:
    """One line naming every evaluator, and which ones are not the benchmark's default."""
    used = ", ".join(f"{role}={r['source']}" for role, r in evaluators.items())
    other = [f"{role}={r['source']} (default {r['default']})" for role, r in evaluators.items() if r["differs"]]
    line = f"{suite} evaluators: {used}"
    return line + (f"; not the benchmark's default: {', '.join(other)}" if other else "")


def source_record(source: str, default: str) -> dict:
    """Where an evaluator came from, exactly: a hub id with the commit of its cached snapshot, a folder inside a hub
    cache with its repo and commit, or a local folder with a fingerprint of its files (names, sizes, the first and
    last MiB of each), so two results scored with the same files say so and any other difference shows."""
    record = {"source": source, "default": default, "differs": source != default}
    path = Path(source).expanduser()
    if path.exists():
        resolved = path.resolve()
        match = SNAPSHOT.search(resolved.as_posix())
        if match:
            return record | {"repo": f"{match['org']}/{match['name']}", "revision": match["rev"]}
        return record | {"path": str(resolved), "revision": "sha256:" + fingerprint(resolved)}
    try:
        from huggingface_hub import snapshot_download

        snapshot = Path(snapshot_download(source, local_files_only=True))
        return record | {"repo": source, "revision": snapshot.name}
    except Exception:  # not cached (yet): the hub id alone
        return record | {"repo": source, "revision": None}


def fingerprint(folder: Path, edge: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    files = [folder] if folder.is_file() else sorted(p for p in folder.rglob("*") if p.is_file())
    for p in files:
        size = p.stat().st_size
        digest.update(f"{p.relative_to(folder) if p != folder else p.name}\0{size}\0".encode())
        with p.open("rb") as f:
            digest.update(f.read(edge))
            if size > 2 * edge:
                f.seek(size - edge)
                digest.update(f.read(edge))
            elif size > edge:
                digest.update(f.read())
    return digest.hexdigest()[:16]


def suite_options(cls, raw: dict, suite: str):
    """A suite's options dataclass from KEY=VALUE pairs (JSON values already parsed); an unknown key or a value of
    the wrong kind is one line naming the keys there are."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in raw if k not in fields]
    if unknown:
        raise UserInputError(f"--option {unknown[0]}: not an option of --suite {suite}; options: {', '.join(fields)}")
    values = {}
    for key, value in raw.items():
        default = getattr(cls(), key)
        if isinstance(default, bool) or default is None or isinstance(default, str):
            values[key] = value if value is None or isinstance(value, str) else str(value)
        elif isinstance(default, (int, float)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise UserInputError(f"--option {key}={value!r}: expected a number")
            values[key] = type(default)(value) if isinstance(default, float) else value
        else:
            values[key] = value
    return cls(**values)


def check_categories(prompts: list[Prompt], known: tuple[str, ...], suite: str) -> None:
    for p in prompts:
        if p.category not in known:
            what = "no category" if p.category is None else f"category {p.category!r}"
            raise UserInputError(f"--suite {suite}: {what} for {p.text!r}; its categories are {', '.join(known)} "
                                 f"(name a .txt file like color_val.txt or pass --category)")


def run_suite(pipe, prompts: list[Prompt], per_prompt: int, seed: int, config: SamplerConfig,
              score: Callable[[list[Prompt], list[np.ndarray], list[int]], list[BenchRow]],
              describe: Callable[[], tuple[str, dict, dict]], out: Path | None = None,
              save_images: bool = False) -> SuiteResult | None:
    """Seeds seed..seed+per_prompt-1 for every prompt (as the shapes bench), `score` reads the images into rows;
    `describe` gives (suite, evaluators, options) for results.json. Split over the run's processes as the shapes
    bench; the result on the main process, None elsewhere."""
    t0 = time.time()
    rows, images = sample_and_score(pipe, prompts, per_prompt, seed, config, score)
    if not current_processes().main:
        return None
    base = summarise(rows, time.time() - t0)
    suite, evaluators, options = describe()
    result = SuiteResult(**{f.name: getattr(base, f.name) for f in dataclasses.fields(BenchResult)},
                         suite=suite, evaluators=evaluators, options=options)
    if out is not None:
        write_bench(result, images, out, per_prompt, save_images, evaluator=evaluator_header(suite, evaluators))
    return result
