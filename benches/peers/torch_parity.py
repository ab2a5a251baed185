"""Peer for benches/parity.sh: tune's trials of a study, trained again in PyTorch (issue 32).

Reads the study's spec (its `model` and `budget`), its split (split.json: the training and
validation rows tune used) and its leaderboard (each trial's parameters), and trains each trial as
tune's built-in trainer does: features standardised with the training rows' statistics, total =
floor(stop_point x training rows) examples, virtual-epoch boundaries at round(k x total / V) (the
last batch before a boundary smaller), tune's data stream (benches/peers/stream.py), an MLP of
`depth` hidden layers `hidden_width` wide with the activation and inverted dropout after each,
Adam or SGD, the learning rate of every step a function of the examples seen before it (warm-up,
then constant, linear or cosine decay to min_lr_fraction; lr_scaling against
reference_batch_size), gradients clipped by their global norm when max_grad_norm is set, the
validation loss (MSE, or cross-entropy) at every boundary, and a torch.save of model and optimizer
there. One torch thread. Weights start from PyTorch's own initialisation (not tune's), so the
comparison is of quality across trials, not of single numbers.

Prints one JSON line per trial: trial, batch size, learning rate, best validation loss, seconds (the
whole trial: training, validation, checkpoints), examples. `--seed` varies PyTorch's initialisation
and data order, as the study's seed varies tune's.
"""
import argparse
import csv
import json
import math
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from stream import Stream  # noqa: E402
from tabular import load  # noqa: E402


def multiplier(kind, warmup, minimum, seen, total):
    """The share of the peak rate after `seen` of `total` examples (tune's schedule.rs)."""
    total = max(total, 1)
    warm = warmup * total
    if seen < warm:
        return seen / warm
    p = min(max((seen - warm) / (total - warm), 0.0), 1.0)
    if kind == "constant":
        return 1.0
    if kind == "linear":
        return 1.0 - (1.0 - minimum) * p
    return minimum + (1.0 - minimum) * 0.5 * (1.0 + math.cos(math.pi * p))


ACTIVATIONS = {
    "relu": torch.nn.ReLU,
    "gelu": lambda: torch.nn.GELU(approximate="none"),
    "tanh": torch.nn.Tanh,
    "silu": torch.nn.SiLU,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", required=True, help="tune's study.json")
    ap.add_argument("--study", required=True, help="the study's folder (split.json, leaderboard.csv)")
    ap.add_argument("--data", required=True)
    ap.add_argument("--seed", type=int, default=0, help="varies PyTorch's initialisation and data order")
    args = ap.parse_args()
    torch.set_num_threads(1)
    spec = json.load(open(args.spec))
    d, m, b = spec["data"], spec.get("model", {}), spec["budget"]
    task = d.get("task", "regression")
    xtr, ytr, xva, yva, outputs = load(args.data, os.path.join(args.study, "split.json"), d.get("target"), task)
    n = xtr.shape[0]
    total = int(b["stop_point"] * n)
    V = b["virtual_epochs"]
    bounds = [(2 * k * total + V) // (2 * V) for k in range(V + 1)]
    loss_fn = torch.nn.functional.cross_entropy if task == "classification" else torch.nn.functional.mse_loss
    with open(os.path.join(args.study, "leaderboard.csv")) as f:
        rows = sorted(csv.DictReader(f), key=lambda r: int(r["trial"]))
    ckdir = tempfile.mkdtemp(prefix="torch-parity-")

    def setting(row, name, default, cast=float):
        v = row.get(name, "")
        if v not in ("", None):
            return cast(v)
        return cast(m[name]) if name in m and m[name] is not None else default

    for row in rows:
        t = int(row["trial"])
        batch = int(row["batch_size"])
        lr = float(row["learning_rate"])
        hidden = m.get("hidden", [64])
        width = setting(row, "hidden_width", hidden[0] if hidden else 64, int)
        depth = setting(row, "depth", len(hidden), int)
        act = setting(row, "activation", "relu", str)
        dropout = setting(row, "dropout", 0.0)
        optimizer = setting(row, "optimizer", "adam", str)
        kind = setting(row, "schedule", "constant", str)
        warmup = setting(row, "warmup", 0.0)
        minimum = setting(row, "min_lr_fraction", 0.0)
        scaling = setting(row, "lr_scaling", "none", str)
        reference = setting(row, "reference_batch_size", 32, int)
        clip = setting(row, "max_grad_norm", None, lambda v: None if v is None else float(v))
        weight_decay = setting(row, "weight_decay", 0.0)
        momentum = setting(row, "momentum", 0.9)
        peak = lr * {"none": 1.0, "linear": batch / reference, "sqrt": math.sqrt(batch / reference)}[scaling]
        torch.manual_seed(args.seed * 100003 + t)
        layers, w = [], xtr.shape[1]
        for _ in range(depth):
            layers += [torch.nn.Linear(w, width), ACTIVATIONS[act]()]
            if dropout > 0:
                layers.append(torch.nn.Dropout(dropout))
            w = width
        model = torch.nn.Sequential(*layers, torch.nn.Linear(w, outputs))
        if optimizer == "sgd":
            opt = torch.optim.SGD(model.parameters(), lr=peak, momentum=momentum, weight_decay=weight_decay)
        else:
            opt = torch.optim.Adam(model.parameters(), lr=peak, weight_decay=weight_decay)
        rng = np.random.default_rng(args.seed * 100003 + t)
        stream, best, seen = Stream(n, rng), math.inf, 0
        start = time.perf_counter()
        for k in range(1, V + 1):
            model.train()
            left = bounds[k] - bounds[k - 1]
            while left > 0:
                bs = min(batch, left)
                for g in opt.param_groups:
                    g["lr"] = peak * multiplier(kind, warmup, minimum, seen, total)
                idx = stream.next(bs)
                opt.zero_grad()
                loss = loss_fn(model(xtr[idx]), ytr[idx])
                loss.backward()
                if clip is not None:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
                opt.step()
                left -= bs
                seen += bs
            model.eval()
            with torch.no_grad():
                val = loss_fn(model(xva), yva).item()
            torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "examples": seen, "pos": stream.pos},
                       os.path.join(ckdir, f"trial{t}-ve{k}.pt"))
            if val < best:
                best = val
        seconds = time.perf_counter() - start
        print(json.dumps({"trial": t, "batch_size": batch, "learning_rate": lr, "best_val_loss": best,
                          "seconds": seconds, "examples": seen}),
              flush=True)
    shutil.rmtree(ckdir, ignore_errors=True)


if __name__ == "__main__":
    main()
