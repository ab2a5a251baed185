"""Peer for benches/suite.rs: Optuna's TPESampler and GPSampler on the sampler suite of issue 31.

The problems, their spaces (tune's `search.space` form) and optima come from benches/suite/problems.json,
read by both sides; the objectives below are the same closed forms as benches/suite.rs's. Each space is
asked define-by-run: a parameter with `"when": {"optimizer": "sgd"}` (a value or a list of values of
another parameter) is suggested only when that condition holds, so it is absent otherwise.

Prints one JSON line per problem and sampler, as `cargo bench --bench suite` does, which
benches/suite/table.py turns into the tables of docs/benchmarks.md: the median regret (best value
found minus the optimum) over the seeds after each budget of trials, the median seconds per
suggestion (study.ask() and the define-by-run suggestions, after the sampler's 10 start-up trials),
and the share of suggestions after the start-up trials with a float coordinate within 1e-9 of a bound.

Usage: python benches/peers/optuna_suite.py [--seeds 10] [--trials 20,40] [--only NAME] [--sampler optuna-tpe|optuna-gp]
       python benches/peers/optuna_suite.py --check < points   (points: `cargo bench --bench suite -- --check`)
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import optuna

optuna.logging.set_verbosity(optuna.logging.ERROR)
PROBLEMS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "suite", "problems.json")
# Optuna 5.1's defaults: TPESampler is multivariate for one objective, with the constant liar, and
# both samplers start with 10 random trials.
STARTUP = 10


def xs(p):
    """The coordinates x0, x1, ... of a test function's point."""
    return [p[f"x{i}"] for i in range(len(p))]


def branin(p):
    x1, x2 = p["x0"], p["x1"]
    b = 5.1 / (4 * math.pi * math.pi)
    c = 5 / math.pi
    return (x2 - b * x1 * x1 + c * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10


def log_goldstein_price(p):
    x1, x2 = p["x0"], p["x1"]
    a = 1 + (x1 + x2 + 1) ** 2 * (19 - 14 * x1 + 3 * x1 * x1 - 14 * x2 + 6 * x1 * x2 + 3 * x2 * x2)
    b = 30 + (2 * x1 - 3 * x2) ** 2 * (18 - 32 * x1 + 12 * x1 * x1 + 48 * x2 - 36 * x1 * x2 + 27 * x2 * x2)
    return math.log(a * b)


def hartmann(x, a, p):
    alpha = [1.0, 1.2, 3.0, 3.2]
    return -sum(alpha[i] * math.exp(-sum(a[i][j] * (x[j] - p[i][j]) ** 2 for j in range(len(x)))) for i in range(4))


def hartmann3(p):
    a = [[3.0, 10.0, 30.0], [0.1, 10.0, 35.0], [3.0, 10.0, 30.0], [0.1, 10.0, 35.0]]
    c = [[0.3689, 0.1170, 0.2673], [0.4699, 0.4387, 0.7470], [0.1091, 0.8732, 0.5547], [0.0381, 0.5743, 0.8828]]
    return hartmann(xs(p), a, c)


def hartmann6(p):
    a = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
    c = [
        [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
        [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
        [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
        [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
    ]
    return hartmann(xs(p), a, c)


def michalewicz(p):
    return -sum(math.sin(x) * math.sin((i + 1) * x * x / math.pi) ** 20 for i, x in enumerate(xs(p)))


def levy(p):
    w = [1 + (x - 1) / 4 for x in xs(p)]
    s = math.sin(math.pi * w[0]) ** 2
    s += sum((wi - 1) ** 2 * (1 + 10 * math.sin(math.pi * wi + 1) ** 2) for wi in w[:-1])
    return s + (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)


def rosenbrock(p):
    x = xs(p)
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (x[i] - 1) ** 2 for i in range(len(x) - 1))


def ackley(p):
    x = xs(p)
    d = len(x)
    return (-20 * math.exp(-0.2 * math.sqrt(sum(v * v for v in x) / d))
            - math.exp(sum(math.cos(2 * math.pi * v) for v in x) / d) + 20 + math.e)


def styblinski_tang(p):
    return 0.5 * sum(v**4 - 16 * v * v + 5 * v for v in xs(p))


def lr_batch(p):
    # The best learning rate grows as the square root of the batch size; far above it, training diverges.
    a = math.log10(p["learning_rate"]) + 3 - 0.5 * math.log10(p["batch_size"] / 128)
    f = a * a + 0.05 * (math.log2(p["batch_size"]) - 7) ** 2
    f += 0.1 * (math.log10(p["weight_decay"]) + 4) ** 2 + 2 * (p["dropout"] - 0.2) ** 2
    return f + (1.0 if a > 1 else 0.0)


def integer_mix(p):
    layers, offset, rate = p["layers"], p["offset"], p["rate"]
    f = 0.1 * (layers - 7) ** 2 + 0.2 * (offset + 3) ** 2 + 0.5 * (1 - math.cos(math.pi * (offset + 3) / 2))
    f += 4 * math.log10(p["units"] / 30) ** 2 + 0.5 * math.log2(p["width"] / 128) ** 2
    return f + 5 * (rate - 0.37) ** 2 + 0.5 * abs(layers - 7) * abs(rate - 0.37)


COLOR = {"red": 0.0, "green": 0.15, "blue": 0.3, "yellow": 0.5, "white": 0.8, "black": 1.2}
SHAPE = {"square": (0.0, 0.2), "circle": (0.1, 0.8), "triangle": (0.25, 0.5)}


def categorical_mix(p):
    offset, center = SHAPE[p["shape"]]
    f = COLOR[p["color"]] + offset + 3 * (p["x"] - center) ** 2 + 0.02 * (p["k"] - 4) ** 2
    return f + (0.3 if p["color"] == "red" and p["shape"] == "circle" else 0.0)


def conditional_optimizer(p):
    lr, bs = math.log10(p["learning_rate"]), math.log2(p["batch_size"])
    if p["optimizer"] == "sgd":
        m = p["momentum"]
        e = lr - math.log10(1 - m) + 0.5
        return e * e + 2 * (m - 0.9) ** 2 + 0.05 * (bs - 6) ** 2 + 0.1
    return (lr + 3) ** 2 + 4 * (p["beta1"] - 0.9) ** 2 + 0.05 * (bs - 6) ** 2


def conditional_model(p):
    if p["model"] == "tree":
        return 0.2 + 0.01 * (p["depth"] - 8) ** 2
    lr = math.log10(p["learning_rate"])
    if p["model"] == "linear":
        return 0.3 + 0.2 * (math.log10(p["l2"]) + 2) ** 2 + (lr + 2) ** 2
    a, b = p["layers"] - 3, math.log2(p["width"]) - 8
    return (lr + 3) ** 2 + 0.1 * a * a + 0.3 * b * b + 0.1 * a * b + 2 * (p["dropout"] - 0.1) ** 2


FUNCTIONS = {f.__name__: f for f in [branin, log_goldstein_price, hartmann3, hartmann6, michalewicz, levy,
                                     rosenbrock, ackley, styblinski_tang, lr_batch, integer_mix,
                                     categorical_mix, conditional_optimizer, conditional_model]}


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def active(spec, params):
    """Whether a parameter's condition (if any) holds for the parameters suggested so far."""
    for parent, allowed in when(spec).items():
        allowed = allowed if isinstance(allowed, list) else [allowed]
        if parent not in params or params[parent] not in allowed:
            return False
    return True


def suggest(trial, space):
    """The space asked define-by-run: unconditional parameters first (in tune's order, by name),
    then each conditional one once its parents are known and only if its condition holds."""
    params, todo = {}, sorted(space)
    while todo:
        ready = [n for n in todo if not any(k in todo for k in when(space[n]))]
        if not ready:
            raise ValueError(f"conditions loop among {todo}")
        for name in ready:
            todo.remove(name)
            spec = space[name]
            if not active(spec, params):
                continue
            if isinstance(spec, list):
                params[name] = trial.suggest_categorical(name, spec)
            elif is_int(spec["low"]) and is_int(spec["high"]):
                params[name] = trial.suggest_int(name, spec["low"], spec["high"], log=spec.get("log", False))
            else:
                params[name] = trial.suggest_float(name, spec["low"], spec["high"], log=spec.get("log", False))
    return params


def when(spec):
    """A parameter's condition: {parent: value or list of values}, empty when it has none."""
    return spec.get("when", {}) if isinstance(spec, dict) else {}


def at_bound(space, params):
    """Whether a float range's coordinate (in log where the range is) lies within 1e-9 of a bound,
    in units of the range: the issue's "pile onto the bounds"."""
    for name, v in params.items():
        spec = space[name]
        if isinstance(spec, list) or (is_int(spec["low"]) and is_int(spec["high"])):
            continue
        lo, hi, x = spec["low"], spec["high"], v
        if spec.get("log"):
            lo, hi, x = math.log10(lo), math.log10(hi), math.log10(x)
        if hi > lo and min(x - lo, hi - x) / (hi - lo) <= 1e-9:
            return True
    return False


def run(make, problem, seed, trials):
    """One study: the best value after each trial, the seconds of each suggestion, and whether each
    lay at a bound."""
    f = FUNCTIONS[problem["function"]]
    space = problem["space"]
    study = optuna.create_study(sampler=make(seed))
    best, secs, bound = [], [], []
    for _ in range(trials):
        t0 = time.perf_counter()
        trial = study.ask()
        params = suggest(trial, space)
        secs.append(time.perf_counter() - t0)
        bound.append(at_bound(space, params))
        y = f(params)
        study.tell(trial, y)
        best.append(min(best[-1], y) if best else y)
    return best, secs, bound


SAMPLERS = {
    "optuna-tpe": lambda s: optuna.samplers.TPESampler(seed=s),
    "optuna-gp": lambda s: optuna.samplers.GPSampler(seed=s),
}


def check():
    """Reads the points and values benches/suite.rs printed (`--check`) and says where ours differ."""
    problems = {p["name"]: p for p in json.load(open(PROBLEMS))["problems"]}
    bad = n = 0
    for line in sys.stdin:
        if not line.startswith("{"):
            continue
        row = json.loads(line)
        p = problems[row["problem"]]
        y = FUNCTIONS[p["function"]](row["params"])
        n += 1
        if not math.isclose(y, row["f"], rel_tol=1e-9, abs_tol=1e-12):
            bad += 1
            print(f"{row['problem']} {row['params']}: tune {row['f']!r}, python {y!r}")
    for p in problems.values():
        gap = FUNCTIONS[p["function"]](p["argmin"]) - p["optimum"]
        if abs(gap) > 1e-9 * max(1.0, abs(p["optimum"])):
            bad += 1
            print(f"{p['name']}: f(argmin) - optimum = {gap!r} in python")
    print(f"{n} points and {len(problems)} optima checked: {bad} differ")
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--trials", default="20,40", help="budgets, comma-separated")
    ap.add_argument("--only", help="one problem, by name")
    ap.add_argument("--sampler", choices=sorted(SAMPLERS))
    ap.add_argument("--check", action="store_true", help="compare with tune's values read from stdin")
    args = ap.parse_args()
    if args.check:
        sys.exit(check())
    budgets = [int(b) for b in args.trials.split(",")]
    for problem in json.load(open(PROBLEMS))["problems"]:
        if args.only and problem["name"] != args.only:
            continue
        for label, make in SAMPLERS.items():
            if args.sampler and label != args.sampler:
                continue
            runs = [run(make, problem, seed, max(budgets)) for seed in range(args.seeds)]
            regret, secs, per_seed = {}, {}, {}
            for n in budgets:
                finals = [b[n - 1] - problem["optimum"] for b, _, _ in runs]
                per_seed[n] = finals
                regret[n] = statistics.median(finals)
                ts = [t for _, s, _ in runs for t in s[STARTUP:n]]
                secs[n] = statistics.median(ts) if ts else None
            bound = [x for _, _, b in runs for x in b[STARTUP:]]
            print(json.dumps({
                "problem": problem["name"], "sampler": label, "seeds": args.seeds,
                "regret": regret, "secs": secs, "per_seed": per_seed,
                "at_bound": sum(bound) / len(bound) if bound else None, "after_startup": len(bound),
            }), flush=True)


if __name__ == "__main__":
    main()
