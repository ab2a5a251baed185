"""Unit tests of tune_client.schedule (pure Python): the rate at each point of
client/tests/schedule_points.json, the points the built-in trainer's schedule is tested against
too (src/runner/mlp/schedule.rs), so that a program's schedule and tune's are the same curve.
tests/client_package.rs runs them (`python3 client/tests/test_schedule.py`).
"""

import json
import math
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
from tune_client import Trial  # noqa: E402
from tune_client.schedule import learning_rate, multiplier  # noqa: E402

with open(os.path.join(HERE, "schedule_points.json")) as f:
    POINTS = json.load(f)


class Schedule(unittest.TestCase):
    def test_the_trainers_points(self):
        self.assertGreaterEqual(len(POINTS), 10)
        keys = ("learning_rate", "batch_size", "schedule", "warmup", "min_lr_fraction", "lr_scaling")
        for p in POINTS:
            params = {k: p[k] for k in keys}
            got = learning_rate(
                p["examples_seen"], params, p["total_examples"], p["reference_batch_size"]
            )
            self.assertTrue(math.isclose(got, p["rate"], rel_tol=1e-12, abs_tol=0.0), (p, got))

    def test_defaults_are_a_constant_unscaled_rate(self):
        for seen in (0, 10, 1000):
            self.assertEqual(learning_rate(seen, {"learning_rate": 0.01, "batch_size": 256}, 1000), 0.01)

    def test_same_curve_at_every_batch_size(self):
        params = {"learning_rate": 0.1, "schedule": "cosine", "warmup": 0.1}
        for seen in (0, 50, 100, 400, 1000):
            rates = {learning_rate(seen, dict(params, batch_size=b), 1000) for b in (16, 256)}
            self.assertEqual(len(rates), 1, seen)

    def test_sqrt_scaling_ratio_and_peak(self):
        p = {"learning_rate": 0.1, "lr_scaling": "sqrt"}
        a = learning_rate(None, dict(p, batch_size=16), 1000)
        b = learning_rate(None, dict(p, batch_size=64), 1000)
        self.assertAlmostEqual(b / a, 2.0, places=12)

    def test_a_trials_rate_over_its_budget_with_defaults(self):
        os.environ.pop("TUNE_PARAMS", None)
        trial = Trial(params={"learning_rate": 0.02, "batch_size": 64}, boundaries=[500, 1000])
        cosine = {"schedule": "cosine", "warmup": 0.2, "lr_scaling": "linear"}
        self.assertEqual(trial.learning_rate(None, **cosine), 0.04)
        self.assertEqual(trial.learning_rate(100, **cosine), 0.02)
        self.assertAlmostEqual(trial.learning_rate(600, **cosine), 0.02, places=15)
        self.assertAlmostEqual(trial.learning_rate(1000, **cosine), 0.0, places=15)
        self.assertEqual(trial.learning_rate(1000), 0.02)

    def test_bad_names(self):
        with self.assertRaises(ValueError):
            multiplier(0, 10, "step")
        with self.assertRaises(ValueError):
            learning_rate(0, {"learning_rate": 0.1, "lr_scaling": "cube"}, 10)


if __name__ == "__main__":
    unittest.main()
