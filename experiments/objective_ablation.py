"""Which fine-tuning objective turns a selection into a better model? On one scored pool of an align run,
fine-tune a fresh adapter per arm (selector x objective) and benchmark it on val prompts. Prints JSON lines.

Selectors: `oracle` keeps each prompt's best candidate by the reference evaluator and pairs it with the worst
(a diagnostic ceiling: evaluation only, never a training scorer), `random` keeps and pairs candidates at random
(a control: what fitting the model's own samples does by itself), or any pool score column name (top-1 vs
bottom-1 by that score, e.g. `vqa`). Objectives: `sft` (the papers' noise-prediction loss on the kept
candidates) and `dpo` (Diffusion-DPO on kept vs paired candidates). Arms after `base` get gain_over_base_95, a
95 % interval of their mean gain over it (paired bootstrap over the val prompts, evaluation/stats.py). Each arm
trains with the loop's own `train_round` (diffalign.methods.loop); adapter and trainer state go to WORK/<objective>/.

    python experiments/objective_ablation.py runs/dpo_dreamsync/round_1/pool --arms base oracle:sft random:sft \\
        oracle:dpo random:dpo vqa:dpo
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from diffalign.evaluation.bench import BenchResult, run_bench, score_pool_rows
from diffalign.evaluation.stats import gain_interval
from diffalign.models import load_pipeline
from diffalign.methods.loop import train_round
from diffalign.methods.recipe import Recipe
from diffalign.pool import Pool, PoolRow
from diffalign.run_folder import RoundFolder
from diffalign.sampling import SamplerConfig
from diffalign.selection import SelectorConfig, by_prompt, preference_pairs, select
from diffalign.training import AdapterConfig, TrainConfig, attach_adapter
from diffalign.world.prompts import Prompt, first_per_category, shipped_prompts
from diffalign.world.vocab import CATEGORIES


def pairs_by(rows: list[PoolRow], key: str, k: int = 1, n_pairs: int = 1, strict: bool = False,
             seed: int = 0) -> list[tuple[PoolRow, PoolRow]]:
    """(kept, paired): each prompt's top-k by a score column, each with its n_pairs worst, as the loop pairs them
    (with `strict`, only pairs the score really orders); for `random`, k random candidates per prompt, each with
    n_pairs others drawn at random (the same counts; `strict` has no score to order by)."""
    if key != "random":
        config = SelectorConfig(kind="top_k", scores=[key], k=k, pairs=n_pairs)
        pairs = preference_pairs(rows, select(rows, config), config)
        return [(c, r) for c, r in pairs if c.scores[key] > r.scores[key]] if strict else pairs
    rng = np.random.default_rng(seed)
    pairs = []
    for group in by_prompt(rows).values():
        order = rng.permutation(len(group))
        kept, rest = order[:min(k, len(group) - 1)], order[min(k, len(group) - 1):]
        for i in kept:
            pairs += [(group[i], group[j]) for j in rng.choice(rest, min(n_pairs, len(rest)), replace=False)]
    return pairs


def fine_tune_and_bench(pool: Pool, rows: list[PoolRow], pairs, objective: str, args,
                        val: list[Prompt]) -> BenchResult:
    """A fresh adapter trained on the pairs by the loop's own `train_round` (on the pool's cached latents and
    prompt embeddings), then the val benchmark. The adapter and trainer state go to WORK/<objective>/."""
    pipe = load_pipeline(args.model)
    if pairs:
        recipe = Recipe(name="objective_ablation",
                        adapter=AdapterConfig(kind="lora", rank=args.rank, alpha=args.rank,
                                              text_encoder=args.text_encoder),
                        train=TrainConfig(steps=args.train_steps, lr=args.lr, objective=objective,
                                          dpo_beta=args.beta))
        params = attach_adapter(pipe, recipe.adapter, recipe.train.seed)
        folder = RoundFolder(args.work / objective)  # train_state.pt, adapter/, adapter_state.pt as in a run
        folder.root.mkdir(parents=True, exist_ok=True)
        if not args.keep_state:
            folder.train_state.unlink(missing_ok=True)
        # SFT trains on each pair's kept candidate (one per pair, as the pairs were drawn), DPO on the pairs.
        index = {r.prompt: int(r.id.split("-")[0]) for r in rows}  # pool ids are <prompt index>-<seed>
        train_round(pipe, params, recipe, pool, [c for c, _ in pairs], pairs, index, folder)
    return run_bench(pipe, val, args.per_prompt, seed=0, config=SamplerConfig(steps=20, scheduler="dpm",
                                                                             guidance=args.guidance))


def rows_of(result: BenchResult) -> dict:
    """A benchmark result as evaluation.stats reads it (the rows of results.json)."""
    return {"rows": [asdict(r) for r in result.rows]}


def summary(result: BenchResult, base: dict | None) -> dict:
    """Scores of an arm, and the 95 % interval of its mean gain over the base arm's rows (same prompts and seeds)."""
    interval = None if base is None else [round(v, 4) for v in gain_interval(base, rows_of(result))]
    return {"mean": round(result.mean, 4), "categories": {k: round(v, 3) for k, v in result.categories.items()},
            "well_formed": round(float(np.mean(list(result.well_formed.values()))), 3),
            "gain_over_base_95": interval}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("pool", type=Path)
    ap.add_argument("--arms", nargs="+", default=["base", "oracle:sft", "random:sft", "oracle:dpo", "random:dpo"])
    ap.add_argument("--model", default="builtin")
    ap.add_argument("--train-steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--beta", type=float, default=1000.0)
    ap.add_argument("--k", type=int, default=1, help="kept candidates per prompt")
    ap.add_argument("--pairs", type=int, default=1, help="paired (worst) candidates per kept one")
    ap.add_argument("--strict", action="store_true", help="drop pairs whose two candidates score the same")
    ap.add_argument("--text-encoder", action="store_true", help="adapt the text encoder too")
    ap.add_argument("--guidance", type=float, default=3.0)
    ap.add_argument("--val-per-category", type=int, default=60)
    ap.add_argument("--categories", nargs="+", default=None, help="train and benchmark on these categories only")
    ap.add_argument("--eval", choices=["val", "train"], default="val",
                    help="benchmark on val prompts, or on the pool's own train prompts (new seeds): a gain there "
                         "but not on val means the adapter learnt the prompts, not the concepts")
    ap.add_argument("--per-prompt", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path("runs/objective_ablation"))
    ap.add_argument("--keep-state", action="store_true",
                    help="continue each objective's trainer state found in WORK/<objective>/ (a shorter run's, "
                         "copied there) instead of starting afresh: the learning rate is constant, so the same as "
                         "a longer run")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    pool = Pool(args.pool)
    rows = [r for r in pool.rows() if args.categories is None or r.category in args.categories]
    bench = score_pool_rows(pool, rows)
    for r, b in zip(rows, bench):
        r.scores["oracle"] = b.score  # evaluation only: this column never leaves the script
    if args.eval == "val":
        val = first_per_category(shipped_prompts("val", args.categories or CATEGORIES), args.val_per_category)
    else:
        val = list(dict.fromkeys(Prompt(r.prompt, r.category) for r in rows))
    base = None  # the base arm's rows, once run: later arms get an interval for their gain over it
    for arm in args.arms:
        t0 = time.time()
        key, _, objective = arm.partition(":")
        pairs = [] if arm == "base" else pairs_by(rows, key, args.k, args.pairs, args.strict)
        kept = float(np.mean([c.scores["oracle"] for c, _ in pairs])) if pairs else None
        result = fine_tune_and_bench(pool, rows, pairs, objective or "sft", args, val)
        print(json.dumps({"arm": arm, "eval": args.eval, "text_encoder": args.text_encoder,
                          "train_steps": args.train_steps, "k": args.k, "pairs_per_kept": args.pairs,
                          "strict": args.strict, "pairs": len(pairs), "reference_score_of_kept": kept,
                          "pool_reference_score": float(np.mean([r.scores["oracle"] for r in rows])),
                          **summary(result, base), "seconds": round(time.time() - t0)}), flush=True)
        if arm == "base":
            base = rows_of(result)


if __name__ == "__main__":
    main()
