"""Cost of the point-wise MI hook: CFG sampling with vs without it, same batch, same process; prints JSON.

    python benchmarks/mi_overhead.py [--model builtin] [--batch 64] [--steps 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import time

from diffalign.models import load_pipeline
from diffalign.sampling import SamplerConfig, sample
from diffalign.scorers.mi import PointwiseMIHook
from diffalign.world.prompts import shipped_prompts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="builtin")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    pipe = load_pipeline(args.model)
    prompts = [p.text for p in shipped_prompts("train")][: args.batch]
    seeds = list(range(len(prompts)))
    config = SamplerConfig(steps=args.steps, batch_size=len(prompts))
    hook = PointwiseMIHook(pipe)
    runs = {"plain": (), "mi": (hook,)}
    times: dict[str, list[float]] = {k: [] for k in runs}
    sample(pipe, prompts, seeds, config, progress=False)  # warm-up
    for _ in range(args.repeats):  # interleaved, so drift on a noisy machine hits both alike
        for name, hooks in runs.items():
            t0 = time.perf_counter()
            sample(pipe, prompts, seeds, config, hooks, progress=False)
            times[name].append(time.perf_counter() - t0)
    plain, mi = min(times["plain"]), min(times["mi"])
    print(json.dumps({"model": args.model, "batch": len(prompts), "steps": args.steps,
                      "seconds": {"plain": round(plain, 3), "with_mi": round(mi, 3)},
                      "overhead": round(mi / plain - 1, 4), "goal_overhead": 0.03}, indent=1))


if __name__ == "__main__":
    main()
