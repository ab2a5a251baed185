"""PyTorch helpers for a trial (needs torch; `import tune_client` alone does not):

    from tune_client import Trial, torch as tune_torch

    trial = Trial()
    model, optimizer, scheduler = ...
    loader = DataLoader(train_set, batch_size=trial.params["batch_size"])
    batches = tune_torch.Batches(trial, loader)                 # the trial's order and cuts
    for epoch in batches.epochs(model, optimizer, scheduler):   # resumes them on a resume
        for x, y in batches:                                     # this virtual epoch's batches
            ...one optimiser step...
        batches.report(val_loss=validate(model))                 # saves all, then reports

`Batches` yields exactly the trial's budget (`trial.boundaries[-1]` examples) in the order of
`tune_client.stream`: seeded passes, the batch that crosses a boundary cut there. `save` and
`load` keep the model, optimizer, LR scheduler and every random generator in one file, so that a
resumed trial goes on bit for bit (on the CPU; on a GPU as far as its kernels are deterministic).
"""

import os
import random
import sys
import tempfile

try:
    import torch
except ImportError as e:
    raise ImportError(
        "tune_client.torch needs PyTorch (pip install torch); the rest of tune_client does not"
    ) from e

from .stream import Stream

__all__ = ["Batches", "load", "save"]

# What `save` writes in the file, so that `load` can tell its own files from others.
FORMAT = "tune_client.torch/1"

_PARTS = ("model", "optimizer", "scheduler")


def _rng_states():
    """Every random generator a training loop may draw from: Python's, NumPy's global one (when
    the program imported NumPy), torch's on the CPU, and on each GPU once CUDA is initialised (a
    program that never touched CUDA has drawn nothing from it, and asking would start it). As
    plain lists and tensors, which `torch.load(weights_only=True)` reads."""
    states = {"python": random.getstate(), "torch": torch.get_rng_state()}
    np = sys.modules.get("numpy")
    if np is not None:
        name, keys, pos, has_gauss, gauss = np.random.get_state()
        states["numpy"] = [name, keys.tolist(), int(pos), int(has_gauss), float(gauss)]
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states):
    # Python's state is a tuple of ints; the file's reader may give it back as lists.
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    torch.set_rng_state(states["torch"])
    if "numpy" in states:
        import numpy as np

        name, keys, pos, has_gauss, gauss = states["numpy"]
        np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, gauss))
    if "cuda" in states and torch.cuda.is_available():
        cuda = states["cuda"][: torch.cuda.device_count()]
        torch.cuda.set_rng_state_all(cuda)


def _sync_folder(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # a system that cannot open folders (Windows) has nothing to sync
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save(path, model=None, optimizer=None, scheduler=None, **extra):
    """Writes one file at `path` holding the state dicts of `model`, `optimizer` and `scheduler`
    (those given), every random generator's state, and `extra` (numbers, strings, lists, dicts,
    tensors). Written to a temp file beside it, synced, then renamed: a crash leaves the old file
    or the new one, never half of one."""
    state = {"format": FORMAT, "rng": _rng_states(), "extra": extra}
    for name, part in zip(_PARTS, (model, optimizer, scheduler)):
        if part is not None:
            state[name] = part.state_dict()
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tune-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _sync_folder(folder)


def load(path, model=None, optimizer=None, scheduler=None):
    """Restores what `save` wrote at `path` into `model`, `optimizer` and `scheduler` (those
    given) and every random generator; returns the `extra` it was saved with."""
    path = os.fspath(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except TypeError:  # torch before 1.13 has no weights_only
        state = torch.load(path, map_location="cpu")
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(
            f"tune_client: {path} is not a checkpoint written by tune_client.torch.save"
        )
    for name, part in zip(_PARTS, (model, optimizer, scheduler)):
        if part is not None:
            if name not in state:
                raise ValueError(
                    f"tune_client: {path} holds no {name} state (it was saved without one)"
                )
            part.load_state_dict(state[name])
    _set_rng_states(state["rng"])
    return state["extra"]


class _EpochBatches:
    """The batch sampler of the loader `Batches` makes: this virtual epoch's index lists."""

    def __init__(self):
        self.batches = []

    def __iter__(self):
        return iter(self.batches)

    def __len__(self):
        return len(self.batches)


# The DataLoader settings `Batches` keeps from the loader it wraps. Not kept: its sampler, shuffle
# and drop_last (the stream decides), its generator and persistent workers (their random states
# would not be in the checkpoint: workers start each virtual epoch seeded from torch's generator,
# which is).
_KEPT = (
    "num_workers",
    "collate_fn",
    "pin_memory",
    "timeout",
    "worker_init_fn",
    "multiprocessing_context",
    "pin_memory_device",
    "in_order",
)


class Batches:
    """A trial's training batches from a map-style dataset: a DataLoader (its dataset, batch size,
    collate_fn, workers and pinning are kept; its sampler and shuffle give way to the trial's
    seeded order), or a dataset with `batch_size=` and DataLoader options.

    `for epoch in batches.epochs(model, optimizer, scheduler)` runs the virtual epochs left
    (numbered from 1), restoring the three from `trial.resume_from` on a resume;
    `for batch in batches` inside it yields that virtual epoch's batches, up to its boundary;
    `batches.report(**metrics)` then saves the three and the random states in
    `ckpt-<examples>.pt` and reports it with the metrics (and `steps`: batches so far, one
    optimiser step each unless given). `len(batches)` is the virtual epoch's batch count,
    `batches.examples` the examples handed out so far, `batches.dataset` the dataset.
    """

    def __init__(self, trial, data, batch_size=None, **loader_options):
        if isinstance(data, torch.utils.data.DataLoader):
            if batch_size is not None or loader_options:
                raise ValueError(
                    "tune_client: give Batches a DataLoader or a dataset with options, not both"
                )
            if data.batch_size is None:
                raise ValueError(
                    "tune_client: Batches needs a DataLoader with a batch_size (its own "
                    "batch_sampler cannot be cut at the budget's boundaries)"
                )
            batch_size = data.batch_size
            loader_options = {k: getattr(data, k) for k in _KEPT if hasattr(data, k)}
            if data.num_workers > 0:
                loader_options["prefetch_factor"] = data.prefetch_factor
            data = data.dataset
        elif batch_size is None:
            raise ValueError("tune_client: Batches of a dataset needs batch_size=")
        if isinstance(data, torch.utils.data.IterableDataset):
            raise ValueError(
                "tune_client: Batches needs a dataset with len() and indexing, not an "
                "IterableDataset"
            )
        self.trial = trial
        self.dataset = data
        self.stream = Stream.for_trial(trial, len(data), batch_size)
        self._sampler = _EpochBatches()
        self._loader = torch.utils.data.DataLoader(
            data, batch_sampler=self._sampler, **loader_options
        )
        # Examples handed out so far, those before a resume included (the stream runs ahead of
        # them: the loader's workers draw batches in advance).
        self.examples = self.stream.examples
        self._epoch = None  # (number, first example, boundary) of the virtual epoch running
        self._parts = (None, None, None)
        self._reported = False

    @property
    def steps(self):
        """Batches handed out so far, those before a resume included."""
        if self._epoch is None:
            return self.stream.steps_at(self.examples)
        _, first, _ = self._epoch
        return self.stream.steps_at(first) + self.stream.batch_count(first, self.examples)

    def epochs(self, model=None, optimizer=None, scheduler=None):
        """The virtual epochs left, by number (from 1); see the class."""
        self._parts = (model, optimizer, scheduler)
        trial = self.trial
        if trial.resume_from:
            extra = load(trial.resume_from, model, optimizer, scheduler)
            if extra.get("examples", trial.resume_examples) != trial.resume_examples:
                raise ValueError(
                    f"tune_client: {trial.resume_from} was saved at {extra['examples']} examples, "
                    f"but the trial resumes at {trial.resume_examples}"
                )
        for k, boundary in self.stream.epochs_left():
            self._epoch, self._reported = (k, self.examples, boundary), False
            yield k
            if not self._reported:
                raise RuntimeError(
                    f"tune_client: virtual epoch {k} ended without batches.report(...): report "
                    "once per virtual epoch, after its batches"
                )
        self._epoch = None

    def _running(self):
        if self._epoch is None:
            raise RuntimeError(
                "tune_client: use the batches inside `for epoch in batches.epochs(...)`"
            )
        return self._epoch

    def __len__(self):
        _, first, boundary = self._running()
        return self.stream.batch_count(first, boundary)

    def __iter__(self):
        _, _, boundary = self._running()
        # Empty when this virtual epoch's batches were handed out already.
        self._sampler.batches = list(self.stream.batches(boundary))
        for batch, idx in zip(self._loader, self._sampler.batches):
            self.examples += len(idx)
            yield batch

    def report(self, **metrics):
        """Saves the model, optimizer, scheduler (those given to `epochs`) and random states at
        the virtual epoch's boundary and reports them with `metrics`; returns the file's path."""
        k, _, boundary = self._running()
        if self._reported:
            raise RuntimeError(f"tune_client: virtual epoch {k} is reported already")
        if self.examples != boundary:
            raise RuntimeError(
                f"tune_client: report() at {self.examples} examples, before virtual epoch {k}'s "
                f"boundary at {boundary}: iterate its batches to the end first"
            )
        steps = self.steps
        path = self.trial.checkpoint_path(f"ckpt-{boundary}.pt")
        save(path, *self._parts, examples=boundary, steps=steps)
        metrics.setdefault("steps", steps)
        self.trial.report(boundary, path, **metrics)
        self._reported = True
        return path
