"""The data stream of tune, for the Python peers: row indices pass after pass, each pass a fresh
permutation, a batch crossing into the next pass when this one runs out."""
import numpy as np
import torch


class Stream:
    def __init__(self, rows, rng):
        self.rows, self.rng = rows, rng
        self.order, self.pos = rng.permutation(rows), 0

    def next(self, count):
        """The next `count` row indices, as a tensor for indexing."""
        idx = []
        while len(idx) < count:
            if self.pos == self.rows:
                self.order, self.pos = self.rng.permutation(self.rows), 0
            take = min(count - len(idx), self.rows - self.pos)
            idx.extend(self.order[self.pos:self.pos + take])
            self.pos += take
        return torch.as_tensor(np.array(idx))
