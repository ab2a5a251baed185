#!/usr/bin/env bash
# Builds the CUDA binary of tune on a machine without CUDA (this project's development machines), to be
# carried to a GPU machine: target/cuda/release/tune and the throughput bench target/cuda/release/throughput
# (benches/cuda/gpu.sh runs them there). Needs python3 with pip (PyPI) and gcc.
#   - nvcc, cicc and the CUDA headers (with CCCL's) come from PyPI's nvidia-* wheels, pinned to CUDA 13.0 so that
#     the PTX dfdx compiles at build time loads on a 13.0 driver (580) and newer;
#   - dfdx's build asks `nvidia-smi` for the compute capability: a stand-in prints CAP (default 9.0,
#     the H100's);
#   - cudarc 0.9 links libcuda, libnvrtc, libcublas, libcublasLt and libcurand: the link is against
#     stub libraries with the sonames of CUDA 13's (libcublas.so.13 …), so the binary loads the GPU
#     machine's real ones. Symbols bind lazily: one that CUDA 13 lacks fails only if it is called.
# Usage: benches/cuda/build.sh [CAP]
set -eu
cd "$(dirname "$0")/../.."
cap=${1:-9.0}
ver=13.0.88
kit=$PWD/target/cuda-toolkit
root=$kit/nvidia/cu13
if [ ! -x "$root/bin/nvcc" ] || [ ! -x "$root/nvvm/bin/cicc" ] || [ ! -f "$root/include/cuda.h" ] || [ ! -f "$root/include/nv/target" ]; then
  mkdir -p "$kit/wheels"
  python3 -m pip download -q --no-deps -d "$kit/wheels" \
    "nvidia-cuda-nvcc==$ver" "nvidia-nvvm==$ver" "nvidia-cuda-crt==$ver" "nvidia-cuda-runtime==13.0.96" \
    "nvidia-cuda-cccl==13.0.85"
  for w in "$kit"/wheels/*.whl; do python3 -m zipfile -e "$w" "$kit"; done
  chmod +x "$root"/bin/* "$root"/nvvm/bin/* 2>/dev/null || true
fi

# The stand-in nvidia-smi.
mkdir -p "$kit/smi"
printf '#!/bin/sh\nprintf "compute_cap\\n%s\\n"\n' "$cap" > "$kit/smi/nvidia-smi"
chmod +x "$kit/smi/nvidia-smi"

# Stub libraries: every symbol the binary needs from each library, as an empty function.
stubs=$kit/stubs
mkdir -p "$stubs"
export PATH="$kit/smi:$root/bin:$PATH" CUDA_ROOT="$root"
build() {
  RUSTFLAGS="-L native=$stubs -C link-arg=-Wl,-z,lazy" \
    cargo build --release --features cuda --target-dir target/cuda "$@"
}
make_stubs() {
  for lib in cuda:libcuda.so.1:'^cu[A-Z]' nvrtc:libnvrtc.so.13:'^nvrtc' cublasLt:libcublasLt.so.13:'^cublasLt' \
             cublas:libcublas.so.13:'^cublas[^L]' curand:libcurand.so.10:'^curand'; do
    IFS=: read -r name soname pattern <<< "$lib"
    pattern=${pattern//\'/}
    { for s in $(echo "$1" | grep -E "$pattern"); do echo "void $s(void) {}"; done; } > "$stubs/$name.c"
    gcc -shared -fPIC -o "$stubs/lib$name.so" -Wl,-soname,"$soname" "$stubs/$name.c"
  done
}
if [ ! -f "$stubs/.done" ]; then
  # Empty stubs first; each failing link names undefined symbols (a linker may name only some per
  # run), which go into the stubs, until the link succeeds.
  undefined=""
  make_stubs ""
  for _ in $(seq 30); do
    if build 2>"$kit/link.log"; then touch "$stubs/.done"; break; fi
    more=$(grep -oE "undefined (symbol: |reference to .)[A-Za-z0-9_]+" "$kit/link.log" | sed -E "s/^undefined (symbol: |reference to .)//" | sort -u)
    [ -n "$more" ] || { tail -30 "$kit/link.log"; echo "the link failed for another reason than CUDA symbols" >&2; exit 1; }
    undefined=$(printf '%s\n%s\n' "$undefined" "$more" | sort -u)
    make_stubs "$undefined"
  done
  [ -f "$stubs/.done" ] || { echo "could not satisfy the link with stubs" >&2; exit 1; }
fi
build
# The throughput bench too, for benches/cuda/gpu.sh (same flags: nothing is built twice).
RUSTFLAGS="-L native=$stubs -C link-arg=-Wl,-z,lazy" \
  cargo bench --no-run --bench throughput --features cuda --target-dir target/cuda 2>&1 | tail -1
bench=$(ls -t target/cuda/release/deps/throughput-* | grep -v '\.d$' | head -1)
cp "$bench" target/cuda/release/throughput
echo "built target/cuda/release/tune and target/cuda/release/throughput (CUDA 13 sonames, sm_${cap/./})"
