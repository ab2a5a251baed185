"""Tests of tune_client.torch: save/load continue bit for bit, and Batches yields the trial's
budget in the stream's order and resumes exactly, with and without loader workers. Needs torch
and NumPy (skipped without them); tests/client_package.rs runs it with the interpreter in
TUNE_TEST_TORCH_PYTHON.
"""

import contextlib
import io
import json
import os
import random
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from tune_client import Trial  # noqa: E402
from tune_client.stream import order  # noqa: E402

try:
    import numpy as np
    import torch

    from tune_client import torch as tune_torch
except ImportError:
    torch = None


def net():
    return torch.nn.Sequential(
        torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Dropout(0.3), torch.nn.Linear(16, 1)
    )


def parts(model):
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    return opt, torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)


def train(model, opt, sched, steps):
    """Steps drawing from every generator save keeps (Python, NumPy, torch)."""
    for _ in range(steps):
        x = torch.rand(8, 4) + random.random() + float(np.random.rand())
        opt.zero_grad()
        loss = model(x).pow(2).mean()
        loss.backward()
        opt.step()
        sched.step()


def weights(model):
    return [p.detach().clone() for p in model.parameters()]


class Noisy(torch.utils.data.Dataset if torch else object):
    """Examples that are their index plus noise drawn where they are read (in a worker, with
    workers): a batch tells which examples it holds, and the noise which generator state read them.
    """

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return torch.tensor([float(i)]), torch.rand(1)


def trial(folder, boundaries, resume=None):
    t = Trial(params={"batch_size": 7}, boundaries=boundaries, checkpoint_dir=folder)
    t.seed = 1234
    if resume:
        t.resume_from, t.resume_examples = resume
    return t


def run_batches(t, model, loader_kwargs, stop_after=None):
    """Trains over `Batches` as a program would; (indices seen, noise seen, TUNE lines)."""
    opt, sched = parts(model)
    data = Noisy(23)
    b = tune_torch.Batches(
        t, torch.utils.data.DataLoader(data, batch_size=7, shuffle=True, **loader_kwargs)
    )
    seen, noise, out = [], [], io.StringIO()
    with contextlib.redirect_stdout(out):
        for epoch in b.epochs(model, opt, sched):
            for x, n in b:
                seen += [int(v) for v in x[:, 0]]
                noise += n[:, 0].tolist()
                opt.zero_grad()
                model(torch.cat([x / 23, n, n, n], 1)).pow(2).mean().backward()
                opt.step()
            sched.step()
            b.report(val_loss=float(model(torch.ones(1, 4)).item()))
            if epoch == stop_after:
                break
    lines = [
        json.loads(line[5:]) for line in out.getvalue().splitlines() if line.startswith("TUNE ")
    ]
    return seen, noise, lines


@unittest.skipIf(torch is None, "torch and numpy are not installed")
class SaveLoad(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.dir)

    def test_a_resume_goes_on_bit_for_bit(self):
        torch.manual_seed(0)
        random.seed(0)
        np.random.seed(0)
        model = net()
        opt, sched = parts(model)
        train(model, opt, sched, 3)
        path = os.path.join(self.dir, "c.pt")
        tune_torch.save(path, model, opt, sched, examples=24, note="x")
        train(model, opt, sched, 4)
        after = weights(model), random.random(), float(np.random.rand()), float(torch.rand(1))

        torch.manual_seed(99)  # another start, other generator states
        random.seed(99)
        np.random.seed(99)
        model2 = net()
        opt2, sched2 = parts(model2)
        extra = tune_torch.load(path, model2, opt2, sched2)
        self.assertEqual(extra, {"examples": 24, "note": "x"})
        self.assertEqual(sched2.last_epoch, 3)
        train(model2, opt2, sched2, 4)
        again = weights(model2), random.random(), float(np.random.rand()), float(torch.rand(1))
        for a, b in zip(after[0], again[0]):
            self.assertTrue(torch.equal(a, b))
        self.assertEqual(after[1:], again[1:])

    def test_written_whole_and_replaced(self):
        path = os.path.join(self.dir, "c.pt")
        tune_torch.save(path, net(), step=1)
        tune_torch.save(path, net(), step=2)
        self.assertEqual(os.listdir(self.dir), ["c.pt"])  # no temp file left
        self.assertEqual(tune_torch.load(path)["step"], 2)

    def test_a_file_of_another_kind_is_refused(self):
        path = os.path.join(self.dir, "other.pt")
        torch.save({"model": net().state_dict()}, path)
        with self.assertRaises(ValueError) as e:
            tune_torch.load(path, net())
        self.assertEqual(
            str(e.exception),
            f"tune_client: {path} is not a checkpoint written by tune_client.torch.save",
        )
        tune_torch.save(path, net())
        with self.assertRaisesRegex(ValueError, "holds no optimizer state"):
            tune_torch.load(path, net(), parts(net())[0])


@unittest.skipIf(torch is None, "torch and numpy are not installed")
class BatchesOfATrial(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.dir)

    def check(self, loader_kwargs):
        bounds = [30, 60, 61, 100]
        torch.manual_seed(5)
        seen, noise, lines = run_batches(trial(self.dir, bounds), net(), loader_kwargs)
        # The budget, in the stream's order (23 examples a pass: the boundaries fall mid-pass).
        self.assertEqual(seen, [i for p in range(5) for i in order(23, 1234, p)][:100])
        self.assertEqual([r["examples"] for r in lines], bounds)
        # Batches of 7, the one crossing a boundary cut: 30 = 4 * 7 + 2, 30 more = 4 * 7 + 2, ...
        self.assertEqual([r["steps"] for r in lines], [5, 10, 11, 17])
        for r in lines:
            self.assertTrue(os.path.isfile(r["checkpoint"]))
        # Stopped after the second virtual epoch (its checkpoint as tune would give it back),
        # then resumed from it in a fresh model: the same batches, noise and results after it.
        for stop in (1, 2, 3):
            folder = tempfile.mkdtemp(dir=self.dir)
            torch.manual_seed(5)
            _, _, first = run_batches(trial(folder, bounds), net(), loader_kwargs, stop_after=stop)
            torch.manual_seed(77)
            resume = (first[-1]["checkpoint"], bounds[stop - 1])
            seen2, noise2, lines2 = run_batches(trial(folder, bounds, resume), net(), loader_kwargs)
            self.assertEqual(seen2, seen[bounds[stop - 1] :])
            self.assertEqual(noise2, noise[bounds[stop - 1] :])
            self.assertEqual([r["val_loss"] for r in lines2], [r["val_loss"] for r in lines[stop:]])
            self.assertEqual([r["steps"] for r in lines2], [r["steps"] for r in lines[stop:]])

    def test_in_the_program(self):
        self.check({})

    def test_with_workers(self):
        self.check({"num_workers": 2})

    def test_a_dataset_with_a_batch_size(self):
        t = trial(self.dir, [10, 20])
        b = tune_torch.Batches(t, Noisy(6), batch_size=4)
        sizes = []
        with contextlib.redirect_stdout(io.StringIO()):
            for _ in b.epochs():
                sizes.append([len(x) for x, _ in b])
                self.assertEqual(len(b), 3)
                b.report(val_loss=0.0)
        self.assertEqual(sizes, [[4, 4, 2], [4, 4, 2]])

    def test_misuse_says_what_to_do(self):
        t = trial(self.dir, [10, 20])
        b = tune_torch.Batches(t, Noisy(6), batch_size=4)
        with self.assertRaisesRegex(RuntimeError, r"inside `for epoch in batches.epochs\(...\)`"):
            next(iter(b))
        with self.assertRaisesRegex(RuntimeError, "virtual epoch 1 ended without batches.report"):
            for _ in b.epochs():
                list(b)
        b = tune_torch.Batches(t, Noisy(6), batch_size=4)
        with self.assertRaisesRegex(
            RuntimeError, "report\\(\\) at 4 examples, before virtual epoch 1's boundary at 10"
        ):
            for _ in b.epochs():
                for _ in b:
                    break
                b.report(val_loss=0.0)

        class Endless(torch.utils.data.IterableDataset):
            def __iter__(self):
                return iter(range(10))

        with self.assertRaisesRegex(ValueError, "not an IterableDataset"):
            tune_torch.Batches(t, Endless(), batch_size=4)
        with self.assertRaisesRegex(ValueError, "needs batch_size="):
            tune_torch.Batches(t, Noisy(6))


@unittest.skipIf(torch is None, "needs torch and NumPy")
class LambdaLRRecipe(unittest.TestCase):
    """client/README.md's LambdaLR recipe: every step runs at the schedule's rate for the examples
    seen before it, at any batch size, and a resumed trial continues on the same curve."""

    def rates(self, batch_size, resume_examples=0, steps=None):
        from tune_client.schedule import learning_rate

        params = {"learning_rate": 0.01, "batch_size": batch_size, "schedule": "cosine",
                  "warmup": 0.2, "min_lr_fraction": 0.1, "lr_scaling": "sqrt"}
        trial = Trial(params=params, boundaries=[600, 1200], checkpoint_dir=tempfile.mkdtemp())
        trial.resume_examples = resume_examples
        model = torch.nn.Linear(3, 1)
        # The recipe, as the README writes it.
        peak = trial.learning_rate(None)
        optimizer = torch.optim.AdamW(model.parameters(), lr=peak)
        seen = [trial.resume_examples]
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda _: trial.learning_rate(seen[0]) / peak
        )
        out = []
        while seen[0] < 1200 and (steps is None or len(out) < steps):
            n = min(batch_size, 1200 - seen[0])
            x = torch.randn(n, 3)
            model(x).pow(2).mean().backward()
            out.append((seen[0], optimizer.param_groups[0]["lr"]))
            optimizer.step()
            optimizer.zero_grad()
            seen[0] += n
            scheduler.step()
        for s, lr in out:
            self.assertAlmostEqual(lr, learning_rate(s, params, 1200), places=12)
        return out

    def test_each_step_runs_at_the_schedules_rate_for_the_examples_before_it(self):
        small, large = self.rates(16), self.rates(64)
        self.assertEqual(small[0][1], 0.0)  # the warm-up starts from 0
        # The same curve in examples at both batch sizes (sqrt scaling apart: a ratio of 2).
        at = dict(small)
        for s, lr in large:
            self.assertAlmostEqual(lr, 2 * at[s], places=12)
        # A resumed trial continues where it stopped.
        resumed = self.rates(16, resume_examples=608, steps=5)
        self.assertEqual(resumed, [p for p in small if p[0] >= 608][:5])


if __name__ == "__main__":
    unittest.main()
