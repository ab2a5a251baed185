"""Writes a synthetic regression data set for benches/cuda/gpu.sh: ROWS rows of FEATURES standard
normal features and a `target` that mixes sines, products and noise (seeded, numpy only)."""
import argparse

import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("--rows", type=int, default=100_000)
ap.add_argument("--features", type=int, default=32)
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--out", required=True)
a = ap.parse_args()
rng = np.random.default_rng(a.seed)
x = rng.standard_normal((a.rows, a.features)).astype(np.float32)
w = rng.standard_normal(a.features) / np.sqrt(a.features)
y = np.sin(x @ w * 2) + 0.5 * x[:, 0] * x[:, 1] + 0.1 * rng.standard_normal(a.rows)
header = ",".join([f"x{i}" for i in range(a.features)] + ["target"])
np.savetxt(a.out, np.column_stack([x, y]), delimiter=",", header=header, comments="", fmt="%.6g")
