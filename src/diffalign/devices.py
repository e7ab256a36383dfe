"""The one home of device choice: the default (cuda if available, else cpu) and a user's device name checked."""

from __future__ import annotations

import torch

from .errors import UserInputError

VALID_FORMS = "cpu, cuda, cuda:1 or mps"


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(name: str | torch.device | None) -> torch.device:
    """A user's device (--device, a scorer's `device` option) as a torch.device; None -> default_device().
    An unknown name, or a device this machine lacks, is a one-line UserInputError."""
    if name is None or name == "":
        return default_device()
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise UserInputError(f"unknown device {str(name)!r}: give {VALID_FORMS}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            built = "no GPU is visible" if torch.backends.cuda.is_built() else "this torch build has no CUDA"
            raise UserInputError(f"device {str(name)!r} is not available ({built}): use cpu")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise UserInputError(f"device {str(name)!r} is not available: this machine has {count} CUDA "
                                 f"device{'s' if count != 1 else ''} (cuda:0 to cuda:{count - 1})")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise UserInputError(f"device {str(name)!r} is not available here: use cpu")
    return device
