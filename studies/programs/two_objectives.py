"""A command trainer with two analytic objectives whose Pareto front is known (ZDT1 in three
variables, Zitzler, Deb and Thiele 2000): f1 = x1, g = 1 + 9 (x2 + x3) / 2, f2 = g (1 - sqrt(f1/g)).
Reported as `obj1` and `obj2` (an `f1` would read as the F1 score), both minimised; the front is
x2 = x3 = 0, f2 = 1 - sqrt(f1). At each boundary it reports them as if training approached them: each is (1 + 1/k) times its final value at the k-th of the
trial's boundaries, so that a trial cut short is judged on worse numbers, as a real one is.
Its checkpoint is the boundary's number, so a resumed trial goes on exactly. For tune's tests and
benches/objectives.sh.
"""

import json
import math
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [_here, os.path.join(_here, "..", "..", "client")]
from tune_client import Trial  # noqa: E402


def main():
    trial = Trial()
    p = trial.params
    x1, x2, x3 = float(p["x1"]), float(p["x2"]), float(p["x3"])
    g = 1 + 9 * (x2 + x3) / 2
    f1 = x1
    f2 = g * (1 - math.sqrt(f1 / g))
    for k, boundary in enumerate(trial.boundaries, start=1):
        if boundary <= trial.resume_examples:
            continue
        factor = 1 + 1 / k
        path = trial.checkpoint_path("ckpt-%d.json" % boundary)
        with open(path, "w") as f:
            json.dump({"boundary": k}, f)
        trial.report(boundary, path, obj1=f1 * factor, obj2=f2 * factor, val_loss=f1 * factor)


if __name__ == "__main__":
    main()
