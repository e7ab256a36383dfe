"""`diffalign personalize`: DreamBooth-style LoRA on a few subject images, a checkpoint every N steps."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UserInputError
from ..models import family_of, is_shapes_world_model, load_pipeline
from ..training import AdapterConfig, TrainConfig, check_train_config
from ..models.families import ATTENTION_PROJECTIONS
from ..training.personalize import PersonalizeConfig, personalize, read_subject_images, subject_files
from ..world.grammar import parse
from ..world.vocab import words
from .common import (add_model_args, add_sampler_args, add_trainer_args, pipeline_dtype, sampler_config,
                     trainer_overrides)

DEFAULTS = PersonalizeConfig(token="sks", class_prompt="a square")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("personalize", help="fine-tune a LoRA on a few subject images (DreamBooth-style)",
                       description="Writes OUT/checkpoint-<step>/ (diffusers LoRA folders, load with "
                       "pipe.load_lora_weights), OUT/class_images/ (prior preservation) and OUT/personalize.json. "
                       "Rerunning the same command resumes.")
    p.add_argument("--images", type=Path, required=True, help="folder of subject images (3-5 is typical)")
    p.add_argument("--token", default=DEFAULTS.token,
                   help="rare word bound to the subject; must tokenize to known pieces (default: sks)")
    p.add_argument("--class-prompt", required=True, help="the subject's class, e.g. 'a square'")
    p.add_argument("--instance-prompt", help="default: the class prompt with TOKEN before its last word")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--train-steps", type=int, default=DEFAULTS.train.steps)
    p.add_argument("--save-every", type=int, default=DEFAULTS.save_every, help="steps between checkpoints")
    p.add_argument("--class-images", type=int, default=DEFAULTS.class_images, help="prior-preservation images")
    p.add_argument("--prior-weight", type=float, default=DEFAULTS.prior_weight, help="0 turns prior preservation off")
    p.add_argument("--rank", type=int, default=DEFAULTS.adapter.rank)
    p.add_argument("--targets", help="attention projections the LoRA adapts (comma-separated; default: the model "
                   f"family's, {','.join(ATTENTION_PROJECTIONS)} on Stable Diffusion); to_v,to_out.0 keeps the base's "
                   "attention maps (key-locked), which leaves more of them to --guide")
    p.add_argument("--lr", type=float, default=DEFAULTS.train.lr)
    p.add_argument("--seed", type=int, default=0)
    add_trainer_args(p, batch_size=DEFAULTS.train.batch_size)
    add_model_args(p, adapter=False)  # trains a new adapter on the model
    add_sampler_args(p)  # for the class images
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    for name in ("save_every", "rank"):
        if getattr(args, name) < 1:
            raise UserInputError(f"--{name.replace('_', '-')} must be at least 1")
    if args.class_images < 0 or args.prior_weight < 0:
        raise UserInputError("--class-images and --prior-weight must not be negative")
    targets = None if args.targets is None else tuple(t.strip() for t in args.targets.split(",") if t.strip())
    unknown = sorted(set(targets or ()) - set(ATTENTION_PROJECTIONS))
    if targets == () or unknown:
        raise UserInputError(f"--targets: unknown projection(s) {', '.join(unknown) or '(none given)'}; "
                             f"choose from {','.join(ATTENTION_PROJECTIONS)}")
    if is_shapes_world_model(args.model):
        parse(args.class_prompt)  # the class prompt must be a world prompt
        if args.token.lower() in words():
            raise UserInputError(f"--token {args.token!r} is a word of the built-in vocabulary (docs/world.md): "
                                 "training would change what it means in every prompt; pick a rare word such as 'sks'")
    given = {k.removeprefix("train."): v for k, v in trainer_overrides(args).items() if v is not None}
    train = TrainConfig(steps=args.train_steps, lr=args.lr, seed=args.seed, **given)
    check_train_config(train)
    files = subject_files(args.images)
    pipe = load_pipeline(args.model, device=args.device, dtype=pipeline_dtype(train))
    images = read_subject_images(files, family_of(pipe).image_size)
    config = PersonalizeConfig(
        token=args.token, class_prompt=args.class_prompt, instance_prompt=args.instance_prompt,
        class_images=args.class_images, prior_weight=args.prior_weight, save_every=args.save_every,
        adapter=AdapterConfig(kind="lora", rank=args.rank, alpha=args.rank, target_modules=targets),
        train=train,
        sampler=sampler_config(args))
    folders = personalize(pipe, images, config, args.out)
    print(f"{len(images)} subject images, prompt {config.prompt()!r}; checkpoints: "
          + ", ".join(str(f) for f in folders))
