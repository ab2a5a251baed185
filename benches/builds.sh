#!/usr/bin/env bash
# Two builds of `tune` on the same study, interleaved run by run (this machine's speed drifts over
# minutes; interleaving spreads the drift over both): each build's median wall time and the ratio.
# Also checks that both wrote the same leaderboard (every column but rank, seconds, suggest_ms).
#
#   benches/builds.sh OLD_TUNE [NEW_TUNE] [SPEC] [ROUNDS] [PARALLEL]
#   (defaults: target/release/tune, studies/wine.json, 7 rounds, parallel 1)
set -euo pipefail
cd "$(dirname "$0")/.."
old=$(realpath "${1:?usage: benches/builds.sh OLD_TUNE [NEW_TUNE] [SPEC] [ROUNDS] [PARALLEL]}")
new=$(realpath "${2:-target/release/tune}")
spec=${3:-studies/wine.json}
rounds=${4:-7}
par=${5:-1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stable() { awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i != "rank" && $i != "seconds" && $i != "suggest_ms") k[i] = 1 }
                   { l = ""; for (i = 1; i <= NF; i++) if (k[i]) l = l $i ","; print l }' "$1" | sort; }
for r in $(seq 1 "$rounds"); do
  for side in old new; do
    bin=$old; [ $side = new ] && bin=$new
    rm -rf "$work/$side"
    t0=$(date +%s%N)
    "$bin" -q --parallel "$par" --out "$work/$side" "$spec" >/dev/null
    echo $((($(date +%s%N) - t0) / 1000)) >>"$work/$side.us"
  done
  diff -q <(stable "$work/old/leaderboard.csv") <(stable "$work/new/leaderboard.csv") >/dev/null \
    || { echo "round $r: the two builds wrote different leaderboards"; exit 1; }
done
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mo=$(median "$work/old.us"); mn=$(median "$work/new.us")
echo "$spec, parallel $par, $rounds rounds interleaved, same leaderboards: old median $(awk -v x="$mo" 'BEGIN { printf "%.3f", x / 1e6 }') s, new median $(awk -v x="$mn" 'BEGIN { printf "%.3f", x / 1e6 }') s, new/old $(awk -v a="$mn" -v b="$mo" 'BEGIN { printf "%.3f", a / b }')"
