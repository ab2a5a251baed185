#!/usr/bin/env bash
# Several objectives (issue 33). 1) Samplers on two problems, one trial at a time, 40 trials,
# hypervolume after 20 and 40 trials against a fixed reference point per problem, median over
# SEEDS seeds, and the median time per suggestion (tune: the leaderboard's suggest_ms; Optuna:
# study.ask() plus the trial's suggest_* calls): tune's bayes (a GP per objective, warped, and the
# expected hypervolume improvement), tpe
# and random against Optuna's GPSampler (logEHVI), TPESampler (MOTPE), NSGAIISampler (default
# population 50, and 10) and RandomSampler.
#   A: studies/programs/two_objectives.py (ZDT1 in x1..x3, obj1/obj2) as tune's command trainer;
#      Optuna evaluates the same closed form in-process, as tune selects it (4/3 at the last of 3
#      boundaries).
#   B: wine, val_loss and parameters, over a grid of 819 configurations (13 widths 2..128, depth
#      1..3, 7 learning rates 1e-3..1e-1, batch 16/32/64) that tune's grid study trained once
#      (benches/objectives/results/table.jsonl, rebuilt with TABLE=1); tune's samplers run
#      benches/objectives/lookup.py, a command trainer that reads the table, Optuna reads the same
#      table.
# 2) Two-objective ASHA (eta 3, rungs at 1, 3, 9 (, 27) virtual epochs, promote) against the same
#    27 random trials without pruning, at 9 and at 27 virtual epochs, on the built-in MLP (wine,
#    val_loss and parameters), ASHA_SEEDS seeds: examples trained and the hypervolume of the
#    completed trials' front, ASHA over full.
# Scoring (both sides): benches/objectives/hv.py. Raw results: benches/objectives/results/*.jsonl;
# the summary (Markdown) goes to stdout and results/summary.md.
# Usage: benches/objectives.sh   (SEEDS=100 ASHA_SEEDS=10 TUNE=path/to/tune OPTUNA=0 to skip the peer;
# at 100 seeds Optuna's GP takes about 25 minutes a problem on 2 cores, beside the rest)
set -eu
cd "$(dirname "$0")/.."
tune=${TUNE:-./target/release/tune}
[ -n "${TUNE:-}" ] || nice cargo build --release -q
seeds=${SEEDS:-100}
last=$((seeds - 1))
res=benches/objectives/results
mkdir -p "$res"
bench="python3 benches/objectives/bench.py"
py=""
[ "${OPTUNA:-1}" = 0 ] || py=$(benches/peers/venv.sh optuna torch scipy)
start=$(date +%s)
if [ "${TABLE:-0}" = 1 ] || [ ! -s "$res/table.jsonl" ]; then
  $bench table "$tune" "$res/table.jsonl"
fi
rm -f "$res/samplers.jsonl" "$res"/optuna_gp_*.jsonl "$res/asha.jsonl"
# Optuna's GP (one to two seconds per suggestion here) runs beside tune's runs, one process per
# problem (one thread each), into its own files.
gp_pids=""
if [ -n "$py" ]; then
  for p in a b; do
    OMP_NUM_THREADS=1 nice "$py" benches/peers/optuna_mo.py $p gp 0-$last "$res/table.jsonl" "$res/optuna_gp_$p.jsonl" &
    gp_pids="$gp_pids $!"
  done
fi
for p in a b; do
  for m in bayes tpe random; do
    for s in $(seq 0 $last); do
      $bench sampler "$tune" $p $m $s "$res/table.jsonl" "$res/samplers.jsonl"
    done
  done
  if [ -n "$py" ]; then
    for m in tpe nsga2 nsga2-pop10 random; do
      "$py" benches/peers/optuna_mo.py $p $m 0-$last "$res/table.jsonl" "$res/samplers.jsonl"
    done
  fi
done
for ve in 9 27; do
  for s in $(seq 1 "${ASHA_SEEDS:-10}"); do
    $bench asha "$tune" $s $ve "$res/asha.jsonl"
  done
done
for pid in $gp_pids; do wait "$pid"; done
for p in a b; do
  if [ -f "$res/optuna_gp_$p.jsonl" ]; then
    cat "$res/optuna_gp_$p.jsonl" >> "$res/samplers.jsonl"
    rm "$res/optuna_gp_$p.jsonl"
  fi
done
{
  echo "benches/objectives.sh: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(( $(date +%s) - start )) s"
  $bench summary "$res/samplers.jsonl" "$res/asha.jsonl" "$res/table.jsonl"
} | tee "$res/summary.md"
