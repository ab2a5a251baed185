"""Peer for benches/pruning.sh: tune's trials in Optuna + PyTorch with one of Optuna's pruners.

Trains the way benches/peers/optuna_torch.py does (tune's split from split.json, features
standardised with the training rows' statistics, total = floor(stop_point x training rows) examples
per trial, virtual-epoch boundaries at round(k x total / V), the last batch before a boundary
smaller, tune's data stream, a torch.save of model and optimizer at every virtual epoch, a ReLU MLP
with Adam, one torch thread), for regression (MSE) or classification (cross-entropy; metric
accuracy or val_loss). With --params (tune's leaderboard.csv) it trains exactly tune's trials,
enqueued in trial order.

At every virtual epoch k the trial reports to Optuna at step k (the virtual epoch index, 1-based)
and asks should_prune(). What it reports is what tune's matching rule judges:
  - median: the validation metric at the boundary (Optuna's MedianPruner compares the trial's best
    reported value with the median of the other trials' values at the step, which is tune's median
    rule); n_warmup_steps = warmup + 1, because tune's warmup_virtual_epochs W first judges at
    virtual epoch W + 1 and Optuna's first judges at step == n_warmup_steps;
  - sha, hyperband: the best value so far (tune's ASHA ranks trials by their best checkpoint up to
    the rung); --report overrides this.
SuccessiveHalvingPruner(min_resource, reduction_factor) has its rungs at min x eta^k steps, tune's
rungs; HyperbandPruner(min_resource, max_resource = virtual epochs, reduction_factor) splits the
trials into brackets (by a hash of the study name, fixed here, and the trial number).

Prints one JSON line: wall seconds of study.optimize, examples trained (summed over trials, pruned
ones up to where they stopped), the best metric among trials that reached the full budget (what
study.best_value gives), the best among all trials, the counts, and each trial.
"""
import argparse
import csv
import json
import os
import shutil
import tempfile
import time

import numpy as np
import optuna
import torch
from stream import Stream
from tabular import load

optuna.logging.set_verbosity(optuna.logging.WARNING)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", required=True)
    ap.add_argument("--target", help="target column (default: the last)")
    ap.add_argument("--task", default="regression", choices=["regression", "classification"])
    ap.add_argument("--metric", default="val_loss", choices=["val_loss", "accuracy"])
    ap.add_argument("--pruner", default="none", choices=["none", "median", "sha", "hyperband"])
    ap.add_argument("--report", default="auto", choices=["auto", "current", "best"],
                    help="value reported at each step (auto: current for median, best for sha/hyperband)")
    ap.add_argument("--reduction-factor", type=int, default=3)
    ap.add_argument("--min-resource", type=int, default=1, help="first rung, in virtual epochs")
    ap.add_argument("--warmup", type=int, default=2, help="tune's warmup_virtual_epochs (median)")
    ap.add_argument("--min-trials", type=int, default=5, help="MedianPruner's n_startup_trials")
    ap.add_argument("--trials", type=int, default=27)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--stop-point", type=float, default=50)
    ap.add_argument("--virtual-epochs", type=int, default=10)
    ap.add_argument("--hidden", default="64,64")
    ap.add_argument("--batch-sizes", default="16,32,64,128,256")
    ap.add_argument("--params", help="tune's leaderboard.csv: train these trials' parameters")
    args = ap.parse_args()
    if args.task == "regression" and args.metric == "accuracy":
        ap.error("accuracy needs --task classification")
    torch.set_num_threads(1)
    xtr, ytr, xva, yva, outputs = load(args.data, args.split, args.target, args.task)
    n = xtr.shape[0]
    total = int(args.stop_point * n)
    V = args.virtual_epochs
    bounds = [(2 * k * total + V) // (2 * V) for k in range(V + 1)]
    hidden = [int(h) for h in args.hidden.split(",")]
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    maximize = args.metric == "accuracy"
    better = (lambda a, b: a > b) if maximize else (lambda a, b: a < b)
    report = args.report
    if report == "auto":
        report = "best" if args.pruner in ("sha", "hyperband") else "current"
    loss_fn = torch.nn.functional.cross_entropy if args.task == "classification" else torch.nn.functional.mse_loss
    ckdir = tempfile.mkdtemp(prefix="optuna-pruners-")

    def objective(trial):
        torch.set_num_threads(1)
        batch = trial.suggest_categorical("batch_size", batch_sizes)
        lr = trial.suggest_float("learning_rate", 1e-4, 1e-1, log=True)
        torch.manual_seed(trial.number)
        layers, width = [], xtr.shape[1]
        for h in hidden:
            layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
            width = h
        model = torch.nn.Sequential(*layers, torch.nn.Linear(width, outputs))
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        rng = np.random.default_rng(trial.number)
        stream, best = Stream(n, rng), None
        for k in range(1, V + 1):
            left = bounds[k] - bounds[k - 1]
            while left > 0:
                b = min(batch, left)
                idx = stream.next(b)
                opt.zero_grad()
                loss = loss_fn(model(xtr[idx]), ytr[idx])
                loss.backward()
                opt.step()
                left -= b
            with torch.no_grad():
                out = model(xva)
                if args.metric == "accuracy":
                    val = (out.argmax(1) == yva).double().mean().item()
                else:
                    val = loss_fn(out, yva).item()
            path = os.path.join(ckdir, f"trial{trial.number}-ve{k}.pt")
            torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "examples": bounds[k], "pos": stream.pos}, path)
            if best is None or better(val, best):
                best = val
            trial.set_user_attr("examples", bounds[k])
            trial.set_user_attr("best", best)
            trial.set_user_attr("virtual_epochs", k)
            if args.pruner != "none":
                trial.report(best if report == "best" else val, k)
                if k < V and trial.should_prune():
                    raise optuna.TrialPruned()
        return best

    eta, rmin = args.reduction_factor, args.min_resource
    pruner = {
        "none": lambda: optuna.pruners.NopPruner(),
        "median": lambda: optuna.pruners.MedianPruner(
            n_startup_trials=args.min_trials, n_warmup_steps=args.warmup + 1, interval_steps=1),
        "sha": lambda: optuna.pruners.SuccessiveHalvingPruner(
            min_resource=rmin, reduction_factor=eta, min_early_stopping_rate=0),
        "hyperband": lambda: optuna.pruners.HyperbandPruner(
            min_resource=rmin, max_resource=V, reduction_factor=eta),
    }[args.pruner]()
    study = optuna.create_study(
        study_name="pruning-bench",
        direction="maximize" if maximize else "minimize",
        sampler=optuna.samplers.RandomSampler(seed=args.seed),
        pruner=pruner,
    )
    if args.params:
        with open(args.params) as f:
            rows = sorted(csv.DictReader(f), key=lambda r: int(r["trial"]))
        for r in rows:
            study.enqueue_trial({"batch_size": int(r["batch_size"]), "learning_rate": float(r["learning_rate"])})
        args.trials = len(rows)
    t0 = time.perf_counter()
    study.optimize(objective, n_trials=args.trials, n_jobs=1)
    wall = time.perf_counter() - t0
    shutil.rmtree(ckdir, ignore_errors=True)
    trials = [{
        "trial": t.number,
        "state": t.state.name.lower(),
        "batch_size": t.params["batch_size"],
        "learning_rate": t.params["learning_rate"],
        "virtual_epochs": t.user_attrs.get("virtual_epochs", 0),
        "examples": t.user_attrs.get("examples", 0),
        "best": t.user_attrs.get("best"),
    } for t in study.trials]
    done = [t for t in trials if t["state"] == "complete"]
    pick = max if maximize else min
    print(json.dumps({
        "pruner": args.pruner,
        "report": report if args.pruner != "none" else None,
        "wall": wall,
        "examples": sum(t["examples"] for t in trials),
        "best": pick(t["best"] for t in done) if done else None,
        "best_any": pick(t["best"] for t in trials if t["best"] is not None),
        "complete": len(done),
        "pruned": sum(t["state"] == "pruned" for t in trials),
        "trials": trials,
    }))


if __name__ == "__main__":
    main()
