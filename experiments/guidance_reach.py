"""How much of the cross-attention distance D between an edit and a guide checkpoint can DreamBlend's latent step
remove? Along a guided trajectory, at each guided step: D at the edit latent, then D after `--iterations`
gradient steps on the latent (each alpha / iterations). The trajectory itself is the usual one (one step of size
alpha). A D that barely falls under many steps is out of the latent's reach: it comes from the adapters' own
attention projections, which the guidance cannot change. Prints JSON.

    python experiments/guidance_reach.py --guide runs/dreamblend/split-square/checkpoint-125 \\
        --edit runs/dreamblend/split-square/checkpoint-1000 --prompt "a sks square to the left of a blue square"
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from diffalign.models import default_guidance, load_adapter, load_pipeline
from diffalign.sampling import SamplerConfig, sample
from diffalign.sampling.guidance import CrossAttentionGuidance, GuidanceConfig


class ReachProbe(CrossAttentionGuidance):
    """The guidance hook, recording per guided step D before and after `iterations` latent steps."""

    def __init__(self, pipe, config: GuidanceConfig, cfg_scale: float, iterations: int) -> None:
        super().__init__(pipe, config, cfg_scale)
        self.iterations, self.reach = iterations, []

    def distance_gradient(self, store, guide_maps, latents, timestep):
        distance, grad = super().distance_gradient(store, guide_maps, latents, timestep)
        step = self.config.alpha / self.iterations
        probe = latents - step * grad
        for _ in range(self.iterations - 1):
            probe = probe - step * super().distance_gradient(store, guide_maps, probe, timestep)[1]
        after = super().distance_gradient(store, guide_maps, probe, timestep)[0]
        self.reach.append((float(distance.mean()), float(after.mean())))
        return distance, grad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="builtin")
    ap.add_argument("--guide", required=True)
    ap.add_argument("--edit", required=True)
    ap.add_argument("--prompt", required=True)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--alphas", type=lambda s: [float(a) for a in s.split(",")], default=[1.0, 8.0, 32.0])
    ap.add_argument("--iterations", type=int, default=8)
    ap.add_argument("--guidance-steps", type=int, default=10)
    args = ap.parse_args()
    pipe = load_pipeline(args.model)
    load_adapter(pipe, args.guide, args.model, name="guide")
    load_adapter(pipe, args.edit, args.model, name="edit")
    sampler = SamplerConfig(guidance=default_guidance(args.model))
    rows = {}
    for alpha in args.alphas:
        probe = ReachProbe(pipe, GuidanceConfig(alpha, args.guidance_steps, "guide", "edit"), sampler.guidance,
                           args.iterations)
        sample(pipe, [args.prompt] * args.seeds, list(range(args.seeds)), sampler, (probe,), progress=False)
        before, after = np.array(probe.reach).T
        rows[f"alpha_{alpha:g}"] = {"distance_per_step": [round(float(b), 3) for b in before],
                                    f"after_{args.iterations}_latent_steps": [round(float(a), 3) for a in after],
                                    "removed_share": round(float(((before - after) / before).mean()), 3)}
    print(json.dumps({"guide": args.guide, "edit": args.edit, "prompt": args.prompt, "seeds": args.seeds,
                      "iterations": args.iterations, "alphas": rows}, indent=1))


if __name__ == "__main__":
    main()
