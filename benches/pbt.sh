#!/usr/bin/env bash
# Population-based training (issue 34) against random search and ASHA where a schedule matters: the
# wine study (regression, val_loss) with a constant learning rate (no schedule to search), 10
# virtual epochs over 50 passes. PBT: a population of 8, exploiting at every virtual epoch (quantile
# 0.25, resample 0.25, perturb 0.8/1.2); random search: the same 8 first trials with the full
# budget (the same total examples); ASHA promote (eta 3, rungs at 1, 3, 9) with 36 trials, about the
# same total examples. Per seed (SEEDS): each method's best validation loss (the leaderboard's
# first) and the examples it trained (the sum of leaderboard.csv's examples_seen); then the medians
# over the seeds and the issue's goal: PBT's median best at least as good as random's and ASHA's.
# With RAY=1 (the default), also Ray Tune's PopulationBasedTraining (benches/peers/ray_pbt.py, a
# venv in target/ray-venv with ray[tune] and torch from PyPI, made on the first run): the same
# population, interval (a training iteration is a virtual epoch), quantile, resample probability and
# factors, on the PyTorch twin of tune's model with tune's split of each seed, 2 trials at a time;
# its best validation loss over all members and iterations and the examples it trained, and the
# goal: PBT's median best not worse than Ray's. "rayrand" is the same Ray trials without PBT
# (random search of 8, the full budget), the PyTorch twin's counterpart of "random". RAY=0, or a venv that cannot be made, skips it with
# a line that says so.
# Usage: benches/pbt.sh
#        TUNE=path/to/tune SEEDS="1 2 3 4 5" PARALLEL=2 RAY=0 benches/pbt.sh
set -eu
cd "$(dirname "$0")/.."
tune=${TUNE:-./target/release/tune}
[ -n "${TUNE:-}" ] || cargo build --release -q
seeds=${SEEDS:-1 2 3 4 5}
parallel=${PARALLEL:-2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
data=$PWD/studies/data
methods="pbt random asha"
ray=""
if [ "${RAY:-1}" = 1 ]; then
  ray=$(VENV=target/ray-venv benches/peers/venv.sh 'ray[tune]:ray.tune' torch numpy)
  [ -n "$ray" ] && methods="$methods ray rayrand" || echo "Ray Tune not compared: no venv with ray[tune] and torch (see above)"
else
  echo "Ray Tune not compared: RAY=${RAY}"
fi

# spec NAME SEED TRIALS [SCHEDULER]
spec() {
  local sched=""
  [ -z "${4:-}" ] || sched=",
  \"scheduler\": $4"
  cat > "$tmp/$1.json" <<EOF
{
  "name": "$1",
  "seed": $2,
  "data": { "path": "$data/winequality-red.csv", "target": "quality", "task": "regression", "validation_fraction": 0.2 },
  "model": { "hidden": [64, 64], "optimizer": "adam", "schedule": "constant" },
  "budget": { "stop_point": 50, "virtual_epochs": 10 },
  "search": {
    "method": "random",
    "trials": $3,
    "space": {
      "batch_size": [16, 32, 64, 128, 256],
      "learning_rate": { "low": 1e-4, "high": 1e-1, "log": true }
    }
  }$sched
}
EOF
}

pbt='{"kind": "pbt", "interval_virtual_epochs": 1, "quantile": 0.25, "resample_probability": 0.25, "perturb": [0.8, 1.2]}'
asha='{"kind": "asha", "reduction_factor": 3, "min_virtual_epochs": 1, "mode": "promote"}'

# result NAME -> "best examples" from its leaderboard
result() {
  "$tune" -q --parallel "$parallel" --out "$tmp/runs/$1" "$tmp/$1.json" > /dev/null
  awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) { if ($i == "best_val_loss") b = i; if ($i == "examples_seen") e = i } next }
    NR == 2 { best = $b } { ex += $e } END { printf "%s %d\n", best, ex }' "$tmp/runs/$1/leaderboard.csv"
}

# ray_result SEED pbt|fifo -> "best examples" of Ray Tune on the split tune made for pbt-SEED
ray_result() {
  local log=$tmp/ray-$2-$1.log
  # Once: the peer's exploit carries the state (outside Ray), or the peer is not compared.
  if [ ! -e "$tmp/copy.json" ] && ! nice "$ray" benches/peers/ray_pbt.py --check-copy --data "$data/winequality-red.csv" \
    --split "$tmp/runs/pbt-$1/split.json" > "$tmp/copy.json" 2> "$log"; then
    echo "Ray peer's state copy check failed; the end of its log:" >&2
    tail -n 20 "$log" >&2
    echo "failed 0"
    return
  fi
  if nice "$ray" benches/peers/ray_pbt.py --data "$data/winequality-red.csv" --split "$tmp/runs/pbt-$1/split.json" \
    --seed "$1" --cpus "$parallel" --scheduler "$2" > "$tmp/ray-$2-$1.json" 2> "$log"; then
    "$ray" -c 'import json, sys; r = json.load(open(sys.argv[1])); print(r["best_val_loss"], r["examples"])' "$tmp/ray-$2-$1.json"
  else
    echo "Ray Tune ($2) failed on seed $1; the end of its log:" >&2
    tail -n 20 "$log" >&2
    echo "failed 0"
  fi
}

printf '%-6s %-8s %12s %12s\n' seed method best_val_loss examples
declare -A ALL
for s in $seeds; do
  spec "pbt-$s" "$s" 8 "$pbt"
  spec "random-$s" "$s" 8
  spec "asha-$s" "$s" 36 "$asha"
  for m in $methods; do
    case $m in
      ray) read -r best ex < <(ray_result "$s" pbt) ;;
      rayrand) read -r best ex < <(ray_result "$s" fifo) ;;
      *) read -r best ex < <(result "$m-$s") ;;
    esac
    [ "$best" != failed ] || { methods=${methods% ray rayrand}; echo "Ray Tune not compared: it failed on seed $s"; break; }
    printf '%-6s %-8s %12s %12s\n' "$s" "$m" "$best" "$ex"
    ALL[$m]="${ALL[$m]:-} $best"
  done
done
median() { echo "$1" | tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
echo
for m in $methods; do printf 'median best %-7s %s\n' "$m" "$(median "${ALL[$m]}")"; done
p=$(median "${ALL[pbt]}"); r=$(median "${ALL[random]}"); a=$(median "${ALL[asha]}")
awk -v p="$p" -v r="$r" -v a="$a" 'BEGIN { printf "goal: PBT median best <= random search'"'"'s and ASHA'"'"'s: %s\n", (p <= r && p <= a) ? "yes" : "no" }'
case " $methods " in
  *" ray "*)
    y=$(median "${ALL[ray]}")
    echo "Ray peer: an exploiting member's next step equals its source's under the new parameters (checked outside Ray)"
    awk -v p="$p" -v y="$y" 'BEGIN { printf "goal: PBT'"'"'s median best not worse than Ray'"'"'s: %s (%.4f against %.4f, %+.1f %%)\n", (p <= y) ? "yes" : "no", p, y, 100 * (p - y) / y }' ;;
  *) echo "goal: PBT's median best not worse than Ray's: not measured (Ray Tune not compared)" ;;
esac
