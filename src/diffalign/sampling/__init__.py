"""Sampling: our own classifier-free-guided denoising loop over diffusers schedulers, with step hooks."""

from .hooks import SamplerHook, StepState
from .sampler import Sample, SamplerConfig, encode_images, encode_prompts, sample
from .schedulers import SCHEDULERS, make_scheduler

__all__ = ["SCHEDULERS", "Sample", "SamplerConfig", "SamplerHook", "StepState", "encode_images", "encode_prompts",
           "make_scheduler", "sample"]
