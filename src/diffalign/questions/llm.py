"""Questions written by a causal language model (TIFA / DSG style), off by default.

An LLM reads any prompt, where the rules only read common templates; it is slow and needs weights,
so it runs only when asked for ("llm:<hub id or path>") and its questions should be cached.
"""

from __future__ import annotations

import re

from ..errors import UserInputError
from .base import KINDS, Question, QuestionGenerator, QuestionSet
from .rules import RuleQuestionGenerator

TEMPLATE = """Write the atomic yes/no questions that check whether an image shows a text-to-image prompt.
One question per line: number. kind | question | parents
kind is entity, attribute, count or relation. parents are the numbers of the questions that must be
answered yes for this one to make sense (an attribute or a count depends on its entity, a relation on
both entities), or - for none.

Prompt: a red apple on top of two wooden plates
1. entity | is there an apple? | -
2. attribute | is the apple red? | 1
3. entity | is there a plate? | -
4. count | are there exactly two plates? | 3
5. attribute | are the plates wooden? | 3
6. relation | is the apple on top of the plates? | 1, 3

Prompt: a woman is walking her dog in the park
1. entity | is there a woman? | -
2. entity | is there a dog? | -
3. entity | is there a park? | -
4. relation | is the woman walking the dog? | 1, 2
5. relation | is the woman in the park? | 1, 3

Prompt: {prompt}
"""

KIND_ALIASES = {
    **{k: k for k in KINDS},
    **dict.fromkeys(("object", "objects", "entities", "existence", "presence", "whole"), "entity"),
    **dict.fromkeys(("attributes", "color", "colour", "material", "texture", "shape", "size", "state", "type",
                     "other"), "attribute"),
    **dict.fromkeys(("counting", "number", "numeracy", "quantity"), "count"),
    **dict.fromkeys(("relations", "relationship", "spatial", "action"), "relation"),
}
_NUMBERED = re.compile(r"^\s*(?:[-*•]\s*)?(?:q(?:uestion)?\s*)?(\d+)\s*[.):]\s*(.*)$", re.IGNORECASE)


def parse_output(text: str) -> list[Question]:
    """Questions from the model's 'number. kind | question | parents' lines, ids renumbered 1..n.

    Lines without a '|' are ignored; a '|' line that cannot be read is dropped, and so is a parent
    that is not a kept earlier line. A model that goes on to invent the next prompt is cut there.
    """
    kept: dict[int, int] = {}  # the model's number for a line -> id of the question kept for it
    questions: list[Question] = []
    position = 0
    for line in text.splitlines():
        if line.strip().lower().startswith("prompt") and position:
            break
        if "|" not in line:
            continue
        position += 1
        numbered = _NUMBERED.match(line)
        number, body = (int(numbered[1]), numbered[2]) if numbered else (position, line)
        fields = [f.strip() for f in body.split("|")]
        kind = KIND_ALIASES.get(fields[0].lower().strip(" *:-•"))
        question = fields[1].strip(" *\"'") if len(fields) > 1 else ""
        if kind is None or not question or number in kept:
            continue
        parents = tuple(dict.fromkeys(kept[n] for n in map(int, re.findall(r"\d+", " ".join(fields[2:])))
                                      if n in kept))
        kept[number] = len(questions) + 1
        questions.append(Question(kept[number], question if question.endswith("?") else question + "?", kind, parents))
    return questions


class LLMQuestionGenerator:
    """Loads `model` (a transformers causal LM, hub id or local path) on first use; prompts whose
    output holds no readable question get the fallback's questions (the rules by default)."""

    def __init__(self, model: str, max_new_tokens: int = 256, fallback: QuestionGenerator | None = None) -> None:
        self.model = model
        self.max_new_tokens = max_new_tokens
        self.fallback = fallback or RuleQuestionGenerator()
        self._lm = None
        self._tokenizer = None

    def generate(self, prompt: str) -> QuestionSet:
        questions = parse_output(self.complete(TEMPLATE.format(prompt=" ".join(prompt.split()))))
        if not questions:
            return self.fallback.generate(prompt)
        return QuestionSet(prompt, tuple(questions))

    def complete(self, text: str) -> str:
        """The model's greedy continuation of `text`."""
        import torch

        from ..devices import default_device

        if self._lm is None:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            try:
                self._tokenizer = AutoTokenizer.from_pretrained(self.model)
                self._lm = AutoModelForCausalLM.from_pretrained(self.model, dtype="auto")
            except (OSError, ValueError) as err:  # no such hub id or folder, or no causal LM in it
                first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                raise UserInputError(f"question generator llm:{self.model} could not be loaded: {first}") from None
            self._lm.to(default_device()).eval()
        inputs = self._tokenizer(text, return_tensors="pt").to(self._lm.device)
        with torch.inference_mode():
            out = self._lm.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False,
                                    pad_token_id=self._tokenizer.pad_token_id or self._tokenizer.eos_token_id)
        return self._tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
