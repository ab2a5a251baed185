#!/usr/bin/env bash
# The study's own speed with tracking on against off (issue 35: within 5 %): the same study run
# without tracking, with MLflow logging to a local `mlflow server` (SQLite), and with TensorBoard's
# files, interleaved round by round (this machine's speed drifts over minutes). Prints each arm's
# median of the study's wall time (its "this run: X s wall" line, training to the last record)
# and of the process's (which adds the wait at the end for the server to take what is queued),
# and the ratios to the arm without tracking. Needs target/track-venv (made as .ci/run makes it).
#
#   benches/tracking.sh [SPEC] [ROUNDS] [VIRTUAL_EPOCHS]
#   (defaults: studies/wine.json, 5 rounds, 50 virtual epochs: 1,000 boundaries logged a study)
set -euo pipefail
cd "$(dirname "$0")/.."
spec=$(realpath "${1:-studies/wine.json}")
rounds=${2:-5}
epochs=${3:-50}
py=target/track-venv/bin/python
"$py" -c "import mlflow" 2>/dev/null || { echo "no target/track-venv with mlflow: make it as .ci/run does"; exit 1; }
cargo build --release -q
tune=$(realpath target/release/tune)
work=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
setsid "$py" -m mlflow server --host 127.0.0.1 --port "$port" --workers 1 \
  --backend-store-uri "sqlite:///$work/mlflow.db" --artifacts-destination "$work/artifacts" \
  >"$work/mlflow.log" 2>&1 &
server=$!
trap 'kill -TERM -- -$server 2>/dev/null || true; rm -rf "$work"' EXIT
until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do sleep 0.5; done
# The spec with more boundaries, its data named from here; a copy asking for TensorBoard's files.
python3 - "$spec" "$work" "$epochs" <<'PY'
import json, os, sys
spec, work, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = json.load(open(spec))
s["data"]["path"] = os.path.join(os.path.dirname(spec), s["data"]["path"])
s["budget"]["virtual_epochs"] = epochs
json.dump(s, open(os.path.join(work, "off.json"), "w"))
s["tracking"] = {"tensorboard": True}
json.dump(s, open(os.path.join(work, "tensorboard.json"), "w"))
PY
for r in $(seq 1 "$rounds"); do
  for arm in off mlflow tensorboard; do
    file=$work/off.json; extra=()
    [ $arm = tensorboard ] && file=$work/tensorboard.json
    [ $arm = mlflow ] && extra=(--mlflow "http://127.0.0.1:$port")
    rm -rf "$work/$arm"
    t0=$(date +%s%N)
    out=$("$tune" -q "${extra[@]}" --out "$work/$arm" "$file" 2>"$work/$arm.err")
    echo $((($(date +%s%N) - t0) / 1000)) >>"$work/$arm.process"
    echo "$out" | grep -Eo '^this run: [0-9.]+' | grep -Eo '[0-9.]+$' >>"$work/$arm.study"
    if grep -q "MLflow\|TensorBoard" "$work/$arm.err"; then echo "round $r, $arm: $(cat "$work/$arm.err")"; fi
  done
done
median() { sort -g "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
s0=$(median "$work/off.study"); p0=$(awk -v x="$(median "$work/off.process")" 'BEGIN { print x / 1e6 }')
echo "$(basename "$spec") at $epochs virtual epochs, $rounds rounds interleaved; medians in seconds:"
echo "  no tracking:  study $s0, process $p0"
for arm in mlflow tensorboard; do
  s=$(median "$work/$arm.study"); p=$(awk -v x="$(median "$work/$arm.process")" 'BEGIN { print x / 1e6 }')
  echo "  $arm: study $s ($(awk -v a="$s" -v b="$s0" 'BEGIN { printf "%.3f", a / b }') of no tracking), process $p ($(awk -v a="$p" -v b="$p0" 'BEGIN { printf "%.3f", a / b }'))"
done
echo "  points MLflow holds for the last round: $(sqlite3 "$work/mlflow.db" 'select count(*) from metrics' 2>/dev/null || echo '(no sqlite3)')"
