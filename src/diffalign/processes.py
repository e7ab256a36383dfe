"""The processes of a run: one (`diffalign ...`) or several (`torchrun --nproc_per_node N -m diffalign ...`,
`accelerate launch --num_processes N -m diffalign ...`, one or several nodes), held by accelerate's PartialState.

A command calls `start(--device)` once, after its input checks, and everything below asks `current()`:
which process this is, its device (cuda:<local rank> on a GPU node, the CPU with gloo when there is no GPU or
--device cpu), its contiguous share of a list of work, and the collectives the loop needs. With one process every
operation is the plain local one, so a single-process run takes exactly the path it always took.

Who writes what (docs/scaling.md): every process writes the files of its own rows (images, latents); only the main
process writes shared files and the pool's table. `on_main` runs a step there and hands its result, or its one-line
error, to every process, so a refusal stops all of them (no process waits forever on one that gave up).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch

from .devices import resolve_device
from .errors import UserInputError

T = TypeVar("T")


@dataclass(frozen=True)
class Processes:
    index: int = 0  # this process's rank among all (every node)
    count: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.index == 0

    def shard(self, items: Sequence[T]) -> Sequence[T]:
        """This process's contiguous part of `items` (parts differ in length by at most one; all of them, in
        process order, are `items`). Which process makes an item never changes what the item is: seeds and row
        ids come from the item, not from its position among the processes."""
        n = len(items)
        return items[self.index * n // self.count : (self.index + 1) * n // self.count]

    def batches(self, items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
        """Global batches of size x count items, in order; this process's part of each (at most `size` items,
        possibly none). Every process takes the same number of steps, so a collective per batch pairs up."""
        step = size * self.count
        for start in range(0, len(items), step):
            yield items[start : start + step][self.index * size : (self.index + 1) * size]

    def barrier(self) -> None:
        if self.count > 1:
            _state().wait_for_everyone()

    def gather(self, items: list) -> list:
        """Every process's `items` concatenated in process order, on the main process; [] on the others."""
        if self.count == 1:
            return list(items)
        parts = [None] * self.count if self.main else None
        torch.distributed.gather_object(list(items), parts, dst=0)
        return [x for part in parts for x in part] if self.main else []

    def on_main(self, fn: Callable[[], T]) -> T:
        """fn() on the main process; its result (pickled) on every process. A UserInputError it raises is raised
        on every process with the same message (the CLI prints it once, from the main process); any other failure
        there stops the others with a RuntimeError instead of leaving them waiting."""
        if self.count == 1:
            return fn()
        box: list = [None, None, None]  # result, error kind, message
        if self.main:
            try:
                box[0] = fn()
            except UserInputError as err:
                box[1:] = ["input", str(err)]
                self._broadcast(box)
                raise
            except Exception as err:
                box[1:] = ["crash", f"{type(err).__name__}: {err}"]
                self._broadcast(box)
                raise
        self._broadcast(box)
        if box[1] == "input":
            raise UserInputError(box[2])
        if box[1] == "crash":
            raise RuntimeError(f"the main process failed: {box[2]}")
        return box[0]

    def all_sum(self, tensors: list[torch.Tensor]) -> None:
        """Sum each tensor over the processes, in place (one flat all-reduce; data-parallel gradients)."""
        if self.count == 1 or not tensors:
            return
        flat = torch.cat([t.reshape(-1) for t in tensors])
        torch.distributed.all_reduce(flat)
        offset = 0
        for t in tensors:
            t.copy_(flat[offset : offset + t.numel()].view_as(t))
            offset += t.numel()

    def _broadcast(self, box: list) -> None:
        from accelerate.utils import broadcast_object_list

        broadcast_object_list(box, from_process=0)


_current = Processes()


def launched() -> int:
    """How many processes the launcher started (torchrun and accelerate launch set WORLD_SIZE); 1 without one."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Whether this is the main process, before or after start() (the launcher's RANK)."""
    return int(os.environ.get("RANK", "0")) == 0


def start(device: str | None = None) -> Processes:
    """The processes of this run, on `device` (a --device value: None picks cuda if available, else cpu). Under a
    launcher each process takes cuda:<local rank>, or the CPU with the gloo backend for --device cpu or a node
    without GPUs; a device index is refused there (the local rank picks it). Without a launcher: one process on
    resolve_device(device)."""
    global _current
    if launched() == 1:
        _current = Processes(device=resolve_device(device))
        return _current
    wanted = resolve_device(device)  # checks the name (and that a GPU exists for cuda)
    if device is not None and wanted.index is not None:
        raise UserInputError(f"--device {device}: with {launched()} processes each takes the GPU of its local rank; "
                             f"give --device cuda (or cpu)")
    from accelerate import PartialState

    state = PartialState(cpu=wanted.type == "cpu")
    local = torch.device("cpu") if wanted.type == "cpu" else state.device
    _current = Processes(index=state.process_index, count=state.num_processes, device=local)
    return _current


def _state():
    from accelerate import PartialState

    return PartialState()


def current() -> Processes:
    """The processes start() set up; a single process on the CPU before it is called (library use, tests)."""
    return _current


def finish() -> None:
    """Leave the process group (at the end of a multi-process command), so the launcher sees a clean exit."""
    global _current
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    _current = Processes()
