"""The pool's store (pool.sqlite): rows and scores round-trip, a killed batch leaves no partial or duplicate row,
pools of the rows.jsonl format migrate on open, and a run folder has one writer."""

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from legacy_pool import LegacyPool

from diffalign.errors import UserInputError
from diffalign.io import writer_lock
from diffalign.models import Conditioning
from diffalign.pool import DB_FILE, ROWS_FILE, Pool, PoolRow

SRC = Path(__file__).resolve().parents[1] / "src"
ENV = {**os.environ, "PYTHONPATH": str(SRC)}


def batch(prompt_index, seeds, **scores):
    first = f"{prompt_index:05d}-{seeds[0]}"
    return [PoolRow(id=f"{prompt_index:05d}-{s}", prompt=f"prompt {prompt_index}", category="color", seed=s, round=1,
                    image=f"images/{prompt_index:05d}-{s}.png", latents=f"latents/{first}.safetensors",
                    scores={k: v[j] for k, v in scores.items()}) for j, s in enumerate(seeds)]


def images(n):
    return [np.full((8, 8, 3), 10 * i, np.uint8) for i in range(n)]


def test_rows_scores_and_latents_round_trip(tmp_path):
    pool = Pool(tmp_path / "pool")
    assert pool.rows() == [] and pool.count() == 0 and pool.prompt_embeds() is None
    first, second = batch(0, [0, 1], mi=[1.0, 2.0]), batch(1, [0, 1, 2])
    latents = torch.randn(2, 4, 8, 8)
    pool.append(first, images(2), latents)
    pool.append(second, images(3), torch.randn(3, 4, 8, 8))
    pool.set_scores({"00000-1": {"mi": 5.0, "vqa": 0.5}, "00001-2": {"vqa": math.nan}, "not-a-row": {"vqa": 1.0}})
    pool.close()

    pool = Pool(tmp_path / "pool")  # another process's view: everything is on disk
    rows = pool.rows()
    assert [r.id for r in rows] == ["00000-0", "00000-1", "00001-0", "00001-1", "00001-2"]  # in written order
    assert rows[0] == first[0] and rows[1].scores == {"mi": 5.0, "vqa": 0.5} and rows[2].scores == {}
    assert math.isnan(rows[4].scores["vqa"])  # SQLite stores NaN as NULL: it reads back as NaN
    assert pool.count() == 5 and pool.done_ids() == {r.id for r in rows}
    assert torch.equal(pool.latents(rows[:2]), latents) and pool.latents(rows).shape == (5, 4, 8, 8)
    assert (pool.image(rows[1]) == 10).all()
    assert not (tmp_path / "pool" / ROWS_FILE).exists()


def test_a_row_already_in_the_pool_is_refused_before_its_files_are_written(tmp_path):
    pool = Pool(tmp_path / "pool")
    latents = torch.randn(2, 4, 8, 8)
    pool.append(batch(0, [0, 1]), images(2), latents)
    with pytest.raises(ValueError, match="already in the pool"):
        pool.append(batch(0, [0]), images(1), torch.randn(1, 4, 8, 8))
    assert pool.count() == 2 and torch.equal(pool.latents(pool.rows()), latents)


def test_prompt_embeds_are_stored_per_batch_and_read_per_prompt(tmp_path):
    pool = Pool(tmp_path / "pool")
    embeds, pooled = torch.randn(5, 7, 3), torch.randn(5, 4)
    pool.save_prompt_embeds([0, 1, 2], Conditioning(embeds[:3]))
    pool.save_prompt_embeds([3, 4], Conditioning(embeds[3:], pooled_embeds=pooled[3:]))  # every field is kept
    assert pool.embedded_prompts() == {0, 1, 2, 3, 4}
    assert sorted(p.name for p in (tmp_path / "pool" / "prompt_embeds").iterdir()) == \
        ["00000.safetensors", "00003.safetensors"]
    some = Pool(tmp_path / "pool").prompt_embeds([4, 1, 4])
    assert some.keys() == {1, 4} and torch.equal(some[4].prompt_embeds, embeds[4:5])
    assert torch.equal(some[4].pooled_embeds, pooled[4:5]) and some[1].pooled_embeds is None
    assert torch.equal(torch.cat([v.prompt_embeds for _, v in sorted(pool.prompt_embeds().items())]), embeds)
    with pytest.raises(KeyError, match=r"\[9\]"):
        pool.prompt_embeds([1, 9])


KILLED_BATCH = """
import os, signal, sys
import numpy as np, torch
import diffalign.pool as pool_module
sys.path.insert(0, {tests!r})
from test_pool import batch, images

pool = pool_module.Pool({folder!r})
pool.append(batch(0, [0, 1]), images(2), torch.randn(2, 4, 8, 8))
real = pool_module._insert
def dying_insert(db, rows):
    real(db, rows)  # the rows are in the open transaction...
    os.kill(os.getpid(), signal.SIGKILL)  # ...when the process is killed
pool_module._insert = dying_insert
pool.append(batch(1, [0, 1]), images(2), torch.randn(2, 4, 8, 8))
"""


def test_a_batch_killed_mid_write_leaves_no_row_and_resumes_without_duplicates(tmp_path):
    folder = tmp_path / "pool"
    script = KILLED_BATCH.format(tests=str(Path(__file__).parent), folder=str(folder))
    result = subprocess.run([sys.executable, "-c", script], env=ENV,
                            capture_output=True, text=True)
    assert result.returncode == -9, result.stderr
    pool = Pool(folder)
    assert [r.id for r in pool.rows()] == ["00000-0", "00000-1"]  # the killed batch rolled back entirely
    assert (folder / "images" / "00001-0.png").exists()  # its files were written before the rows: overwritten now
    pool.append(batch(1, [0, 1]), images(2), torch.randn(2, 4, 8, 8))  # what the rerun does
    ids = [r.id for r in Pool(folder).rows()]
    assert ids == ["00000-0", "00000-1", "00001-0", "00001-1"]


def legacy_pool(folder):
    """A pool written by the code before pool.sqlite, with a torn last line from a run killed mid-append."""
    old = LegacyPool(folder)
    old.save_prompt_embeds(torch.arange(3 * 4 * 2, dtype=torch.float32).reshape(3, 4, 2))
    old.append(batch(0, [0, 1], mi=[1.0, math.nan]), images(2), torch.randn(2, 4, 8, 8))
    old.append(batch(2, [0]), images(1), torch.randn(1, 4, 8, 8))
    old.set_scores({"00000-0": {"vqa": 0.25}})
    expected = old.rows()
    with open(old.table, "a") as f:
        f.write('{"id": "00002-1", "prompt": "a re')
    return expected


def test_a_jsonl_pool_is_migrated_on_open_and_keeps_its_files(tmp_path):
    folder = tmp_path / "pool"
    expected = legacy_pool(folder)
    old_lines = (folder / ROWS_FILE).read_text()
    pool = Pool(folder)
    rows = pool.rows()
    assert [r.id for r in rows] == [r.id for r in expected] == ["00000-0", "00000-1", "00002-0"]
    assert rows[0].scores == {"mi": 1.0, "vqa": 0.25} and math.isnan(rows[1].scores["mi"])
    assert [(r.prompt, r.seed, r.image, r.latents) for r in rows] == \
        [(r.prompt, r.seed, r.image, r.latents) for r in expected]
    assert pool.latents(rows).shape == (3, 4, 8, 8)
    assert pool.embedded_prompts() == {0, 1, 2}  # the old embeddings file, indexed where it is
    assert torch.equal(pool.prompt_embeds([1])[1].prompt_embeds,
                       torch.arange(8, 16, dtype=torch.float32).reshape(1, 4, 2))
    assert not (folder / ROWS_FILE).exists() and (folder / f"{ROWS_FILE}.migrated").read_text() == old_lines
    assert (folder / "prompt_embeds.safetensors").exists() and (folder / DB_FILE).exists()
    pool.append(batch(2, [1]), images(1), torch.randn(1, 4, 8, 8))  # the resumed run goes on
    assert Pool(folder).count() == 4


def test_a_migration_killed_after_the_database_is_in_place_is_finished(tmp_path):
    folder = tmp_path / "pool"
    legacy_pool(folder)
    Pool(folder).close()
    (folder / f"{ROWS_FILE}.migrated").rename(folder / ROWS_FILE)  # killed between the two renames
    pool = Pool(folder)
    assert pool.count() == 3 and not (folder / ROWS_FILE).exists()


HOLDER = """
import sys, time
from pathlib import Path
from diffalign.io import writer_lock
with writer_lock(Path({lock!r}), Path({folder!r}), "wait"):
    print("locked", flush=True)
    time.sleep(60)
"""


def hold_lock(folder: Path) -> subprocess.Popen:
    """Another process holding the writer lock of `folder` (its .lock) until killed."""
    folder.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER.format(lock=str(folder / ".lock"), folder=str(folder))],
                              env=ENV, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_one_writer_per_folder_and_the_lock_dies_with_its_process(tmp_path):
    run = tmp_path / "run"
    holder = hold_lock(run)
    try:
        with pytest.raises(UserInputError) as err:
            with writer_lock(run / ".lock", run, "wait for it, or give another --out"):
                pass
        message = str(err.value)
        assert "\n" not in message and str(run) in message and f"pid {holder.pid}" in message
        assert message.endswith("wait for it, or give another --out")
    finally:
        holder.kill()
        holder.wait()
    with writer_lock(run / ".lock", run, "wait"):  # a killed holder leaves no stale lock
        assert (run / ".lock").read_text() == str(os.getpid())
        with pytest.raises(UserInputError):  # a second writer in the same process is refused too
            with writer_lock(run / ".lock", run, "wait"):
                pass


def test_set_scores_touches_only_its_rows(tmp_path):
    pool = Pool(tmp_path / "pool")
    rows = [PoolRow(id=f"{i:05d}-0", prompt="p", category=None, seed=0, round=1, image="", latents="",
                    scores={"mi": float(i)}) for i in range(1000)]
    pool.insert(rows)  # the table alone, no files (what the bookkeeping benchmark builds)
    pool.set_scores({f"{i:05d}-0": {"vqa": -float(i)} for i in range(10, 74)})
    scored = {r.id: r.scores for r in pool.rows()}
    assert sum("vqa" in s for s in scored.values()) == 64 and scored["00010-0"] == {"mi": 10.0, "vqa": -10.0}
    assert json.dumps(scored["00009-0"]) == '{"mi": 9.0}'
