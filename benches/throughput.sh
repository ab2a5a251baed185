#!/usr/bin/env bash
# Training throughput of tune's trainer beside PyTorch's on the same MLPs, one thread each, same
# machine, one run; prints examples/s and the ratio; then, where tune is below 5x PyTorch, the
# GFLOP/s that 5x would take against what one core can do (FMA peak, matrixmultiply's rate).
# Usage: benches/throughput.sh [SECONDS_PER_CELL]
set -eu
cd "$(dirname "$0")/.."
secs=${1:-1}
ours=$(cargo bench --bench throughput -- --grid --seconds "$secs" 2>/dev/null | grep -E '^[0-9]+ [0-9]+ [0-9]+$')
py=$(benches/peers/venv.sh torch numpy)
if [ -n "$py" ]; then
  theirs=$("$py" benches/peers/torch_throughput.py --seconds "$secs")
else
  theirs=""
fi
printf '%-6s %-6s %14s %14s %8s\n' width batch "tune ex/s" "torch ex/s" ratio
while read -r w b e; do
  t=$(echo "$theirs" | awk -v w="$w" -v b="$b" '$1==w && $2==b {print $3}')
  if [ -n "$t" ]; then
    printf '%-6s %-6s %14s %14s %8.2f\n' "$w" "$b" "$e" "$t" "$(echo "$e / $t" | bc -l)"
  else
    printf '%-6s %-6s %14s %14s %8s\n' "$w" "$b" "$e" "-" "-"
  fi
done <<< "$ours"
# What one core can do at best, and what 5x PyTorch would need where tune is below it.
peak=$(cargo bench --bench throughput -- --peak --seconds "$secs" 2>/dev/null)
fma=$(echo "$peak" | awk '$1=="peak" && $2=="fma" {print $3}')
gemm=$(echo "$peak" | awk '$1=="peak" && $2=="sgemm" {print $3}')
echo
echo "one core: ${fma:-?} GFLOP/s of FMA from registers, ${gemm:-?} GFLOP/s in matrixmultiply's 1024^3 product"
printf '%-6s %-6s %14s %16s %22s\n' width batch "tune GFLOP/s" "5x torch GFLOP/s" "5x torch / FMA peak"
while read -r w b e; do
  t=$(echo "$theirs" | awk -v w="$w" -v b="$b" '$1==w && $2==b {print $3}')
  f=$(echo "$peak" | awk -v w="$w" '$1=="flops" && $2==w {print $3}')
  [ -n "$t" ] && [ -n "$f" ] || continue
  awk -v e="$e" -v t="$t" -v f="$f" -v p="${fma:-0}" -v w="$w" -v b="$b" 'BEGIN {
    if (e >= 5 * t) exit
    need = 5 * t * f / 1e9
    printf "%-6s %-6s %14.1f %16.1f %22s\n", w, b, e * f / 1e9, need, (p > 0 ? sprintf("%.2f", need / p) : "-")
  }'
done <<< "$ours"
