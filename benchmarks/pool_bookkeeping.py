"""What the pool's table costs per batch, by pool size: today's SQLite store (pool.py) at 10k / 100k / 1M rows,
and the rows.jsonl pool it replaced (commit 657bf1a, kept as tests/legacy_pool.py) at 10k / 100k for the ratio.
No model, no images: the table alone (rows are inserted with Pool.insert, the lower-level API that append calls
after writing a batch's images and latents, so the figures are bookkeeping only). Prints JSON; seconds.

    python benchmarks/pool_bookkeeping.py [--sizes 10000 100000 1000000 --legacy-sizes 10000 100000]

Per size: `set_scores_64` (one scoring batch: a new column on 64 random rows), `append_64` (a sampled batch's
rows), `done_ids` (what a resumed generate_pool reads once), `read_rows` (rows(): every row with its scores, once per stage),
`open` (Pool() on the existing folder), and `build` (the bulk insert that made the pool).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from diffalign.pool import Pool, PoolRow, row_id

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from legacy_pool import LegacyPool  # noqa: E402  (the old store, one copy for the tests and this baseline)

CANDIDATES = 8  # per prompt, as ids are <prompt index>-<seed>


def make_row(n: int) -> PoolRow:
    i, seed = divmod(n, CANDIDATES)
    rid = row_id(i, 1_000_000 + seed)
    return PoolRow(id=rid, prompt=f"prompt number {i} with a few words", category="color", seed=1_000_000 + seed,
                   round=1, image=f"images/{rid}.png", latents=f"latents/{row_id(i, 1_000_000)}.safetensors",
                   scores={"mi": 0.1 * seed, "mi_stderr": 0.01 * seed})


def timed(fn, reps: int) -> dict:
    """Median and worst of `reps` calls fn(0), fn(1), ... (seconds)."""
    times = []
    for k in range(reps):
        start = time.perf_counter()
        fn(k)
        times.append(time.perf_counter() - start)
    return {"median": round(statistics.median(times), 5), "max": round(max(times), 5), "reps": reps}


def bench_sqlite(root: Path, size: int, reps: int, rng: np.random.Generator) -> dict:
    start = time.perf_counter()
    with Pool(root) as pool:
        pool.insert(make_row(n) for n in range(size))
    build = time.perf_counter() - start
    start = time.perf_counter()
    pool = Pool(root)
    opened = time.perf_counter() - start
    ids = [make_row(int(n)).id for n in rng.choice(size, 64 * reps, replace=False)]
    result = {"pool_rows": size, "build": round(build, 2), "open": round(opened, 5),
              "set_scores_64": timed(lambda k: pool.set_scores({i: {"vqa": 0.5} for i in ids[64 * k: 64 * k + 64]}),
                                     reps),
              "append_64": timed(lambda k: pool.insert(make_row(size + 64 * k + j) for j in range(64)), reps),
              "done_ids": timed(lambda k: pool.done_ids(), 3), "read_rows": timed(lambda k: pool.rows(), 1),
              "db_bytes": (root / "pool.sqlite").stat().st_size}
    pool.close()
    return result


class TableOnlyLegacyPool(LegacyPool):
    """The old pool with append's image and latent writes left out, as they are for the SQLite store above."""

    def append_rows(self, rows: list[PoolRow]) -> None:  # the table part of the old append
        with open(self.table, "a") as f:
            for r in rows:
                f.write(json.dumps(asdict(r)) + "\n")
            f.flush()
            os.fsync(f.fileno())


def bench_legacy(root: Path, size: int, reps: int, rng: np.random.Generator) -> dict:
    root.mkdir(parents=True)
    start = time.perf_counter()
    with open(root / "rows.jsonl", "w") as f:
        f.writelines(json.dumps(asdict(make_row(n))) + "\n" for n in range(size))
    build = time.perf_counter() - start
    start = time.perf_counter()
    pool = TableOnlyLegacyPool(root)
    opened = time.perf_counter() - start
    ids = [make_row(int(n)).id for n in rng.choice(size, 64 * reps, replace=False)]
    return {"pool_rows": size, "build": round(build, 2), "open": round(opened, 5),
            "set_scores_64": timed(lambda k: pool.set_scores({i: {"vqa": 0.5} for i in ids[64 * k: 64 * k + 64]}),
                                   reps),
            "append_64": timed(lambda k: pool.append_rows([make_row(size + 64 * k + j) for j in range(64)]), reps),
            "done_ids": timed(lambda k: pool.done_ids(), 1), "read_rows": timed(lambda k: pool.rows(), 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--legacy-sizes", type=int, nargs="*", default=[10_000, 100_000])
    ap.add_argument("--reps", type=int, default=20, help="batches timed per measure (SQLite)")
    ap.add_argument("--legacy-reps", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=None, help="where to build the pools (default: a temporary folder)")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        sqlite = [bench_sqlite(Path(tmp) / f"sqlite_{n}", n, args.reps, rng) for n in args.sizes]
        legacy = [bench_legacy(Path(tmp) / f"jsonl_{n}", n, args.legacy_reps, rng) for n in args.legacy_sizes]
    ratio = {str(b["pool_rows"]): round(b["set_scores_64"]["median"] / s["set_scores_64"]["median"])
             for b in legacy for s in sqlite if s["pool_rows"] == b["pool_rows"]}
    print(json.dumps({"sqlite": sqlite, "legacy_jsonl": legacy, "set_scores_64_speedup": ratio}, indent=1))


if __name__ == "__main__":
    main()
