#!/usr/bin/env bash
# Fault injection, rerunnable: the crash-consistency tests (a file-size limit at every size, killed by
# SIGXFSZ and seeing EFBIG; a full tmpfs where mounting is allowed; damaged checkpoints; lost
# checkpoints; damaged best files), command-trainer studies on a full tmpfs, then SIGKILLs at random moments of a study, each resumed
# without the fault and compared with the uninterrupted study. Prints the totals:
#   crash points tried, studies resumed identical, studies stranded (must be 0), silent differences (must be 0)
#
#   benches/faults.sh [KILLS]     (default 30 random SIGKILLs)
set -euo pipefail
cd "$(dirname "$0")/.."
kills=${1:-30}
cargo build --release --quiet --bin tune
log=$(mktemp)
work=$(mktemp -d)
trap 'rm -rf "$work" "$log"' EXIT
cargo test --release --quiet --test faults -- --nocapture --test-threads 1 2>&1 | tee "$log" | grep 'crash points' || true
grep -q 'test result: ok' "$log" || { echo "the fault tests failed:"; tail -40 "$log"; exit 1; }
# Command-trainer studies (the toy trainer, padded checkpoints) on a full tmpfs at many sizes, each
# resumed once the disk is grown: stranded studies and failed trials must be 0.
hostile=$(mktemp)
cargo test --release --quiet --test hostile tmpfs -- --nocapture 2>&1 | tee "$hostile" | grep -E 'command trainer|skipped' || true
grep -q 'test result: ok' "$hostile" || { echo "the command trainer's full-disk test failed:"; tail -40 "$hostile"; rm -f "$hostile"; exit 1; }
rm -f "$hostile"

# Random SIGKILLs: a study of 6 trials at parallel 1 and 2, at random moments.
tune=target/release/tune
cp studies/data/winequality-red.csv "$work/wine.csv"
cat >"$work/e.json" <<'EOF'
{"name":"e","seed":9,"data":{"path":"wine.csv","target":"quality","task":"regression"},
 "model":{"hidden":[32,32]},"budget":{"stop_point":40,"virtual_epochs":10},"search":{"method":"random","trials":6,
 "space":{"batch_size":[16,32,64],"learning_rate":{"low":1e-3,"high":3e-2,"log":true}}}}
EOF
stable() { awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i != "rank" && $i != "seconds" && $i != "suggest_ms") k[i] = 1 }
                   { l = ""; for (i = 1; i <= NF; i++) if (k[i]) l = l $i ","; print l }' "$1" | sort; }
t0=$(date +%s%N)
"$tune" -q --parallel 1 --out "$work/ref" "$work/e.json" >/dev/null
ms=$((($(date +%s%N) - t0) / 1000000))
tried=0 same=0 stranded=0 differ=0
for i in $(seq 1 "$kills"); do
  out="$work/k$i"
  par=$((1 + i % 2))
  "$tune" -q --parallel "$par" --sync-every $((i % 3 == 0 ? 0 : 1)) --out "$out" "$work/e.json" >/dev/null 2>&1 &
  pid=$!
  # A moment within the uninterrupted study's time (parallel 2 is faster: some kills come too late).
  at=$((RANDOM % ms))
  sleep "$((at / 1000)).$(printf %03d $((at % 1000)))"
  kill -9 "$pid" 2>/dev/null && killed=1 || killed=0
  wait "$pid" 2>/dev/null || true
  [ $killed = 1 ] || continue
  tried=$((tried + 1))
  if ! "$tune" -q --parallel "$par" --out "$out" "$work/e.json" >/dev/null 2>"$work/err"; then
    stranded=$((stranded + 1)); echo "stranded after kill $i: $(cat "$work/err")"; continue
  fi
  same_curves=1
  for c in "$work/ref"/trials/*/curve.csv; do
    cmp -s "$c" "$out/trials/$(basename "$(dirname "$c")")/curve.csv" || same_curves=0
  done
  if [ $same_curves = 1 ] && diff -q <(stable "$work/ref/leaderboard.csv") <(stable "$out/leaderboard.csv") >/dev/null; then
    same=$((same + 1))
  else
    differ=$((differ + 1)); echo "differs after kill $i"
  fi
  rm -rf "$out"
done
echo "random SIGKILLs: $tried crash points tried, $same studies resumed identical, $stranded stranded, $differ silent differences"
# Totals over both.
awk -v t="$tried" -v s="$same" -v x="$stranded" -v d="$differ" '
  /crash points tried/ { t += $2; s += $6; x += $10; d += $12 }
  END { printf "total: %d crash points tried, %d studies resumed identical, %d studies stranded, %d silent differences\n", t, s, x, d
        exit (x + d > 0) }' <(grep -h 'crash points' "$log" | sed 's/^[^:]*: //; s/^/x /')
