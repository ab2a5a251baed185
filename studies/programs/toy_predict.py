"""The toy trainer's predictions (tune predict's `trainer.predict` for it): reads the checkpoint
in TUNE_CHECKPOINT (the toy's JSON state), the rows of TUNE_DATA (columns x1 and x2), and writes
one prediction per row to TUNE_PREDICTIONS. TOY_PREDICT_ROWS drops rows on purpose (tests).
"""

import csv
import json
import os

with open(os.environ["TUNE_CHECKPOINT"]) as f:
    w = json.load(f)["w"]
with open(os.environ["TUNE_DATA"], newline="") as f:
    rows = list(csv.DictReader(f))
drop = int(os.environ.get("TOY_PREDICT_DROP", "0"))
print("predicting %d rows" % len(rows))  # goes to stderr: tune's stdout is the predictions'
with open(os.environ["TUNE_PREDICTIONS"], "w", newline="") as f:
    out = csv.writer(f)
    out.writerow(["prediction"])
    for r in rows[drop:]:
        out.writerow([w[0] * float(r["x1"]) + w[1] * float(r["x2"]) + w[2]])
