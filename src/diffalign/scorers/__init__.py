"""Scorers: functions of (image, prompt) pairs behind one protocol; point-wise MI is filled in while sampling."""

from . import aesthetics, caption, mi, segments, vqa  # noqa: F401  (register the scorers)
from .base import REGISTRY, Scorer, check_scorer, make_scorer, scorer_factory

__all__ = ["REGISTRY", "Scorer", "check_scorer", "make_scorer", "scorer_factory"]
