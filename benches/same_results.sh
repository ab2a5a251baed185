#!/usr/bin/env bash
# Behaviour unchanged: runs the example studies at --parallel 1 with two builds of `tune` and
# compares what must not change between them: every leaderboard column but rank, seconds and
# suggest_ms (parameters, status, steps, best and final metrics), and every trial's curve.csv (each
# virtual epoch's train and validation loss and metric).
#
#   benches/same_results.sh OLD_TUNE [NEW_TUNE] [STUDY ...]
#
# OLD_TUNE: a binary built from the commit to compare against (for example
# `git worktree add ../old REV && (cd ../old && cargo build --release --bin tune)`); NEW_TUNE
# defaults to target/release/tune; the studies default to quick, wine, digits and wine-bayes.
# Prints one line a study and exits 1 when any differs.
set -euo pipefail
cd "$(dirname "$0")/.."
old=$(realpath "${1:?usage: benches/same_results.sh OLD_TUNE [NEW_TUNE] [STUDY ...]}")
new=$(realpath "${2:-target/release/tune}")
shift $(($# < 2 ? $# : 2))
studies=("$@")
[ ${#studies[@]} -gt 0 ] || studies=(quick wine digits wine-bayes)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The leaderboard without the columns that depend on the machine's speed.
stable() {
  awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i != "rank" && $i != "seconds" && $i != "suggest_ms") keep[i] = 1 }
           { line = ""; for (i = 1; i <= NF; i++) if (keep[i]) line = line $i ","; print line }' "$1" | sort
}

differ=0
for s in "${studies[@]}"; do
  for side in old new; do
    bin=$old; [ $side = new ] && bin=$new
    "$bin" -q --parallel 1 --out "$work/$s.$side" "studies/$s.json" >/dev/null
  done
  same=yes
  if ! diff <(stable "$work/$s.old/leaderboard.csv") <(stable "$work/$s.new/leaderboard.csv") >"$work/diff"; then
    same="no: leaderboard differs"; head -5 "$work/diff"
  fi
  curves=0
  for c in "$work/$s.old"/trials/*/curve.csv; do
    n=$(basename "$(dirname "$c")")
    curves=$((curves + 1))
    if ! cmp -s "$c" "$work/$s.new/trials/$n/curve.csv"; then
      same="no: trial $n's curve differs"
    fi
  done
  trials=$(($(wc -l <"$work/$s.old/leaderboard.csv") - 1))
  echo "$s: $trials trials, $curves curves: same: $same"
  [ "$same" = yes ] || differ=1
done
exit $differ
