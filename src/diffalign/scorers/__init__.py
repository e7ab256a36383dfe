"""Scorers: functions of (image, prompt) pairs behind one protocol; point-wise MI is filled in while sampling."""

from . import mi  # noqa: F401  (registers the scorer)
from .base import REGISTRY, Scorer, make_scorer, scorer_factory

__all__ = ["REGISTRY", "Scorer", "make_scorer", "scorer_factory"]
