"""The wine study's training as a program of your own: PyTorch, run by tune once per trial
(studies/wine-torch.json). The same model, optimizer, data order and checkpoints as
benches/peers/optuna_torch.py, so that the two can be compared; resumable exactly from any
checkpoint it reported (model, optimizer, the data stream's generator and position).
"""
import time

T0 = time.perf_counter()  # the program's own time, imports included (benches/command_vs_optuna.sh)

import csv  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

# The client (client/tune_client; `pip install ./client` puts it on the path instead), or a copy of
# it beside this file.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [_here, os.path.join(_here, "..", "..", "client")]
from tune_client import Trial  # noqa: E402


def load(data, split):
    """The study's table split as tune split it, features standardised on the training rows."""
    with open(data) as f:
        rows = list(csv.reader(f))
    body = np.array(rows[1:], dtype=np.float64)
    s = json.load(open(split))
    tr, va = np.array(s["train_rows"]), np.array(s["validation_rows"])
    x, y = body[:, :-1], body[:, -1:]
    mean, sd = x[tr].mean(0), x[tr].std(0)
    sd[sd < 1e-12] = 1.0
    x = (x - mean) / sd
    t = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    return t(x[tr]), t(y[tr]), t(x[va]), t(y[va])


class Stream:
    """Row indices pass after pass, each pass a fresh permutation."""

    def __init__(self, rows, rng, order=None, pos=0):
        self.rows, self.rng = rows, rng
        self.order, self.pos = (rng.permutation(rows) if order is None else order), pos

    def next(self, count):
        idx = []
        while len(idx) < count:
            if self.pos == self.rows:
                self.order, self.pos = self.rng.permutation(self.rows), 0
            take = min(count - len(idx), self.rows - self.pos)
            idx.extend(self.order[self.pos:self.pos + take])
            self.pos += take
        return torch.as_tensor(np.array(idx))


def warm_up():
    """One optimizer step before Trial(): PyTorch sets its optimizers up lazily (about a second,
    measured), so that with "fork": true every trial's process starts with that done. One thread:
    no thread pool may run before a fork."""
    torch.set_num_threads(1)
    m = torch.nn.Linear(2, 1)
    opt = torch.optim.Adam(m.parameters())
    opt.zero_grad()
    m(torch.zeros(1, 2)).sum().backward()
    opt.step()


def main():
    global T0
    warm_up()
    # The study's data and split are the same for every trial: read before Trial(), once per
    # worker with "fork": true.
    xtr, ytr, xva, yva = load(os.environ["TUNE_DATA"], os.environ["TUNE_SPLIT"])
    trial = Trial()
    if trial.forked:
        T0 = time.perf_counter()  # its own time starts at the fork
    torch.set_num_threads(trial.threads)
    batch = int(trial.params["batch_size"])
    lr = float(trial.params["learning_rate"])
    torch.manual_seed(trial.trial)
    layers, width = [], xtr.shape[1]
    for h in (64, 64):
        layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
        width = h
    model = torch.nn.Sequential(*layers, torch.nn.Linear(width, 1))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(trial.trial)
    stream = Stream(xtr.shape[0], rng)
    seen, steps = 0, 0
    if trial.resume_from:
        state = torch.load(trial.resume_from, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        rng.bit_generator.state = state["rng"]
        stream = Stream(xtr.shape[0], rng, state["order"], state["pos"])
        seen, steps = state["examples"], state["steps"]
    for boundary in trial.boundaries_left():
        loss_sum, n = 0.0, boundary - seen
        while seen < boundary:
            b = min(batch, boundary - seen)
            idx = stream.next(b)
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            loss_sum += loss.item() * b
            seen += b
            steps += 1
        with torch.no_grad():
            val = torch.nn.functional.mse_loss(model(xva), yva).item()
        path = trial.checkpoint_path(f"ckpt-{boundary}.pt")
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                    "rng": rng.bit_generator.state, "order": stream.order, "pos": stream.pos,
                    "examples": seen, "steps": steps}, path)
        trial.report(boundary, path, val_loss=val, train_loss=loss_sum / n, steps=steps,
                     program_seconds=time.perf_counter() - T0)


if __name__ == "__main__":
    main()
