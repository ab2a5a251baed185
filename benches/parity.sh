#!/usr/bin/env bash
# Issue 32's parity bench: the same architectures trained by tune's built-in trainer and by PyTorch
# (benches/peers/torch_parity.py) with the same parameters, split, budget, data stream and
# checkpoint cadence, in one run on one machine: depth 3, width 64, GELU, dropout 0.1, Adam, a
# cosine schedule with 10 % warm-up, batch sizes 16 to 256 at four learning rates (a grid of 20
# trials), on the wine data (regression, MSE) and on digits (classification, cross-entropy), each
# grid run SEEDS times (the study's seed; PyTorch's seed likewise): one trial's best validation
# loss moves by tens of per cent with its initialisation, so each grid point's is the mean over the
# seeds. Per study: the median over grid points of tune's mean best validation loss against
# PyTorch's (relative: negative is better for tune), and per batch size the training throughput
# (examples / trial seconds, validation and checkpoints included; tune at parallel 1, PyTorch on
# one thread; medians).
# Usage: benches/parity.sh            SEEDS="1 2 3 4 5" TUNE=path/to/tune benches/parity.sh
set -eu
cd "$(dirname "$0")/.."
tune=${TUNE:-./target/release/tune}
[ -n "${TUNE:-}" ] || cargo build --release -q
py=$(benches/peers/venv.sh torch numpy)
[ -n "$py" ] || { echo "no Python with torch: cannot run the peer"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
data=$PWD/studies/data
seeds=${SEEDS:-1 2 3 4 5}
echo "tune: $("$tune" --version); $(nproc) cores; $(date -u '+%Y-%m-%d %H:%M UTC'); torch $("$py" -c 'import torch; print(torch.__version__)')"

# study NAME CSV TARGET TASK STOP_POINT
study() {
  cat > "$tmp/$1.json" <<JSON
{
  "name": "$1",
  "seed": SEED,
  "data": { "path": "$data/$2", "target": "$3", "task": "$4", "validation_fraction": 0.2 },
  "model": { "hidden": [64], "depth": 3, "activation": "gelu", "dropout": 0.1, "optimizer": "adam",
             "schedule": "cosine", "warmup": 0.1 },
  "budget": { "stop_point": $5, "virtual_epochs": 5 },
  "search": {
    "method": "grid",
    "space": {
      "batch_size": [16, 32, 64, 128, 256],
      "learning_rate": [0.0003, 0.001, 0.003, 0.01]
    }
  }
}
JSON
  for seed in $seeds; do
    sed "s/SEED/$seed/" "$tmp/$1.json" > "$tmp/$1-$seed.json"
    sed -i "s/\"name\": \"$1\"/\"name\": \"$1-$seed\"/" "$tmp/$1-$seed.json"
    "$tune" -q --parallel 1 --out "$tmp/runs/$1-$seed" "$tmp/$1-$seed.json" > /dev/null
    "$py" benches/peers/torch_parity.py --spec "$tmp/$1-$seed.json" --study "$tmp/runs/$1-$seed" \
      --data "$data/$2" --seed "$seed" > "$tmp/$1-$seed.torch.jsonl"
  done
  "$py" - "$tmp" "$1" $seeds <<'PY'
import csv, json, statistics, sys
from collections import defaultdict
tmp, name, seeds = sys.argv[1], sys.argv[2], sys.argv[3:]
tune, torch = defaultdict(list), defaultdict(list)
speed_tune, speed_torch = defaultdict(list), defaultdict(list)
for s in seeds:
    for r in csv.DictReader(open(f"{tmp}/runs/{name}-{s}/leaderboard.csv")):
        key = (int(r["batch_size"]), float(r["learning_rate"]))
        tune[key].append(float(r["best_val_loss"]))
        speed_tune[key[0]].append(int(r["examples_seen"]) / float(r["seconds"]))
    for p in map(json.loads, open(f"{tmp}/{name}-{s}.torch.jsonl")):
        key = (p["batch_size"], p["learning_rate"])
        torch[key].append(p["best_val_loss"])
        speed_torch[key[0]].append(p["examples"] / p["seconds"])
rel = {k: statistics.mean(tune[k]) / statistics.mean(torch[k]) - 1 for k in tune}
med = statistics.median(rel.values())
print(f"== {name}: {len(tune)} grid points x {len(seeds)} seeds")
print(f"   best validation loss (mean over seeds), tune against PyTorch: median {med:+.2%} over grid points "
      f"({min(rel.values()):+.1%} to {max(rel.values()):+.1%}); within 2 %: {'yes' if med <= 0.02 else 'NO'}")
for k in sorted(rel):
    print(f"     batch {k[0]:>3} lr {k[1]:<7} tune {statistics.mean(tune[k]):.4f} torch {statistics.mean(torch[k]):.4f} {rel[k]:+.1%}")
print(f"   {'batch':>6} {'tune ex/s':>12} {'torch ex/s':>12} {'ratio':>7}")
for bs in sorted(speed_tune):
    a, b = statistics.median(speed_tune[bs]), statistics.median(speed_torch[bs])
    print(f"   {bs:>6} {a:>12.0f} {b:>12.0f} {a / b:>6.2f}x{'' if a >= b else '  (slower)'}")
PY
}

study wine-parity winequality-red.csv quality regression 20
study digits-parity digits.csv digit classification 10
