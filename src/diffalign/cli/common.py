"""Arguments shared by commands that load a model and sample from it."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from ..builtin import BUILTIN_GUIDANCE
from ..errors import UserInputError
from ..models import STABLE_DIFFUSION_GUIDANCE, default_guidance
from ..sampling import SCHEDULERS, SamplerConfig
from ..world.prompts import Prompt, read_prompt_file


def add_model_args(parser: argparse.ArgumentParser, adapter: bool = True) -> None:
    """--model and --device; --adapter too where the command loads a trained adapter (not where it trains one)."""
    parser.add_argument("--model", default="builtin", help="'builtin', a diffusers pipeline folder, or a hub id")
    if adapter:
        parser.add_argument("--adapter", type=Path,
                            help="a LoRA/DoRA adapter folder saved by diffalign (diffusers format)")
    parser.add_argument("--device", help="torch device (default: cuda if available, else cpu)")


SAMPLER_FLAGS = ("steps", "guidance", "scheduler", "batch_size")  # SamplerConfig's fields the flags set


def add_sampler_args(parser: argparse.ArgumentParser, recipe: bool = False) -> None:
    """--steps, --guidance, --scheduler, --batch-size; unset ones stay None, so SamplerConfig's defaults apply
    (sampler_config) or, with recipe=True, the recipe's [sampler] table."""
    d = SamplerConfig()
    guidance = (f"{BUILTIN_GUIDANCE} for the built-in model or a folder `world train` assembled, else "
                f"{STABLE_DIFFUSION_GUIDANCE}")
    default = {"steps": d.steps, "guidance": guidance, "scheduler": "the model's own scheduler",
               "batch_size": d.batch_size}
    if recipe:
        default = dict.fromkeys(default, "the recipe's")
    parser.add_argument("--steps", type=int, help=f"denoising steps (default: {default['steps']})")
    parser.add_argument("--guidance", type=float,
                        help=f"classifier-free guidance scale; <= 1 disables it (default: {default['guidance']})")
    parser.add_argument("--scheduler", choices=list(SCHEDULERS), help=f"default: {default['scheduler']}")
    parser.add_argument("--batch-size", type=int,
                        help=f"images denoised together (default: {default['batch_size']})")


def sampler_config(args: argparse.Namespace) -> SamplerConfig:
    """SamplerConfig with the sampler flags that were given; the guidance defaults to the model's."""
    given = {name: getattr(args, name) for name in SAMPLER_FLAGS if getattr(args, name) is not None}
    for name in ("steps", "batch_size"):
        if given.get(name, 1) < 1:
            raise UserInputError(f"--{name.replace('_', '-')} must be at least 1")
    config = replace(SamplerConfig(), **given)
    if config.guidance is None:
        config = replace(config, guidance=default_guidance(args.model))
    return config


def read_prompts(args: argparse.Namespace) -> list[Prompt]:
    """--prompt (repeatable) and/or --prompts FILE, with an optional --category for both."""
    category = getattr(args, "category", None)
    prompts = [Prompt(p.strip(), category) for p in (args.prompt or [])]
    if any(not p.text for p in prompts):
        raise UserInputError("empty --prompt: give the text to generate")
    if args.prompts:
        prompts += read_prompt_file(args.prompts, category)
    return prompts
