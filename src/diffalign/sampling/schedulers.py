"""Scheduler choice by short name, built from the model's own scheduler config, and one step call for all.

Diffusers schedulers differ in what `step` accepts (PNDM, UniPC, LMS, Heun and DEIS take no generator; DDPM,
DDIM, DPM-Solver and the ancestral ones draw noise and do): `step` passes each only what it takes."""

from __future__ import annotations

import inspect
from functools import lru_cache

import torch
from diffusers import (DDIMScheduler, DDPMScheduler, DEISMultistepScheduler, DPMSolverMultistepScheduler,
                       EulerAncestralDiscreteScheduler, EulerDiscreteScheduler, HeunDiscreteScheduler,
                       KDPM2DiscreteScheduler, LMSDiscreteScheduler, PNDMScheduler, UniPCMultistepScheduler)

from ..errors import UserInputError

SCHEDULERS = {
    "dpm": DPMSolverMultistepScheduler,
    "ddim": DDIMScheduler,
    "ddpm": DDPMScheduler,
    "deis": DEISMultistepScheduler,
    "euler": EulerDiscreteScheduler,
    "euler-a": EulerAncestralDiscreteScheduler,
    "heun": HeunDiscreteScheduler,
    "kdpm2": KDPM2DiscreteScheduler,
    "lms": LMSDiscreteScheduler,
    "pndm": PNDMScheduler,
    "unipc": UniPCMultistepScheduler,
}


def make_scheduler(name: str | None, base):
    """A fresh scheduler: `name` of SCHEDULERS, or None for the model's own class."""
    if name is None:
        return base.__class__.from_config(base.config)
    if name not in SCHEDULERS:
        raise UserInputError(f"unknown scheduler {name!r}; choose from {', '.join(SCHEDULERS)}")
    return SCHEDULERS[name].from_config(base.config)


@lru_cache(maxsize=None)
def _takes_generator(scheduler_class: type) -> bool:
    return "generator" in inspect.signature(scheduler_class.step).parameters


def step(scheduler, output: torch.Tensor, t, latents: torch.Tensor,
         generators: list[torch.Generator] | None) -> torch.Tensor:
    """z_{t-1} from the model output at t; per-sample generators reach schedulers that draw noise."""
    extra = {"generator": generators} if generators is not None and _takes_generator(type(scheduler)) else {}
    return scheduler.step(output, t, latents, **extra).prev_sample


def scale_input(scheduler, latents: torch.Tensor, t) -> torch.Tensor:
    """The denoiser's input at t: the scheduler's `scale_model_input` (Euler's 1 / sqrt(sigma^2 + 1)); schedulers
    without one (flow matching) feed z_t as it is."""
    scale = getattr(scheduler, "scale_model_input", None)
    return latents if scale is None else scale(latents, t)
