"""Peer for `cargo bench --bench throughput -- --grid`: PyTorch's examples/s on the same MLPs
(11-w-w-1, ReLU, MSE, Adam lr 1e-3), the same standardised wine rows, one thread, batches drawn
from a shuffled pass as our stream does. Prints `width batch examples_per_s` lines."""
import argparse
import csv
import os
import time

import numpy as np
import torch
from stream import Stream

torch.set_num_threads(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "../../studies/data/winequality-red.csv"))
    args = ap.parse_args()
    with open(args.data) as f:
        rows = list(csv.reader(f))
    data = np.array(rows[1:], dtype=np.float32)
    x, y = data[:, :-1], data[:, -1:]
    x = (x - x.mean(0)) / x.std(0)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    n = x.shape[0]
    rng = np.random.default_rng(0)
    for width in [32, 128, 512]:
        for batch in [16, 64, 256, 1024]:
            torch.manual_seed(0)
            model = torch.nn.Sequential(torch.nn.Linear(11, width), torch.nn.ReLU(), torch.nn.Linear(width, width), torch.nn.ReLU(), torch.nn.Linear(width, 1))
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            stream = Stream(n, rng)

            def step():
                idx = stream.next(batch)
                opt.zero_grad()
                loss = torch.nn.functional.mse_loss(model(x[idx]), y[idx])
                loss.backward()
                opt.step()

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
