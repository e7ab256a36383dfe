"""Does the built-in aesthetics head prefer a clean render to the same render degraded? Fresh renders (a scene
stream seed its training never used), each scored clean and degraded at a few severities with builtin/degrade.py's
mix of blur, noise and broken shapes. Prints JSON: the clean images' mean score and share reaching DreamSync's
0.6, and per severity the share of pairs where the clean image scores higher and the degraded images' mean.

    python benchmarks/aesthetics_validity.py [--renders 128] [--severities 0.2 0.4 0.7 1.0]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from diffalign.builtin_training.data import SceneStream
from diffalign.images import to_uint8
from diffalign.builtin_training.degrade import degrade
from diffalign.scorers.aesthetics import AestheticsScorer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=128)
    parser.add_argument("--severities", type=float, nargs="+", default=[0.2, 0.4, 0.7, 1.0])
    parser.add_argument("--seed", type=int, default=4242)
    args = parser.parse_args()
    x, specs = SceneStream(args.seed).batch(args.renders)
    scorer = AestheticsScorer()
    prompts = [s.text() for s in specs]
    clean = scorer.score(to_uint8(x).numpy(), prompts)["aesthetics"]
    gen, rng = torch.Generator().manual_seed(args.seed), np.random.default_rng(args.seed)
    per_severity = {}
    for severity in args.severities:
        degraded_images = to_uint8(degrade(x, torch.full((len(x),), severity), gen, rng)).numpy()
        degraded = scorer.score(degraded_images, prompts)["aesthetics"]
        per_severity[str(severity)] = {"clean_preferred": round(float((clean > degraded).mean()), 3),
                                       "degraded_mean": round(float(degraded.mean()), 3)}
    print(json.dumps({"renders": args.renders, "clean_mean": round(float(clean.mean()), 3),
                      "clean_reaching_0.6": round(float((clean >= 0.6).mean()), 3), "severities": per_severity}))


if __name__ == "__main__":
    main()
