#!/usr/bin/env bash
# A user's own PyTorch script under tune with the settings a new user writes (issue 30): the
# MNIST-on-digits example (studies/mnist-digits.json: pytorch/examples' mnist/main.py on the 8x8
# digits, 10 random trials, 2 at a time, tune's defaults: its program forked per trial once its
# imports are done), at 6,000 and at 40,000 examples per trial, against Optuna training the same
# trials with the same code in-process (benches/peers/optuna_mnist.py: 2 jobs, threads, one torch
# thread each, checkpoints at the same boundaries), same machine, same run. Prints each one's wall
# (whole processes: Python's start, imports, data and all) and tune's speed over the peer's.
# Usage: benches/mnist_vs_optuna.sh   (TUNE=path/to/tune for another build; EXAMPLES="6000 40000";
# PARALLEL=1 for one trial at a time in both, 2 by default)
set -eu
cd "$(dirname "$0")/.."
tune=${TUNE:-./target/release/tune}
[ -n "${TUNE:-}" ] || cargo build --release -q
py=$(benches/peers/venv.sh optuna torch numpy)
if [ -z "$py" ]; then exit 0; fi
# The client as a user installs it, this checkout's.
"$py" -m pip install -q --force-reinstall --no-deps ./client >&2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
now() { date +%s.%N; }
p=${PARALLEL:-2}
printf '%-48s %9s %9s %12s\n' "run" "examples" "wall s" "best val"
for n in ${EXAMPLES:-6000 40000}; do
  "$py" - "$PWD" "$py" "$n" > "$tmp/spec$n.json" <<'PY'
import json, sys
root, py, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = json.load(open(f"{root}/studies/mnist-digits.json"))
s["trainer"]["command"] = [py, "-u", f"{root}/studies/programs/mnist/main.py"]
s["budget"]["total_examples"] = n
print(json.dumps(s))
PY
  t0=$(now)
  "$tune" -q --parallel "$p" --out "$tmp/tune$n" "$tmp/spec$n.json" > "$tmp/out$n"
  tw=$(echo "$(now) - $t0" | bc -l)
  tb=$("$py" -c "import csv,sys; print(min(float(r['best_val_loss']) for r in csv.DictReader(open(sys.argv[1]))))" "$tmp/tune$n/leaderboard.csv")
  printf '%-48s %9s %9.2f %12.4f\n' "tune (defaults), $p at a time" "$n" "$tw" "$tb"
  echo "    $(sed -n 's/^overhead: //p' "$tmp/out$n")"
  t0=$(now)
  r=$("$py" benches/peers/optuna_mnist.py --data studies/data/digits.csv --params "$tmp/tune$n/leaderboard.csv" --examples "$n" --jobs "$p")
  pw=$(echo "$(now) - $t0" | bc -l)
  pb=$(echo "$r" | "$py" -c "import json,sys; print(min(json.load(sys.stdin)['trials']))")
  po=$(echo "$r" | "$py" -c "import json,sys; print(json.load(sys.stdin)['wall'])")
  printf '%-48s %9s %9.2f %12.4f\n' "optuna + same code in-process, $p job(s)" "$n" "$pw" "$pb"
  echo "    its optimize() alone: $(printf %.2f "$po") s; tune is $(echo "$pw / $tw" | bc -l | xargs printf %.2f)x as fast as the whole peer, $(echo "$po / $tw" | bc -l | xargs printf %.2f)x its optimize() alone"
done
