"""Generation and scoring throughput of one process against several on the same work (the built-in model by
default), one thread per process, measured in one run; prints JSON.

    python benchmarks/distributed_throughput.py [--processes 2 --prompts-per-category 2 --candidates 4]

For each process count the same job is launched with torchrun (`--standalone`, gloo on the CPU, NCCL on GPUs): the
MI-Tune recipe's candidates of the first N train prompts per category (generate_pool: sampling, every process's
image and latent files, the main process's table) and then their image MI (score_pool with the recipe's scorer, a
UNet pass per timestep), exactly as `diffalign align` runs them. Timed between barriers, after the model loaded
and one warm-up batch, so the figures are the work itself, not the launch. ratio = images/s with N processes over
images/s with one; on a machine with N free cores the ideal is N. The main process's CPU time shows how the work
was split whatever else the machine runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path


def worker(args) -> None:
    """One process of the job (under torchrun): time generate_pool and score_pool between barriers."""
    import torch

    from diffalign.methods.loop import generate_pool, open_pool, score_pool
    from diffalign.methods.recipe import load_recipe, override
    from diffalign.models import is_shapes_world_model, load_pipeline
    from diffalign.processes import start
    from diffalign.sampling import sample
    from diffalign.world.prompts import first_per_category, shipped_prompts

    torch.set_num_threads(1)
    procs = start(args.device)
    pipe = load_pipeline(args.model, device=procs.device)
    recipe = override(load_recipe("mitune", is_shapes_world_model(args.model)), candidates=args.candidates,
                      **{"sampler.batch_size": args.batch, "score_batch": args.batch})
    prompts = first_per_category(shipped_prompts("train"), args.prompts_per_category)
    sample(pipe, [p.text for p in prompts[: args.batch]], list(range(args.batch)), recipe.sampler, progress=False)
    times = {}
    with open_pool(Path(args.pool)) as pool:
        procs.barrier()
        start_time, cpu = time.perf_counter(), time.process_time()
        generate_pool(pipe, recipe, prompts, pool, 1)
        procs.barrier()
        times["generate_s"], times["generate_cpu_s"] = time.perf_counter() - start_time, time.process_time() - cpu
        start_time, cpu = time.perf_counter(), time.process_time()
        rows = score_pool(pipe, recipe, pool, Path(args.pool))
        procs.barrier()
        times["score_s"], times["score_cpu_s"] = time.perf_counter() - start_time, time.process_time() - cpu
    if procs.main:
        print(json.dumps({"processes": procs.count, "images": len(rows), **times}))


def launch(args, processes: int, pool: Path) -> dict:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
               __file__, "--worker", "--pool", str(pool), "--model", args.model, "--candidates", str(args.candidates),
               "--prompts-per-category", str(args.prompts_per_category), "--batch", str(args.batch)]
    if args.device:
        command += ["--device", args.device]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="builtin")
    parser.add_argument("--device", help="cpu (default without a GPU) or cuda (a GPU per process)")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--prompts-per-category", type=int, default=2)
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--batch", type=int, default=8, help="sampler and scorer batch of each process")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--pool", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    runs, load = {}, os.getloadavg()[0]  # other work on the machine shows in the ratio: say how busy it was
    with tempfile.TemporaryDirectory() as tmp:
        for n in (1, args.processes):
            runs[n] = launch(args, n, Path(tmp) / f"pool-{n}")
            print(json.dumps(runs[n]), file=sys.stderr)
    if runs[1]["images"] != runs[args.processes]["images"]:
        raise SystemExit(f"the runs made different pools: {runs}")
    import torch

    rate = {n: {k: r["images"] / r[f"{k}_s"] for k in ("generate", "score")} for n, r in runs.items()}
    print(json.dumps({
        "model": args.model, "images": runs[1]["images"], "processes": args.processes, "threads_per_process": 1,
        "torch": torch.__version__, "cpus": os.cpu_count(), "load_average_before": round(load, 2),
        "seconds": {str(n): {k: round(r[f"{k}_s"], 2) for k in ("generate", "score")} for n, r in runs.items()},
        # CPU time of the main process: its share of the work (about 1/N of one process's when the split is even),
        # which other jobs on the machine do not inflate the way they inflate the wall time
        "main_process_cpu_seconds": {str(n): {k: round(r[f"{k}_cpu_s"], 2) for k in ("generate", "score")}
                                     for n, r in runs.items()},
        "images_per_second": {str(n): {k: round(v, 2) for k, v in r.items()} for n, r in rate.items()},
        "ratio": {k: round(rate[args.processes][k] / rate[1][k], 3) for k in ("generate", "score")},
    }, indent=1))


if __name__ == "__main__":
    main()
