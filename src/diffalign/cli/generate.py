"""`diffalign generate`: images for prompts, deterministic per (prompt, seed), plus a grid."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from PIL import Image

from ..errors import UserInputError
from ..models import load_pipeline
from ..reporting.grid import save_grid
from ..sampling import sample
from ..world.grammar import parse
from .common import add_model_args, add_sampler_args, read_prompts, sampler_config


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate images for prompts (PNG files + a grid)",
                       description="Writes OUT/images/<prompt#>_<seed>.png, OUT/grid.png (one row per prompt) "
                       "and OUT/index.jsonl. Seeds are SEED..SEED+N-1 for every prompt.")
    p.add_argument("--prompt", action="append", help="a prompt (repeatable)")
    p.add_argument("--prompts", type=Path, help="a prompt file (.txt one per line, or .jsonl)")
    p.add_argument("--n", type=int, default=4, help="images per prompt")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("runs/generate"))
    p.add_argument("--reweight", type=float, metavar="W",
                   help="RealignDiff fine stage: regenerate (same seed) images whose prompt objects the segmentation "
                   "reward finds missing or weak, with those objects' tokens' cross-attention multiplied by W "
                   "(segmentation options: the realign recipe's; its built-in ones for shapes-world prompts)")
    add_model_args(p)
    add_sampler_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    prompts = read_prompts(args)
    if not prompts:
        raise UserInputError("nothing to generate: pass --prompt TEXT or --prompts FILE")
    if args.n < 1:
        raise UserInputError("--n must be at least 1")
    if args.reweight is not None and args.reweight <= 0:
        raise UserInputError("--reweight must be positive (1 changes nothing; 2-4 are typical)")
    if args.model == "builtin":
        for p in prompts:  # the built-in model knows only the shapes world: fail before sampling
            parse(p.text)
    pipe = load_pipeline(args.model, args.adapter, args.device)
    texts = [p.text for p in prompts for _ in range(args.n)]
    seeds = [args.seed + k for _ in prompts for k in range(args.n)]
    boosted = [[] for _ in texts]
    if args.reweight is None:
        samples = sample(pipe, texts, seeds, sampler_config(args))
    else:
        samples, boosted = _reweighted(pipe, texts, seeds, args)
    images_dir = args.out / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    with open(args.out / "index.jsonl", "w") as index:
        for i, s in enumerate(samples):
            name = f"images/{i // args.n:04d}_{s.seed}.png"
            Image.fromarray(s.image).save(args.out / name)
            extra = {"reweighted_objects": boosted[i]} if args.reweight is not None else {}
            index.write(json.dumps({"prompt": s.prompt, "seed": s.seed, "image": name, **extra}) + "\n")
    grid = save_grid([s.image for s in samples], columns=args.n, path=args.out / "grid.png")
    print(f"{len(samples)} images in {images_dir}, grid {grid}")


def _reweighted(pipe, texts: list[str], seeds: list[int], args: argparse.Namespace):
    from ..methods.realign import ReweightConfig, regenerate
    from ..methods.recipe import load_recipe
    from ..scorers import make_scorer
    from .align import in_shapes_world

    shapes_world = all(in_shapes_world(t) for t in texts)  # the built-in segmenter reads these exactly
    options = load_recipe("realign", args.model == "builtin" or shapes_world).scorer_options.get("segments", {})
    result = regenerate(pipe, texts, seeds, sampler_config(args), make_scorer("segments", **options),
                        ReweightConfig(weight=args.reweight))
    print(f"re-weighted {sum(bool(b) for b in result.boosted)} of {len(texts)} images")
    return result.final, result.boosted
