"""rank_sum vs sum (and each reward alone) on a scored pool of an align run: the reference evaluator
reads every candidate (evaluation only) and we report the mean reference score of what each selector
would keep. Prints JSON.

    PYTHONPATH=src python benchmarks/selector_compare.py runs/align/round_1/pool
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from realign_rewards import selection_quality

from diffalign.evaluation.bench import score_pool_rows
from diffalign.pool import Pool


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("pool")
    args = ap.parse_args()
    pool = Pool(Path(args.pool))
    rows = [r for r in pool.rows() if r.category]
    bench = score_pool_rows(pool, rows)
    rows = [replace(r, scores={**r.scores, "reference": b.score}) for r, b in zip(rows, bench)]
    print(json.dumps({"pool": args.pool, "candidates": len(rows), "prompts": len({r.prompt for r in rows}),
                      "mean_reference_score": sum(b.score for b in bench) / len(bench),
                      "reference_score_of_selected": selection_quality(rows)}, indent=1))


if __name__ == "__main__":
    main()
