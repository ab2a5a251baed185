#!/usr/bin/env bash
# Many workers, one study: WORKERS (32) tune processes on this machine against one PostgreSQL, with
# tiny trials (a 4-wide MLP, 256 examples, 4 virtual epochs; SYNC_EVERY=0 commits every virtual
# epoch on its own, the default groups them as `tune` does), and Optuna's RDB storage (benches/pg/optuna_rdb.py: optuna and psycopg2
# from PyPI) on the same server with as many workers and trials, in the same run. Prints trials
# completed per second, coordination per virtual epoch and per trial, duplicate claims, the ratios.
#
# Usage: benches/pg/bench.sh                   (a throwaway cluster in a temp folder)
#        PG=postgresql://user@host:port/db benches/pg/bench.sh   (an existing server; its user
#        must be allowed to create databases)
#        WORKERS=32 TRIALS=640 benches/pg/bench.sh
#
# tune's figures come from the database (first event to last, duplicate trial_started records and
# trials claimed more than once) and from each worker's time spent waiting on PostgreSQL
# (TUNE_PG_STATS): events and claims, per trial; checkpoints, per virtual epoch; and the calls
# (round trips) each made.
set -eu
cd "$(dirname "$0")/../.."
workers=${WORKERS:-32}
trials=${TRIALS:-640}
tune=${TUNE:-./target/release/tune}
[ -n "${TUNE:-}" ] || cargo build --release -q
tmp=$(mktemp -d)
chmod 755 "$tmp" # the cluster's owner (postgres, when run as root) reaches its folder inside
# Two databases of their own, on $PG (kept there) or on a throwaway cluster in $tmp/pg.
server=${PG:-$tmp/pg}
trap 'benches/pg/throwaway.sh "$server" stop || true; rm -rf "$tmp"' EXIT
stamp=$(date +%s)
url=$(benches/pg/throwaway.sh "$server" "tune_bench_$stamp")
optuna_url=$(benches/pg/throwaway.sh "$server" "optuna_bench_$stamp")
py=$(benches/peers/venv.sh optuna)
if [ -n "$py" ] && ! "$py" -c "import psycopg2" 2>/dev/null; then
  "$(dirname "$py")/pip" install -q psycopg2-binary >&2 || py=
fi
sql() { # sql DB STATEMENT: one value, through the peer's psycopg2 (no psql client needed)
  "$py" -c "
import sys, psycopg2
c = psycopg2.connect(sys.argv[1]); c.autocommit = True
cur = c.cursor(); cur.execute(sys.argv[2])
print(cur.fetchone()[0] if cur.description else '')" "$@"
}

cat > "$tmp/study.json" <<EOF
{
  "name": "pg-bench",
  "seed": 1,
  "data": { "path": "$PWD/studies/data/winequality-red.csv", "target": "quality", "task": "regression" },
  "model": { "hidden": [4] },
  "budget": { "total_examples": 256, "virtual_epochs": 4 },
  "search": {
    "method": "random", "trials": $trials, "parallel": 1,
    "space": {
      "batch_size": [32, 64],
      "learning_rate": { "low": 1e-3, "high": 3e-2, "log": true }
    }
  }
}
EOF
start=$(date +%s.%N)
for i in $(seq 1 "$workers"); do
  TUNE_PG_STATS="$tmp/stats.jsonl" "$tune" run -q --cores 1 --sync-every "${SYNC_EVERY:-1}" --storage "$url" \
    --out "$tmp/w$i" "$tmp/study.json" >/dev/null 2>"$tmp/w$i.err" &
done
wait
end=$(date +%s.%N)
for i in $(seq 1 "$workers"); do
  [ ! -s "$tmp/w$i.err" ] || { echo "worker $i:"; cat "$tmp/w$i.err"; }
done
q() { sql "$url" "$1"; }
done_=$(q "SELECT count(*) FROM tune_events WHERE body LIKE '{\"event\":\"trial_ended\"%'")
epochs=$(q "SELECT count(*) FROM tune_events WHERE body LIKE '{\"event\":\"epoch_done\"%'")
secs=$(q "SELECT extract(epoch FROM max(at) - min(at)) FROM tune_events WHERE seq > 1")
dups=$(q "SELECT (SELECT count(*) - count(DISTINCT trial) FROM tune_events WHERE body LIKE '{\"event\":\"trial_started\"%') + (SELECT count(*) FROM tune_trials WHERE attempt > 1)")
read -r storage epochs_s store storage_n epoch_n <<<"$("$py" -c "
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
t = lambda k: sum(r.get(k, 0) for r in rows)
print(t('storage_s'), t('epochs_s'), t('store_s'), t('storage_calls'), t('epochs_calls') + t('store_calls'))" "$tmp/stats.jsonl")"
tune_tps=$(echo "$done_ / $secs" | bc -l)
tune_epoch=$(echo "1000 * ($epochs_s + $store) / $epochs" | bc -l)
tune_trial=$(echo "1000 * $storage / $done_" | bc -l)
row() { printf '%-36s %9s %10s %14s %14s %10s\n' "$@"; }
echo "$workers workers, $trials trials of 4 virtual epochs, --sync-every ${SYNC_EVERY:-1}, one PostgreSQL ($(nproc) cores, $(date -u +%F))"
row "" "trials" "trials/s" "ms/v.epoch" "ms/trial" "dup claims"
row "tune --storage postgresql" "$done_" "$(printf %.1f "$tune_tps")" "$(printf %.2f "$tune_epoch")" "$(printf %.2f "$tune_trial")" "$dups"
echo "    (wall $(printf %.1f "$(echo "$end - $start" | bc -l)") s with process start-up; study ${secs} s first event to last;"
echo "     waiting on PostgreSQL, all workers: claims, starts and ends $(printf %.1f "$storage") s (per trial);"
echo "     virtual epochs' records $(printf %.1f "$epochs_s") s and checkpoints $(printf %.1f "$store") s (per virtual epoch);"
echo "     calls to PostgreSQL: $(printf %.2f "$(echo "$epoch_n / $epochs" | bc -l)") per virtual epoch, $(printf %.2f "$(echo "$storage_n / $done_" | bc -l)") per trial)"
if [ -z "$py" ]; then
  echo "Optuna skipped (no venv)"
  exit 0
fi
r=$("$py" benches/pg/optuna_rdb.py --url "postgresql+psycopg2://${optuna_url#*://}" \
  --workers "$workers" --trials "$trials" --epochs 4)
f() { echo "$r" | "$py" -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
o_tps=$(f trials_per_s)
row "optuna $("$py" -c 'import optuna; print(optuna.__version__)') RDBStorage" "$(f trials)" "$(printf %.1f "$o_tps")" "$(printf %.2f "$(f ms_per_epoch)")" "$(printf %.2f "$(f ms_per_trial)")" "$(f duplicates)"
echo "tune / optuna, trials per second: $(printf %.1f "$(echo "$tune_tps / $o_tps" | bc -l)")x"
