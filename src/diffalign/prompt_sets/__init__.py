"""Real prompt sets shipped with the package (a user's install has no other copy): T2I-CompBench's splits."""

from __future__ import annotations

from importlib import resources

from ..world.prompts import Prompt, read_prompt_file

COMPBENCH_DIR = resources.files("diffalign.prompt_sets") / "compbench"
COMPBENCH_CATEGORIES = ("color", "shape", "texture", "spatial", "3d_spatial", "non_spatial", "complex", "numeracy")


def compbench_prompts(split: str, categories: tuple[str, ...] = COMPBENCH_CATEGORIES) -> list[Prompt]:
    """T2I-CompBench's `split` ("train" or "val") prompts of each category, in file order."""
    return [p for c in categories for p in read_prompt_file(COMPBENCH_DIR / f"{c}_{split}.txt", c)]
