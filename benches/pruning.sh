#!/usr/bin/env bash
# Pruning across trials (issue 17): on the wine study (regression, val_loss) and a digits study
# (classification, accuracy), the same random trials (random trials depend on their number only)
# with the full budget, the median rule, ASHA stop and ASHA promote (eta 3, first rung at virtual
# epoch 1, so rungs at 1, 3, 9), at parallel 1 and 2; then Optuna + PyTorch training tune's trials
# on tune's split with no pruner, MedianPruner, SuccessiveHalvingPruner and HyperbandPruner,
# reporting at every virtual epoch (step = virtual epoch index; benches/peers/optuna_pruners.py).
# Per run: trials complete/pruned, examples trained (tune: the sum of leaderboard.csv's
# examples_seen), wall time (tune: its `this run:` line; Optuna: study.optimize), the best
# validation metric (the study's answer: the best trial among those that reached the full budget,
# which tune ranks first), the examples as a fraction of the full budget, and the best's gap to the
# full-budget best of the same trainer (positive: worse). Optuna's wall time is study.optimize's
# alone (no interpreter start-up, imports or data loading); tune's includes its whole run. Then a
# check that pruning never changes a trained epoch (each pruned run's (trial, virtual epoch) rows,
# promoted trials included, equal the full-budget run's), and the issue's goals, yes or no.
# Hyperband (issue 31): ASHA's brackets (eta 3, promote), the same trials; SEED picks the study's seed
# (the random trials and Hyperband's brackets); SEEDS="42 1 2" runs the whole bench once per seed,
# then prints ASHA promote's and Hyperband's examples and gaps for every seed, as a table, and what
# the best successive-halving rule chosen knowing the seeds' full-budget curves reaches at 40 % of
# the examples (benches/pruning_bound.py: an upper bound for any rule chosen beforehand).
# Usage: benches/pruning.sh
#        TUNE=path/to/tune TRIALS=27 PARALLEL="1 2" OPTUNA=1 SEED=42 benches/pruning.sh
#        (OPTUNA=0 skips the peer; PARALLEL="1": parallel 1 only; parallel 1 always runs;
#        VIRTUAL_EPOCHS=27: both studies at 27 virtual epochs instead of 10 and 9)
#        SEEDS="42 1 2 3 4" OPTUNA=0 PARALLEL=1 benches/pruning.sh
set -eu
cd "$(dirname "$0")/.."
tune=${TUNE:-./target/release/tune}
[ -n "${TUNE:-}" ] || cargo build --release -q
trials=${TRIALS:-27}
parallels=${PARALLEL:-1 2}
case " $parallels " in *" 1 "*) ;; *) parallels="1 $parallels" ;; esac   # the goals and checks use parallel 1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
py=""
[ "${OPTUNA:-1}" = 0 ] || py=$(benches/peers/venv.sh optuna torch numpy)
data=$PWD/studies/data

median='{"kind": "median", "warmup_virtual_epochs": 2, "min_trials": 5}'
asha() { echo "{\"kind\": \"asha\", \"reduction_factor\": 3, \"min_virtual_epochs\": 1, \"mode\": \"$1\"}"; }
hyperband='{"kind": "hyperband", "reduction_factor": 3, "min_virtual_epochs": 1, "mode": "promote"}'
seeds=${SEEDS:-${SEED:-42}}
summary=()

# spec NAME CSV TARGET TASK HIDDEN STOP_POINT VIRTUAL_EPOCHS METRIC [SCHEDULER]
spec() {
  local sched=""
  [ -z "${9:-}" ] || sched=",
  \"scheduler\": $9"
  cat > "$tmp/$1.json" <<EOF
{
  "name": "$1",
  "seed": $seed,
  "data": { "path": "$data/$2", "target": "$3", "task": "$4", "validation_fraction": 0.2 },
  "model": { "hidden": $5, "optimizer": "adam" },
  "budget": { "stop_point": $6, "virtual_epochs": $7 },
  "search": {
    "method": "random",
    "trials": $trials,
    "space": {
      "batch_size": [16, 32, 64, 128, 256],
      "learning_rate": { "low": 1e-4, "high": 1e-1, "log": true }
    }
  },
  "metric": "$8"$sched
}
EOF
}

hr() { printf '%s\n' "------------------------------------------------------------------------------------------------"; }
row() { printf '%-34s %9s %10s %7s %8s %9s %8s\n' "$@"; }
# ratio EXAMPLES REF_EXAMPLES -> fraction; gap BEST REF GOAL -> signed percent, positive = worse
frac() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
gap() { awk -v a="$1" -v r="$2" -v g="$3" 'BEGIN { d = (g == "max") ? (r - a) / r : (a - r) / r; printf "%+.2f%%", 100 * d }'; }

declare -A EX WALL BEST CP
# tune_run STUDY VARIANT PARALLEL METRIC GOAL
tune_run() {
  local s=$1 v=$2 p=$3 metric=$4 goal=$5 out dir w
  dir="$tmp/runs/$s-$v-p$p"
  out=$("$tune" -q --parallel "$p" --out "$dir" "$tmp/$s-$v.json")
  w=$(echo "$out" | sed -n 's/^this run: \([0-9.]*\) s wall.*/\1/p')
  read -r ex best cp < <(awk -F, -v col="best_$metric" '
    NR == 1 { for (i = 1; i <= NF; i++) { if ($i == col) c = i; if ($i == "examples_seen") e = i; if ($i == "status") st = i } next }
    { ex += $e; n[$st]++ }
    NR == 2 { best = $c }
    END { printf "%d %s %d/%d\n", ex, best, n["complete"], n["pruned"] }' "$dir/leaderboard.csv")
  EX[$s-$v-p$p]=$ex; WALL[$s-$v-p$p]=$w; BEST[$s-$v-p$p]=$best; CP[$s-$v-p$p]=$cp
}

field() { "$py" -c "import json,sys; d=json.load(sys.stdin); print(d['$1'])"; }

# study NAME CSV TARGET TASK HIDDEN_JSON HIDDEN_CSV STOP_POINT VIRTUAL_EPOCHS METRIC GOAL
study() {
  local s=$1 csv=$2 target=$3 task=$4 hjson=$5 hcsv=$6 sp=$7 ve=$8 metric=$9 goal=${10}
  spec "$s-full" "$csv" "$target" "$task" "$hjson" "$sp" "$ve" "$metric"
  spec "$s-median" "$csv" "$target" "$task" "$hjson" "$sp" "$ve" "$metric" "$median"
  spec "$s-asha-stop" "$csv" "$target" "$task" "$hjson" "$sp" "$ve" "$metric" "$(asha stop)"
  spec "$s-asha-promote" "$csv" "$target" "$task" "$hjson" "$sp" "$ve" "$metric" "$(asha promote)"
  spec "$s-hyperband" "$csv" "$target" "$task" "$hjson" "$sp" "$ve" "$metric" "$hyperband"
  echo
  echo "== $s: $csv, $task, metric $metric ($goal), MLP $hjson, stop_point $sp, $ve virtual epochs, $trials random trials"
  hr
  row "run" "cplt/prn" "examples" "of full" "wall s" "best" "gap"
  hr
  local p v k
  for p in $parallels; do
    for v in full median asha-stop asha-promote hyperband; do
      tune_run "$s" "$v" "$p" "$metric" "$goal"
      k=$s-$v-p$p
      row "tune $v, parallel $p" "${CP[$k]}" "${EX[$k]}" "$(frac "${EX[$k]}" "${EX[$s-full-p$p]}")" "${WALL[$k]}" \
        "$(printf %.4f "${BEST[$k]}")" "$(gap "${BEST[$k]}" "${BEST[$s-full-p$p]}" "$goal")"
    done
  done
  if [ -n "$py" ]; then
    local split="$tmp/runs/$s-full-p1/split.json" params="$tmp/runs/$s-full-p1/leaderboard.csv" r
    for v in none median sha hyperband; do
      r=$("$py" benches/peers/optuna_pruners.py --data "$data/$csv" --split "$split" --target "$target" \
        --task "$task" --metric "$metric" --pruner "$v" --stop-point "$sp" --virtual-epochs "$ve" \
        --hidden "$hcsv" --params "$params")
      k=$s-optuna-$v
      EX[$k]=$(echo "$r" | field examples); WALL[$k]=$(echo "$r" | field wall); BEST[$k]=$(echo "$r" | field best)
      CP[$k]="$(echo "$r" | field complete)/$(echo "$r" | field pruned)"
      row "optuna+torch $v, 1 job" "${CP[$k]}" "${EX[$k]}" "$(frac "${EX[$k]}" "${EX[$s-optuna-none]}")" \
        "$(printf %.2f "${WALL[$k]}")" "$(printf %.4f "${BEST[$k]}")" "$(gap "${BEST[$k]}" "${BEST[$s-optuna-none]}" "$goal")"
    done
  fi
  hr
  if [ -n "$py" ]; then
    # pruning changes which epochs are trained, never their numbers: every (trial, virtual epoch)
    # row of a pruned run (promoted trials resumed from their rung checkpoint included) must equal
    # the full-budget run's
    local runs=()
    for p in $parallels; do for v in median asha-stop asha-promote hyperband; do runs+=("$tmp/runs/$s-$v-p$p"); done; done
    "$py" - "$tmp/runs/$s-full-p1" "${runs[@]}" <<'PY'
import json, os, sys
def rows(d):
    out = {}
    for line in open(os.path.join(d, "journal.jsonl")):
        e = json.loads(line)
        if e["event"] == "epoch_done":
            out[(e["trial"], e["row"]["virtual_epoch"])] = e["row"]
    return out
full = rows(sys.argv[1])
parts = []
for d in sys.argv[2:]:
    r = rows(d)
    same = sum(full.get(k) == v for k, v in r.items())
    parts.append(f"{os.path.basename(d).split('-', 1)[1]} {same}/{len(r)}")
print("  epoch rows bit-identical to the full budget's: " + ", ".join(parts))
PY
  fi
  echo "goals ($s, parallel 1):"
  for v in asha-stop asha-promote hyperband; do
    k=$s-$v-p1
    local fr g within third
    fr=$(frac "${EX[$k]}" "${EX[$s-full-p1]}")
    g=$(gap "${BEST[$k]}" "${BEST[$s-full-p1]}" "$goal")
    within=$(awk -v a="${BEST[$k]}" -v r="${BEST[$s-full-p1]}" -v g="$goal" 'BEGIN { d = (g == "max") ? (r - a) / r : (a - r) / r; print (d <= 0.01) ? "yes" : "NO" }')
    third=$(awk -v a="${EX[$k]}" -v b="${EX[$s-full-p1]}" 'BEGIN { print (3 * a <= b) ? "yes" : "NO" }')
    forty=$(awk -v a="${EX[$k]}" -v b="${EX[$s-full-p1]}" 'BEGIN { print (a <= 0.4 * b) ? "yes" : "NO" }')
    echo "  tune $v: best within 1% of the full budget's: $within ($g); at most a third of the examples: $third, at most 40 %: $forty ($fr)"
    summary+=("$s $seed $v $fr $g $within $forty")
    if [ -n "$py" ]; then
      local o e w b
      for o in median sha hyperband; do
        e=$(awk -v a="${EX[$k]}" -v b="${EX[$s-optuna-$o]}" 'BEGIN { print (a < b) ? "yes" : "NO" }')
        w=$(awk -v a="${WALL[$k]}" -v b="${WALL[$s-optuna-$o]}" 'BEGIN { print (a < b) ? "yes" : "NO" }')
        b=$(awk -v a="${BEST[$k]}" -v b="${BEST[$s-optuna-$o]}" -v g="$goal" 'BEGIN { print ((g == "max" && a >= b) || (g == "min" && a <= b)) ? "yes" : "NO" }')
        echo "    vs optuna $o: fewer examples $e (${EX[$k]} vs ${EX[$s-optuna-$o]}), less wall time $w (${WALL[$k]} vs $(printf %.2f "${WALL[$s-optuna-$o]}") s), equal or better best $b ($(printf %.4f "${BEST[$k]}") vs $(printf %.4f "${BEST[$s-optuna-$o]}"))"
      done
    fi
  done
}

echo "tune: $("$tune" --version); $(nproc) cores; $(date -u '+%Y-%m-%d %H:%M UTC')"
[ -z "$py" ] || echo "peer: $("$py" -c 'import optuna, torch; print(f"optuna {optuna.__version__}, torch {torch.__version__}, 1 torch thread")')"
t0=$(date +%s)
for seed in $seeds; do
  rm -rf "$tmp/runs"
  echo "schedulers: median $median; asha $(asha 'stop|promote'); hyperband $hyperband; seed $seed"
  study wine winequality-red.csv quality regression "[64, 64]" 64,64 50 "${VIRTUAL_EPOCHS:-10}" val_loss min
  study digits digits.csv digit classification "[128]" 128 20 "${VIRTUAL_EPOCHS:-9}" accuracy max
  # the full-budget curves, for the bound below
  for s in wine digits; do
    for c in "$tmp/runs/$s-full-p1"/trials/*/curve.csv; do
      t=$(basename "$(dirname "$c")"); mkdir -p "$tmp/full/$s-$seed/trials/$t"; cp "$c" "$tmp/full/$s-$seed/trials/$t/"
    done
  done
  echo
done
if [ "$(echo $seeds | wc -w)" -gt 1 ]; then
  # Every seed's parallel-1 runs: examples as a share of the full budget's, gap to its best.
  echo "| study | seed | ASHA examples | ASHA gap | Hyperband examples | Hyperband gap |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${summary[@]}" | awk '
    function cell(f, g) { return sprintf("%d %% | %s", int(100 * f + 0.5), g) }
    $3 == "asha-promote" { a[$1 " " $2] = cell($4, $5) }
    $3 == "hyperband" { h[$1 " " $2] = cell($4, $5); seeds[$1] = seeds[$1] " " $2
      goal[$1] += ($6 == "yes" && $7 == "yes"); runs[$1]++ }
    END {
      split("wine digits", studies, " ")
      for (i = 1; i <= 2; i++) {
        s = studies[i]; m = split(seeds[s], k, " ")
        for (j = 1; j <= m; j++) printf "| %s | %s | %s | %s |\n", s, k[j], a[s " " k[j]], h[s " " k[j]]
      }
      for (i = 1; i <= 2; i++) { s = studies[i]
        printf "hyperband, %s: within 1 %% with at most 40 %% of the examples in %d of %d seeds\n", s, goal[s], runs[s] }
    }' | sed 's/\([0-9]\)%/\1 %/g'
fi
if [ "$(echo $seeds | wc -w)" -gt 1 ]; then
  # What any successive-halving rule could reach on these seeds, chosen knowing their results.
  echo "wine:"; python3 benches/pruning_bound.py --metric val_loss --goal min --show 3 "$tmp"/full/wine-*
  echo "digits:"; python3 benches/pruning_bound.py --metric accuracy --goal max --show 3 --ranks 0 "$tmp"/full/digits-*
fi
echo "whole bench: $(( $(date +%s) - t0 )) s"
