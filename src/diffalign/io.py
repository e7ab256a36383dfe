"""Atomic file writes (a run killed mid-write never leaves a half-written file under the final name), and reads."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary name beside `path` (hidden: .<name>.tmp) for the block to write a file or a folder to, moved
    over `path` (os.replace) only when the block finishes. A stale temporary a killed run left is cleared first;
    a block that raises leaves `path` as it was. Name the format where a writer guesses it from the suffix."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    _remove(tmp)
    try:
        yield tmp
    except BaseException:
        _remove(tmp)
        raise
    os.replace(tmp, path)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    """path.write_text(text) (UTF-8), atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: Path, obj, indent: int | None = 1, **dumps) -> None:
    """json.dumps(obj, indent=indent, **dumps) written atomically."""
    atomic_write_text(path, json.dumps(obj, indent=indent, **dumps))


def save_tensors(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str] | None = None) -> None:
    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in tensors.items()}, tmp, metadata=metadata)


def load_tensors(path: Path, key: str) -> tuple[dict[str, torch.Tensor], list]:
    """All tensors of a safetensors file and the JSON list kept in its metadata under `key`, in one open."""
    with safe_open(path, "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, json.loads(f.metadata()[key])
