"""Peak memory and time of one fine-tuning step at each mixed precision, with and without gradient checkpointing
and with micro-batches: the trainer as align calls it (train_adapter, AdamW, clipping), on the built-in model by
default. Prints JSON.

    python benchmarks/train_memory.py [--model builtin --batch 64 --objective sft --adapter dora --rank 8]

Each configuration runs in a fresh subprocess: a warm-up step (allocator, AdamW state), then the measured step.
Peak memory: on CUDA torch.cuda.max_memory_allocated (reset before the step) minus what was allocated before it;
on the CPU the process's peak resident set (VmHWM, reset through /proc/self/clear_refs before the step) minus its
resident set before it (large allocations mmapped, freed heap trimmed, so the RSS follows torch's), i.e. what the step adds to the pipeline, batch and adapter already in memory (torch's
CPU allocations are invisible to tracemalloc). Frozen base weights: float32 at "no", the precision's dtype
otherwise (as on a GPU); the adapter's weights and optimizer state are float32 at every one.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIGS = [  # (mixed_precision, gradient_checkpointing, micro_batch divisor)
    ("no", False, 1), ("no", True, 1), ("no", False, 4), ("no", True, 4),
    ("bf16", False, 1), ("bf16", True, 1), ("fp16", False, 1), ("fp16", True, 1),
]


def rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def one(args) -> dict:
    """One configuration, in this process."""
    import torch

    from diffalign.models import load_pipeline
    from diffalign.sampling import encode_prompts
    from diffalign.training import AdapterConfig, TrainConfig, attach_adapter, frozen_conditioning, train_adapter

    torch.set_num_threads(args.threads)
    pipe = load_pipeline(args.model, device=args.device)
    device = pipe.device
    half = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(args.precision)
    if half is not None:
        pipe.unet.to(half)  # the frozen base in half precision
    params = attach_adapter(pipe, AdapterConfig(kind=args.adapter, rank=args.rank, alpha=args.rank))
    size = pipe.unet.config.sample_size
    gen = torch.Generator().manual_seed(0)
    latents = torch.randn(args.batch, pipe.unet.config.in_channels, size, size, generator=gen)
    rejected = torch.randn(latents.shape, generator=gen) if args.objective == "dpo" else None
    embeds = encode_prompts(pipe, ["a red circle left of a blue square"] * args.batch).to("cpu")
    micro = args.batch // args.divisor if args.divisor > 1 else None
    config = TrainConfig(steps=1, batch_size=args.batch, lr=1e-4, objective=args.objective, mixed_precision=args.precision,
                         gradient_checkpointing=args.checkpointing, micro_batch=micro, save_every=1)
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state.pt"
        train_adapter(pipe, params, latents, frozen_conditioning(embeds), config, state, progress=False,
                      rejected=rejected)  # warm-up step
        cuda = device.type == "cuda"
        if cuda:
            torch.cuda.synchronize()
            before = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
        else:
            ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand the warm-up's freed heap back, so the step's shows
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current resident set
            before = rss_kib("VmRSS") * 1024
        start = time.perf_counter()
        losses = train_adapter(pipe, params, latents, frozen_conditioning(embeds), replace_steps(config, 2), state,
                               progress=False, rejected=rejected)  # the measured step (resumes at step 1)
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        peak = torch.cuda.max_memory_allocated() if cuda else rss_kib("VmHWM") * 1024
    return {"mixed_precision": args.precision, "gradient_checkpointing": args.checkpointing,
            "micro_batch": micro or args.batch, "peak_step_mib": round((peak - before) / 2**20, 1),
            "step_s": round(seconds, 2), "loss": round(losses[-1], 4),
            "adapter_dtype": str({p.dtype for p in params}.pop()).removeprefix("torch.")}


def replace_steps(config, steps):
    from dataclasses import replace

    return replace(config, steps=steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="builtin")
    parser.add_argument("--device")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--objective", choices=["sft", "dpo"], default="sft")
    parser.add_argument("--adapter", choices=["lora", "dora"], default="dora")
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--one", nargs=3, metavar=("PRECISION", "CHECKPOINTING", "DIVISOR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        args.precision, args.checkpointing, args.divisor = args.one[0], args.one[1] == "1", int(args.one[2])
        print(json.dumps(one(args)))
        return
    rows = []
    for precision, checkpointing, divisor in CONFIGS:
        cmd = [sys.executable, __file__, "--model", args.model, "--batch", str(args.batch), "--objective",
               args.objective, "--adapter", args.adapter, "--rank", str(args.rank), "--threads", str(args.threads),
               "--one", precision, str(int(checkpointing)), str(divisor)] + (["--device", args.device] if args.device else [])
        env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}  # large tensors mmapped: freed to the OS, seen in RSS
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), file=sys.stderr)
    base = rows[0]["peak_step_mib"]
    for row in rows:
        row["peak_vs_no_fp32"] = round(row["peak_step_mib"] / base, 3)
    import torch

    print(json.dumps({"model": args.model, "batch": args.batch, "objective": args.objective, "adapter":
                      f"{args.adapter} rank {args.rank}", "device": args.device or ("cuda" if torch.cuda.is_available() else "cpu"),
                      "measure": "CUDA max_memory_allocated" if torch.cuda.is_available() and args.device != "cpu"
                      else "CPU peak RSS (VmHWM) above the RSS before the step, fresh process per row",
                      "torch": torch.__version__, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
