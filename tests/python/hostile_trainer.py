"""A trainer that misbehaves on purpose, for tests/hostile.rs's fuzz: each trial draws one of
FUZZ_KINDS behaviours from its trial number (the same on a resume). Behaviour 0 trains normally;
the others report hostile checkpoint paths (out of the folder, links, FIFOs, `.`/`..`), print huge
lines, crash with many lines of stderr, hang, leave a grandchild in a session of its own, find the
disk full once, exit early or report NaN. It never writes outside its checkpoint folder itself:
whatever changes outside it would be tune's doing.
"""

import json
import math
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../client"))
from tune_client import Trial  # noqa: E402


def main():
    trial = Trial()
    kinds = int(os.environ.get("FUZZ_KINDS", "18"))
    kind = random.Random(trial.trial * 7919 + 13).randrange(kinds)
    lr = float(trial.params["learning_rate"])
    state = {"seen": 0, "w": 1.0}
    if trial.resume_from:
        with open(trial.resume_from) as f:
            state = json.load(f)
    for k, boundary in enumerate(trial.boundaries_left(), start=1):
        while state["seen"] < boundary:
            state["w"] -= lr * state["w"] * 0.01
            state["seen"] += 20
        path = trial.checkpoint_path("ckpt-%d.json" % boundary)
        with open(path, "w") as f:
            json.dump(state, f)
        name = os.path.basename(path)
        loss = abs(state["w"]) + 0.001 * trial.trial
        first = k == 1 and not trial.resume_from
        if kind == 1:
            name = random.choice(["../../../journal.jsonl", "../output.log", "../../0", "../../../../spec.json"])
        elif kind == 2:
            name = os.environ["FUZZ_SENTINEL"]
        elif kind == 3:
            name = os.environ["FUZZ_DATA"]
        elif kind == 4:
            os.symlink(os.environ["FUZZ_SENTINEL"], trial.checkpoint_path("link"))
            name = "link"
        elif kind == 5:
            os.symlink("/nowhere/at/all", trial.checkpoint_path("dangling"))
            name = "dangling"
        elif kind == 6:
            d = trial.checkpoint_path("state")
            os.makedirs(d)
            os.replace(path, os.path.join(d, "w.json"))
            os.symlink(os.environ["FUZZ_SENTINEL"], os.path.join(d, "escape"))
            name = "state"
        elif kind == 7:
            os.mkfifo(trial.checkpoint_path("pipe"))
            name = "pipe"
        elif kind == 8:
            name = "."
        elif kind == 9:
            name = ".."
        elif kind == 10:
            print("TUNE " + json.dumps({"examples": boundary, "checkpoint": name, "val_loss": loss,
                                       "pad": "x" * (1 << 20)}), flush=True)
            continue
        elif kind == 11 and first:
            sys.stdout.write("z" * (8 << 20))
            sys.stdout.write("\n")
            sys.stdout.flush()
        elif kind == 12 and k == 2:
            sys.stderr.write("Traceback (most recent call last):\n" * 20 + "E" * 50000 + "\n")
            sys.exit(3)
        elif kind == 13 and k == 2:
            time.sleep(1000)
        elif kind == 14 and first:
            subprocess.Popen(["setsid", "sh", "-c", "sleep 1000; true", " ".join(sys.argv)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        elif kind == 15 and k == 2:
            once = os.path.join(os.environ["FUZZ_STATE"], "full-%d" % trial.trial)
            if not os.path.exists(once):
                open(once, "w").close()
                sys.stderr.write("OSError: [Errno 28] No space left on device: '%s'\n" % path)
                sys.exit(1)
        elif kind == 16 and k == 2:
            sys.exit(0)
        elif kind == 17 and k == 2:
            loss = math.nan
        trial.report(boundary, name, val_loss=loss, train_loss=loss)


if __name__ == "__main__":
    main()
