"""The train and val prompts of a self-training run: the shipped sets unless files are given, cut to the recipe's
sizes, and checked against the shapes world before any image is generated."""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import UserInputError
from ..world.grammar import in_shapes_world, parse
from ..world.prompts import Prompt, first_per_category, read_prompt_file, shipped_prompts
from .recipe import Recipe

log = logging.getLogger(__name__)


def align_prompts(recipe: Recipe, train_file: str | Path | None = None, val_file: str | Path | None = None,
                  shapes_world_model: bool = True) -> tuple[list[Prompt], list[Prompt]]:
    """(train, val) for `align`. Train: the file's prompts or the shipped train sets, the first
    recipe.prompts_per_category of each category when set. Val: the file's or the shipped val sets, the first
    recipe.eval.per_category of each category. A shapes-world model (the built-in one or a folder `world train`
    assembled) knows only the world's prompts: any other one is refused (PromptError). On another model, val prompts
    outside the shapes world leave no reference evaluation: val is then empty. Val prompts need categories."""
    train = read_prompt_file(train_file) if train_file else shipped_prompts("train")
    if recipe.prompts_per_category:
        train = first_per_category(train, recipe.prompts_per_category)
    val = read_prompt_file(val_file) if val_file else shipped_prompts("val")
    val = first_per_category(val, recipe.eval.per_category)
    if shapes_world_model:
        for p in train + val:
            parse(p.text)
    elif not all(in_shapes_world(p.text) for p in val):
        log.info("val prompts are outside the shapes world: no reference evaluation; evaluate the adapter "
                 "with your benchmark (e.g. T2I-CompBench's evaluators)")
        val = []
    if any(p.category is None for p in val):
        raise UserInputError("val prompts need categories: use a .jsonl file or a name like color_val.txt")
    return train, val
