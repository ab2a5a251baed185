"""Peer for `cargo bench --bench throughput -- --grid`: PyTorch's examples/s on the same MLPs
(f-w-w-1, ReLU, MSE, Adam lr 1e-3), the same standardised rows (wine, or --data CSV --target COLUMN),
one thread unless --threads, batches drawn from a shuffled pass as our stream does, the loss read
back every step as tune's trainer does. --device cuda keeps the data on the GPU. Prints
`width batch examples_per_s` lines."""
import argparse
import csv
import os
import time

import numpy as np
import torch
from stream import Stream


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "../../studies/data/winequality-red.csv"))
    ap.add_argument("--target", help="the target column (default: the last)")
    ap.add_argument("--widths", default="32,128,512")
    ap.add_argument("--batches", default="16,64,256,1024")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with open(args.data) as f:
        rows = list(csv.reader(f))
    t = rows[0].index(args.target) if args.target else len(rows[0]) - 1
    data = np.array(rows[1:], dtype=np.float32)
    x, y = np.delete(data, t, axis=1), data[:, t : t + 1]
    x = (x - x.mean(0)) / np.where(x.std(0) > 1e-12, x.std(0), 1.0)
    dev = torch.device(args.device)
    x, y = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)
    n, f = x.shape
    rng = np.random.default_rng(0)
    for width in [int(w) for w in args.widths.split(",")]:
        for batch in [int(b) for b in args.batches.split(",")]:
            torch.manual_seed(0)
            model = torch.nn.Sequential(torch.nn.Linear(f, width), torch.nn.ReLU(), torch.nn.Linear(width, width), torch.nn.ReLU(), torch.nn.Linear(width, 1)).to(dev)
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            stream = Stream(n, rng)

            def step():
                idx = stream.next(batch).to(dev)
                opt.zero_grad()
                loss = torch.nn.functional.mse_loss(model(x[idx]), y[idx])
                loss.backward()
                opt.step()
                loss.item()

            for _ in range(5):
                step()
            t0, steps = time.perf_counter(), 0
            while time.perf_counter() - t0 < args.seconds:
                for _ in range(8):
                    step()
                steps += 8
            print(f"{width} {batch} {steps * batch / (time.perf_counter() - t0):.0f}", flush=True)


if __name__ == "__main__":
    main()
