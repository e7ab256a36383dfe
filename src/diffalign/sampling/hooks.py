"""Hooks see every denoising step: MI accumulation, attention capture and guidance plug in here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

from ..models import Conditioning


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


@runtime_checkable
class LatentSteer(SamplerHook, Protocol):
    """A hook that may also move z_t before the model is called (cross-attention guidance)."""

    def start(self, latents: torch.Tensor, context: Conditioning, prompts: list[str], scheduler,
              generators: list[torch.Generator]) -> None:
        """The batch's initial z_T, the denoiser's conditioning (uncond + cond rows under CFG), the batch's prompts,
        the scheduler with its timesteps set, and the per-sample noise generators, before the first step."""
        ...

    def steer(self, index: int, timestep: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        """The z_t to denoise at this step."""
        ...

    def finish(self, latents: torch.Tensor) -> torch.Tensor:
        """The z_0 to decode, after the last step."""
        ...
