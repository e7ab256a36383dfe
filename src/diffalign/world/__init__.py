"""The built-in shapes world: vocabulary, prompt grammar, renderer and prompt sets."""

from .grammar import PromptError, parse
from .render import PlacedObject, render, render_prompt, sample_scene
from .spec import ObjectSpec, PromptSpec

__all__ = ["ObjectSpec", "PlacedObject", "PromptError", "PromptSpec", "parse", "render", "render_prompt",
           "sample_scene"]
