"""`diffalign score`: score existing images against their prompts with any registered scorer."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import UserInputError
from ..models import load_pipeline
from ..processes import start as start_processes
from ..scorers import REGISTRY, check_scorer, scorer_class
from .common import add_model_args, parse_options


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="score images against prompts (mi, ...) and write a table",
                       description="Images and prompts come from DIR/index.jsonl (what `diffalign generate` "
                       "writes) or, with --prompt, one prompt for every PNG in DIR.")
    p.add_argument("--scorer", required=True, help=f"one of: {', '.join(sorted(REGISTRY))}")
    p.add_argument("--images", type=Path, required=True, help="folder of images")
    p.add_argument("--prompt", help="the prompt of every image (otherwise DIR/index.jsonl)")
    p.add_argument("--prompts", type=Path, help="a jsonl index with 'image' (relative to DIR) and 'prompt' per line "
                   "(default: DIR/index.jsonl)")
    p.add_argument("--out", type=Path, help="table path (default: DIR/scores_<scorer>.jsonl)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a scorer option, as in a recipe's [scorer_options.<scorer>] (repeatable), e.g. "
                   "captioner=Salesforce/blip-image-captioning-large; VALUE is JSON when it parses, else text")
    add_model_args(p)
    p.set_defaults(func=run)


def _pairs(folder: Path, prompt: str | None, index: Path | None) -> list[tuple[Path, str]]:
    if not folder.is_dir():
        raise UserInputError(f"image folder not found: {folder}")
    index = index or folder / "index.jsonl"
    if prompt is not None:
        if not prompt.strip():
            raise UserInputError("empty --prompt: give the text the images were generated from")
        pairs = [(p, prompt) for p in sorted(folder.glob("*.png"))]
    elif index.exists():
        try:
            rows = [json.loads(line) for line in index.read_text().splitlines() if line.strip()]
            pairs = [(folder / r["image"], r["prompt"]) for r in rows]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise UserInputError(f"{index}: expected JSON lines with 'image' and 'prompt'") from None
        missing = [str(p) for p, _ in pairs if not p.exists()]
        if missing:
            raise UserInputError(f"{index} names {len(missing)} missing image(s), e.g. {missing[0]}")
    else:
        raise UserInputError(f"no index.jsonl in {folder}: pass --prompts INDEX or --prompt TEXT")
    if not pairs:
        raise UserInputError(f"no images in {folder}")
    return pairs


def run(args: argparse.Namespace) -> None:
    raw = parse_options(args.option)
    procs = start_processes(args.device)
    device = str(procs.device) if procs.count > 1 else args.device  # several processes: each its own device
    if device and "device" in {f.name for f in dataclasses.fields(scorer_class(args.scorer).Options)}:
        raw.setdefault("device", device)  # --device places the scorer too, unless --option device= says
    options = check_scorer(args.scorer, raw)  # before any image or model loads
    pairs = _pairs(args.images, args.prompt, args.prompts)
    cls = scorer_class(args.scorer)
    pipe = load_pipeline(args.model, args.adapter, procs.device) if cls.needs_model else None
    scorer = cls(options, pipe=pipe, cache_dir=args.images)
    mine = procs.shard(pairs)  # each process scores its share; the main one writes the table
    rows = []
    if mine:
        columns = scorer.score(np.stack([np.asarray(Image.open(p).convert("RGB")) for p, _ in mine]),
                               [t for _, t in mine])
        rows = [{"image": str(path), "prompt": prompt, **{k: float(v[i]) for k, v in columns.items()}}
                for i, (path, prompt) in enumerate(mine)]
    rows = procs.gather(rows)
    if not procs.main:
        return
    out = args.out or args.images / f"scores_{args.scorer}.jsonl"
    out.write_text("".join(json.dumps(row) + "\n" for row in rows))
    main = np.array([row[scorer.name] for row in rows])
    print(f"{scorer.name}: mean {main.mean():.3f}, min {main.min():.3f}, max {main.max():.3f} over {len(pairs)} "
          f"images; table in {out}")
