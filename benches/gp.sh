#!/usr/bin/env bash
# One table: tune's GP, TPE and random search (cargo bench --bench gp) beside Optuna's GPSampler and
# TPESampler (benches/peers/optuna_gp.py), same functions, same seeds count, same machine, one run.
# Usage: benches/gp.sh [SEEDS]   (default 10, as issue 31 measured; with 10, a few seeds that end in a local optimum move the medians)
set -eu
cd "$(dirname "$0")/.."
seeds=${1:-10}
cargo bench --bench gp -- --seeds "$seeds" 2>/dev/null | grep -v '^GpSettings'
py=$(benches/peers/venv.sh optuna torch scipy)
if [ -n "$py" ]; then
  "$py" benches/peers/optuna_gp.py --seeds "$seeds" 2>/dev/null | tail -n +2
fi
