"""Sampler throughput against the raw UNet forward bound and a vanilla diffusers pipeline call; prints JSON.

All three run in one process on the same batch of prompts, so the ratios are comparable on a noisy
machine: bound = STEPS guided UNet forwards (batch 2B) and nothing else; ours = diffalign's sampler
end to end (text encoding, scheduler, VAE decode); vanilla = StableDiffusionPipeline.__call__.

    python benchmarks/sampler_throughput.py [--model builtin] [--batch 64] [--steps 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from diffalign.models import load_pipeline
from diffalign.sampling import SamplerConfig, encode_prompts, sample
from diffalign.world.prompts import shipped_prompts


def best_of(repeats: int, fn) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="builtin")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--guidance", type=float, default=7.5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    pipe = load_pipeline(args.model)
    prompts = [p.text for p in shipped_prompts("val")][: args.batch]
    seeds = list(range(len(prompts)))
    unet = pipe.unet
    size = unet.config.sample_size
    context = torch.cat([encode_prompts(pipe, [""]).prompt_embeds.expand(len(prompts), -1, -1),
                         encode_prompts(pipe, prompts).prompt_embeds])
    latents = torch.randn(2 * len(prompts), unet.config.in_channels, size, size, device=pipe.device,
                          dtype=unet.dtype)
    timesteps = torch.linspace(999, 0, args.steps).long()

    @torch.no_grad()
    def bound():
        for t in timesteps:
            unet(latents, t, encoder_hidden_states=context)

    config = SamplerConfig(steps=args.steps, guidance=args.guidance, batch_size=len(prompts))

    def ours():
        sample(pipe, prompts, seeds, config, progress=False)

    def vanilla():
        generators = [torch.Generator("cpu").manual_seed(s) for s in seeds]
        pipe(prompts, num_inference_steps=args.steps, guidance_scale=args.guidance, generator=generators,
             height=8 * size, width=8 * size, output_type="np")

    t_bound, t_ours, t_vanilla = (best_of(args.repeats, f) for f in (bound, ours, vanilla))
    print(json.dumps({
        "model": args.model, "batch": len(prompts), "steps": args.steps, "threads": torch.get_num_threads(),
        "device": str(pipe.device),
        "seconds": {"unet_bound": round(t_bound, 3), "diffalign_sampler": round(t_ours, 3),
                    "vanilla_pipeline": round(t_vanilla, 3)},
        "images_per_second": round(len(prompts) / t_ours, 2),
        "ratio_to_unet_bound": round(t_bound / t_ours, 3),
        "speedup_vs_vanilla_pipeline": round(t_vanilla / t_ours, 3),
    }, indent=1))


if __name__ == "__main__":
    main()
