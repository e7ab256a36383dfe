"""The scorer protocol and registry: every scorer maps (images, prompts) to named per-image columns."""

from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

from ..errors import UserInputError


class Scorer(Protocol):
    name: str
    higher_is_better: bool
    needs_model: bool  # scores with the diffusion model itself (e.g. MI), so the caller must load it

    def score(self, images: np.ndarray, prompts: list[str]) -> dict[str, np.ndarray]:
        """N x H x W x 3 uint8 images and N prompts -> {column: N values}; `name` is the main column."""
        ...


REGISTRY: dict[str, Callable[..., Scorer]] = {}


def register(name: str):
    def wrap(factory):
        REGISTRY[name] = factory
        return factory
    return wrap


def scorer_factory(name: str) -> Callable[..., Scorer]:
    if name not in REGISTRY:
        raise UserInputError(f"unknown scorer {name!r}; choose from {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def make_scorer(name: str, pipe=None, cache_dir=None, **options) -> Scorer:
    """Factories take the pipeline (None unless needs_model), a folder where the scorer may keep caches
    (e.g. generated questions; None: no cache) and the scorer's own options from the recipe."""
    return scorer_factory(name)(pipe=pipe, cache_dir=cache_dir, **options)
