"""Wall time of the full default benchmark (six categories x all val prompts x 4 images); prints JSON.

    python benchmarks/full_bench_time.py [--model builtin] [--per-prompt 4] [--out runs/bench-full]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from diffalign.evaluation.bench import run_bench
from diffalign.models import load_pipeline
from diffalign.sampling import SamplerConfig
from diffalign.world.prompts import shipped_prompts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="builtin")
    parser.add_argument("--per-prompt", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-full"))
    args = parser.parse_args()
    t0 = time.perf_counter()
    pipe = load_pipeline(args.model)
    prompts = shipped_prompts("val")
    result = run_bench(pipe, prompts, args.per_prompt, seed=0, config=SamplerConfig(),
                       out=args.out)
    total = time.perf_counter() - t0
    print(json.dumps({
        "prompts": len(prompts), "images": len(result.rows), "seconds_total": round(total, 1),
        "seconds_generate_and_score": round(result.seconds, 1), "goal_seconds": 600,
        "categories": {c: round(s, 4) for c, s in result.categories.items()},
        "well_formed": {c: round(s, 4) for c, s in result.well_formed.items()}, "mean": round(result.mean, 4),
    }, indent=1))


if __name__ == "__main__":
    main()
