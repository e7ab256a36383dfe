#!/usr/bin/env bash
# The GPU check of a lent machine (the `device` tool), at most ~5 minutes: a full-size SD 2.1 UNet at 512 px with
# random weights (no download), diffalign's sampler vs a vanilla diffusers pipeline call at the same batch, and a
# bf16 LoRA / DoRA training step with and without gradient checkpointing (time, peak memory). Prints one JSON
# object (benchmarks/gpu_check.py says what each figure is); put it in docs/results.md.
#
#   ./install.sh && benchmarks/gpu_check.sh              # on the GPU machine, from the repository root
#   benchmarks/gpu_check.sh --tiny                       # the same steps at toy size on the CPU: checks the script
set -euo pipefail
cd "$(dirname "$0")/.."
exec timeout 330 python benchmarks/gpu_check.py "$@"
