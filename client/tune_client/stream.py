"""The order and the cuts of a trial's training examples, in pure Python: which examples each batch
holds, so that a trial trains on exactly its budget and reaches every boundary exactly, and a
resumed trial sees the same batches as one that never stopped. `tune_client.torch.Batches` feeds
them to a DataLoader; a program in any other framework can index its data with them.

    from tune_client import Trial
    from tune_client.stream import Stream

    trial = Trial()
    stream = Stream.for_trial(trial, size=len(rows), batch_size=32)   # at TUNE_RESUME_EXAMPLES
    for epoch, boundary in stream.epochs_left():
        for idx in stream.batches(boundary):   # lists of row indices
            ...train on rows[idx]...
        ...validate, save, trial.report(boundary, path, ...)

The rules are tune's own for its built-in trainer (docs/design.md, "Budget rules"): the examples
come pass after pass over the data, each pass a permutation drawn from (the trial's seed, the
pass's number); batches hold `batch_size` examples, except the last before a boundary, cut so that
the boundary falls exactly where it is, mid-pass or not; a batch may hold the end of one pass and
the start of the next. The stream's whole state is the examples seen so far, so resuming at a
boundary needs nothing else.
"""

import random

__all__ = ["Stream", "order"]


def order(size, seed, pass_index):
    """Pass `pass_index` (from 0) of a trial seeded `seed` over `size` examples: a permutation of
    range(size). A Fisher-Yates shuffle driven by `random.Random(seed << 32 | pass_index).random()`,
    written out because Python promises to keep `random()` (not `shuffle`) the same across
    versions: the same order on any machine and Python."""
    rng = random.Random((seed << 32) | pass_index)
    idx = list(range(size))
    for i in range(size - 1, 0, -1):
        # random() < 1, but the product may round up to i + 1 for large i.
        j = min(int(rng.random() * (i + 1)), i)
        idx[i], idx[j] = idx[j], idx[i]
    return idx


def _whole(name, value, low):
    """`value` as an int of at least `low`, or one sentence saying what is wrong."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ValueError(f"tune_client: {name} must be a whole number, not {value!r}")
    if value < low:
        raise ValueError(f"tune_client: {name} must be at least {low}, not {value}")
    return value


class Stream:
    """A trial's examples, batch by batch, from `start` examples seen (0, or a boundary to resume
    from) to the last boundary."""

    def __init__(self, size, batch_size, boundaries, seed, start=0):
        self.size = _whole("the number of examples in the data", size, 1)
        self.batch_size = _whole("batch_size", batch_size, 1)
        self.seed = _whole("the seed", seed, 0)
        self.boundaries = [_whole("a boundary", b, 1) for b in boundaries]
        if not self.boundaries:
            raise ValueError("tune_client: the trial has no boundaries (TUNE_BOUNDARIES is empty)")
        for a, b in zip(self.boundaries, self.boundaries[1:]):
            if b <= a:
                raise ValueError(f"tune_client: boundaries must increase, but {b} follows {a}")
        start = _whole("the examples to resume from", start, 0)
        if start != 0 and start not in self.boundaries:
            raise ValueError(
                f"tune_client: a trial resumes at a boundary ({self.boundaries}), not at {start} "
                "examples"
            )
        self.examples = start
        self._pass, self._order = None, None

    @classmethod
    def for_trial(cls, trial, size, batch_size):
        """The stream of a `tune_client.Trial` over `size` examples: its boundaries and seed,
        starting where it resumes (`trial.resume_examples`)."""
        return cls(size, batch_size, trial.boundaries, trial.seed, trial.resume_examples)

    def epochs_left(self):
        """(virtual epoch, its boundary) for each boundary past the examples seen; epochs count
        from 1."""
        return [(k, b) for k, b in enumerate(self.boundaries, 1) if b > self.examples]

    def batch_count(self, begin, end):
        """How many batches take the stream from `begin` to `end` examples (within one virtual
        epoch)."""
        return -(-(end - begin) // self.batch_size)

    def steps_at(self, boundary):
        """Batches from the start of the trial to `boundary` (0 or one of the boundaries)."""
        steps, last = 0, 0
        for b in self.boundaries:
            if b > boundary:
                break
            steps, last = steps + self.batch_count(last, b), b
        if last != boundary:
            raise ValueError(f"tune_client: {boundary} is not a boundary ({self.boundaries})")
        return steps

    def batches(self, boundary):
        """The batches from the examples seen to `boundary` (the next boundary, or a later one),
        as lists of example indices; the stream moves on as each is handed out."""
        if boundary not in self.boundaries or boundary < self.examples:
            raise ValueError(
                f"tune_client: {boundary} is not a boundary at or after the {self.examples} "
                f"examples seen ({self.boundaries})"
            )
        while self.examples < boundary:
            # The next boundary, which this batch may not cross.
            stop = next(b for b in self.boundaries if b > self.examples)
            count = min(self.batch_size, stop - self.examples)
            idx = self._take(count)
            self.examples += count
            yield idx

    def _take(self, count):
        """The `count` example indices after the examples seen, across passes (does not move on)."""
        idx, at = [], self.examples
        while len(idx) < count:
            p, pos = divmod(at, self.size)
            if p != self._pass:
                self._pass, self._order = p, order(self.size, self.seed, p)
            take = min(count - len(idx), self.size - pos)
            idx.extend(self._order[pos : pos + take])
            at += take
        return idx
