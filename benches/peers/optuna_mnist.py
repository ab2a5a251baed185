"""Peer for benches/mnist_vs_optuna.sh: the MNIST-on-digits example (studies/programs/mnist/main.py,
pytorch/examples' script on the 8x8 digits) tuned by Optuna, its training run in-process, the way
a user of Optuna writes it: the same Net, train() and test() (imported from the example), the same
budget (the examples of --examples per trial, validated and checkpointed (torch.save of model,
optimizer and scheduler) at each of --virtual-epochs boundaries, the batch that reaches a boundary
cut there, the data reshuffled at each pass), the same lr, batch_size and gamma as tune's trials
(--params: tune's leaderboard.csv, enqueued in trial order), --jobs trials at once (threads; one
torch thread each). Prints one JSON line: wall seconds of optimize(), and each trial's best
validation loss.
"""
import argparse
import csv
import json
import os
import sys
import tempfile
import time

import optuna
import torch
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path[:0] = [os.path.join(root, "studies", "programs", "mnist"), os.path.join(root, "client")]
import main as example  # noqa: E402  (the example's Net, Digits, train, test)

optuna.logging.set_verbosity(optuna.logging.WARNING)


class Budget:
    """The batches of one virtual epoch as a DataLoader draws them (each row by the dataset's
    __getitem__, then collated), as the example's loader does: `n` examples from a stream
    reshuffled at each pass, the last batch cut to end exactly there."""

    def __init__(self, data, batch, n, gen, state):
        self.dataset, self.batch, self.n, self.gen, self.state = data, batch, n, gen, state

    def __len__(self):
        return -(-self.n // self.batch)

    def __iter__(self):
        left, batches = self.n, []
        while left > 0:
            if self.state["at"] >= len(self.state["order"]):
                self.state["order"] = torch.randperm(len(self.dataset), generator=self.gen).tolist()
                self.state["at"] = 0
            take = min(self.batch, left, len(self.state["order"]) - self.state["at"])
            batches.append(self.state["order"][self.state["at"]:self.state["at"] + take])
            self.state["at"] += take
            left -= take
        return iter(torch.utils.data.DataLoader(self.dataset, batch_sampler=batches))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--params", required=True)
    ap.add_argument("--examples", type=int, required=True)
    ap.add_argument("--virtual-epochs", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(1)
    train_set, test_set = example.Digits(a.data, True), example.Digits(a.data, False)
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=1000)
    rows = sorted(csv.DictReader(open(a.params)), key=lambda r: int(r["trial"]))
    bounds = [round(k * a.examples / a.virtual_epochs) for k in range(a.virtual_epochs + 1)]
    args = argparse.Namespace(log_interval=10, dry_run=False)
    ckpts = tempfile.mkdtemp()

    def objective(trial):
        lr = trial.suggest_float("lr", 0.05, 3.0, log=True)
        batch = trial.suggest_categorical("batch_size", [16, 32, 64, 128])
        gamma = trial.suggest_float("gamma", 0.5, 0.95)
        torch.manual_seed(trial.number)
        gen = torch.Generator().manual_seed(trial.number)
        model = example.Net()
        opt = optim.Adadelta(model.parameters(), lr=lr)
        sched = StepLR(opt, step_size=1, gamma=gamma)
        state = {"order": [], "at": 0}
        best = float("inf")
        for k in range(1, a.virtual_epochs + 1):
            loader = Budget(train_set, batch, bounds[k] - bounds[k - 1], gen, state)
            example.train(args, model, "cpu", loader, opt, k)
            val = example.test(model, "cpu", test_loader)
            sched.step()
            torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                        "scheduler": sched.state_dict()},
                       os.path.join(ckpts, f"{trial.number}-{k}.pt"))
            trial.report(val, k)
            best = min(best, val)
        return best

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for r in rows:
        study.enqueue_trial({"lr": float(r["lr"]), "batch_size": int(r["batch_size"]),
                             "gamma": float(r["gamma"])})
    # The example's prints (each batch's loss, each test) go where tune's go: to a log, not a terminal.
    out, sys.stdout = sys.stdout, open(os.devnull, "w")
    t0 = time.perf_counter()
    study.optimize(objective, n_trials=len(rows), n_jobs=a.jobs)
    wall = time.perf_counter() - t0
    sys.stdout = out
    print(json.dumps({"wall": wall, "trials": [t.value for t in study.trials]}))


if __name__ == "__main__":
    main()
