"""A small deterministic trainer for tune's tests (no dependencies): linear regression by SGD on
a fixed synthetic table, its data order drawn from TUNE_SEED, its whole state in a JSON
checkpoint, so that a resumed trial continues exactly. TOY_MODE makes it misbehave on purpose
(for the trials listed in TOY_BAD_TRIALS, all when unset); TOY_SLEEP slows each step.
"""

import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tune_client import Trial  # noqa: E402

MASK = (1 << 64) - 1


def lcg(state):
    state = (state * 6364136223846793005 + 1442695040888963407) & MASK
    return state, (state >> 11) / float(1 << 53)


def table():
    s = 12345
    rows = []
    for _ in range(240):
        s, a = lcg(s)
        s, b = lcg(s)
        s, n = lcg(s)
        x1, x2 = 4 * a - 2, 4 * b - 2
        rows.append((x1, x2, 2 * x1 - 3 * x2 + 0.5 + 0.3 * (n - 0.5)))
    return rows[:200], rows[200:]


def main():
    trial = Trial()
    mode = os.environ.get("TOY_MODE", "")
    bad = os.environ.get("TOY_BAD_TRIALS")
    if bad is not None and str(trial.trial) not in bad.split(","):
        mode = ""
    sleep = float(os.environ.get("TOY_SLEEP", "0"))
    if mode == "missing_module":
        sys.stderr.write("Traceback (most recent call last):\n  File \"train.py\", line 1\n")
        sys.stderr.write("ModuleNotFoundError: No module named 'torchh'\n")
        sys.exit(1)
    if mode == "ignore_term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if mode == "atexit":
        # A file written at its exit, after its last report (TOY_ATEXIT names it).
        import atexit

        atexit.register(lambda: open(os.environ["TOY_ATEXIT"], "w").write(str(trial.trial)))
        # And a file left open, written but not flushed.
        global UNCLOSED
        UNCLOSED = open(os.environ["TOY_ATEXIT"] + ".open", "w")
        UNCLOSED.write("unflushed")
    if mode == "spawn_child":
        # A child of its own, named after the program's arguments (tests look for it).
        subprocess.Popen(["sh", "-c", "sleep 1000; true", " ".join(sys.argv)])
    p = trial.params
    lr = float(p["learning_rate"])
    batch = int(p["batch_size"])
    momentum = 0.9 if p.get("optimizer", "sgd") == "momentum" else 0.0
    train, val = table()
    if trial.resume_from:
        with open(trial.resume_from) as f:
            st = json.load(f)
    else:
        s = trial.seed & MASK
        s, a = lcg(s)
        s, b = lcg(s)
        st = {"w": [a - 0.5, b - 0.5, 0.0], "v": [0.0, 0.0, 0.0], "rng": s, "seen": 0, "steps": 0}
    reports = 0
    for boundary in trial.boundaries_left():
        loss_sum, n_sum = 0.0, 0
        while st["seen"] < boundary:
            n = min(batch, boundary - st["seen"])
            g = [0.0, 0.0, 0.0]
            for _ in range(n):
                st["rng"], u = lcg(st["rng"])
                x1, x2, y = train[int(u * len(train))]
                w = st["w"]
                err = w[0] * x1 + w[1] * x2 + w[2] - y
                loss_sum += err * err
                g[0] += 2 * err * x1 / n
                g[1] += 2 * err * x2 / n
                g[2] += 2 * err / n
            for i in range(3):
                st["v"][i] = momentum * st["v"][i] + g[i]
                st["w"][i] -= lr * st["v"][i]
            st["seen"] += n
            st["steps"] += 1
            n_sum += n
            if sleep:
                time.sleep(sleep)
        w = st["w"]
        val_loss = sum((w[0] * a + w[1] * b + w[2] - y) ** 2 for a, b, y in val) / len(val)
        name = "ckpt-%d.json" % boundary
        path = trial.checkpoint_path(name)
        with open(path, "w") as f:
            json.dump(st, f)
        reports += 1
        examples = boundary
        metrics = {"val_loss": val_loss, "train_loss": loss_sum / n_sum, "steps": st["steps"]}
        if mode == "wrong_examples":
            examples += 1
        if mode == "no_checkpoint":
            name = "nowhere.json"
        if mode == "nan" and reports == 2:
            metrics["val_loss"] = float("nan")
        if mode == "bad_line":
            print("TUNE {\"examples\": %d, oops" % examples, flush=True)
            continue
        if mode == "string_metric":
            print("TUNE " + json.dumps({"examples": examples, "checkpoint": name, "val_loss": "low"}), flush=True)
            continue
        trial.report(examples, name, **metrics)
        if mode == "crash_after" and reports == 1:
            sys.stderr.write("ValueError: the toy trainer crashed on purpose\n")
            sys.exit(3)
        if mode == "exit_early" and reports == 1:
            sys.exit(0)
        if mode == "hang_after" and reports == 1:
            time.sleep(1000)


if __name__ == "__main__":
    main()
