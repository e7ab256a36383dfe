"""Atomic yes/no questions about prompts for VQA faithfulness scoring (DreamSync, TIFA, DSG); see docs/questions.md."""

from .base import Question, QuestionGenerator, QuestionSet, faithfulness, passed
from .cache import CachedQuestions, make_generator
from .grammar import GrammarQuestionGenerator
from .llm import LLMQuestionGenerator
from .rules import RuleQuestionGenerator

__all__ = ["CachedQuestions", "GrammarQuestionGenerator", "LLMQuestionGenerator", "Question", "QuestionGenerator",
           "QuestionSet", "RuleQuestionGenerator", "faithfulness", "make_generator", "passed"]
