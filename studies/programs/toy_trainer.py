"""A small deterministic trainer for tune's tests (no dependencies): linear regression by SGD on
a fixed synthetic table, its data order drawn from TUNE_SEED, its whole state in a JSON
checkpoint, so that a resumed trial continues exactly. TOY_MODE makes it misbehave on purpose
(for the trials listed in TOY_BAD_TRIALS, all when unset), or report numbers of its own
("own_metrics"); TOY_SLEEP slows each step; TOY_PAD pads each checkpoint with that many bytes;
TOY_RECORD names a folder where each trial writes what it was given; TOY_THREAD_FIRST starts a
thread before Trial().
"""

import json
import os
import signal
import subprocess
import sys
import time

# The client (client/tune_client; `pip install ./client` puts it on the path instead), or a copy of
# it beside this file.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [_here, os.path.join(_here, "..", "..", "client")]
from tune_client import Trial  # noqa: E402

MASK = (1 << 64) - 1

# The process that ran the imports above: with tune's offer to fork taken, every trial's process
# is forked from it (or from a worker's server forked from it) and keeps this value.
PROGRAM = os.getpid()


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
    if os.environ.get("TOY_THREAD_FIRST"):
        # A thread of its own before Trial(): the client declines tune's offer to fork.
        import threading

        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
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
    record = os.environ.get("TOY_RECORD")
    if record:
        # What this trial's process was given, and when it ran (tests of GPUs and threads).
        seen = {k: os.environ.get(k) for k in ("CUDA_VISIBLE_DEVICES", "TUNE_DEVICE", "TUNE_THREADS",
                                                "OMP_NUM_THREADS", "TUNE_SEED32")}
        seen["start"] = time.time()
        seen["forked"] = trial.forked
        seen["program"] = PROGRAM
        seen["server"] = os.getppid()
        seen["resumed"] = os.environ.get("TUNE_RESUME_FROM") is not None
    p = trial.params
    lr = float(p["learning_rate"])
    batch = int(p["batch_size"])
    momentum = 0.9 if p.get("optimizer", "sgd") == "momentum" else 0.0
    train, val = table()
    if trial.resume_from:
        state_file = trial.resume_from
        if os.path.isdir(state_file):
            state_file = os.path.join(state_file, "inner", "st.json")
        with open(state_file) as f:
            st = json.load(f)
        if mode == "inexact_resume":
            # Forgets its data order's state, as a program that reseeds on resume would.
            st["rng"] = trial.seed & MASK
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
        if mode == "threads_matter":
            # Like a library whose sums depend on its thread count.
            val_loss += 1e-9 * int(os.environ["TUNE_THREADS"])
        name = "ckpt-%d.json" % boundary
        path = trial.checkpoint_path(name)
        with open(path, "w") as f:
            json.dump(st, f)
            # TOY_PAD bytes of trailing blanks: a bigger checkpoint (a full disk's tests).
            f.write(" " * int(os.environ.get("TOY_PAD", "0")))
        if mode == "folder_checkpoint":
            # A checkpoint that is a folder (as Hugging Face's save_pretrained writes one).
            d = trial.checkpoint_path("state-%d" % boundary)
            os.makedirs(os.path.join(d, "inner"))
            os.replace(path, os.path.join(d, "inner", "st.json"))
            name = os.path.basename(d)
        reports += 1
        examples = boundary
        metrics = {"val_loss": val_loss, "train_loss": loss_sum / n_sum, "steps": st["steps"]}
        if mode == "own_metrics":
            # Numbers of its own, and no train_loss or steps (both optional).
            errs = [abs(w[0] * a + w[1] * b + w[2] - y) for a, b, y in val]
            metrics = {"val_loss": val_loss, "mae": sum(errs) / len(errs), "max_error": max(errs)}
        if mode == "wrong_examples":
            examples += 1
        if mode == "no_checkpoint":
            name = "nowhere.json"
        if mode == "nan" and reports == 2:
            metrics["val_loss"] = float("nan")
        if mode == "report_as":
            # A path of tune's choosing in TOY_REPORT ({dir} is the checkpoint folder).
            name = os.environ["TOY_REPORT"].replace("{dir}", trial.checkpoint_dir)
        if mode == "link_out":
            os.symlink(os.environ["TOY_TARGET"], trial.checkpoint_path("link.json"))
            name = "link.json"
        if mode == "dangling":
            os.symlink("/nowhere/at/all", trial.checkpoint_path("gone.json"))
            name = "gone.json"
        if mode == "folder_with_link":
            d = trial.checkpoint_path("state")
            os.makedirs(d, exist_ok=True)
            os.replace(path, os.path.join(d, "w.json"))
            os.symlink(os.environ.get("TOY_TARGET", "/"), os.path.join(d, "escape"))
            name = "state"
        if mode == "fifo":
            os.mkfifo(trial.checkpoint_path("pipe"))
            name = "pipe"
        if mode == "huge_report":
            print("TUNE " + json.dumps({"examples": examples, "checkpoint": name, "val_loss": 1.0,
                                       "pad": "x" * (2 << 20)}), flush=True)
            continue
        if mode == "huge_stdout":
            chunk = "y" * (1 << 20)
            for _ in range(int(os.environ.get("TOY_MEGABYTES", "64"))):
                sys.stdout.write(chunk)
            sys.stdout.write("\n")
            sys.stdout.flush()
        if mode == "multiline_error" and reports == 1:
            sys.stderr.write(("Traceback line\n" * 3) + "E" * 100000 + "\n")
            sys.exit(4)
        if mode == "setsid_child" and reports == 1:
            # A grandchild in a session of its own, named after the program's arguments.
            subprocess.Popen(["setsid", "sh", "-c", "sleep 1000; true", " ".join(sys.argv)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if mode == "enospc" and reports == 2:
            once = os.environ.get("TOY_ONCE")
            if not once or not os.path.exists(once):
                if once:
                    open(once, "w").close()
                sys.stderr.write("OSError: [Errno 28] No space left on device: '%s'\n" % path)
                sys.exit(1)
        if mode == "bad_line":
            print("TUNE {\"examples\": %d, oops" % examples, flush=True)
            continue
        if mode == "string_metric":
            print("TUNE " + json.dumps({"examples": examples, "checkpoint": name, "val_loss": "low"}), flush=True)
            continue
        if record and examples >= trial.total_examples:
            seen["end"] = time.time()
            with open(os.path.join(record, "%d.json" % trial.trial), "w") as f:
                json.dump(seen, f)
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
