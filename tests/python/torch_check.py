"""Loads a trial's `best.safetensors` into a PyTorch `nn.Sequential` and compares its outputs on
already-prepared inputs with what `tune predict` wrote (tests/onnx.rs runs it).

    python torch_check.py best.safetensors INPUTS.csv PREDICTIONS.csv [SNIPPET.py]

INPUTS.csv holds the prepared inputs (a column per input, as preprocessing.json's "inputs").
`load` is the code docs/use.md shows; with SNIPPET.py, the network is the `net` that snippet
(README's) makes, run in the weights' folder. Exits 1 when a difference is above 1e-5.
"""
import csv
import os
import sys

import torch
from safetensors.torch import load_file
from torch import nn


def load(path):
    """The network of a tune checkpoint as nn.Sequential(Linear, ReLU, ..., Linear)."""
    tensors = load_file(path)  # also holds the optimizer's state (optim.*): only layers.* is used
    layers = []
    i = 0
    while f"layers.{i}.weight" in tensors:
        w = tensors[f"layers.{i}.weight"]  # tune stores (inputs, outputs)
        linear = nn.Linear(w.shape[0], w.shape[1])
        with torch.no_grad():
            linear.weight.copy_(w.T)  # nn.Linear stores (outputs, inputs)
            linear.bias.copy_(tensors[f"layers.{i}.bias"])
        layers += [linear, nn.ReLU()]
        i += 1
    return nn.Sequential(*layers[:-1]).eval()  # no ReLU after the last layer


def snippet_net(weights, snippet):
    """The `net` that the code in `snippet` makes, run in the folder of `weights`."""
    here = os.getcwd()
    with open(snippet) as f:
        code = f.read()
    os.chdir(os.path.dirname(os.path.abspath(weights)))
    try:
        scope = {}
        exec(code, scope)
    finally:
        os.chdir(here)
    return scope["net"].eval()


def main(weights, inputs_path, predictions_path, snippet=None):
    net = load(weights) if snippet is None else snippet_net(weights, snippet)
    with open(inputs_path, newline="") as f:
        x = torch.tensor([[float(v) for v in row] for row in list(csv.reader(f))[1:]])
    with open(predictions_path, newline="") as f:
        expected = list(csv.DictReader(f))
    with torch.no_grad():
        out = net(x).double()
    probs = [k for k in expected[0] if k.startswith("p_")]
    if probs:
        got = torch.softmax(out, dim=1)
        want = torch.tensor([[float(r[k]) for k in probs] for r in expected], dtype=torch.float64)
        worst = float((got - want).abs().max())
        labels = [probs[j][2:] for j in out.argmax(dim=1).tolist()]
        wrong = sum(a != r["prediction"] for a, r in zip(labels, expected))
        print(f"torch {torch.__version__}: classification, max |probability diff| {worst:.3g}, labels differing {wrong}")
        ok = worst <= 1e-5 and wrong == 0
    else:
        want = torch.tensor([float(r["prediction"]) for r in expected], dtype=torch.float64)
        rel = (out[:, 0] - want).abs() / want.abs().clamp(min=1.0)
        worst = float(rel.max())
        print(f"torch {torch.__version__}: regression, max relative diff {worst:.3g}")
        ok = worst <= 1e-5
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main(*sys.argv[1:5])
