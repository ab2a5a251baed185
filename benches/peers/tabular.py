"""tune's split of a CSV table for the PyTorch peers (benches/peers/optuna_pruners.py,
torch_parity.py): the rows split.json names, features standardised with the training rows'
statistics, the target as class indices (labels sorted) or a column of floats."""
import csv
import json

import numpy as np
import torch


def load(data, split, target, task):
    with open(data) as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    col = header.index(target) if target else len(header) - 1
    feats = [i for i in range(len(header)) if i != col]
    x = np.array([[float(r[i]) for i in feats] for r in body], dtype=np.float64)
    s = json.load(open(split))
    tr, va = np.array(s["train_rows"]), np.array(s["validation_rows"])
    mean, sd = x[tr].mean(0), x[tr].std(0)
    sd[sd < 1e-12] = 1.0
    x = torch.tensor((x - mean) / sd, dtype=torch.float32)
    if task == "classification":
        labels = sorted(set(r[col] for r in body))
        index = {l: i for i, l in enumerate(labels)}
        y = torch.tensor([index[r[col]] for r in body], dtype=torch.long)
        outputs = len(labels)
    else:
        y = torch.tensor([[float(r[col])] for r in body], dtype=torch.float32)
        outputs = 1
    tr, va = torch.as_tensor(tr), torch.as_tensor(va)
    return x[tr], y[tr], x[va], y[va], outputs
