"""Scorers: functions of (image, prompt) pairs behind one protocol; point-wise MI is filled in while sampling."""

from . import aesthetics, caption, clip, mi, segments, vqa  # noqa: F401  (register the scorers)
from .base import (REGISTRY, BaseScorer, Scorer, check_scorer, make_scorer, register, scorer_class, scorer_from,
                   typed_options, written_columns)

__all__ = ["REGISTRY", "BaseScorer", "Scorer", "check_scorer", "make_scorer", "register", "scorer_class",
           "scorer_from", "typed_options", "written_columns"]
