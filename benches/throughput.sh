#!/usr/bin/env bash
# Training throughput of tune's trainer beside PyTorch's on the same MLPs, one thread each, same
# machine, one run; prints examples/s and the ratio. Usage: benches/throughput.sh [SECONDS_PER_CELL]
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
