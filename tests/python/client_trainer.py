"""A trainer that finds tune_client where pip installed it (tests/client_package.rs copies it into a
folder of its own and runs it with a venv's python): a line fitted by SGD on 30 rows, batches from
tune_client.stream, its state (weights, steps) in a JSON checkpoint, so that a resumed trial goes
on exactly when the stream gives it the same batches. It fails when tune_client came from
anywhere but an installed package, when importing it imported anything heavy, or when its batches
do not end at the boundary.
"""

import json
import sys

import tune_client
from tune_client import Trial
from tune_client.stream import Stream

if "site-packages" not in tune_client.__file__.replace("\\", "/").split("/"):
    sys.exit(f"tune_client came from {tune_client.__file__}, not from an installed package")
for heavy in ("torch", "numpy"):
    if heavy in sys.modules:
        sys.exit(f"import tune_client imported {heavy}")


def rows(n, start):
    """y = 3x - 1 plus a little noise, x in [-1, 1): the same rows on every run."""
    out, s = [], start
    for _ in range(n):
        s = (s * 6364136223846793005 + 1442695040888963407) % 2**64
        x = (s >> 11) / 2**53 * 2 - 1
        s = (s * 6364136223846793005 + 1442695040888963407) % 2**64
        out.append((x, 3 * x - 1 + 0.1 * ((s >> 11) / 2**53 - 0.5)))
    return out


def main():
    trial = Trial()
    lr = float(trial.params["learning_rate"])
    train, val = rows(30, 1), rows(10, 2)
    stream = Stream.for_trial(trial, len(train), trial.params["batch_size"])
    w, b, steps = 0.0, 0.0, 0
    if trial.resume_from:
        with open(trial.resume_from) as f:
            w, b, steps = json.load(f)
    for _, boundary in stream.epochs_left():
        first, total = stream.examples, 0.0
        for idx in stream.batches(boundary):
            gw = gb = 0.0
            for i in idx:
                x, y = train[i]
                err = w * x + b - y
                gw, gb, total = gw + err * x, gb + err, total + err * err
            w, b, steps = w - lr * gw / len(idx), b - lr * gb / len(idx), steps + 1
        if stream.examples != boundary:
            sys.exit(f"the batches ended at {stream.examples} examples, not at {boundary}")
        path = trial.checkpoint_path(f"ckpt-{boundary}.json")
        with open(path, "w") as f:
            json.dump([w, b, steps], f)
        val_loss = sum((w * x + b - y) ** 2 for x, y in val) / len(val)
        trial.report(
            boundary, path, val_loss=val_loss, train_loss=total / (boundary - first), steps=steps
        )


if __name__ == "__main__":
    main()
