"""True answers to grammar questions about a known scene: the labels the built-in VQA model learns.

The labels come from the objects the renderer placed (never from the reference evaluator), so the
VQA model learns the world's meaning of each question. A question that does not apply to the scene
(an attribute of an object that is not there) has no answer: DSG would never ask it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .base import Question
from ..world.render import PlacedObject
from ..world.vocab import COLORS, NUMBERS, PLURALS, RELATIONS, SIZES, TEXTURES

_SINGULAR = {**{s: s for s in PLURALS}, **{p: s for s, p in PLURALS.items()}}
_CATEGORY = {**dict.fromkeys(COLORS, "color"), **dict.fromkeys(TEXTURES, "texture"), **dict.fromkeys(SIZES, "size")}
_RELATION_WORDS = {tuple(phrase.split()): name for phrase, name in RELATIONS.items()}


@dataclass(frozen=True)
class SceneObject:
    """What a question can be about: an object's attributes and its centre (pixels, y down)."""

    shape: str
    color: str
    texture: str
    size: str
    cx: float
    cy: float

    @classmethod
    def from_placed(cls, o: PlacedObject) -> SceneObject:
        return cls(o.shape, o.color, o.texture, o.size, *o.center)


@dataclass(frozen=True)
class _Phrase:
    shape: str
    adjectives: tuple[str, ...]

    def matches(self, o: SceneObject) -> bool:
        return o.shape == self.shape and all(getattr(o, _CATEGORY[a]) == a for a in self.adjectives)


def answer(question: Question | str, objects: Sequence[SceneObject]) -> bool | None:
    """The answer the scene gives, or None when the question does not apply (nothing it asks about)
    or is not a shapes-world question. A bare string's kind is read from its words."""
    text = question if isinstance(question, str) else question.text
    words = re.findall(r"[a-z]+", text.lower())
    phrases, trailing, number, relation = _read(words)
    if not phrases:
        return None
    kind = question.kind if isinstance(question, Question) else _kind(words, phrases, number, relation)
    found = [[o for o in objects if p.matches(o)] for p in phrases]
    if kind == "entity":
        return bool(found[0])
    if kind == "count":
        return len(found[0]) == number if number is not None else None
    if kind == "attribute":
        if not found[0] or not trailing:
            return None
        return all(getattr(o, _CATEGORY[trailing]) == trailing for o in found[0])
    if kind == "relation" and len(phrases) == 2 and relation:
        if not found[0] or not found[1]:
            return None
        return any(a is not b and relation_holds(relation, a, b) for a in found[0] for b in found[1])
    return None


def _kind(words: list[str], phrases: list[_Phrase], number: int | None, relation: str | None) -> str:
    if number is not None and "exactly" in words:
        return "count"
    if relation and len(phrases) == 2:
        return "relation"
    return "entity" if words[1:2] == ["there"] else "attribute"


def relation_holds(relation: str, a: SceneObject, b: SceneObject) -> bool:
    """docs/world.md: a is <relation> b when the displacement points that way and dominates the other axis."""
    dx, dy = b.cx - a.cx, b.cy - a.cy
    return {"left": dx > abs(dy), "right": -dx > abs(dy), "above": dy > abs(dx), "below": -dy > abs(dx)}[relation]


def _read(words: list[str]) -> tuple[list[_Phrase], str | None, int | None, str | None]:
    """Noun phrases (adjectives + shape), an adjective after the last one, a number word, a relation."""
    phrases: list[_Phrase] = []
    adjectives: list[str] = []
    number = relation = None
    i = 0
    while i < len(words):
        for phrase_words, name in _RELATION_WORDS.items():
            if tuple(words[i : i + len(phrase_words)]) == phrase_words:
                relation, i = name, i + len(phrase_words)
                break
        else:
            word = words[i]
            if word in _SINGULAR:
                phrases.append(_Phrase(_SINGULAR[word], tuple(adjectives)))
                adjectives = []
            elif word in _CATEGORY:
                adjectives.append(word)
            elif word in NUMBERS:
                number = NUMBERS[word]
            i += 1
    return phrases, (adjectives[-1] if adjectives else None), number, relation
