"""Parse prompts of the shapes-world grammar into PromptSpecs (see docs/world.md)."""

from __future__ import annotations

import re

from ..errors import UserInputError
from .spec import ObjectSpec, PromptSpec
from .vocab import ARTICLES, COLORS, CONJUNCTION, NUMBERS, PLURALS, RELATIONS, SHAPES, SIZES, TEXTURES, words

_VOCAB = frozenset(words())
_SINGULAR = {plural: shape for shape, plural in PLURALS.items()}
_ADJECTIVES = {**{w: "size" for w in SIZES}, **{w: "color" for w in COLORS}, **{w: "texture" for w in TEXTURES}}


class PromptError(UserInputError):
    """A prompt that the shapes-world grammar cannot describe."""


def tokenize(prompt: str) -> list[str]:
    return re.findall(r"[a-z]+|[^a-z\s]", prompt.lower().strip().rstrip("."))


def unknown_words(prompt: str) -> list[str]:
    return list(dict.fromkeys(t for t in tokenize(prompt) if t not in _VOCAB))


def parse(prompt: str) -> PromptSpec:
    """Parse one prompt; raise PromptError naming unknown words or the broken construction."""
    if not prompt.strip():
        raise PromptError("empty prompt: write e.g. 'a red circle and a blue square'")
    unknown = unknown_words(prompt)
    if unknown:
        raise PromptError(
            f"words outside the built-in vocabulary: {', '.join(unknown)} in {prompt!r} (see docs/world.md)"
        )
    tokens = tokenize(prompt)
    relation, left, right = _split(tokens)
    groups = [_group(g, prompt) for g in (left, right) if g is not None]
    counted = any(g[0] == "one" for g in (left, right) if g)
    try:
        return PromptSpec(objects=tuple(groups), relation=relation, counted=counted)
    except ValueError as err:
        raise PromptError(f"{err} in {prompt!r}") from None


def in_shapes_world(prompt: str) -> bool:
    """Whether the shapes-world grammar reads the prompt (what the built-in model, scorers and evaluator know)."""
    try:
        parse(prompt)
        return True
    except PromptError:
        return False


def _split(tokens: list[str]) -> tuple[str | None, list[str], list[str] | None]:
    text = " ".join(tokens)
    for phrase, relation in RELATIONS.items():
        if f" {phrase} " in f" {text} ":
            head, _, tail = text.partition(phrase)
            return relation, head.split(), tail.split()
    if CONJUNCTION in tokens:
        i = tokens.index(CONJUNCTION)
        return None, tokens[:i], tokens[i + 1 :]
    return None, tokens, None


def _group(tokens: list[str], prompt: str) -> ObjectSpec:
    if len(tokens) < 2 or (tokens[0] not in ARTICLES and tokens[0] not in NUMBERS):
        raise PromptError(f"each object needs 'a'/'an' or a number, then a shape, in {prompt!r}")
    count = NUMBERS.get(tokens[0], 1)
    noun = tokens[-1]
    shape = noun if noun in SHAPES else _SINGULAR.get(noun)
    if shape is None:
        raise PromptError(f"an object phrase must end with a shape ({', '.join(SHAPES)}), in {prompt!r}")
    if (noun in _SINGULAR) != (count > 1):
        raise PromptError(f"'{tokens[0]} ... {noun}': number and noun disagree in {prompt!r}")
    attrs: dict[str, str] = {}
    for word in tokens[1:-1]:
        kind = _ADJECTIVES.get(word)
        if kind is None or kind in attrs:
            raise PromptError(f"unexpected word {word!r} in an object phrase of {prompt!r}")
        attrs[kind] = word
    return ObjectSpec(shape=shape, count=count, **attrs)
