"""The learning-rate schedules of `tune`'s built-in trainer, for a program's own trainer: the rate
of a step as a function of the examples seen before it (never of the step count), so that a
schedule means the same curve at every batch size. No dependencies.

    from tune_client import Trial
    from tune_client.schedule import learning_rate

    trial = Trial()
    lr = learning_rate(seen, trial.params, trial.total_examples)   # before each step

The same formula as the built-in trainer (src/runner/mlp/schedule.rs); both are tested against
client/tests/schedule_points.json.
"""

import math

__all__ = ["learning_rate", "multiplier", "scale", "SCHEDULES", "SCALINGS"]

SCHEDULES = ("constant", "linear", "cosine")
SCALINGS = ("none", "linear", "sqrt")


def multiplier(examples_seen, total_examples, schedule="constant", warmup=0.0, min_lr_fraction=0.0):
    """The share of the peak rate after `examples_seen` of `total_examples`: rising linearly from
    0 over the first `warmup` share of the examples, then 1 (`constant`), or from 1 down to
    `min_lr_fraction` at `total_examples` along a line (`linear`) or half a cosine (`cosine`)."""
    if schedule not in SCHEDULES:
        raise ValueError(f"{schedule!r} is not a schedule: use one of {', '.join(SCHEDULES)}")
    if not 0.0 <= warmup < 1.0:
        raise ValueError(f"warmup {warmup} is not in [0, 1)")
    seen, total = float(examples_seen), float(max(int(total_examples), 1))
    warm = warmup * total
    if seen < warm:
        return seen / warm
    p = min(max((seen - warm) / (total - warm), 0.0), 1.0)
    if schedule == "constant":
        return 1.0
    if schedule == "linear":
        return 1.0 - (1.0 - min_lr_fraction) * p
    return min_lr_fraction + (1.0 - min_lr_fraction) * 0.5 * (1.0 + math.cos(math.pi * p))


def scale(batch_size, lr_scaling="none", reference_batch_size=32):
    """The factor on the learning rate at `batch_size`: 1 (`none`), batch / reference
    (`linear`) or its square root (`sqrt`)."""
    if lr_scaling not in SCALINGS:
        raise ValueError(f"{lr_scaling!r} is not an lr_scaling: use one of {', '.join(SCALINGS)}")
    r = batch_size / reference_batch_size
    return {"none": 1.0, "linear": r, "sqrt": math.sqrt(r)}[lr_scaling]


def learning_rate(examples_seen, params, total_examples, reference_batch_size=None, defaults=None):
    """The rate of a step taken after `examples_seen` examples, from a trial's `params` (its
    `learning_rate`, `batch_size`, and any of `schedule`, `warmup`, `min_lr_fraction`,
    `lr_scaling`, `reference_batch_size`; those absent come from `defaults`, then the built-in
    trainer's defaults) and the budget's `total_examples` (`Trial().total_examples`).
    With `examples_seen=None` it returns the peak rate (the learning rate scaled), for an
    optimizer's base rate under `LambdaLR`."""
    p = dict(defaults or {})
    p.update(params)
    reference = reference_batch_size or p.get("reference_batch_size", 32)
    peak = float(p["learning_rate"]) * scale(
        p.get("batch_size", reference), p.get("lr_scaling", "none"), reference
    )
    if examples_seen is None:
        return peak
    return peak * multiplier(
        examples_seen,
        total_examples,
        p.get("schedule", "constant"),
        float(p.get("warmup", 0.0)),
        float(p.get("min_lr_fraction", 0.0)),
    )
