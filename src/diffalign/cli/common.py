"""Arguments shared by commands that load a model and sample from it."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..builtin import BUILTIN_GUIDANCE
from ..errors import UserInputError
from ..models import STABLE_DIFFUSION_GUIDANCE, default_guidance
from ..sampling import SCHEDULERS, SamplerConfig
from ..world.prompts import Prompt, read_prompt_file


def add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="builtin", help="'builtin', a diffusers pipeline folder, or a hub id")
    parser.add_argument("--adapter", type=Path, help="a LoRA/DoRA adapter folder saved by diffalign (diffusers format)")
    parser.add_argument("--device", help="torch device (default: cuda if available, else cpu)")


def add_sampler_args(parser: argparse.ArgumentParser) -> None:
    d = SamplerConfig()
    parser.add_argument("--steps", type=int, default=d.steps, help=f"denoising steps (default {d.steps})")
    parser.add_argument("--guidance", type=float,
                        help=f"classifier-free guidance scale; <= 1 disables it (default {BUILTIN_GUIDANCE} for "
                        f"the built-in model or a folder `world train` assembled, else {STABLE_DIFFUSION_GUIDANCE})")
    parser.add_argument("--scheduler", choices=list(SCHEDULERS), help="default: the model's own scheduler")
    parser.add_argument("--batch-size", type=int, default=d.batch_size, help="images denoised together")


def sampler_config(args: argparse.Namespace) -> SamplerConfig:
    for name in ("steps", "batch_size"):
        if getattr(args, name) < 1:
            raise UserInputError(f"--{name.replace('_', '-')} must be at least 1")
    guidance = args.guidance if args.guidance is not None else default_guidance(args.model)
    return SamplerConfig(steps=args.steps, guidance=guidance, scheduler=args.scheduler, batch_size=args.batch_size)


def read_prompts(args: argparse.Namespace) -> list[Prompt]:
    """--prompt (repeatable) and/or --prompts FILE, with an optional --category for both."""
    category = getattr(args, "category", None)
    prompts = [Prompt(p.strip(), category) for p in (args.prompt or [])]
    if any(not p.text for p in prompts):
        raise UserInputError("empty --prompt: give the text to generate")
    if args.prompts:
        prompts += read_prompt_file(args.prompts, category)
    return prompts
