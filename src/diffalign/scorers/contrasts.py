"""Contrast prompts: the prompts a model confuses with a given one, which the contrastive MI estimator
weighs an image against ("a blue square and a red circle" for "a red square and a blue circle").

A prompt of the built-in grammar gets world.perturb.contrast_specs (attribute swaps and leaks, the other
relations, counts one off). Free English (T2I-CompBench) gets the same kinds that word
edits can make without rewriting the sentence: for each kind of attribute (colour, texture, shape, size), the
first object's and the next other object's swapped or leaked; a spatial relation flipped ("on top of" ->
"under"); a number word one off (two and up, so the noun keeps its plural).
"""

from __future__ import annotations

import re

from ..questions.rules import NUMBERS, read, relation_at
from ..world.grammar import PromptError, parse
from ..world.perturb import contrast_specs
from ..world.vocab import ARTICLES, article

OPPOSITE_RELATIONS = {"to the left of": "to the right of", "to the right of": "to the left of", "above": "below",
                      "below": "above", "on top of": "under", "under": "on top of", "behind": "in front of",
                      "in front of": "behind"}  # rules.RELATIONS' canonical phrases that have an opposite
NUMBER_WORDS = {n: w for w, n in NUMBERS.items()}
_WORD = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)*")

Span = tuple[int, int]  # word indices [start, end)


def contrast_prompts(prompt: str) -> list[str]:
    """The prompt's contrasts, each once and none equal to the prompt; [] when none can be made."""
    try:
        spec = parse(prompt)
    except PromptError:
        return text_contrasts(prompt)
    return [s.text() for s in contrast_specs(spec)]


def text_contrasts(prompt: str) -> list[str]:
    """Contrasts of free English made by editing words in place, so the rest of the sentence is kept."""
    words = [(m.start(), m.end(), m.group().lower()) for m in _WORD.finditer(prompt)]
    edits: list[dict[Span, str]] = []
    entities, _ = read(prompt)
    for kind in sorted({kind for entity in entities for kind, _ in _by_kind(entity)}):
        held = [(n, word) for n, entity in enumerate(entities) for k, word in _by_kind(entity) if k == kind]
        first, a = held[0]
        own = {word for n, word in held if n == first}
        b = next((word for n, word in held if n != first and word not in own), None)
        ia = _index(words, a)
        ib = None if b is None or ia is None else _index(words, b, after=ia)
        if ib is not None:  # the first object's attribute and the next object's other one: swapped, leaked
            edits += [{(ia, ia + 1): b, (ib, ib + 1): a}, {(ib, ib + 1): a}, {(ia, ia + 1): b}]
    relation = _relation_span(words)
    if relation is not None:
        span, phrase = relation
        edits.append({span: OPPOSITE_RELATIONS[phrase]})
    for i, (_, _, word) in enumerate(words):
        n = NUMBERS.get(word, 0)
        if n >= 2:
            edits += [{(i, i + 1): NUMBER_WORDS[m]} for m in (n - 1, n + 1) if m in NUMBER_WORDS and m >= 2]
    out = []
    for edit in edits:
        text = _apply(prompt, words, edit)
        if text != prompt and text not in out:
            out.append(text)
    return out


def _by_kind(entity) -> list[tuple[str, str]]:
    return [(kind, word) for kind, word in entity.attributes if kind != "other"]


def _index(words, word: str, after: int | None = None) -> int | None:
    start = -1 if after is None else after
    return next((i for i, w in enumerate(words) if i > start and w[2] == word), None)


def _relation_span(words) -> tuple[Span, str] | None:
    """The first relation phrase that has an opposite, read as rules.read reads relations."""
    tokens = [w[2] for w in words]
    for i in range(len(tokens)):
        phrase, length = relation_at(tokens, i)
        if phrase in OPPOSITE_RELATIONS:
            return (i, i + length), phrase
    return None


def _apply(prompt: str, words, edit: dict[Span, str]) -> str:
    """Replace word spans; an article before a one-word edit follows the new word ("an oblong" -> "a round")."""
    edit = dict(edit)
    for (start, end), new in list(edit.items()):
        if end - start == 1 and start and words[start - 1][2] in ARTICLES and (start - 1, start) not in edit:
            edit[(start - 1, start)] = article(new)
    out, last = [], 0
    for (start, end), new in sorted(edit.items()):
        begin = words[start][0]
        out += [prompt[last:begin], new.capitalize() if prompt[begin].isupper() else new]
        last = words[end - 1][1]
    return "".join(out) + prompt[last:]
