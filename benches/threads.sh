#!/usr/bin/env bash
# One trial on several threads: examples/s of tune's trainer and PyTorch's on MLPs 11-w-w-1 (wine),
# Adam, at 1, 2, 4, ... threads up to the machine's cores, same machine, one run; prints the ratio
# tune / PyTorch and each one's speed-up over its own single thread.
# Usage: benches/threads.sh [SECONDS_PER_CELL]
#   THROUGHPUT=path  a built `throughput` bench binary (a machine without Rust; default: cargo bench)
#   PYTHON=path      a python with torch (default: .venv from PyPI, benches/peers/venv.sh)
#   WIDTHS=128,512 BATCHES=16,64,256,1024 THREADS="1 2 4"  the cells (default threads: powers of 2)
set -eu
cd "$(dirname "$0")/.."
secs=${1:-1}
widths=${WIDTHS:-128,512}
batches=${BATCHES:-16,64,256,1024}
cores=$(nproc)
if [ -z "${THREADS:-}" ]; then
  THREADS=""
  t=1
  while [ "$t" -le "$cores" ]; do THREADS="$THREADS $t"; t=$((t * 2)); done
fi
if [ -n "${THROUGHPUT:-}" ]; then
  ours() { "$THROUGHPUT" "$@"; }
else
  cargo bench --bench throughput --no-run 2>/dev/null
  ours() { cargo bench --bench throughput -- "$@" 2>/dev/null; }
fi
py=${PYTHON:-$(benches/peers/venv.sh torch numpy)}
data=studies/data/winequality-red.csv
out=$(mktemp)
for t in $THREADS; do
  ours --data "$data" --target quality --widths "$widths" --batches "$batches" --threads "$t" \
    --seconds "$secs" | grep -E '^[0-9]+ [0-9]+ [0-9]+$' | sed "s/^/tune $t /" >> "$out"
  if [ -n "$py" ]; then
    "$py" benches/peers/torch_throughput.py --data "$data" --target quality --widths "$widths" \
      --batches "$batches" --threads "$t" --seconds "$secs" | sed "s/^/torch $t /" >> "$out"
  fi
done
printf '%-7s %-6s %-6s %12s %12s %7s %10s %10s\n' threads width batch "tune ex/s" "torch ex/s" ratio \
  "tune ×1t" "torch ×1t"
awk '
  { v[$1 " " $2 " " $3 " " $4] = $5; if (!($2 in seen)) { seen[$2] = 1; order[n++] = $2 }
    if (!(($3 " " $4) in cell)) { cell[$3 " " $4] = 1; cells[m++] = $3 " " $4 } }
  END {
    for (i = 0; i < n; i++) for (j = 0; j < m; j++) {
      t = order[i]; c = cells[j]; split(c, wb, " ")
      a = v["tune " t " " c]; b = v["torch " t " " c]
      a1 = v["tune 1 " c]; b1 = v["torch 1 " c]
      printf "%-7s %-6s %-6s %12s %12s %7s %10s %10s\n", t, wb[1], wb[2], a, (b == "" ? "-" : b),
        (b == "" ? "-" : sprintf("%.2f", a / b)), (a1 == "" ? "-" : sprintf("%.2f", a / a1)),
        (b == "" || b1 == "" ? "-" : sprintf("%.2f", b / b1))
    }
  }' "$out"
rm -f "$out"
