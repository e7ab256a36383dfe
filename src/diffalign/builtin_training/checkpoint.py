"""Resumable training state: one file per stage, replaced atomically, so a killed run loses little."""

from __future__ import annotations

from pathlib import Path

import torch

from ..io import atomic_path


def save_state(path: Path, step: int, **objects) -> None:
    """Save `state_dict()` of each object (modules, optimizers, EMA) plus the step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save({"step": step, **{k: v.state_dict() for k, v in objects.items()}}, tmp)


def load_state(path: Path, **objects) -> int:
    """Restore objects from a saved state if there is one; return the step to continue from."""
    if not path.exists():
        return 0
    state = torch.load(path, map_location="cpu", weights_only=False)
    for k, v in objects.items():
        v.load_state_dict(state[k])
    return int(state["step"])
