#!/usr/bin/env bash
# The wine study in tune and in Optuna + PyTorch (benches/peers/optuna_torch.py), same machine, same
# run, same split, budget, checkpoint cadence and selection: wall time, training examples per second,
# best validation MSE, and the ratios. Also tune's orchestration overhead and its parallel speed-up.
# Optuna runs twice per job count: drawing its own random trials (the user's alternative), and
# training exactly tune's trials (enqueued), which compares the trainers on equal parameters.
# Usage: benches/study_vs_optuna.sh [SPEC]   (default studies/wine.json)
#        TUNE=path/to/another/tune benches/study_vs_optuna.sh   (another build, e.g. to compare two)
set -eu
cd "$(dirname "$0")/.."
spec=${1:-studies/wine.json}
tune=${TUNE:-./target/release/tune}
[ -n "${TUNE:-}" ] || cargo build --release -q
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
row() { printf '%-34s %10s %14s %12s\n' "$@"; }
row "run" "wall s" "examples/s" "best val"
declare -A wall best
for p in 1 2; do
  out=$("$tune" -q --parallel "$p" --out "$tmp/tune$p" "$spec")
  w=$(echo "$out" | sed -n 's/^this run: \([0-9.]*\) s wall.*/\1/p')
  over=$(echo "$out" | sed -n "s/^overhead: //p")
  ex=$(awk -F, 'NR>1 {s+=$7} END {print s}' "$tmp/tune$p/leaderboard.csv")
  b=$(awk -F, 'NR==2 {print $9}' "$tmp/tune$p/leaderboard.csv")
  wall[tune$p]=$w; best[tune$p]=$b
  row "tune random, parallel $p" "$w" "$(echo "$ex / $w" | bc)" "$(printf %.4f "$b")"
  echo "    orchestration overhead: $over"
done
echo "    parallel speed-up (1 -> 2): $(echo "${wall[tune1]} / ${wall[tune2]}" | bc -l | xargs printf %.2f)x"
py=$(benches/peers/venv.sh optuna torch numpy)
if [ -z "$py" ]; then exit 0; fi
data=$(sed -n 's/.*"data":"\([^"]*\)".*/\1/p' "$tmp/tune1/split.json")
field() { "$py" -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
for j in 1 2; do
  for mode in own same; do
    extra=(); label="optuna+torch random, $j job(s)"
    if [ "$mode" = same ]; then extra=(--params "$tmp/tune$j/leaderboard.csv"); label="optuna+torch, tune's trials, $j job(s)"; fi
    r=$("$py" benches/peers/optuna_torch.py --data "$data" --split "$tmp/tune1/split.json" --jobs "$j" "${extra[@]}")
    w=$(echo "$r" | field wall)
    ex=$(echo "$r" | field examples)
    b=$(echo "$r" | field best_val_loss)
    row "$label" "$(printf %.2f "$w")" "$(echo "$ex / $w" | bc)" "$(printf %.4f "$b")"
    echo "    tune is $(echo "$w / ${wall[tune$j]}" | bc -l | xargs printf %.1f)x faster (same number of jobs); best val: tune $(printf %.4f "${best[tune$j]}") vs $(printf %.4f "$b")"
    if [ "$mode" = same ]; then
      echo "$r" | "$py" -c '
import csv, json, sys
peer = json.load(sys.stdin)["trials"]
ours = sorted(csv.DictReader(open(sys.argv[1])), key=lambda r: int(r["trial"]))
pairs = [(float(a["best_val_loss"]), b["best_val_loss"]) for a, b in zip(ours, peer)]
wins = sum(a <= b for a, b in pairs)
ratios = sorted(a / b for a, b in pairs)
print(f"    trial by trial on the same parameters: tune at or below torch in {wins} of {len(pairs)}, median ratio tune/torch {ratios[len(ratios) // 2]:.3f}")
' "$tmp/tune$j/leaderboard.csv"
    fi
  done
done
