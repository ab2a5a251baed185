#!/usr/bin/env bash
# Issue 32's parity bench: the same architectures trained by tune's built-in trainer and by PyTorch
# (benches/peers/torch_parity.py) with the same parameters, split, budget, data stream and
# checkpoint cadence, in one run on one machine: depth 3, width 64, GELU, dropout 0.1, Adam, a
# cosine schedule with 10 % warm-up, batch sizes 16 to 256 at two learning rates (a grid of 10
# trials), on the wine data (regression, MSE) and on digits (classification, cross-entropy).
# Per study: the median over trials of tune's best validation loss against PyTorch's (relative:
# negative is better for tune), and per batch size the training throughput (examples / trial
# seconds, validation and checkpoints included; tune at parallel 1, PyTorch on one thread).
# Usage: benches/parity.sh            TUNE=path/to/tune benches/parity.sh
set -eu
cd "$(dirname "$0")/.."
tune=${TUNE:-./target/release/tune}
[ -n "${TUNE:-}" ] || cargo build --release -q
py=$(benches/peers/venv.sh torch numpy)
[ -n "$py" ] || { echo "no Python with torch: cannot run the peer"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
data=$PWD/studies/data
echo "tune: $("$tune" --version); $(nproc) cores; $(date -u '+%Y-%m-%d %H:%M UTC'); torch $("$py" -c 'import torch; print(torch.__version__)')"

# study NAME CSV TARGET TASK STOP_POINT
study() {
  cat > "$tmp/$1.json" <<JSON
{
  "name": "$1",
  "seed": 17,
  "data": { "path": "$data/$2", "target": "$3", "task": "$4", "validation_fraction": 0.2 },
  "model": { "hidden": [64], "depth": 3, "activation": "gelu", "dropout": 0.1, "optimizer": "adam",
             "schedule": "cosine", "warmup": 0.1 },
  "budget": { "stop_point": $5, "virtual_epochs": 5 },
  "search": {
    "method": "grid",
    "space": {
      "batch_size": [16, 32, 64, 128, 256],
      "learning_rate": [0.001, 0.003]
    }
  }
}
JSON
  "$tune" -q --parallel 1 --out "$tmp/runs/$1" "$tmp/$1.json" > /dev/null
  "$py" benches/peers/torch_parity.py --spec "$tmp/$1.json" --study "$tmp/runs/$1" --data "$data/$2" > "$tmp/$1.torch.jsonl"
  "$py" - "$tmp/runs/$1/leaderboard.csv" "$tmp/$1.torch.jsonl" "$1" <<'PY'
import csv, json, statistics, sys
tune = {int(r["trial"]): r for r in csv.DictReader(open(sys.argv[1]))}
torch = {t["trial"]: t for t in map(json.loads, open(sys.argv[2]))}
print(f"== {sys.argv[3]}: {len(tune)} trials")
rel = []
for t, r in sorted(tune.items()):
    a, b = float(r["best_val_loss"]), torch[t]["best_val_loss"]
    rel.append(a / b - 1)
print(f"   best validation loss, tune against PyTorch: median {statistics.median(rel):+.2%} "
      f"(per trial {min(rel):+.1%} to {max(rel):+.1%}); within 2 %: {'yes' if statistics.median(rel) <= 0.02 else 'NO'}")
print(f"   {'batch':>6} {'tune ex/s':>12} {'torch ex/s':>12} {'ratio':>7}")
for bs in sorted({int(r["batch_size"]) for r in tune.values()}):
    ts = [int(r["examples_seen"]) / float(r["seconds"]) for r in tune.values() if int(r["batch_size"]) == bs]
    ps = [p["examples"] / p["seconds"] for p in torch.values() if p["batch_size"] == bs]
    a, b = statistics.median(ts), statistics.median(ps)
    print(f"   {bs:>6} {a:>12.0f} {b:>12.0f} {a / b:>6.2f}x{'' if a >= b else '  (slower)'}")
PY
}

study wine-parity winequality-red.csv quality regression 20
study digits-parity digits.csv digit classification 10
