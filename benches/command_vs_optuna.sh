#!/usr/bin/env bash
# The wine study as a PyTorch program under tune (studies/programs/train_wine.py: a process per
# trial, checkpoints handed over at every virtual epoch) against the same PyTorch code under Optuna
# (benches/peers/optuna_torch.py: threads in one process), same machine, same run, same split,
# parameters (Optuna trains tune's trials, enqueued), budget and checkpoint cadence. Prints the wall
# times at 1 and 2 trials at once, each trial's best validation MSE side by side, and tune's own
# overhead: per trial (process start, or fork, to first line of the program, and exit) and per
# virtual epoch (reading the report, moving the checkpoint, the journal), from the program's own
# clock (`program_seconds` in its reports) against tune's; forked, the program's start before its
# first fork apart.
# Usage: benches/command_vs_optuna.sh   (TRIALS=20 by default; TUNE=path/to/tune for another build;
# FORK=true for the forked runs alone, FORK=false for a process per trial alone)
set -eu
cd "$(dirname "$0")/.."
tune=${TUNE:-./target/release/tune}
trials=${TRIALS:-20}
[ -n "${TUNE:-}" ] || cargo build --release -q
py=$(benches/peers/venv.sh optuna torch numpy)
if [ -z "$py" ]; then exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
row() { printf '%-40s %10s %12s\n' "$@"; }
data=$PWD/studies/data/winequality-red.csv
field() { "$py" -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
row "run (tune, then the peer, at 1 and at 2 at once)" "wall s" "best val"
declare -A wall
for p in 1 2; do
 for fork in ${FORK:-false true}; do
  "$py" - "$PWD" "$py" "$trials" "$fork" > "$tmp/spec$p.json" <<'PY'
import json, sys
root, py, trials, fork = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "true"
s = json.load(open(f"{root}/studies/wine-torch.json"))
s["data"]["path"] = f"{root}/studies/data/winequality-red.csv"
s["trainer"]["command"] = [py, f"{root}/studies/programs/train_wine.py"]
s["trainer"]["fork"] = fork
s["search"]["trials"] = trials
print(json.dumps(s))
PY
  # One thread per trial, as the peer gives each of its trials.
  rm -rf "$tmp/tune$p"
  out=$("$tune" -q --parallel "$p" --cores "$p" --out "$tmp/tune$p" "$tmp/spec$p.json")
  w=$(echo "$out" | sed -n 's/^this run: \([0-9.]*\) s wall.*/\1/p')
  wall[tune$p]=$w
  b=$(awk -F, 'NR==2 {print $9}' "$tmp/tune$p/leaderboard.csv")
  label="a process per trial"; [ "$fork" = true ] && label="forked per trial"
  row "tune + program ($label), parallel $p" "$w" "$(printf %.4f "$b")"
  echo "    $(echo "$out" | sed -n 's/^overhead: //p')"
  "$py" - "$tmp/tune$p" "$p" "$fork" <<'PY'
import csv, json, statistics, sys
study, p, fork = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "true"
rows = {int(r["trial"]): r for r in csv.DictReader(open(f"{study}/leaderboard.csv"))}
tune_s = prog_s = epochs = 0.0
first, overs = 0.0, []
for n, r in rows.items():
    last, e = None, 0
    for line in open(f"{study}/trials/{n}/output.log"):
        if line.startswith("TUNE "):
            last = json.loads(line[5:])
            e += 1
    over = float(r["seconds"]) - last["program_seconds"]
    # Forked, the program's own clock starts at each fork: the first trial of each worker (trials
    # 0 to p-1) also holds the program's start before its first fork (python, imports, data).
    if fork and n < p:
        first += over
        continue
    tune_s += float(r["seconds"])
    prog_s += last["program_seconds"]
    epochs += e
    overs.append(over)
over = tune_s - prog_s
what = "the trial's start (its fork), its reports, its end" if fork else "program start to its first line, its reports, its exit"
print(f"    tune's own time: {over:.2f} s of {tune_s:.1f} s of trials ({100 * over / tune_s:.2f} %), "
      f"{1e3 * over / epochs:.1f} ms per virtual epoch, {1e3 * over / len(overs):.0f} ms per trial, "
      f"median {1e3 * statistics.median(overs):.0f} ms ({what})")
if fork:
    print(f"    besides, the program's start in each of the {p} worker(s), before its first fork "
          f"(python, imports, its warm-up, the data): {first / p:.2f} s")
PY
 done
  t0=$(date +%s.%N)
  r=$("$py" benches/peers/optuna_torch.py --data "$data" --split "$tmp/tune$p/split.json" --jobs "$p" --params "$tmp/tune$p/leaderboard.csv")
  whole=$(echo "$(date +%s.%N) - $t0" | bc -l)
  w=$(echo "$r" | field wall)
  b=$(echo "$r" | field best_val_loss)
  row "optuna + same torch code, $p job(s)" "$(printf %.2f "$w")" "$(printf %.4f "$b")"
  echo "    the whole peer process (python, imports, data): $(printf %.2f "$whole") s; tune's wall is the whole run"
  echo "    tune (forked) is $(echo "$whole / ${wall[tune$p]}" | bc -l | xargs printf %.2f)x as fast as the whole peer, $(echo "$w / ${wall[tune$p]}" | bc -l | xargs printf %.2f)x its optimize() alone (same trials, same number at once)"
  echo "$r" | "$py" -c '
import csv, json, sys
peer = json.load(sys.stdin)["trials"]
ours = sorted(csv.DictReader(open(sys.argv[1])), key=lambda r: int(r["trial"]))
same = sum(abs(float(a["best_val_loss"]) - b["best_val_loss"]) <= 1e-4 * abs(b["best_val_loss"]) for a, b in zip(ours, peer))
print(f"    trial by trial: the same best validation MSE (to 1e-4) in {same} of {len(peer)}")
' "$tmp/tune$p/leaderboard.csv"
done
