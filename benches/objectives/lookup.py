"""Problem B's command trainer for tune's samplers: looks the trial's configuration up in the
wine table built once by tune's grid study (benches/objectives/bench.py table) and reports its
val_loss and parameters at every boundary. Usage: python3 lookup.py TABLE.jsonl"""

import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [_here, os.path.join(_here, "..", "..", "client")]
from tune_client import Trial  # noqa: E402
import hv  # noqa: E402


def main():
    table = hv.load_table(sys.argv[1])
    trial = Trial()
    p = trial.params
    val_loss, parameters = table[hv.key(p["hidden_width"], p["depth"], p["learning_rate"], p["batch_size"])]
    hv.report_constant(trial, val_loss=val_loss, parameters=parameters)


if __name__ == "__main__":
    main()
