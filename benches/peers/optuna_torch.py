"""Peer for benches/study_vs_optuna.sh: the wine study in Optuna + PyTorch, done the way tune does it.

Same split (tune's split.json), features standardised with the training rows' statistics, the same
budget (total = floor(stop_point x training rows) examples per trial, virtual-epoch boundaries at
round(k x total / V), the last batch before a boundary smaller, the data reshuffled at each pass),
a torch.save of model and optimizer at every virtual epoch, the best checkpoint selected by
validation MSE, MLP 11-64-64-1 with Adam, batch size from a list and learning rate log-uniform,
one torch thread per trial. With --params (tune's leaderboard.csv) it trains exactly tune's trials
(enqueued in Optuna in trial order) instead of drawing its own. Prints one JSON line: wall seconds,
examples trained, best val MSE, and each trial's parameters and best val MSE.
"""
import argparse
import csv
import json
import os
import tempfile
import time

import numpy as np
import optuna
import torch
from stream import Stream

optuna.logging.set_verbosity(optuna.logging.WARNING)


def load(data, split):
    with open(data) as f:
        rows = list(csv.reader(f))
    header, body = rows[0], np.array(rows[1:], dtype=np.float64)
    s = json.load(open(split))
    tr, va = np.array(s["train_rows"]), np.array(s["validation_rows"])
    x, y = body[:, :-1], body[:, -1:]
    mean, sd = x[tr].mean(0), x[tr].std(0)
    sd[sd < 1e-12] = 1.0
    x = (x - mean) / sd
    t = lambda a: torch.tensor(a, dtype=torch.float32)
    return t(x[tr]), t(y[tr]), t(x[va]), t(y[va])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", required=True)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--sampler", default="random", choices=["random", "tpe", "gp"])
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--stop-point", type=float, default=50)
    ap.add_argument("--virtual-epochs", type=int, default=10)
    ap.add_argument("--hidden", default="64,64")
    ap.add_argument("--batch-sizes", default="16,32,64,128,256")
    ap.add_argument("--params", help="tune's leaderboard.csv: train these trials' parameters")
    args = ap.parse_args()
    torch.set_num_threads(1)
    xtr, ytr, xva, yva = load(args.data, args.split)
    n = xtr.shape[0]
    total = int(args.stop_point * n)
    V = args.virtual_epochs
    bounds = [(2 * k * total + V) // (2 * V) for k in range(V + 1)]
    hidden = [int(h) for h in args.hidden.split(",")]
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    ckdir = tempfile.mkdtemp(prefix="optuna-torch-")

    def objective(trial):
        torch.set_num_threads(1)
        batch = trial.suggest_categorical("batch_size", batch_sizes)
        lr = trial.suggest_float("learning_rate", 1e-4, 1e-1, log=True)
        torch.manual_seed(trial.number)
        layers, width = [], xtr.shape[1]
        for h in hidden:
            layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
            width = h
        model = torch.nn.Sequential(*layers, torch.nn.Linear(width, 1))
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        rng = np.random.default_rng(trial.number)
        stream, best = Stream(n, rng), float("inf")
        for k in range(1, V + 1):
            left = bounds[k] - bounds[k - 1]
            while left > 0:
                b = min(batch, left)
                idx = stream.next(b)
                opt.zero_grad()
                loss = torch.nn.functional.mse_loss(model(xtr[idx]), ytr[idx])
                loss.backward()
                opt.step()
                left -= b
            with torch.no_grad():
                val = torch.nn.functional.mse_loss(model(xva), yva).item()
            path = os.path.join(ckdir, f"trial{trial.number}-ve{k}.pt")
            torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "examples": bounds[k], "pos": stream.pos}, path)
            if val < best:
                best = val
        return best

    sampler = {
        "random": lambda: optuna.samplers.RandomSampler(seed=args.seed),
        "tpe": lambda: optuna.samplers.TPESampler(seed=args.seed),
        "gp": lambda: optuna.samplers.GPSampler(seed=args.seed),
    }[args.sampler]()
    study = optuna.create_study(sampler=sampler)
    if args.params:
        with open(args.params) as f:
            rows = sorted(csv.DictReader(f), key=lambda r: int(r["trial"]))
        for r in rows:
            study.enqueue_trial({"batch_size": int(r["batch_size"]), "learning_rate": float(r["learning_rate"])})
        args.trials = len(rows)
    t0 = time.perf_counter()
    study.optimize(objective, n_trials=args.trials, n_jobs=args.jobs)
    wall = time.perf_counter() - t0
    trials = [{"batch_size": t.params["batch_size"], "learning_rate": t.params["learning_rate"], "best_val_loss": t.value} for t in study.trials]
    print(json.dumps({"wall": wall, "examples": total * args.trials, "best_val_loss": study.best_value, "trials": trials}))


if __name__ == "__main__":
    main()
