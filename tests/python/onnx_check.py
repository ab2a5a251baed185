"""Feeds a CSV through a model that `tune export --format onnx` wrote, with onnxruntime, and
compares with what `tune predict` wrote for the same file (tests/onnx.rs runs it).

    python onnx_check.py MODEL.onnx DATA.csv PREDICTIONS.csv

Prints the largest differences; exits 1 when one is above 1e-5 (relative to max(1, |x|) for a
regression's prediction) or a predicted label differs. `serve` is the code docs/use.md shows.
"""
import csv
import json
import sys

import numpy as np
import onnxruntime as ort


def serve(model_path, csv_path):
    """The exported model's outputs for the rows of a CSV: {output name: array}."""
    session = ort.InferenceSession(model_path)
    meta = session.get_modelmeta().custom_metadata_map
    missing = set(json.loads(meta["missing_values"]) or [])
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    feeds = {}
    for inp in session.get_inputs():  # one per feature column, shape [N, 1]
        cells = [row[inp.name].strip() for row in rows]
        if inp.type == "tensor(string)":  # a categorical column: its cells as they are
            feeds[inp.name] = np.array(cells, dtype=object).reshape(-1, 1)
        else:  # a numeric column: NaN for a gap
            values = [np.nan if c in missing else float(c) for c in cells]
            feeds[inp.name] = np.array(values, dtype=np.float32).reshape(-1, 1)
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds)))


def main(model_path, csv_path, predictions_path):
    out = serve(model_path, csv_path)
    with open(predictions_path, newline="") as f:
        expected = list(csv.DictReader(f))
    n = len(expected)
    assert out["prediction"].shape[0] == n, (out["prediction"].shape, n)
    failures = []
    if "probabilities" in out:
        labels = out["prediction"].astype(str)
        classes = [k[2:] for k in expected[0] if k.startswith("p_")]
        want = np.array([[float(r["p_" + c]) for c in classes] for r in expected])
        diff = np.abs(out["probabilities"].astype(np.float64) - want)
        worst = float(diff.max())
        wrong = [i for i in range(n) if labels[i] != expected[i]["prediction"]]
        print(f"classification: {n} rows, max |probability diff| {worst:.3g}, labels differing {len(wrong)}")
        if worst > 1e-5:
            failures.append(f"row {int(diff.max(axis=1).argmax())}: probabilities differ by {worst}")
        failures += [f"row {i}: label {labels[i]} vs {expected[i]['prediction']}" for i in wrong[:5]]
    else:
        got = out["prediction"].reshape(-1).astype(np.float64)
        want = np.array([float(r["prediction"]) for r in expected])
        rel = np.abs(got - want) / np.maximum(1.0, np.abs(want))
        worst = float(rel.max())
        print(f"regression: {n} rows, max relative diff {worst:.3g}")
        if worst > 1e-5:
            i = int(rel.argmax())
            failures.append(f"row {i}: {got[i]} vs {want[i]}")
    print(f"onnxruntime {ort.__version__}")
    if failures:
        print("\n".join(failures))
        sys.exit(1)


if __name__ == "__main__":
    main(*sys.argv[1:4])
