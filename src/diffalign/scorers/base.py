"""The scorer protocol and registry: every scorer maps (images, prompts) to named per-image columns."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
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


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def resolve_pretrained(source: str, what: str) -> str:
    """An existing local path, or a hub id ('org/name') to load with from_pretrained; anything else is an error."""
    path = Path(source).expanduser()
    if path.exists():
        return str(path)
    if _HUB_ID.match(source) and not source.startswith((".", "/", "~")):
        return source
    raise UserInputError(f"{what} not found: {source!r}; give a local folder or a hub id such as org/name")


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


def check_scorer(name: str, **options) -> Callable[..., Scorer]:
    """The scorer's factory once its name and options are known good, so a typo fails before any image is made."""
    factory = scorer_factory(name)
    try:  # an option the factory does not take is a user's typo, not a crash
        inspect.signature(factory).bind(pipe=None, cache_dir=None, **options)
    except TypeError as err:
        raise UserInputError(f"{name} scorer: {err}; check [scorer_options.{name}] or --option") from None
    return factory


def make_scorer(name: str, pipe=None, cache_dir=None, **options) -> Scorer:
    """Factories take the pipeline (None unless needs_model), a folder where the scorer may keep caches
    (e.g. generated questions; None: no cache) and the scorer's own options from the recipe."""
    return check_scorer(name, **options)(pipe=pipe, cache_dir=cache_dir, **options)
