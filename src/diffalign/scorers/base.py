"""The scorer protocol and registry: every scorer maps (images, prompts) to named per-image columns.

A scorer class carries what a recipe check needs before any image exists: its options as a frozen dataclass
(`Options`: the one home of their names and defaults), the columns it writes for given options, and a `check`
of those options that finds bad values and model sources without loading any weights.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Protocol

import numpy as np

from ..errors import UserInputError


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """The options of a scorer that takes none."""


class Scorer(Protocol):
    name: str
    higher_is_better: bool
    needs_model: bool  # scores with the diffusion model itself (e.g. MI), so the caller must load it
    Options: type  # a frozen dataclass of the scorer's options

    def __init__(self, options: Any, pipe=None, cache_dir=None) -> None:
        """`pipe` is None unless needs_model; `cache_dir` is where the scorer may keep caches (None: none)."""

    @classmethod
    def columns(cls, options: Any) -> tuple[str, ...]:
        """The columns `score` writes with these options; the first is the main one, named `name`."""
        ...

    @classmethod
    def check(cls, options: Any) -> None:
        """Raise UserInputError for a bad value or an unreachable model source, loading nothing."""
        ...

    def score(self, images: np.ndarray, prompts: list[str]) -> dict[str, np.ndarray]:
        """N x H x W x 3 uint8 images and N prompts -> {column: N values}."""
        ...


class BaseScorer:
    """Defaults for the class-level parts of the protocol: no options, one column named after the scorer."""

    name: ClassVar[str]
    higher_is_better: ClassVar[bool] = True
    needs_model: ClassVar[bool] = False
    Options: ClassVar[type] = NoOptions

    def __init__(self, options: Any = None, pipe=None, cache_dir=None) -> None:
        self.options = self.Options() if options is None else options

    @classmethod
    def columns(cls, options: Any) -> tuple[str, ...]:
        return (cls.name,)

    @classmethod
    def check(cls, options: Any) -> None:
        return None


REGISTRY: dict[str, type[Scorer]] = {}


def register(name: str):
    def wrap(cls):
        REGISTRY[name] = cls
        return cls
    return wrap


def scorer_class(name: str) -> type[Scorer]:
    if name not in REGISTRY:
        raise UserInputError(f"unknown scorer {name!r}; choose from {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def typed_options(name: str, options: dict | Any) -> Any:
    """A scorer's Options from a recipe table or CLI options; an unknown key is the user's typo, named."""
    cls = scorer_class(name)
    if isinstance(options, cls.Options):
        return options
    known = [f.name for f in dataclasses.fields(cls.Options)]
    unknown = sorted(set(options) - set(known))
    if unknown:
        takes = f"it takes {', '.join(known)}" if known else "it takes none"
        raise UserInputError(f"{name} scorer: unknown option(s) {', '.join(unknown)} ({takes}); check "
                             f"[scorer_options.{name}] or --option")
    typed = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    return cls.Options(**typed)


def check_scorer(name: str, options: dict | Any) -> Any:
    """The scorer's options once its name, option names, values and model sources are known good, so a
    mistake fails before any image is made."""
    typed = typed_options(name, options)
    scorer_class(name).check(typed)
    return typed


def make_scorer(name: str, pipe=None, cache_dir=None, **options) -> Scorer:
    """A checked scorer: `make_scorer("vqa", model="Salesforce/blip-vqa-base")`."""
    return scorer_from(name, options, pipe, cache_dir)


def scorer_from(name: str, options: dict | Any, pipe=None, cache_dir=None) -> Scorer:
    """A checked scorer from a recipe table, CLI options or an Options instance (a recipe's [mi] MIConfig)."""
    return scorer_class(name)(check_scorer(name, options), pipe=pipe, cache_dir=cache_dir)


def written_columns(name: str, options: dict | Any) -> tuple[str, ...]:
    return scorer_class(name).columns(typed_options(name, options))
