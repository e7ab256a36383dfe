"""`diffalign world ...`: train the built-in model, write prompt sets, render examples."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from ..builtin import BUILTIN_MODEL_DIR, BUILTIN_SCORER_DIR
from ..errors import UserInputError

SCORER_STAGES = ("vqa", "aesthetics", "captioner")


def add_parser(sub: argparse._SubParsersAction) -> None:
    world = sub.add_parser("world", help="the built-in shapes world: train its model, write its prompt sets")
    wsub = world.add_subparsers(dest="world_command", required=True)
    train = wsub.add_parser("train", help="train the built-in model stage by stage (resumable), then assemble it",
                            description="Stages: vae, clip (both need nothing), unet (needs vae and clip), "
                            "assemble (writes the diffusers folder); all = those four. The built-in scorers — vqa, "
                            "aesthetics and captioner — read the shipped model's VAE and CLIP and are trained on "
                            "their own. Each stage resumes from WORK/<stage>/state.pt.")
    train.add_argument("--stage", choices=["vae", "clip", "unet", "assemble", "all", *SCORER_STAGES], default="all")
    train.add_argument("--work", type=Path, default=Path("work/builtin"), help="checkpoints and caches")
    train.add_argument("--out", type=Path, default=Path(str(BUILTIN_MODEL_DIR)),
                       help="where assemble writes the pipeline folder (default: the shipped built-in model)")
    train.add_argument("--scorers-out", type=Path, default=Path(str(BUILTIN_SCORER_DIR)),
                       help="where the scorer stages write their weights (default: the shipped ones)")
    train.add_argument("--steps", type=int, help="total steps of the stage (default per stage)")
    train.add_argument("--batch", type=int)
    train.add_argument("--lr", type=float)
    train.add_argument("--threads", type=int, help="torch CPU threads")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--init-from", help="continue an assembled model ('builtin' or a folder); unet stage: its "
                       "VAE, CLIP and tokenizer become the frozen stages (unless WORK has them), its UNet the "
                       "starting weights; vae stage: fine-tune its VAE decoder only (the encoder and latent space "
                       "stay, so its UNet stays valid); clip stage: continue its CLIP with its tokenizer")
    train.add_argument("--cache-size", type=int, help="unet stage: encoded renders to train on (default 24,576)")
    train.add_argument("--latent-noise", type=float,
                       help="vae stage: max std of noise added to the (scaled) latents the decoder learns to read "
                       "(default 0)")
    train.add_argument("--twins", nargs="+", default=[], metavar="KIND=N",
                       help="clip stage: add to every batch the twins of up to N scenes, changed by KIND (relation: "
                       "the opposite relation; axis: the transposed one, left of <-> above; texture: the two "
                       "objects' textures swapped), each the other's hard negative (the first KIND that applies; "
                       "default: none)")
    train.add_argument("--anchor", type=float, default=0.0, metavar="W",
                       help="clip stage with --init-from: keep the text states of captions without a relation near "
                       "that model's, with weight W (its UNet read them; default 0: free)")
    train.add_argument("--caption-swap", type=float, default=0.0, metavar="P",
                       help="unet stage: bind each caption of two object groups the wrong way round (one attribute "
                       "swapped between them) with probability P, like loose web captions, so the UNet makes "
                       "binding errors (default 0: exact captions)")
    train.set_defaults(func=run_train)
    prompts = wsub.add_parser("prompts", help="write the train/val prompt files of every category")
    prompts.add_argument("--out", type=Path, required=True)
    prompts.add_argument("--seed", type=int, default=0)
    prompts.set_defaults(func=run_prompts)


def run_train(args: argparse.Namespace) -> None:
    from ..builtin_training.train import DEFAULTS, STAGES, TRAINERS, StageConfig, assemble
    from ..models.loading import resolve_model

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.stage in SCORER_STAGES:
        from ..builtin_training.train_scorers import SCORER_DEFAULTS, SCORER_TRAINERS, install

        d = SCORER_DEFAULTS[args.stage]
        cfg = StageConfig(work=args.work, steps=args.steps or d["steps"], batch=args.batch or d["batch"],
                          lr=args.lr or d["lr"], seed=args.seed)
        install(SCORER_TRAINERS[args.stage](cfg), args.scorers_out / args.stage)
        return
    if args.init_from and args.stage not in ("unet", "vae", "clip"):
        raise UserInputError("--init-from continues one stage of a model: add --stage unet (its UNet), "
                             "--stage vae (its decoder) or --stage clip (its CLIP)")
    if args.anchor and not (args.init_from and args.stage == "clip"):
        raise UserInputError("--anchor keeps a continued CLIP's text states: "
                             "use it with --stage clip --init-from MODEL")
    if not 0 <= args.caption_swap < 1 or (args.caption_swap and args.stage != "unet"):
        raise UserInputError("--caption-swap P: a probability in [0, 1), for --stage unet")
    init_from = Path(resolve_model(args.init_from)) if args.init_from else None
    if init_from is not None and not all((init_from / c).is_dir() for c in ("vae", "clip", "unet")):
        raise UserInputError(f"--init-from {args.init_from}: {init_from} lacks vae/, clip/ or unet/; "
                             "give a model assembled by `diffalign world train`")
    stages = STAGES if args.stage == "all" else (() if args.stage == "assemble" else (args.stage,))
    for stage in stages:
        d = DEFAULTS[stage]
        cfg = StageConfig(work=args.work, steps=args.steps or d["steps"], batch=args.batch or d["batch"],
                          lr=args.lr or d["lr"], seed=args.seed, init_from=init_from,
                          cache_size=args.cache_size or StageConfig.cache_size,
                          latent_noise=args.latent_noise or StageConfig.latent_noise,
                          twins=parse_twins(args.twins), anchor=args.anchor,
                          caption_swap=args.caption_swap)
        TRAINERS[stage](cfg)
    if args.stage in ("assemble", "all"):
        assemble(args.work, args.out)


def parse_twins(items: list[str]) -> dict[str, int]:
    from ..builtin_training.data import TWIN_CHANGES

    twins = {}
    for item in items:
        kind, _, count = item.partition("=")
        if kind not in TWIN_CHANGES or not count.isdigit():
            raise UserInputError(f"--twins {item}: write KIND=N with KIND one of {', '.join(TWIN_CHANGES)}")
        twins[kind] = int(count)
    return twins


def run_prompts(args: argparse.Namespace) -> None:
    from ..world.prompts import write_prompt_sets

    write_prompt_sets(args.out, args.seed)
    print(f"prompt files written to {args.out}")
