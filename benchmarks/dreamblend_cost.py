"""Cost of cross-attention guidance: sampling the edit checkpoint with vs without guidance from the guide
checkpoint, same prompts, seeds and batch, interleaved repeats in one process; prints JSON.

    python benchmarks/dreamblend_cost.py --guide RUN/checkpoint-25 --edit RUN/checkpoint-200 [--batch 24]
        [--steps 20] [--guidance-steps 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from diffalign.models import default_guidance, load_adapter, load_pipeline
from diffalign.sampling import SamplerConfig, sample
from diffalign.sampling.guidance import CrossAttentionGuidance, GuidanceConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="builtin")
    parser.add_argument("--guide", type=Path, required=True)
    parser.add_argument("--edit", type=Path, required=True)
    parser.add_argument("--prompt", default="a sks square to the left of a blue square")
    parser.add_argument("--batch", type=int, default=24)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--guidance-steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    pipe = load_pipeline(args.model)
    guidance = GuidanceConfig(alpha=1.0, steps=args.guidance_steps)
    load_adapter(pipe, args.guide, args.model, name=guidance.guide)
    load_adapter(pipe, args.edit, args.model, name=guidance.edit)
    config = SamplerConfig(steps=args.steps, guidance=default_guidance(args.model), batch_size=args.batch)
    prompts, seeds = [args.prompt] * args.batch, list(range(args.batch))
    hook = CrossAttentionGuidance(pipe, guidance, config.guidance)
    runs = {"plain": (), "guided": (hook,)}
    times: dict[str, list[float]] = {k: [] for k in runs}
    pipe.unet.set_adapters(guidance.edit)
    sample(pipe, prompts, seeds, config, progress=False)  # warm-up
    for _ in range(args.repeats):  # interleaved, so drift on a shared machine hits both alike
        for name, hooks in runs.items():
            pipe.unet.set_adapters(guidance.edit)
            t0 = time.perf_counter()
            sample(pipe, prompts, seeds, config, hooks, progress=False)
            times[name].append(time.perf_counter() - t0)
    plain, guided = min(times["plain"]), min(times["guided"])
    per_step = 1 + (guided / plain - 1) * args.steps / max(args.guidance_steps, 1)
    print(json.dumps({"model": args.model, "batch": args.batch, "steps": args.steps,
                      "guided_steps": args.guidance_steps, "device": str(pipe.device),
                      "seconds": {"plain": round(plain, 3), "guided": round(guided, 3)},
                      "ratio_guided_over_plain": round(guided / plain, 3),
                      "ratio_per_guided_step": round(per_step, 3)},
                     indent=1))


if __name__ == "__main__":
    main()
