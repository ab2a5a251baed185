"""Unit tests of tune_client.stream (pure Python, no dependencies): the budget is exact, the cuts
fall on the boundaries mid-pass, a resume at any boundary sees the same batches, seeds give their
own orders. tests/client_package.rs runs them (`python3 client/tests/test_stream.py`).
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from tune_client.stream import Stream, order  # noqa: E402

# (examples in the data, batch size, boundaries): passes longer and shorter than a virtual
# epoch, batch sizes that divide nothing, a batch as large as the data, a single boundary.
CASES = [
    (100, 32, [250, 500, 750, 1000]),
    (1437, 64, [1500, 3000, 4500, 6000]),
    (7, 3, [5, 10, 11, 40]),
    (50, 50, [120, 240]),
    (10, 1, [33]),
    (1000, 128, [300, 600]),
]


def run(stream, boundary=None):
    """Every batch from where `stream` is to `boundary` (default: the last)."""
    out = []
    for _, b in stream.epochs_left():
        if boundary is not None and b > boundary:
            break
        out.append(list(stream.batches(b)))
    return out


class Budget(unittest.TestCase):
    def test_exactly_the_budget(self):
        for size, batch, bounds in CASES:
            epochs = run(Stream(size, batch, bounds, seed=5))
            self.assertEqual(sum(len(x) for e in epochs for x in e), bounds[-1], (size, batch))

    def test_cuts_fall_on_the_boundaries(self):
        for size, batch, bounds in CASES:
            epochs = run(Stream(size, batch, bounds, seed=5))
            self.assertEqual(len(epochs), len(bounds))
            seen = 0
            for boundary, epoch in zip(bounds, epochs):
                for i, x in enumerate(epoch):
                    # Full batches, but for the last of each virtual epoch (never empty).
                    if i < len(epoch) - 1:
                        self.assertEqual(len(x), batch, (size, batch, boundary))
                    self.assertTrue(1 <= len(x) <= batch)
                    seen += len(x)
                self.assertEqual(seen, boundary, (size, batch))

    def test_a_boundary_mid_pass_is_hit(self):
        # 250 examples of 100: the first boundary is half-way through the third pass, and the
        # batch there is cut to 250 - 7 * 32 = 26 examples.
        s = Stream(100, 32, [250, 500], seed=1)
        first = list(s.batches(250))
        self.assertEqual([len(x) for x in first], [32] * 7 + [26])
        self.assertEqual(s.examples, 250)
        # The next virtual epoch goes on mid-pass: its first batch is the rest of the third pass's
        # order from position 50, not a new pass.
        nxt = next(s.batches(500))
        self.assertEqual(nxt, order(100, 1, 2)[50:82])

    def test_steps(self):
        s = Stream(100, 32, [250, 500, 750], seed=1)
        self.assertEqual(s.steps_at(0), 0)
        self.assertEqual(s.steps_at(250), 8)
        self.assertEqual(s.steps_at(750), 24)
        counts = [len(e) for e in run(s)]
        self.assertEqual(counts, [8, 8, 8])
        with self.assertRaises(ValueError):
            s.steps_at(300)


class Order(unittest.TestCase):
    def test_passes_are_permutations_in_order(self):
        for size, batch, bounds in CASES:
            flat = [i for e in run(Stream(size, batch, bounds, seed=9)) for x in e for i in x]
            passes = -(-bounds[-1] // size)
            whole = [i for p in range(passes) for i in order(size, 9, p)]
            self.assertEqual(flat, whole[: bounds[-1]])
            for p in range(passes):
                self.assertEqual(sorted(order(size, 9, p)), list(range(size)))

    def test_a_batch_may_cross_into_the_next_pass(self):
        s = Stream(7, 3, [40], seed=2)
        batches = list(s.batches(40))
        self.assertEqual(batches[2], order(7, 2, 0)[6:] + order(7, 2, 1)[:2])

    def test_passes_and_seeds_differ(self):
        self.assertNotEqual(order(1000, 3, 0), order(1000, 3, 1))
        self.assertNotEqual(order(1000, 3, 0), order(1000, 4, 0))
        self.assertNotEqual(order(1000, 1, 0), order(1000, 1 << 32, 0))
        self.assertEqual(order(1000, 3, 5), order(1000, 3, 5))
        a = run(Stream(100, 10, [300], seed=11))
        b = run(Stream(100, 10, [300], seed=12))
        self.assertNotEqual(a, b)
        self.assertEqual(a, run(Stream(100, 10, [300], seed=11)))

    def test_the_order_is_pinned(self):
        # The same on any Python (these came out of 3.8 to 3.13 alike): a change here breaks every
        # resume of a study begun before it.
        self.assertEqual(order(10, 7, 0), [0, 9, 6, 7, 5, 3, 4, 2, 1, 8])
        self.assertEqual(order(10, 2**64 - 1, 3), [7, 2, 5, 1, 6, 3, 0, 4, 9, 8])

    def test_shuffles_are_even(self):
        # 3 examples, 6,000 passes: each lands in each place about 2,000 times (binomial sd 37).
        counts = [[0] * 3 for _ in range(3)]
        for p in range(6000):
            for place, i in enumerate(order(3, 8, p)):
                counts[i][place] += 1
        for row in counts:
            for c in row:
                self.assertTrue(1800 < c < 2200, counts)


class Resume(unittest.TestCase):
    def test_resume_at_any_boundary_sees_the_same_batches(self):
        for size, batch, bounds in CASES:
            whole = run(Stream(size, batch, bounds, seed=21))
            for k, b in enumerate(bounds):
                s = Stream(size, batch, bounds, seed=21, start=b)
                self.assertEqual(
                    [e for e, _ in s.epochs_left()], list(range(k + 2, len(bounds) + 1))
                )
                self.assertEqual(run(s), whole[k + 1 :], (size, batch, b))

    def test_a_stream_stopped_at_a_boundary_resumes_where_it_was(self):
        s = Stream(100, 32, [250, 500, 750], seed=4)
        run(s, boundary=500)
        rest = run(s)
        self.assertEqual(rest, run(Stream(100, 32, [250, 500, 750], seed=4, start=500)))

    def test_for_trial(self):
        class T:
            boundaries, seed, resume_examples = [10, 20], 3, 10

        s = Stream.for_trial(T, size=4, batch_size=3)
        self.assertEqual((s.examples, s.seed, s.epochs_left()), (10, 3, [(2, 20)]))


class BadInput(unittest.TestCase):
    def refused(self, words, *args, **kw):
        with self.assertRaises(ValueError) as e:
            s = Stream(*args, **kw)
            list(s.batches(s.boundaries[-1]))
        msg = str(e.exception)
        self.assertIn(words, msg)
        self.assertEqual(msg.count("\n"), 0)
        self.assertTrue(msg.startswith("tune_client: "), msg)

    def test_one_sentence_each(self):
        self.refused("batch_size must be at least 1, not 0", 10, 0, [5], 1)
        self.refused("batch_size must be a whole number, not 2.5", 10, 2.5, [5], 1)
        self.refused("batch_size must be a whole number, not '8'", 10, "8", [5], 1)
        self.refused("examples in the data must be at least 1, not 0", 0, 4, [5], 1)
        self.refused("boundaries must increase, but 5 follows 5", 10, 4, [5, 5], 1)
        self.refused("no boundaries", 10, 4, [], 1)
        self.refused("resumes at a boundary ([5, 9]), not at 7", 10, 4, [5, 9], 1, start=7)
        self.refused("the seed must be at least 0", 10, 4, [5], -1)

    def test_a_float_that_is_whole_is_taken(self):
        self.assertEqual(Stream(10, 4.0, [5], 1).batch_size, 4)

    def test_batches_to_a_passed_boundary(self):
        s = Stream(10, 4, [5, 9], 1, start=5)
        with self.assertRaises(ValueError):
            list(s.batches(5 - 1))
        with self.assertRaises(ValueError):
            list(s.batches(7))


if __name__ == "__main__":
    unittest.main()
