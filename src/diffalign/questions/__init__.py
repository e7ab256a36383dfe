"""Atomic yes/no questions about prompts for VQA faithfulness scoring (DreamSync, TIFA, DSG); see docs/questions.md."""

from .base import Question, QuestionGenerator, QuestionSet, faithfulness, passed
from .cache import CachedQuestions, check_generator, make_generator
from .grammar import GrammarQuestionGenerator
from .llm import LLMQuestionGenerator
from .rules import RuleQuestionGenerator

__all__ = ["CachedQuestions", "GrammarQuestionGenerator", "LLMQuestionGenerator", "Question", "QuestionGenerator",
           "QuestionSet", "RuleQuestionGenerator", "check_generator", "faithfulness", "make_generator", "passed"]
