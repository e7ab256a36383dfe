#!/usr/bin/env bash
# A new align run that starts from another run's round-1 candidates and a finished base benchmark, so a lever
# (rank, steps, training seed, another recipe's scorers and selector) is measured on identical candidates and
# costs only what it changes. Rows are keyed by (prompt index, seed), so any recipe on the same train prompts
# reuses them; the scorers fill only the columns the pool lacks.
#
#   experiments/reuse_pool.sh POOL_RUN|- BASE_EVAL OUT [align flags...]
#     POOL_RUN   a finished run whose round_1/pool is copied ("-": sample a new pool)
#     BASE_EVAL  a benchmark folder of the base model on the split the flags evaluate (its results.json):
#                RUN/eval/round_0 of a run, or `diffalign bench --per-prompt 4 --limit 60 --out DIR`
#   e.g. experiments/reuse_pool.sh work/ds3-rank64 work/ds3-rank64/eval/round_0 work/seed1 \
#          --recipe dreamsync --rounds 2 --train-seed 1
set -euo pipefail
pool_run=$1 base_eval=$2 out=$3
shift 3
mkdir -p "$out/eval" "$out/round_1"
cp -r "$base_eval" "$out/eval/round_0"
if [ "$pool_run" != - ]; then
  cp -r "$pool_run/round_1/pool" "$out/round_1/"
  cp "$pool_run"/questions-*.json "$out/" 2>/dev/null || true  # the vqa scorer's question cache
fi
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} /usr/bin/time -v diffalign align --out "$out" "$@"
