#!/usr/bin/env bash
# The sampler suite of issue 31 (benches/suite/problems.json): tune's bayes, tpe, auto and random
# (cargo bench --bench suite) beside Optuna's TPESampler and GPSampler (benches/peers/optuna_suite.py),
# same problems, same seeds count, same machine, one run; first both sides' objectives are compared at
# fixed points. Prints the markdown tables of docs/benchmarks.md (benches/suite/table.py): median
# regret and seconds per suggestion at 20 and 40 trials, and the share of suggestions at a bound.
# Usage: benches/suite.sh [SEEDS]   (default 10; OUT=dir keeps the JSON lines of both sides there;
# ONLY=name runs one problem)
set -eu
cd "$(dirname "$0")/.."
seeds=${1:-10}
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
only=()
if [ -n "${ONLY:-}" ]; then only=(--only "$ONLY"); fi
cargo bench --bench suite -- --seeds "$seeds" "${only[@]}" 2>/dev/null > "$out/tune.jsonl"
# GPSampler needs torch and scipy; without greenlet it optimises its acquisition sequentially, slower.
py=$(benches/peers/venv.sh optuna torch scipy greenlet)
if [ -n "$py" ]; then
  cargo bench --bench suite -- --check 2>/dev/null | "$py" benches/peers/optuna_suite.py --check >&2
  "$py" benches/peers/optuna_suite.py --seeds "$seeds" "${only[@]}" > "$out/optuna.jsonl"
fi
python3 benches/suite/table.py "$out"/*.jsonl
