"""Atomic file writes (a run killed mid-write never leaves a half-written file under the final name), and reads."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file


def save_tensors(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str] | None = None) -> None:
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.contiguous() for k, v in tensors.items()}, tmp, metadata=metadata)
    os.replace(tmp, path)


def load_tensors(path: Path, key: str) -> tuple[dict[str, torch.Tensor], list]:
    """All tensors of a safetensors file and the JSON list kept in its metadata under `key`, in one open."""
    with safe_open(path, "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, json.loads(f.metadata()[key])
