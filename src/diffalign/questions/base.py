"""Atomic yes/no questions about a prompt (TIFA / DSG style) and the faithfulness score they give.

DreamSync scores an image by asking a VQA model such questions about the prompt. DSG adds
dependencies: asking "is the circle red?" only makes sense when there is a circle, so a question
whose parent failed counts as failed, whatever the VQA model would have answered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..world.vocab import with_article

KINDS = ("entity", "attribute", "count", "relation")
# Which adjective names an object best when two objects share a noun: colour is what a VQA model
# perceives most reliably, size (relative) least.
DISAMBIGUATION_ORDER = ("color", "texture", "shape", "size", "other")
# Nouns said without "a": "is there water?", not "is there a water?".
MASS_NOUNS = frozenset(("water", "grass", "snow", "sand", "rain", "fog", "smoke", "fire", "milk", "coffee", "tea",
                        "juice", "wine", "rice", "food", "furniture", "jewelry", "cutlery", "luggage", "dough", "hair",
                        "foliage", "vegetation", "sunlight", "mud", "dirt", "soil", "air", "steam", "ice"))
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


@dataclass(frozen=True)
class Question:
    id: int
    text: str
    kind: str  # entity | attribute | count | relation
    parents: tuple[int, ...] = ()  # ids of questions that must pass before this one means anything
    expected: bool = True  # the answer the prompt implies ("no" for "a table with no chairs")

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"question kind {self.kind!r} is not one of {', '.join(KINDS)}")


@dataclass(frozen=True)
class QuestionSet:
    """A prompt's questions in dependency order: every parent comes before its children."""

    prompt: str
    questions: tuple[Question, ...]

    def __post_init__(self) -> None:
        if not self.questions:
            raise ValueError(f"no questions for {self.prompt!r}: an image could not be scored")
        seen: set[int] = set()
        for q in self.questions:
            if q.id in seen:
                raise ValueError(f"question id {q.id} appears twice for {self.prompt!r}")
            if not seen.issuperset(q.parents):
                raise ValueError(f"question {q.id} of {self.prompt!r} depends on a question not before it")
            seen.add(q.id)

    def to_json(self) -> dict[str, Any]:
        """A dict that json.dumps can write; from_json reads it back."""
        return {"prompt": self.prompt, "questions": [
            {"id": q.id, "text": q.text, "kind": q.kind, "parents": list(q.parents), "expected": q.expected}
            for q in self.questions]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> QuestionSet:
        return cls(data["prompt"], tuple(
            Question(int(q["id"]), str(q["text"]), str(q["kind"]), tuple(int(p) for p in q.get("parents", ())),
                     bool(q.get("expected", True)))
            for q in data["questions"]))


class QuestionGenerator(Protocol):
    def generate(self, prompt: str) -> QuestionSet:
        """The prompt's atomic questions; a generator never returns an empty set."""
        ...


def passed(question_set: QuestionSet, answers: Mapping[int, float], threshold: float = 0.5) -> dict[int, bool]:
    """Question id -> whether the image satisfies it. answers holds P(yes) per question id; a
    question whose parent failed fails without being looked up, so it need not have been asked."""
    out: dict[int, bool] = {}
    for q in question_set.questions:
        if not all(out[p] for p in q.parents):
            out[q.id] = False
        elif q.id not in answers:
            raise KeyError(f"no answer to question {q.id} ({q.text!r}) of {question_set.prompt!r}")
        else:
            out[q.id] = (answers[q.id] >= threshold) == q.expected
    return out


def faithfulness(question_set: QuestionSet, answers: Mapping[int, float], threshold: float = 0.5) -> float:
    """Share of the prompt's questions answered as the prompt implies (DSG dependency rule applied)."""
    results = passed(question_set, answers, threshold)
    return sum(results.values()) / len(results)


@dataclass(frozen=True)
class Entity:
    """One object group a prompt mentions: what both the grammar and the rules extract."""

    noun: str  # singular head noun: "circle", "coat rack"
    plural: str  # the noun as said of several: "circles"
    # (category, adjective) in prompt order, e.g. ("color", "red"); category "action" holds a verb the
    # object does on its own: ("action", "crawling") asks "is the baby crawling?"
    attributes: tuple[tuple[str, str], ...] = ()
    count: int | None = None  # a number the prompt states; None for "a", "the" and bare plurals
    many: bool = False  # spoken of in the plural
    present: bool = True  # False for "no chairs": the image must not show it


@dataclass(frozen=True)
class Relation:
    subject: int  # index into the entities
    phrase: str  # "to the left of", "on top of", ..., or an action: "feeding", "crawling towards"
    object: int


def build_questions(prompt: str, entities: Sequence[Entity], relations: Sequence[Relation] = ()) -> QuestionSet:
    """Entity, count and attribute questions per entity, then one question per relation.

    Attributes hang off their entity question, counts too, relations off both entity questions.
    A question asked twice (the same object mentioned twice) is kept once.
    """
    questions: list[Question] = []
    ids: dict[str, int] = {}

    def ask(text: str, kind: str, parents: tuple[int, ...] = (), expected: bool = True) -> int:
        if text not in ids:
            ids[text] = len(questions) + 1
            questions.append(Question(ids[text], text, kind, parents, expected))
        return ids[text]

    roots = []
    for i, e in enumerate(entities):
        name = _distinguishing(entities, i)
        if e.many and e.count is None:
            root = ask(f"are there {_phrase(e, name)}?", "entity", expected=e.present)
        else:
            root = ask(f"is there {_article(_phrase(e, name, False))}?", "entity", expected=e.present)
        roots.append(root)
        if not e.present:
            continue
        if e.count == 1:
            ask(f"is there exactly one {_phrase(e, name, False)}?", "count", (root,))
        elif e.count is not None:
            ask(f"are there exactly {_number(e.count)} {_phrase(e, name, True)}?", "count", (root,))
        for _, adjective in e.attributes:
            if adjective not in name:
                ask(f"{_be(e)} the {_phrase(e, name)} {adjective}?", "attribute", (root,))
    for r in relations:
        a, b = entities[r.subject], entities[r.object]
        if a.present and b.present and r.subject != r.object:
            full_a, full_b = (tuple(w for c, w in e.attributes if c != "action") for e in (a, b))
            ask(f"{_be(a)} the {_phrase(a, full_a)} {r.phrase} the {_phrase(b, full_b)}?", "relation",
                (roots[r.subject], roots[r.object]))
    return QuestionSet(prompt, tuple(questions))


def _distinguishing(entities: Sequence[Entity], index: int) -> tuple[str, ...]:
    """The fewest adjectives that tell entity `index` apart from the others with the same noun,
    so 'a red circle and a blue circle' asks 'is the red circle striped?', not 'is the circle striped?'."""
    entity = entities[index]
    others = [{w for _, w in e.attributes} for i, e in enumerate(entities) if i != index and e.noun == entity.noun]
    chosen = []
    described = [a for a in entity.attributes if a[0] in DISAMBIGUATION_ORDER]  # an action names no object
    for _, word in sorted(described, key=lambda a: DISAMBIGUATION_ORDER.index(a[0])):
        if any(word not in o for o in others):
            chosen.append(word)
            others = [o for o in others if word in o]
    return tuple(w for _, w in entity.attributes if w in chosen)


def _phrase(entity: Entity, adjectives: tuple[str, ...], plural: bool | None = None) -> str:
    noun = entity.plural if (entity.many if plural is None else plural) else entity.noun
    return " ".join([*adjectives, noun])


def _be(entity: Entity) -> str:
    return "are" if entity.many else "is"


def _article(phrase: str) -> str:
    if phrase.split(" of ")[0].split()[-1] in MASS_NOUNS:  # "a glass of juice" is no mass
        return phrase
    return with_article(phrase)


def _number(n: int) -> str:
    return NUMBER_WORDS[n] if n < len(NUMBER_WORDS) else str(n)
