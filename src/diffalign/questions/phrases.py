"""The objects a prompt asks for, as short phrases: detector queries, judge inputs and token look-ups.

Shapes-world prompts are read exactly by the grammar; any other prompt by the rule reader of the
question generators (noun phrases with their adjectives).
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import Entity
from .grammar import entity_of
from .rules import read
from ..world.grammar import PromptError, parse
from ..world.vocab import with_article


@dataclass(frozen=True)
class PromptObject:
    phrase: str  # singular with article: "a red circle"
    words: tuple[str, ...]  # the prompt's own words for it (adjectives, noun, plural), lower case
    count: int  # instances the prompt expects (1 for "a")


def prompt_objects(prompt: str) -> list[PromptObject]:
    try:
        spec = parse(prompt)
        entities = [entity_of(o, spec.counted) for o in spec.objects]
    except PromptError:
        entities = [e for e in read(prompt)[0] if e.present]
    return [_object(e) for e in entities]


def _object(entity: Entity) -> PromptObject:
    described = [(c, a) for c, a in entity.attributes if c != "action"]  # "crawling" describes no object
    body = " ".join([*(word for _, word in described), entity.noun])
    words = tuple(dict.fromkeys([w for _, a in described for w in a.split()]
                                + entity.noun.split() + entity.plural.split()))
    return PromptObject(with_article(body), words, entity.count or 1)


def expected_instances(objects: list[PromptObject]) -> list[PromptObject]:
    """One entry per instance the prompt asks for: 'two red circles' counts twice."""
    return [o for o in objects for _ in range(o.count)]
