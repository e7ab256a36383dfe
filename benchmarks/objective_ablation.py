"""Which fine-tuning objective turns a selection into a better model? On one scored pool of an align run,
fine-tune a fresh adapter per arm (selector x objective) and benchmark it on val prompts. Prints JSON lines.

Selectors: `oracle` keeps each prompt's best candidate by the reference evaluator and pairs it with the worst
(a diagnostic ceiling: evaluation only, never a training scorer), `random` keeps and pairs candidates at random
(a control: what fitting the model's own samples does by itself), or any pool score column name (top-1 vs
bottom-1 by that score, e.g. `vqa`). Objectives: `sft` (the papers' noise-prediction loss on the kept
candidates) and `dpo` (Diffusion-DPO on kept vs paired candidates).

    python benchmarks/objective_ablation.py runs/dpo_dreamsync/round_1/pool --arms base oracle:sft random:sft \\
        oracle:dpo random:dpo vqa:dpo
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from diffalign.evaluation.bench import run_bench, score_pool_rows
from diffalign.models import load_pipeline
from diffalign.pool import Pool, PoolRow
from diffalign.sampling import SamplerConfig, encode_prompts
from diffalign.selection import SelectorConfig, by_prompt, preference_pairs, select
from diffalign.training import AdapterConfig, TrainConfig, attach_adapter, frozen_conditioning, train_adapter
from diffalign.world.prompts import Prompt, first_per_category, shipped_prompts


def pairs_by(rows: list[PoolRow], key: str, seed: int = 0) -> list[tuple[PoolRow, PoolRow]]:
    """(kept, paired) per prompt: top-1 vs bottom-1 by a score column, as the loop pairs them, or two distinct
    random candidates."""
    if key != "random":
        config = SelectorConfig(kind="top_k", scores=[key])
        return preference_pairs(rows, select(rows, config), config)
    rng = np.random.default_rng(seed)
    pairs = []
    for group in by_prompt(rows).values():
        i, j = rng.choice(len(group), 2, replace=False)
        pairs.append((group[i], group[j]))
    return pairs


def fine_tune_and_bench(pool: Pool, pairs, objective: str, args, val: list[Prompt]) -> dict:
    pipe = load_pipeline(args.model)
    if pairs:
        params = attach_adapter(pipe, AdapterConfig(kind="lora", rank=args.rank, alpha=args.rank))
        conditioning = frozen_conditioning(encode_prompts(pipe, [c.prompt for c, _ in pairs]))
        config = TrainConfig(steps=args.train_steps, lr=args.lr, objective=objective, dpo_beta=args.beta)
        state = args.work / f"state_{objective}.pt"
        state.unlink(missing_ok=True)
        train_adapter(pipe, params, pool.latents([c for c, _ in pairs]), conditioning, config, state, progress=False,
                      rejected=pool.latents([r for _, r in pairs]) if objective == "dpo" else None)
    result = run_bench(pipe, val, args.per_prompt, seed=0, config=SamplerConfig(steps=20, scheduler="dpm",
                                                                                 guidance=args.guidance))
    return {"mean": round(result.mean, 4), "categories": {k: round(v, 3) for k, v in result.categories.items()},
            "well_formed": round(float(np.mean(list(result.well_formed.values()))), 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("pool", type=Path)
    ap.add_argument("--arms", nargs="+", default=["base", "oracle:sft", "random:sft", "oracle:dpo", "random:dpo"])
    ap.add_argument("--model", default="builtin")
    ap.add_argument("--train-steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--beta", type=float, default=1000.0)
    ap.add_argument("--guidance", type=float, default=3.0)
    ap.add_argument("--val-per-category", type=int, default=60)
    ap.add_argument("--per-prompt", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path("runs/objective_ablation"))
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    pool = Pool(args.pool)
    rows = pool.rows()
    bench = score_pool_rows(pool, rows)
    for r, b in zip(rows, bench):
        r.scores["oracle"] = b.score  # evaluation only: this column never leaves the script
    val = first_per_category(shipped_prompts("val"), args.val_per_category)
    for arm in args.arms:
        t0 = time.time()
        key, _, objective = arm.partition(":")
        pairs = [] if arm == "base" else pairs_by(rows, key)
        kept = float(np.mean([c.scores["oracle"] for c, _ in pairs])) if pairs else None
        print(json.dumps({"arm": arm, "pairs": len(pairs), "reference_score_of_kept": kept,
                          "pool_reference_score": float(np.mean([r.scores["oracle"] for r in rows])),
                          **fine_tune_and_bench(pool, pairs, objective or "sft", args, val),
                          "seconds": round(time.time() - t0)}), flush=True)


if __name__ == "__main__":
    main()
