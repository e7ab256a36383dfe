"""Several processes on the CPU (torchrun, gloo): a sharded align round is the single-process one (rows, images,
scores, selection, the data-parallel adapter), a killed job resumes with another process count, and a refusal is
one line from the main process. The single-process reference runs in this process; the others are launched as a
user would: `python -m torch.distributed.run --standalone --nproc_per_node 2 -m diffalign ...`."""

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from diffalign.cli.main import main
from diffalign.pool import Pool
from diffalign.processes import Processes

TRAIN = ('{"prompt": "a red circle and a blue square", "category": "color"}\n'
         '{"prompt": "two green crosses", "category": "numeracy"}\n'
         '{"prompt": "a blue cross below a red circle", "category": "spatial"}\n')
VAL = '{"prompt": "a yellow circle", "category": "color"}\n{"prompt": "three red triangles", "category": "numeracy"}\n'
CANDIDATES = 6  # 3 prompts x 6 = 18 rows in global batches of 2 x 2: several batches to kill the job between


def launch(args: list[str], processes: int = 2, **popen) -> subprocess.Popen:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
               "-m", "diffalign", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def children(pid: int) -> list[int]:
    """The launcher's worker processes (they run in sessions of their own: killing its group leaves them)."""
    return [int(c) for c in (Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]


def align_args(model, folder, out) -> list[str]:
    (folder / "train.jsonl").write_text(TRAIN)
    (folder / "val.jsonl").write_text(VAL)
    return ["align", "--model", str(model), "--prompts", str(folder / "train.jsonl"), "--val-prompts",
            str(folder / "val.jsonl"), "--candidates", str(CANDIDATES), "--top-k", "2", "--steps", "3",
            "--batch-size", "2", "--train-steps", "3", "--lr", "1e-2", "--micro-batch", "2", "--rank", "4",
            "--eval-per-category", "1", "--device", "cpu", "--out", str(out)]


@pytest.fixture(scope="module")
def single(tiny_model, tmp_path_factory):
    """The reference: the round in one process."""
    folder = tmp_path_factory.mktemp("single")
    assert main(align_args(tiny_model, folder, folder / "run")) == 0
    return folder / "run"


def rows(run):
    with Pool(run / "round_1" / "pool") as pool:
        return {r.id: (asdict(r), pool.image(r).astype(int), pool.latents([r])[0]) for r in pool.rows()}


def assert_same_round(run, reference):
    ours, theirs = rows(run), rows(reference)
    assert sorted(ours) == sorted(theirs) and len(ours) == 3 * CANDIDATES
    for i, (row, image, latent) in theirs.items():
        mine = ours[i]
        assert mine[0]["seed"] == row["seed"] and mine[0]["prompt"] == row["prompt"]
        assert mine[0]["scores"]["mi"] == pytest.approx(row["scores"]["mi"], rel=1e-4)
        assert np.abs(mine[1] - image).max() <= 2  # batches made of other rows: float rounding only
        assert torch.allclose(mine[2], latent, atol=1e-3)
    chosen = [[json.loads(line)["id"] for line in (r / "round_1" / "selected.jsonl").read_text().splitlines()]
              for r in (run, reference)]
    assert chosen[0] == chosen[1] and len(chosen[0]) == 6
    adapters = [load_file(r / "round_1" / "adapter" / "pytorch_lora_weights.safetensors") for r in (run, reference)]
    assert adapters[0].keys() == adapters[1].keys()
    trained = [k for k in adapters[1] if "lora_B" in k or "lora.up" in k]  # zero at the start: all of it is training
    scale = max(float(adapters[1][k].abs().max()) for k in trained)
    assert scale > 1e-3
    ours, theirs = (torch.cat([a[k].flatten() for k in sorted(a)]) for a in adapters)
    # AdamW divides by the root of the squared gradients, so the summation order's rounding of a near-zero gradient
    # can move a single weight by up to a step (lr), far past the rounding elsewhere: all but a few weights agree
    # to 0.5 % of the change, the whole adapter to 2 %; an unreduced or mis-sharded gradient moves most of them
    off = (ours - theirs).abs() > 5e-3 * scale
    assert off.float().mean() <= 5e-3, f"{int(off.sum())} of {off.numel()} adapter weights differ"
    assert (ours - theirs).norm() <= 2e-2 * theirs.norm()
    evals = [json.loads((r / "eval" / "round_1" / "results.json").read_text())["categories"] for r in (run, reference)]
    assert evals[0] == pytest.approx(evals[1], rel=1e-4)


def test_two_processes_make_the_single_process_round(tiny_model, single, tmp_path):
    job = launch(align_args(tiny_model, tmp_path, tmp_path / "run"))
    out, err = job.communicate(timeout=300)
    assert job.returncode == 0, err[-3000:]
    assert out.count("adapter:") == 1  # the main process reports
    assert_same_round(tmp_path / "run", single)


def test_a_killed_job_resumes_with_another_process_count(tiny_model, single, tmp_path):
    run = tmp_path / "run"
    args = align_args(tiny_model, tmp_path, run)
    job = launch(args)
    table, total, seen = run / "round_1" / "pool" / "pool.sqlite", 3 * CANDIDATES, 0
    workers = []
    try:
        while job.poll() is None and seen < 2:  # at least one global batch of the round is committed
            if table.exists():
                db = sqlite3.connect(table, timeout=1)
                try:
                    seen = db.execute("SELECT count(*) FROM rows").fetchone()[0]
                except sqlite3.OperationalError:  # the table is being created
                    pass
                finally:
                    db.close()
            time.sleep(0.01)
        workers = children(job.pid)
        os.kill(workers[-1], signal.SIGKILL)  # one of the two processes; the launcher then stops the other
        job.communicate(timeout=60)
    finally:
        for pid in [job.pid, *workers]:  # nothing left running, whatever failed above
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert job.returncode != 0
    before = {i: image for i, (_, image, _) in rows(run).items()}
    assert 0 < len(before) < total, f"the job was not killed mid-round ({len(before)} of {total} rows)"
    assert main(args) == 0  # resumed by one process
    after = rows(run)
    for i, image in before.items():  # rows made before the kill are kept, not made again
        assert np.array_equal(after[i][1], image)
    assert_same_round(run, single)


def test_a_refusal_is_one_line_from_the_main_process(tiny_model, single, tmp_path):
    args = align_args(tiny_model, tmp_path, single)
    args[args.index("--steps") + 1] = "4"  # the run folder was made with 3 sampling steps
    job = launch(args)
    _, err = job.communicate(timeout=300)
    assert job.returncode != 0  # the launcher's own code; it reports each process's below
    lines = [line for line in err.splitlines() if line.startswith("diffalign: error:")]
    assert len(lines) == 1 and "holds a run made with other sampler" in lines[0], err[-3000:]
    # every process that got to exit by itself exits 2, with no traceback; torchrun stops the others once one has
    # failed, so on a loaded machine the second can be ended by its SIGTERM (-15) before it reaches its own exit 2
    codes = re.findall(r"exitcode\s*:\s*(-?\d+)", err)
    assert "2" in codes and set(codes) <= {"2", "-15"} and "[rank" not in err, err[-3000:]


def test_generate_on_two_processes_writes_the_single_process_images(tiny_model, tmp_path):
    args = ["generate", "--model", str(tiny_model), "--prompt", "a red circle", "--prompt", "two green crosses",
            "--per-prompt", "3", "--seed", "5", "--steps", "3", "--device", "cpu"]  # 6 images: 3 per process, prompts split
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    job = launch([*args, "--out", str(tmp_path / "two")])
    out, err = job.communicate(timeout=300)
    assert job.returncode == 0, err[-3000:]
    assert out.count("images in") == 1
    index = [(tmp_path / run / "index.jsonl").read_text().splitlines() for run in ("one", "two")]
    assert len(index[0]) == 6 and [json.loads(r)["image"] for r in index[0]] == [json.loads(r)["image"] for r in index[1]]
    for row in map(json.loads, index[0]):
        images = [np.asarray(Image.open(tmp_path / run / row["image"])).astype(int) for run in ("one", "two")]
        assert np.abs(images[0] - images[1]).max() <= 2
    assert Image.open(tmp_path / "two" / "grid.png").size == Image.open(tmp_path / "one" / "grid.png").size


def test_shares_cover_the_work_once_with_the_same_steps_on_every_process():
    items = list(range(23))
    for count in (1, 2, 3, 8):
        procs = [Processes(index=i, count=count) for i in range(count)]
        assert [x for p in procs for x in p.shard(items)] == items
        steps = [list(p.batches(items, 4)) for p in procs]
        assert len({len(s) for s in steps}) == 1 and all(len(part) <= 4 for s in steps for part in s)
        merged = [x for step in zip(*steps) for part in step for x in part]  # global batch by global batch
        assert merged == items
