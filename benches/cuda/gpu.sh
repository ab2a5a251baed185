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
    "$(echo "$tc / $tp" | bc -l)" "$(echo "$tc / $pc" | bc -l)"
done
echo
for run in "$gpu 1" "$gpu 4" "cpu 0"; do
  set -- $run
  par=$2; [ "$par" = 0 ] && par=$cores
  line=$("$bin/tune" -q --device "$1" --parallel "$par" --out "$out/wine-$1-$2" studies/wine.json | grep -E '^(this run|overhead)' | paste -sd ' ')
  [ "$2" = 1 ] && cp -r "$out/wine-$1-$2" "$out/wine-gpu-ref"
  echo "wine, $1, parallel $par: $line"
done
# Begun on CUDA, stopped after 25 virtual epochs, resumed on the CPU: compare with the CPU-only run.
"$bin/tune" -q --device "$gpu" --parallel 1 --stop-after-epochs 25 --out "$out/wine-x" studies/wine.json >/dev/null || true
"$bin/tune" -q --device cpu --parallel 1 --out "$out/wine-x" studies/wine.json >/dev/null
"$py" - "$out/wine-x/leaderboard.csv" "$out/wine-cpu-0/leaderboard.csv" "$out/wine-gpu-ref/leaderboard.csv" <<'PY'
import csv, sys
def rows(p):
    return {r["trial"]: float(r["best_val_loss"]) for r in csv.DictReader(open(p))}
x, cpu, cuda = (rows(p) for p in sys.argv[1:])
for name, ref in (("CPU-only", cpu), ("CUDA-only", cuda)):
    d = max(abs(x[t] - ref[t]) / max(abs(ref[t]), 1e-12) for t in ref)
    print(f"resumed on the CPU vs the {name} run: largest relative difference in best val loss {d:.2e}")
PY
echo "results in $out"
