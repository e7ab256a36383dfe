"""Exact questions for prompts of the built-in shapes-world grammar.

The parser knows every object, attribute, count and relation of such a prompt, so nothing is guessed.
"""

from __future__ import annotations

from ..world.grammar import parse
from ..world.spec import ObjectSpec, relation_phrase
from ..world.vocab import PLURALS
from .base import Entity, QuestionSet, Relation, build_questions


class GrammarQuestionGenerator:
    """Raises diffalign.world.PromptError for a prompt outside the grammar."""

    def generate(self, prompt: str) -> QuestionSet:
        spec = parse(prompt)
        entities = [entity_of(o, spec.counted) for o in spec.objects]
        relations = [Relation(0, relation_phrase(spec.relation), 1)] if spec.relation else []
        return build_questions(prompt, entities, relations)


def entity_of(group: ObjectSpec, counted: bool) -> Entity:
    attributes = tuple((category, word) for category, word in
                       (("size", group.size), ("color", group.color), ("texture", group.texture)) if word)
    return Entity(noun=group.shape, plural=PLURALS[group.shape], attributes=attributes,
                  count=group.count if counted or group.count > 1 else None, many=group.count > 1)
