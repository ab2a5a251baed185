#!/usr/bin/env bash
# Issue 32's measurements of the broader built-in model, on the wine (regression, val_loss) and
# digits (classification, accuracy) studies, same trials and examples per arm, SEEDS seeds each:
# 1. the best validation metric of the new space (today's five parameters plus depth, activation,
#    dropout, the optimizer with momentum for SGD only, a schedule and warm-up) against today's
#    (batch size, learning rate, weight decay, width; Adam, whose momentum is not a parameter), TPE,
#    30 trials;
# 2. Bayesian search (the GP, 20 trials) over batch size and learning rate with lr_scaling "sqrt"
#    (the rate searched at batch size 32) against without: the regret of each seed's best against
#    the best of a dense grid (5 batch sizes x 16 learning rates) at the same seed (the seed also
#    draws the validation rows, so each seed has its own optimum).
# Trials run one at a time, so that each run is reproducible (the samplers see no running trial).
# Usage: benches/space.sh            SEEDS="1 2 3 4 5" TUNE=path/to/tune benches/space.sh
set -eu
cd "$(dirname "$0")/.."
tune=${TUNE:-./target/release/tune}
[ -n "${TUNE:-}" ] || cargo build --release -q
seeds=${SEEDS:-1 2 3 4 5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
data=$PWD/studies/data
echo "tune: $("$tune" --version); $(nproc) cores; $(date -u '+%Y-%m-%d %H:%M UTC'); seeds $seeds"

old='"batch_size": [16, 32, 64, 128, 256],
      "learning_rate": { "low": 1e-4, "high": 1e-1, "log": true },
      "weight_decay": { "low": 1e-6, "high": 1e-2, "log": true },
      "hidden_width": { "low": 16, "high": 256, "log": true }'
new="$old"',
      "depth": { "low": 1, "high": 4 },
      "activation": ["relu", "gelu", "tanh", "silu"],
      "dropout": { "low": 0.0, "high": 0.3 },
      "optimizer": ["adam", "sgd"],
      "momentum": { "low": 0.5, "high": 0.99, "when": { "optimizer": "sgd" } },
      "schedule": ["constant", "cosine"],
      "warmup": { "low": 0.0, "high": 0.2 }'
pair='"batch_size": [16, 32, 64, 128, 256],
      "learning_rate": { "low": 1e-4, "high": 1e-1, "log": true }'
dense='"batch_size": [16, 32, 64, 128, 256],
      "learning_rate": { "low": 1e-4, "high": 1e-1, "log": true, "grid_points": 16 }'

# run NAME CSV TARGET TASK STOP_POINT METRIC METHOD TRIALS SEED MODEL_EXTRA SPACE -> prints the best
run() {
  cat > "$tmp/$1.json" <<JSON
{
  "name": "$1",
  "seed": $9,
  "data": { "path": "$data/$2", "target": "$3", "task": "$4", "validation_fraction": 0.2 },
  "model": { "hidden": [64], "optimizer": "adam"${10} },
  "budget": { "stop_point": $5, "virtual_epochs": 5 },
  "search": { "method": "$7", "trials": $8, "parallel": 1, "space": { ${11} } },
  "metric": "$6"
}
JSON
  "$tune" -q --out "$tmp/runs/$1" "$tmp/$1.json" > /dev/null
  awk -F, -v col="best_$6" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next } NR == 2 { print $c }' \
    "$tmp/runs/$1/leaderboard.csv"
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

for s in "wine winequality-red.csv quality regression 20 val_loss min" \
         "digits digits.csv digit classification 10 accuracy max"; do
  set -- $s
  name=$1 csv=$2 target=$3 task=$4 sp=$5 metric=$6 goal=$7
  o="" n="" a="" b="" ra="" rb=""
  for seed in $seeds; do
    ref=$(run "$name-grid-$seed" "$csv" "$target" "$task" "$sp" "$metric" grid 80 "$seed" "" "$dense")
    o="$o $(run "$name-old-$seed" "$csv" "$target" "$task" "$sp" "$metric" tpe 30 "$seed" "" "$old")"
    n="$n $(run "$name-new-$seed" "$csv" "$target" "$task" "$sp" "$metric" tpe 30 "$seed" "" "$new")"
    a="$a $(run "$name-none-$seed" "$csv" "$target" "$task" "$sp" "$metric" bayes 20 "$seed" "" "$pair")"
    b="$b $(run "$name-sqrt-$seed" "$csv" "$target" "$task" "$sp" "$metric" bayes 20 "$seed" ', "lr_scaling": "sqrt"' "$pair")"
    # Regret against the grid's best, or against the better GP run where it beat the grid.
    best=$(echo "$ref ${a##* } ${b##* }" | tr ' ' '\n' | sort -g | if [ "$goal" = min ]; then head -1; else tail -1; fi)
    ra="$ra $(awk -v v="${a##* }" -v r="$best" 'BEGIN { d = v - r; if (d < 0) d = -d; printf "%.5f", d }')"
    rb="$rb $(awk -v v="${b##* }" -v r="$best" 'BEGIN { d = v - r; if (d < 0) d = -d; printf "%.5f", d }')"
  done
  echo "== $name ($metric, $goal)"
  echo "   five-parameter space, TPE 30 trials: median best $(echo $o | median)   per seed:$o"
  echo "   new space, TPE 30 trials:            median best $(echo $n | median)   per seed:$n"
  echo "   GP over batch size x learning rate, 20 trials (regret against each seed's 80-point grid):"
  echo "     lr_scaling none: median regret $(echo $ra | median)   per seed:$ra"
  echo "     lr_scaling sqrt: median regret $(echo $rb | median)   per seed:$rb"
done
