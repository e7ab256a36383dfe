"""Arguments shared by commands that load a model and sample from it."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import torch

from ..builtin import BUILTIN_GUIDANCE
from ..errors import UserInputError
from ..models import declared_family, default_guidance
from ..sampling import SCHEDULERS, SamplerConfig
from ..training.trainer import LR_SCHEDULERS, PRECISIONS, TrainConfig
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
    guidance = (f"{BUILTIN_GUIDANCE} for the built-in model or a folder `world train` assembled, else its "
                f"diffusers pipeline's: 7.5 for Stable Diffusion 1.x / 2.x, docs/models.md")
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
    if config.scheduler is not None:
        family = declared_family(args.model)
        if family is not None and not family.named_schedulers:
            raise UserInputError(f"--scheduler {config.scheduler} is a DDPM-family sampler; a {family.pipeline_class} "
                                 f"samples with its own flow-matching scheduler: drop --scheduler")
    if config.guidance is None:
        config = replace(config, guidance=default_guidance(args.model))
    return config


def add_trainer_args(parser: argparse.ArgumentParser, batch_size: int | None = None) -> None:
    """TrainConfig's optimizer-step, schedule, precision and memory settings (flags named as in diffusers' and
    accelerate's training scripts). `batch_size`: the default of --train-batch-size (None: the recipe's)."""
    default = "the recipe's" if batch_size is None else batch_size
    parser.add_argument("--train-batch-size", type=int, default=batch_size,
                        help="rows of one optimizer step (dpo: pairs); --micro-batch must divide it "
                             f"(default: {default})")
    parser.add_argument("--lr-scheduler", choices=list(LR_SCHEDULERS),
                        help="learning-rate schedule over the steps (diffusers' names; default: constant)")
    parser.add_argument("--lr-warmup-steps", type=int, help="steps of linear warmup from 0 (default 0)")
    parser.add_argument("--mixed-precision", choices=list(PRECISIONS),
                        help="autocast precision of training (accelerate's names); the adapter's weights and "
                             "optimizer state stay float32 (default: bf16 on a GPU that supports it, else no; on a "
                             "CPU the frozen weights stay float32 and bf16 was measured no faster)")
    parser.add_argument("--gradient-checkpointing", action="store_const", const=True,
                        help="recompute the UNet's activations in the backward: far less memory, ~30%% slower")
    parser.add_argument("--micro-batch", type=int, help="training rows per forward/backward, their gradients "
                        "accumulated to one step of the whole batch (must divide it; default: the whole batch)")


def trainer_overrides(args: argparse.Namespace) -> dict:
    """The train.* overrides of add_trainer_args' flags (None where not given)."""
    return {"train.batch_size": args.train_batch_size, "train.micro_batch": args.micro_batch,
            "train.lr_scheduler": args.lr_scheduler, "train.lr_warmup_steps": args.lr_warmup_steps,
            "train.mixed_precision": args.mixed_precision, "train.gradient_checkpointing": args.gradient_checkpointing}


def pipeline_dtype(train: TrainConfig) -> torch.dtype | None:
    """float32 weights for mixed_precision "no" (which trains in float32); else load_pipeline's choice."""
    return torch.float32 if train.mixed_precision == "no" else None


def read_prompts(args: argparse.Namespace) -> list[Prompt]:
    """--prompt (repeatable) and/or --prompts FILE, with an optional --category for both."""
    category = getattr(args, "category", None)
    prompts = [Prompt(p.strip(), category) for p in (args.prompt or [])]
    if any(not p.text for p in prompts):
        raise UserInputError("empty --prompt: give the text to generate")
    if args.prompts:
        prompts += read_prompt_file(args.prompts, category)
    return prompts


def parse_options(pairs: list[str]) -> dict:
    """Repeated --option KEY=VALUE (score's scorer options, bench's evaluator options); VALUE is JSON when it
    parses, else text."""
    options = {}
    for item in pairs:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserInputError(f"--option {item!r}: expected KEY=VALUE")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options
