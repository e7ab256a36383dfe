"""Model families: one module per family, each a `Family` subclass (the interface and what a new family implements:
base.py). FAMILIES maps a diffusers pipeline class name (model_index.json's `_class_name`) to its family."""

from __future__ import annotations

from .base import ATTENTION_PROJECTIONS, CLIP_TEXT_TARGETS, FIELDS, Conditioning, Family
from .flux import Flux
from .sd import StableDiffusion
from .sd3 import StableDiffusion3
from .sdxl import StableDiffusionXL

FAMILIES: dict[str, type[Family]] = {f.pipeline_class: f for f in (StableDiffusion, StableDiffusionXL, StableDiffusion3,
                                                                   Flux)}


def family_of(pipe) -> Family:
    """The family of a loaded pipeline, by its class."""
    name = type(pipe).__name__
    if name not in FAMILIES:
        raise ValueError(f"{name} is not a pipeline class diffalign drives ({', '.join(FAMILIES)})")
    return FAMILIES[name](pipe)


__all__ = ["ATTENTION_PROJECTIONS", "CLIP_TEXT_TARGETS", "FAMILIES", "FIELDS", "Conditioning", "Family", "family_of"]
