"""Questions generated once per prompt and kept on disk, and the generators by name.

Scoring reads the same questions every time: an LLM generator is slow and need not answer the same
twice, and a rule change must not silently change scores of a run in progress.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from ..errors import UserInputError
from ..io import atomic_write_text, exclusive
from ..sources import resolve_source
from ..world.grammar import PromptError
from .base import QuestionGenerator, QuestionSet
from .grammar import GrammarQuestionGenerator
from .llm import LLMQuestionGenerator
from .rules import RuleQuestionGenerator


class CachedQuestions:
    """A JSON file mapping prompt -> question set in front of a generator; it is read once here and
    rewritten atomically (tmp + os.replace) whenever new prompts got questions, merged under a lock with what
    other processes (the other ranks of a run, each scoring its own rows) wrote there meanwhile."""

    def __init__(self, path: Path, generator: QuestionGenerator) -> None:
        self.path = Path(path)
        self.generator = generator
        self._sets = self._load()

    def __len__(self) -> int:
        return len(self._sets)

    def __contains__(self, prompt: str) -> bool:
        return prompt in self._sets

    def generate(self, prompt: str) -> QuestionSet:
        return self.generate_many([prompt])[0]

    def generate_many(self, prompts: Iterable[str]) -> list[QuestionSet]:
        """Question sets of all prompts, generating only the new ones and writing the file once."""
        prompts = list(prompts)
        new = [p for p in dict.fromkeys(prompts) if p not in self._sets]
        for prompt in new:
            self._sets[prompt] = self.generator.generate(prompt)
        if new:
            self._save()
        return [self._sets[p] for p in prompts]

    def _load(self) -> dict[str, QuestionSet]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            sets = {prompt: QuestionSet.from_json(value) for prompt, value in data.items()}
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise UserInputError(f"{self.path} is not a question cache ({err}); delete it to regenerate") from None
        if any(s.prompt != prompt for prompt, s in sets.items()):
            raise UserInputError(f"{self.path} files question sets under other prompts; delete it to regenerate")
        return sets

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with exclusive(self.path.with_name(self.path.name + ".lock")):
            self._sets = {**self._load(), **self._sets}
            data = {prompt: s.to_json() for prompt, s in self._sets.items()}
            atomic_write_text(self.path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")


class GrammarOrRules:
    """Exact grammar questions when the prompt is in the shapes-world grammar, the rules otherwise."""

    def __init__(self) -> None:
        self.grammar = GrammarQuestionGenerator()
        self.rules = RuleQuestionGenerator()

    def generate(self, prompt: str) -> QuestionSet:
        try:
            return self.grammar.generate(prompt)
        except PromptError:
            return self.rules.generate(prompt)


def make_generator(name: str) -> QuestionGenerator:
    """'grammar', 'rules', 'auto' (grammar when the prompt parses, else rules) or 'llm:<hub id or path>'."""
    check_generator(name, verify_source=False)
    if name == "grammar":
        return GrammarQuestionGenerator()
    if name == "rules":
        return RuleQuestionGenerator()
    if name == "auto":
        return GrammarOrRules()
    return LLMQuestionGenerator(name[4:].strip())


def check_generator(name: str, verify_source: bool = True) -> None:
    """A generator name's form, and for 'llm:<id>' that the model can be found, before any question is asked."""
    if name in ("grammar", "rules", "auto"):
        return
    if not (name.startswith("llm:") and name[4:].strip()):
        raise UserInputError(f"unknown question generator {name!r}; choose grammar, rules, auto or llm:<model>")
    if verify_source:
        resolve_source(name[4:].strip(), "question generator LLM")
