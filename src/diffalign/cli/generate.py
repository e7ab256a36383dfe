"""`diffalign generate`: images for prompts, deterministic per (prompt, seed), plus a grid."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from PIL import Image

from ..errors import UserInputError
from ..models import family_of, is_shapes_world_model, load_adapter, load_pipeline
from ..processes import start as start_processes
from ..images import save_grid
from ..sampling import sample
from ..sampling.guidance import CrossAttentionGuidance, GuidanceConfig
from ..training.personalize import subject_token
from ..world.grammar import parse
from .common import add_model_args, add_sampler_args, read_prompts, sampler_config


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate images for prompts (PNG files + a grid)",
                       description="Writes OUT/images/<prompt#>_<seed>.png, OUT/grid.png (one row per prompt) "
                       "and OUT/index.jsonl. Seeds are SEED..SEED+N-1 for every prompt.")
    p.add_argument("--prompt", action="append", help="a prompt (repeatable)")
    p.add_argument("--prompts", type=Path, help="a prompt file (.txt one per line, or .jsonl)")
    p.add_argument("--n", "--per-prompt", dest="n", type=int, default=4,
                   help="images per prompt (write --per-prompt under torchrun, whose parser takes --n for an "
                   "abbreviation of its own options)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("runs/generate"))
    p.add_argument("--reweight", type=float, metavar="W",
                   help="RealignDiff fine stage: regenerate (same seed) images whose prompt objects the segmentation "
                   "reward finds missing or weak, with those objects' tokens' cross-attention multiplied by W "
                   "(segmentation options: the realign recipe's; its built-in ones for shapes-world prompts)")
    add_model_args(p)
    add_sampler_args(p)
    blend = p.add_argument_group("cross-attention guidance (DreamBlend)",
                                 "sample the --edit checkpoint while pulling its cross-attention toward the --guide "
                                 "checkpoint's (two LoRA folders of the same base, e.g. from `diffalign personalize`)")
    blend.add_argument("--guide", type=Path, help="early (underfit) checkpoint: the layout and prompt to follow")
    blend.add_argument("--edit", type=Path, help="late (overfit) checkpoint: the subject's look")
    blend.add_argument("--alpha", type=float, default=GuidanceConfig.alpha, help="guidance strength")
    blend.add_argument("--guidance-steps", type=int, default=GuidanceConfig.steps,
                       help="guide the first N denoising steps")
    blend.add_argument("--local-blend", type=float, metavar="THRESHOLD",
                       help="keep the edit checkpoint's latent only where the guide attends to the subject (its "
                       "class word after the token, scaled from 0 to 1 over the image, above THRESHOLD: 0.8 on the "
                       "built-in model) and the guide's elsewhere, at every step: the rest stays the guide's picture")
    p.set_defaults(func=run)


def _blend_config(args: argparse.Namespace, token: str | None) -> GuidanceConfig | None:
    if args.guide is None and args.edit is None:
        if args.local_blend is not None:
            raise UserInputError("--local-blend needs cross-attention guidance: pass --guide CKPT and --edit CKPT")
        return None
    if args.guide is None or args.edit is None:
        raise UserInputError("cross-attention guidance needs both --guide CKPT and --edit CKPT")
    if args.adapter is not None:
        raise UserInputError("--adapter cannot be combined with --guide/--edit")
    if args.alpha < 0 or args.guidance_steps < 0:
        raise UserInputError("--alpha and --guidance-steps must not be negative")
    return GuidanceConfig(alpha=args.alpha, steps=args.guidance_steps, local_blend=args.local_blend,
                          token=token or GuidanceConfig.token)


def _load(args: argparse.Namespace, blend: GuidanceConfig | None, device):
    """The pipeline, with the guide and edit adapters in one denoiser when blending."""
    if blend is None:
        return load_pipeline(args.model, args.adapter, device)
    pipe = load_pipeline(args.model, device=device)
    load_adapter(pipe, args.guide, args.model, name=blend.guide)
    load_adapter(pipe, args.edit, args.model, name=blend.edit)
    if any(getattr(m, "peft_config", None) for m in family_of(pipe).text_encoders().values()):
        raise UserInputError("cross-attention guidance needs denoiser-only LoRA checkpoints (these adapt the text encoder)")
    return pipe


def run(args: argparse.Namespace) -> None:
    prompts = read_prompts(args)
    if not prompts:
        raise UserInputError("nothing to generate: pass --prompt TEXT or --prompts FILE")
    if args.n < 1:
        raise UserInputError("--n must be at least 1")
    token = subject_token(args.edit or args.adapter)  # a personalized subject's token is no world word
    blend = _blend_config(args, token)
    if args.reweight is not None and args.reweight <= 0:
        raise UserInputError("--reweight must be positive (1 changes nothing; 2-4 are typical)")
    if blend and args.reweight is not None:
        raise UserInputError("--reweight cannot be combined with --guide/--edit")
    if is_shapes_world_model(args.model):
        for p in prompts:  # the built-in model knows only the shapes world: fail before sampling
            parse(" ".join(w for w in p.text.split() if w != token))
    config = sampler_config(args)
    procs = start_processes(args.device)
    pipe = _load(args, blend, procs.device)
    part = procs.shard(range(len(prompts) * args.n))  # this process's images; image k is prompt k // n, seed k % n
    texts = [prompts[k // args.n].text for k in part]
    seeds = [args.seed + k % args.n for k in part]
    boosted = [[] for _ in texts]
    if args.reweight is None:
        hooks = (CrossAttentionGuidance(pipe, blend, config.guidance),) if blend else ()
        samples = sample(pipe, texts, seeds, config, hooks, progress=procs.main)
    else:
        samples, boosted = _reweighted(pipe, texts, seeds, config, args.reweight, args.model)
    images_dir = args.out / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    written = []  # each process writes its images; the main one the index and the grid
    for k, s, b in zip(part, samples, boosted):
        name = f"images/{k // args.n:04d}_{s.seed}.png"
        Image.fromarray(s.image).save(args.out / name)
        extra = {"reweighted_objects": b} if args.reweight is not None else {}
        written.append(({"prompt": s.prompt, "seed": s.seed, "image": name, **s.scores, **extra}, s.image))
    written = procs.gather(written)
    if not procs.main:
        return
    (args.out / "index.jsonl").write_text("".join(json.dumps(row) + "\n" for row, _ in written))
    if args.reweight is not None:
        print(f"re-weighted {sum(bool(row['reweighted_objects']) for row, _ in written)} of {len(written)} images")
    grid = save_grid([image for _, image in written], columns=args.n, path=args.out / "grid.png")
    print(f"{len(written)} images in {images_dir}, grid {grid}")


def _reweighted(pipe, texts: list[str], seeds: list[int], config, weight: float, model: str):
    from ..methods.realign import ReweightConfig, regenerate, reweight_scorer

    result = regenerate(pipe, texts, seeds, config, reweight_scorer(model, texts), ReweightConfig(weight=weight))
    return result.final, result.boosted
