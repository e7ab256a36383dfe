"""The ceiling the model's VAE puts on `diffalign bench`: prints JSON.

A latent diffusion model can only draw what its VAE can decode. This renders each val prompt of the
shipped sets (fresh scenes), passes every render through the VAE (encode, take the mean latent, decode),
and scores render and reconstruction with the reference evaluator: per category, the score and the
well-formed rate of both. A reconstruction that loses well-formed objects bounds the UNet's well-formed
rate from above, whatever it learns.

    python experiments/vae_ceiling.py [--model builtin] [--per-prompt 4] [--limit 60] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from diffalign.builtin_training.vqa_data import vae_round_trip
from diffalign.evaluation.reference import evaluate
from diffalign.models.loading import load_pipeline
from diffalign.world.grammar import parse
from diffalign.world.prompts import first_per_category, shipped_prompts
from diffalign.world.render import render_prompt
from diffalign.world.vocab import AUX_CATEGORIES, CATEGORIES


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="builtin")
    parser.add_argument("--per-prompt", type=int, default=4, help="renders per prompt (seeds SEED..SEED+N-1)")
    parser.add_argument("--limit", type=int, default=60, help="val prompts per category")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--categories", nargs="+", default=list(CATEGORIES + AUX_CATEGORIES))
    args = parser.parse_args(argv)

    start = time.perf_counter()
    vae = load_pipeline(args.model).vae
    per_category = {}
    for category in args.categories:
        prompts = first_per_category(shipped_prompts("val", [category]), args.limit)
        specs = [parse(p.text) for p in prompts for _ in range(args.per_prompt)]
        seeds = [args.seed + k for _ in prompts for k in range(args.per_prompt)]
        renders = np.stack([render_prompt(s, seed)[0] for s, seed in zip(specs, seeds)])
        recons = vae_round_trip(vae, torch.from_numpy(renders), None).numpy()
        row = {"n": len(specs)}
        for name, images in (("render", renders), ("vae", recons)):
            evals = [evaluate(im, s, category) for im, s in zip(images, specs)]
            row[name] = {"score": float(np.mean([e.score for e in evals])),
                         "well_formed": float(np.mean([e.well_formed for e in evals]))}
        per_category[category] = row
    main_cats = [c for c in CATEGORIES if c in per_category]
    report = {
        "model": args.model,
        "per_prompt": args.per_prompt,
        "limit": args.limit,
        "per_category": per_category,
        "mean": {name: {k: float(np.mean([per_category[c][name][k] for c in main_cats]))
                        for k in ("score", "well_formed")} for name in ("render", "vae")},
        "seconds": round(time.perf_counter() - start, 1),
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
