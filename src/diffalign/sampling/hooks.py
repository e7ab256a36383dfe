"""Hooks see every denoising step: MI accumulation, attention capture and guidance plug in here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch


@dataclass
class StepState:
    """What the sampler knows at one step, for the batch being denoised."""

    index: int  # 0-based position in the step sequence
    timestep: torch.Tensor  # scalar timestep in the training schedule (0..T-1)
    latents: torch.Tensor  # z_t, B x C x h x w
    eps_cond: torch.Tensor  # model output with the prompt (converted to epsilon)
    eps_uncond: torch.Tensor | None  # model output with the empty prompt; None without guidance


class SamplerHook(Protocol):
    def begin(self, batch_size: int) -> None: ...

    def step(self, state: StepState) -> None: ...

    def end(self) -> dict[str, torch.Tensor]:
        """Per-sample results of the batch (name -> B-vector), added to each Sample's scores."""
        ...
