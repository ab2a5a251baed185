#!/usr/bin/env bash
# Loading data, against pandas (and polars where installed) in the same run: a generated numeric
# table (ROWS rows x 20 features + a target; default 1,000,000) as CSV and as its Parquet twin.
# Prints, for each format: load time of pandas / polars / `tune check` (reads and prepares the
# data, trains one tiny model), tune's peak memory against the f32 matrix, the first run (which
# also writes the study folder's cache), `tune status` and a resume's start (both from the cache),
# then a study on the CSV under a memory limit smaller than the file (a cgroup v1 or v2 where one
# can be made here; `ulimit -v` is no use: it counts mapped files and the threads' reservations).
#
#   benches/data.sh                    ROWS=200000 benches/data.sh
#   BENCH_VENV=/path/to/venv benches/data.sh   (a venv with pandas and pyarrow; else one is made
#                                               in ${XDG_CACHE_HOME:-~/.cache}/tune-bench-data)
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${ROWS:-1000000}
venv=${BENCH_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/tune-bench-data}
if ! "$venv/bin/python" -c 'import pandas, pyarrow' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q pandas pyarrow
fi
py=$venv/bin/python
cargo build --release --quiet --bin tune
tune=$(realpath target/release/tune)
work=$(mktemp -d)
cg=""
cleanup() { [ -n "$cg" ] && rmdir "$cg" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$py" - "$rows" "$work/t" <<'EOF'
import sys, numpy as np, pandas as pd
rows, out = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(0)
x = rng.normal(size=(rows, 20))
df = pd.DataFrame(x, columns=[f"x{i}" for i in range(20)])
df["y"] = x @ rng.normal(size=20) + 0.1 * rng.normal(size=rows)
df.to_csv(out + ".csv", index=False, float_format="%.6g")
df.to_parquet(out + ".parquet")
df.to_csv(out + "-full.csv", index=False)  # as pandas writes it by default: every digit
EOF
matrix=$((rows * 21 * 4))
echo "table: $rows rows x 21 numeric columns; CSV $(($(stat -c %s "$work/t.csv") / 1000000)) MB, Parquet $(($(stat -c %s "$work/t.parquet") / 1000000)) MB; the f32 matrix $((matrix / 1000000)) MB"

# Seconds of the best of 3 runs of a command (whole process).
best3() { local b=""; for _ in 1 2 3 4 5; do local t0=$(date +%s%N); "$@" >/dev/null 2>&1; local t=$(( ($(date +%s%N) - t0) / 1000000 )); [ -z "$b" ] || [ "$t" -lt "$b" ] && b=$t; done; echo "$b"; }
ms() { printf '%d.%03d s' $(($1 / 1000)) $(($1 % 1000)); }
peak_kb() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }

for fmt in csv parquet; do
  cat >"$work/$fmt.json" <<EOF
{ "name": "$fmt", "seed": 1, "data": { "path": "t.$fmt", "target": "y", "task": "regression" },
  "model": { "hidden": [8] }, "budget": { "total_examples": 2000, "virtual_epochs": 2 },
  "search": { "method": "random", "trials": 2, "space": { "batch_size": [64], "learning_rate": [0.001] } } }
EOF
  pd_ms=$("$py" - "$work/t.$fmt" <<'EOF'
import sys, time, pandas as pd
best = 1e9
for _ in range(5):
    t = time.perf_counter()
    df = pd.read_csv(sys.argv[1]) if sys.argv[1].endswith(".csv") else pd.read_parquet(sys.argv[1])
    best = min(best, time.perf_counter() - t)
print(int(best * 1000))
EOF
)
  pl_ms=$("$py" - "$work/t.$fmt" <<'EOF' 2>/dev/null || echo ""
import sys, time, polars as pl
best = 1e9
for _ in range(3):
    t = time.perf_counter()
    df = pl.read_csv(sys.argv[1]) if sys.argv[1].endswith(".csv") else pl.read_parquet(sys.argv[1])
    best = min(best, time.perf_counter() - t)
print(int(best * 1000))
EOF
)
  # Loading alone: `tune status` before the study has run reads and prepares the data (then says
  # that no study has run there), the whole process timed; and `tune check`, which also trains.
  load_ms=$(best3 "$tune" status "$work/$fmt.json")
  tune_ms=$(best3 "$tune" check "$work/$fmt.json")
  kb=$(peak_kb "$tune" check "$work/$fmt.json")
  t0=$(date +%s%N); run_kb=$(peak_kb "$tune" -q "$work/$fmt.json"); run_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  status_ms=$(best3 "$tune" status "$work/$fmt.json")
  resume_ms=$(best3 "$tune" -q "$work/$fmt.json")
  echo "$fmt:"
  echo "  load (best of 5; pandas in its process, tune a whole process): pandas $(ms "$pd_ms")${pl_ms:+, polars $(ms "$pl_ms")}, tune (read and prepare) $(ms "$load_ms"): tune / pandas = $(awk -v a="$load_ms" -v b="$pd_ms" 'BEGIN { printf "%.2f", a / b }'); tune check (also one tiny model) $(ms "$tune_ms")"
  echo "  peak memory: tune check $((kb / 1000)) MB = $(awk -v a="$kb" -v m="$matrix" 'BEGIN { printf "%.2f", a * 1000 / m }') x the f32 matrix; first run (2 trials, writes the cache) $((run_kb / 1000)) MB = $(awk -v a="$run_kb" -v m="$matrix" 'BEGIN { printf "%.2f", a * 1000 / m }') x, $(ms "$run_ms")"
  echo "  from the cache: tune status $(ms "$status_ms"), a resume with nothing left to train $(ms "$resume_ms")"
done

# A study on a file larger than the memory it is given: the table as pandas writes it by default
# (every digit), under a limit of 70 % of its size (the cgroup counts the page cache too).
sed 's/t.csv/t-full.csv/; s/"csv"/"full"/' "$work/csv.json" >"$work/full.json"
big="$work/t-full.csv"
limit=$(( $(stat -c %s "$big") * 7 / 10 ))
mem=/sys/fs/cgroup/memory
own=$(awk -F: '$2 == "memory" { print $3 }' /proc/self/cgroup)
if [ -w "$mem$own" ] && mkdir "$mem$own/tune-bench-$$" 2>/dev/null; then
  cg="$mem$own/tune-bench-$$"
  echo "$limit" >"$cg/memory.limit_in_bytes"
  rm -rf "$work/runs"
  set +e
  sh -c "echo \$\$ > $cg/cgroup.procs && exec $tune -q $work/full.json" >/dev/null 2>"$work/err"
  rc=$?
  set -e
  echo "under a memory limit of $((limit / 1000000)) MB (cgroup v1 memory.limit_in_bytes; the CSV is $(($(stat -c %s "$big") / 1000000)) MB): exit $rc, peak $(( $(cat "$cg/memory.max_usage_in_bytes") / 1000000 )) MB (page cache included)$( [ $rc = 0 ] || echo "; $(tail -1 "$work/err")")"
elif [ -w /sys/fs/cgroup/cgroup.subtree_control ] && mkdir "/sys/fs/cgroup/tune-bench-$$" 2>/dev/null; then
  cg="/sys/fs/cgroup/tune-bench-$$"
  echo "$limit" >"$cg/memory.max"
  rm -rf "$work/runs"
  set +e
  sh -c "echo \$\$ > $cg/cgroup.procs && exec $tune -q $work/full.json" >/dev/null 2>"$work/err"
  rc=$?
  set -e
  echo "under a memory limit of $((limit / 1000000)) MB (cgroup v2 memory.max; the CSV is $(($(stat -c %s "$big") / 1000000)) MB): exit $rc$( [ $rc = 0 ] || echo "; $(tail -1 "$work/err")")"
else
  echo "no cgroup can be made here: the study under a memory limit was not run"
fi
