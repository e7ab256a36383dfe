"""Atomic file writes (a run killed mid-write never leaves a half-written file under the final name), reads, and the
writer lock of a folder."""

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

from .errors import UserInputError


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary name beside `path` (hidden: .<name>.tmp) for the block to write a file or a folder to, moved
    over `path` (os.replace) only when the block finishes. A stale temporary a killed run left is cleared first;
    a block that raises leaves `path` as it was. Name the format where a writer guesses it from the suffix.
    Processes of one multi-process run (the launcher's RANK) use their own temporary names, so two of them writing
    the same file (a scorer's cache) do not clear each other's; the last one to finish wins."""
    path = Path(path)
    rank = os.environ.get("RANK")
    tmp = path.with_name(f".{path.name}{f'.rank{rank}' if rank not in (None, '0') else ''}.tmp")
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


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Wait for and hold an exclusive flock on the file `path` for the block (a read-merge-write of a file that
    several processes share). Where fcntl does not exist (Windows) no lock is taken."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(path, "a+", encoding="utf-8") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        yield


@contextmanager
def writer_lock(path: Path, folder: Path, what_to_do: str) -> Iterator[None]:
    """Hold an exclusive lock on the file `path` (flock, non-blocking) for the block: one writer per `folder`.
    A second writer, in this process or another, gets a UserInputError in one line naming the folder, the
    holder's pid and `what_to_do`. The lock dies with its process, so a crashed run leaves no stale lock; the file
    itself stays (it only ever holds the last holder's pid).

    This is the main writer's lock on a run folder; in a multi-process run the main process holds it for all of
    them (docs/scaling.md). Where fcntl does not exist (Windows) no lock is taken."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    path = Path(path)
    f = open(path, "a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip()
            raise UserInputError(f"{folder} is in use by another diffalign process"
                                 f"{f' (pid {holder})' if holder.isdigit() else ''}: {what_to_do}") from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        yield
    finally:
        f.close()  # releases the lock
