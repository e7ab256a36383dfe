#!/usr/bin/env bash
# Install diffalign and its test tools. A machine without torch gets the CPU build
# (torch==2.13.0, a local wheel here; no multi-GB CUDA download); a GPU machine keeps its torch.
set -euo pipefail
cd "$(dirname "$0")"
python -c "import torch" 2>/dev/null || python -m pip install -q torch==2.13.0
python -m pip install -q -e '.[test]'
