#!/usr/bin/env bash
# `tune serve` on a study of 2,020 trials (issue 35): a grid of 20 batch sizes x 101 learning
# rates, a tiny model and budget (4 virtual epochs of 256 examples), run to 5 virtual epochs short
# of its end. Then, with `tune serve` on it:
# - the page (`/`, the whole report, ~8 MB): 20 answers, median and slowest, against the same
#   study's static report.html served by Python's http.server in the same run (the peer: what
#   opening the report over HTTP costs without tune);
# - `/api/trials` and `/api/study`: median of 20;
# - 5 times, a run of the study resumed for one more virtual epoch (`--stop-after-epochs 1`):
#   from the moment the journal grows to the moment a long poll of `/api/version` (what the page
#   waits on) answers the new version, and to the moment the page of that version has arrived.
# Goals: the page under 200 ms, a new boundary through the API under 2 s.
# Usage: benches/serve.sh            TUNE=path/to/tune benches/serve.sh
set -eu
cd "$(dirname "$0")/.."
tune=${TUNE:-./target/release/tune}
[ -n "${TUNE:-}" ] || cargo build --release -q
tune=$(realpath "$tune")
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT
data=$PWD/studies/data

python3 - "$tmp/study.json" "$data/winequality-red.csv" <<'EOF'
import json, sys
lrs = [round(0.001 * 1.05 ** i, 8) for i in range(101)]
spec = {"name": "big", "seed": 1,
        "data": {"path": sys.argv[2], "target": "quality", "task": "regression"},
        "model": {"hidden": [4]},
        "budget": {"total_examples": 256, "virtual_epochs": 4},
        "search": {"method": "grid", "parallel": 1,
                   "space": {"batch_size": list(range(8, 28)), "learning_rate": lrs}}}
json.dump(spec, open(sys.argv[1], "w"), indent=1)
EOF
cd "$tmp"
start=$SECONDS
"$tune" -q --stop-after-epochs $((2020 * 4 - 5)) study.json >/dev/null 2>&1 || true
"$tune" report study.json >/dev/null
echo "study: $(grep -c trial_started runs/big/journal.jsonl) trials, $(grep -c epoch_done runs/big/journal.jsonl) boundaries, journal $(du -h runs/big/journal.jsonl | cut -f1), made in $((SECONDS - start)) s"

"$tune" serve study.json --port 0 >url.txt 2>/dev/null &
pids+=($!)
(cd runs/big && exec python3 -m http.server 0 --bind 127.0.0.1 >"$tmp/static.txt" 2>&1) &
pids+=($!)
while [ ! -s url.txt ] || ! grep -q "port" static.txt; do sleep 0.1; done
url=$(head -1 url.txt)
static="http://127.0.0.1:$(grep -o 'port [0-9]*' static.txt | cut -d' ' -f2)/report.html"

python3 - "$url" "$static" "$tune" <<'EOF'
import json, os, statistics, subprocess, sys, threading, time, urllib.request
url, static, tune = sys.argv[1], sys.argv[2], sys.argv[3]

def get(u):
    t = time.perf_counter()
    body = urllib.request.urlopen(u).read()
    return time.perf_counter() - t, body

def timed(u, n=20):
    get(u)
    ts = sorted(get(u)[0] * 1000 for _ in range(n))
    return statistics.median(ts), ts[-1], len(get(u)[1])

page = timed(url)
peer = timed(static)
print(f"page /: median {page[0]:.1f} ms, slowest {page[1]:.1f} ms, {page[2] / 1e6:.1f} MB")
print(f"peer (static report.html, python http.server): median {peer[0]:.1f} ms, slowest {peer[1]:.1f} ms")
print(f"page / peer: {page[0] / peer[0]:.2f}x")
for api in ["api/trials", "api/study"]:
    m, worst, size = timed(url + api)
    print(f"/{api}: median {m:.1f} ms, slowest {worst:.1f} ms, {size / 1e3:.0f} kB")

journal = "runs/big/journal.jsonl"
api_ms, page_ms = [], []
for _ in range(5):
    version = json.loads(get(url + "api/version")[1])["version"]
    size = os.stat(journal).st_size
    seen = {}
    def wait():
        seen["v"] = json.loads(get(f"{url}api/version?after={version}")[1])["version"]
        seen["api"] = time.perf_counter()
        _, body = get(url)
        seen["page"] = time.perf_counter()
        seen["page_version"] = body.split(b'name="tune-version" content="')[1].split(b'"')[0]
    waiter = threading.Thread(target=wait)
    waiter.start()
    run = subprocess.Popen([tune, "-q", "--stop-after-epochs", "1", "study.json"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while os.stat(journal).st_size == size:
        pass
    grew = time.perf_counter()
    waiter.join()
    run.wait()
    assert seen["v"] != version and seen["page_version"] == str(seen["v"]).encode(), seen
    api_ms.append((seen["api"] - grew) * 1000)
    page_ms.append((seen["page"] - grew) * 1000)
print("new boundary, journal to API: " + ", ".join(f"{x:.0f}" for x in api_ms) + f" ms (slowest {max(api_ms):.0f})")
print("new boundary, journal to its page: " + ", ".join(f"{x:.0f}" for x in page_ms) + f" ms (slowest {max(page_ms):.0f})")
print(f"goals: page under 200 ms: {'yes' if page[1] < 200 else 'no'}; "
      f"boundary through the API under 2 s: {'yes' if max(api_ms) < 2000 else 'no'}")
EOF
