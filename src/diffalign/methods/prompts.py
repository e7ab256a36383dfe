"""The train and val prompts of a self-training run: the shipped sets unless files are given, cut to the recipe's
sizes, and checked against the shapes world before any image is generated."""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import UserInputError
from ..prompt_sets import compbench_prompts
from ..world.grammar import parse
from ..world.prompts import Prompt, first_per_category, read_prompt_file, shipped_prompts
from .recipe import Recipe

log = logging.getLogger(__name__)


def align_prompts(recipe: Recipe, train_file: str | Path | None = None, val_file: str | Path | None = None,
                  shapes_world_model: bool = True) -> tuple[list[Prompt], list[Prompt]]:
    """(train, val) for `align`: the files' prompts, or by default the shipped sets of the model's world (the
    shapes world's train split and recipe.eval.split (val or test) for a shapes-world model, T2I-CompBench's train
    and val for any other); train cut to the
    first recipe.prompts_per_category of each category when set, val to recipe.eval.per_category. A shapes-world
    model (the built-in one or a folder `world train` assembled) knows only the world's prompts: any other is
    refused (PromptError). Val prompts need categories (the before/after table is per category)."""
    if shapes_world_model:
        train = read_prompt_file(train_file) if train_file else shipped_prompts("train")
        val = read_prompt_file(val_file) if val_file else shipped_prompts(recipe.eval.split)
    else:
        if recipe.eval.split != "val" and not val_file:
            raise UserInputError(f"eval.split (--eval-split) {recipe.eval.split!r}: T2I-CompBench ships train and "
                                 f"val splits only; use --eval-split val or --val-prompts FILE")
        train = read_prompt_file(train_file) if train_file else compbench_prompts("train")
        val = read_prompt_file(val_file) if val_file else compbench_prompts("val")
        if not train_file:
            log.info("train prompts: T2I-CompBench's train splits (%d prompts); --prompts FILE for your own",
                     len(train))
    if recipe.prompts_per_category:
        train = first_per_category(train, recipe.prompts_per_category)
    val = first_per_category(val, recipe.eval.per_category)
    if shapes_world_model:
        for p in train + val:
            parse(p.text)
    if any(p.category is None for p in val):
        raise UserInputError("val prompts need categories: use a .jsonl file or a name like color_val.txt")
    return train, val
