"""Scheduler choice by short name, built from the model's own scheduler config."""

from diffusers import (DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler,
                       EulerDiscreteScheduler, PNDMScheduler)

from ..errors import UserInputError

SCHEDULERS = {
    "dpm": DPMSolverMultistepScheduler,
    "ddim": DDIMScheduler,
    "ddpm": DDPMScheduler,
    "euler": EulerDiscreteScheduler,
    "euler-a": EulerAncestralDiscreteScheduler,
    "pndm": PNDMScheduler,
}


def make_scheduler(name: str | None, base):
    """A fresh scheduler: `name` of SCHEDULERS, or None for the model's own class."""
    if name is None:
        return base.__class__.from_config(base.config)
    if name not in SCHEDULERS:
        raise UserInputError(f"unknown scheduler {name!r}; choose from {', '.join(SCHEDULERS)}")
    return SCHEDULERS[name].from_config(base.config)
