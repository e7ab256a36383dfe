"""How well ordered were the DPO pairs a round trained on? The reference evaluator (evaluation only) reads the
selected candidate and its rejected partners of every pair in a finished round, per category: mean score of
each side, the share of pairs the wrong way round, and how many objects each side draws beyond those the prompt
asks for (negative: objects missing). Prints JSON.

    python benchmarks/pair_diagnosis.py runs/align --round 1
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from diffalign.evaluation.bench import score_pool_rows
from diffalign.pool import Pool
from diffalign.run_folder import RunFolder
from diffalign.world.grammar import parse


def summary(pairs: list[tuple[float, float, int, int]]) -> dict:
    """pairs: (selected score, rejected score, selected's extra objects, rejected's extra objects)."""
    chosen, rejected, chosen_extra, rejected_extra = np.array(pairs, dtype=float).T
    return {"pairs": len(pairs), "selected": round(float(chosen.mean()), 3),
            "rejected": round(float(rejected.mean()), 3),
            "wrong_way_round": round(float((chosen < rejected).mean()), 3),
            "extra_objects": {"selected": round(float(chosen_extra.mean()), 3),
                              "rejected": round(float(rejected_extra.mean()), 3)}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path, help="an align run folder")
    ap.add_argument("--round", type=int, default=1)
    args = ap.parse_args()
    folder = RunFolder(args.run).round(args.round)
    pool = Pool(folder.pool)
    rows = {r.id: r for r in pool.rows()}
    selected = [json.loads(line) for line in folder.selected.read_text().splitlines()]
    ids = sorted({s["id"] for s in selected} | {i for s in selected for i in s["rejected"]})
    bench = score_pool_rows(pool, [rows[i] for i in ids])
    reference = {i: b.score for i, b in zip(ids, bench)}
    extra = {i: b.objects - sum(o.count for o in parse(rows[i].prompt).objects) for i, b in zip(ids, bench)}
    by_category = defaultdict(list)
    for s in selected:
        for j in s["rejected"]:
            by_category[rows[s["id"]].category].append((reference[s["id"]], reference[j], extra[s["id"]], extra[j]))
    print(json.dumps({"run": str(args.run), "round": args.round,
                      "all": summary([p for pairs in by_category.values() for p in pairs]),
                      "per_category": {c: summary(p) for c, p in by_category.items()}}, indent=1))


if __name__ == "__main__":
    main()
