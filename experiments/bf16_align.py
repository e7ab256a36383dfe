"""`diffalign align` with the whole pipeline in bfloat16 weights on a CPU (candidates, DPO, both benchmarks), to time
it against float32 (docs/results.md, "Half precision on this CPU"). An experiment, not a shipped option.

    OMP_NUM_THREADS=2 /usr/bin/time -v python experiments/bf16_align.py --recipe dreamsync --rounds 1 --out work/dsq-bf16
"""

import sys

import torch

import diffalign.cli.align as align_cli
from diffalign.cli.main import main

align_cli.pipeline_dtype = lambda train: torch.bfloat16

if __name__ == "__main__":
    sys.exit(main(["align", *sys.argv[1:]]))
