#!/usr/bin/env bash
# Runs on a GPU machine (no Rust needed), from the repository root, with the binaries that
# benches/cuda/build.sh made here: target/cuda/release/{tune,throughput}. Prints, for MLP 512-512 on a
# synthetic 100,000-row data set at batch 64, 1024 and 8192: examples/s of tune on CUDA, tune on the
# CPU, PyTorch on CUDA and PyTorch on the CPU (all cores), and the ratios; then the wine study on
# CUDA (one and four trials at once on the GPU) against the CPU, and a study begun on CUDA and
# resumed on the CPU. Results go to $OUT (or a temp folder) as well.
# Usage: benches/cuda/gpu.sh [SECONDS_PER_CELL]
set -eu
cd "$(dirname "$0")/../.."
secs=${1:-3}
out=${OUT:-$(mktemp -d)}
bin=target/cuda/release
py=${PYTHON:-python3}
# GPU_DEVICE=cpu runs the whole script without a GPU (to check the script itself).
gpu=${GPU_DEVICE:-cuda}
nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
# The binaries need the driver's libcuda.so.1 and CUDA 13's libcublas.so.13: from the toolkit, or
# from PyTorch's nvidia-* wheels when the toolkit's lib64 is not on the loader's path.
if ldd "$bin/tune" | grep -q "not found"; then
  dirs=("${CUDA_HOME:-/usr/local/cuda}/lib64" /usr/local/cuda-13*/lib64)
  dirs+=($("$py" -c 'import nvidia, os; print(" ".join(os.path.join(p, s, "lib") for p in nvidia.__path__ for s in ("cu13", "cublas")))' 2>/dev/null || true))
  for d in "${dirs[@]}"; do
    [ -e "$d/libcublas.so.13" ] && export LD_LIBRARY_PATH="$d:${LD_LIBRARY_PATH:-}" && break
  done
fi
if ldd "$bin/tune" | grep "not found"; then
  echo "the CUDA build of tune cannot find the libraries above (it was linked for CUDA 13)" >&2
  exit 1
fi
cores=$(nproc)
"$py" benches/cuda/synthetic.py --rows 100000 --out "$out/synthetic.csv"
cells() { # label command...: prints "label width batch examples/s" lines
  local label=$1; shift
  "$@" | while read -r w b e; do echo "$label $w $b $e"; done
}
{
  cells tune-cuda "$bin/throughput" --device "$gpu" --data "$out/synthetic.csv" --target target \
    --widths 512 --batches 64,1024,8192 --seconds "$secs"
  cells tune-cpu "$bin/throughput" --device cpu --threads "$cores" --data "$out/synthetic.csv" \
    --target target --widths 512 --batches 64,1024,8192 --seconds "$secs"
  cells torch-cuda "$py" benches/peers/torch_throughput.py --device "$gpu" --data "$out/synthetic.csv" \
    --target target --widths 512 --batches 64,1024,8192 --seconds "$secs"
  cells torch-cpu "$py" benches/peers/torch_throughput.py --threads "$cores" --data "$out/synthetic.csv" \
    --target target --widths 512 --batches 64,1024,8192 --seconds "$secs"
} | tee "$out/throughput.txt"
echo
printf '%-6s %14s %14s %14s %14s %12s %12s\n' batch tune-cuda tune-cpu torch-cuda torch-cpu "cuda/cpu" "tune/torch"
for b in 64 1024 8192; do
  get() { awk -v l="$1" -v b="$b" '$1==l && $3==b {print $4}' "$out/throughput.txt"; }
  tc=$(get tune-cuda); tp=$(get tune-cpu); pc=$(get torch-cuda); pp=$(get torch-cpu)
  printf '%-6s %14s %14s %14s %14s %12.2f %12.2f\n' "$b" "$tc" "$tp" "$pc" "$pp" \
    "$(awk -v a="$tc" -v b="$tp" 'BEGIN {print a / b}')" "$(awk -v a="$tc" -v b="$pc" 'BEGIN {print a / b}')"
done
echo
for run in "$gpu 1" "$gpu 4" "cpu 0"; do
  set -- $run
  par=$2; [ "$par" = 0 ] && par=$cores
  line=$("$bin/tune" -q --device "$1" --parallel "$par" --out "$out/wine-$1-$2" studies/wine.json | grep -E '^(this run|overhead)' | paste -sd ' ')
  [ "$2" = 1 ] && cp -r "$out/wine-$1-$2" "$out/wine-gpu-ref"
  echo "wine, $1, parallel $par: $line"
done
# Several trials sharing the GPU on a model that keeps it busy: MLP 512-512 on the synthetic rows,
# 4 trials of 4M examples (batch 1024 and 8192), 1, 2 and 4 at once.
cat > "$out/syn.json" <<EOF
{"name": "syn", "data": {"path": "$out/synthetic.csv", "target": "target", "task": "regression"},
 "model": {"hidden": [512, 512]}, "budget": {"total_examples": 4000000, "virtual_epochs": 4},
 "search": {"method": "grid", "space": {"batch_size": [1024, 8192], "learning_rate": [0.001, 0.003]}}}
EOF
for p in 1 2 4; do
  line=$("$bin/tune" -q --device "$gpu" --parallel "$p" --out "$out/syn-$p" "$out/syn.json" | grep -E '^this run' | paste -sd ' ')
  echo "synthetic 512-512, $gpu, parallel $p: $line"
done
# Begun on CUDA and stopped after 25 virtual epochs (trial 2 at its 5th of 10), then resumed on CUDA,
# and (another copy) on the CPU: against the uninterrupted CUDA and CPU runs.
for dev2 in "$gpu" cpu; do
  "$bin/tune" -q --device "$gpu" --parallel 1 --stop-after-epochs 25 --out "$out/wine-x-$dev2" studies/wine.json >/dev/null || true
  "$bin/tune" -q --device "$dev2" --parallel 1 --out "$out/wine-x-$dev2" studies/wine.json >/dev/null
done
"$py" - "$out" "$gpu" <<'PY'
import csv, sys
out, gpu = sys.argv[1:]
def board(d):
    return {r["trial"]: r for r in csv.DictReader(open(f"{out}/{d}/leaderboard.csv"))}
def curve(d, t):
    return [float(r["val_loss"]) for r in csv.DictReader(open(f"{out}/{d}/trials/{t}/curve.csv"))]
ref_gpu, ref_cpu = board(f"wine-{gpu}-1"), board("wine-cpu-0")
cols = ["status", "steps", "best_virtual_epoch", "best_val_loss", "final_val_loss"]
same = all(board(f"wine-x-{gpu}")[t][c] == ref_gpu[t][c] for t in ref_gpu for c in cols)
print(f"stopped and resumed on {gpu}: leaderboard identical to the uninterrupted {gpu} run: {same}")
same = all(board(f"wine-{gpu}-4")[t][c] == ref_gpu[t][c] for t in ref_gpu for c in cols)
print(f"{gpu} with 4 trials at once: leaderboard identical to 1 at a time: {same}")
rel = sorted(abs(float(ref_gpu[t]["best_val_loss"]) / float(ref_cpu[t]["best_val_loss"]) - 1) for t in ref_cpu)
print(f"{gpu} vs CPU, best val loss per trial: median relative difference {rel[len(rel) // 2]:.1e}, largest {rel[-1]:.1e}")
x, g, c = curve("wine-x-cpu", 2), curve(f"wine-{gpu}-1", 2), curve("wine-cpu-0", 2)
print("trial 2, val loss by virtual epoch (5 on the GPU, then the CPU):")
for k, (a, b, d) in enumerate(zip(x, g, c), 1):
    print(f"  {k:2d}  resumed {a:.6f}  {gpu}-only {b:.6f}  cpu-only {d:.6f}")
PY
echo "results in $out"
