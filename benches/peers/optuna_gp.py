"""Peer for benches/gp.rs: Optuna's GPSampler and TPESampler on the same test functions.

Prints the same table as `cargo bench --bench gp`: median simple regret over seeds after 20 and 40
evaluations, the share of suggestions after the 10 random start-up trials with a float within 1e-9
of a bound, and the median time per trial (sampling only: the functions cost nothing).
Usage: python benches/peers/optuna_gp.py [--seeds N] [--only branin,levy6] [--sampler optuna-gp]
"""
import argparse
import math
import statistics
import sys
import time

import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)

LEVELS = ["L0", "L1", "L2", "L3"]
SHUFFLED = ["L2", "L0", "L3", "L1"]


def branin(x):
    x1, x2 = x[0], x[1]
    b = 5.1 / (4 * math.pi**2)
    c = 5 / math.pi
    return (x2 - b * x1 * x1 + c * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10


ALPHA = [1.0, 1.2, 3.0, 3.2]
A6 = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
P6 = [
    [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
    [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
    [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
    [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
]
A3 = [[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]]
P3 = [[0.3689, 0.1170, 0.2673], [0.4699, 0.4387, 0.7470], [0.1091, 0.8732, 0.5547], [0.0381, 0.5743, 0.8828]]


def hartmann(x, a, p):
    return -sum(ALPHA[i] * math.exp(-sum(a[i][j] * (x[j] - p[i][j]) ** 2 for j in range(len(x)))) for i in range(4))


def levy(x):
    w = [1 + (v - 1) / 4 for v in x]
    mid = sum((wi - 1) ** 2 * (1 + 10 * math.sin(math.pi * wi + 1) ** 2) for wi in w[:-1])
    return math.sin(math.pi * w[0]) ** 2 + mid + (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)


def rosenbrock(x):
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1))


def ackley(x):
    d = len(x)
    sq = sum(v * v for v in x) / d
    cs = sum(math.cos(2 * math.pi * v) for v in x) / d
    return -20 * math.exp(-0.2 * math.sqrt(sq)) - math.exp(cs) + 20 + math.e


def michalewicz(x):
    return -sum(math.sin(v) * math.sin((i + 1) * v * v / math.pi) ** 20 for i, v in enumerate(x))


def int_mix(x):
    return (x[0] - 0.3) ** 2 + (x[1] - 0.7) ** 2 + ((x[2] - 13) / 20) ** 2 + (math.log10(x[3]) - math.log10(30)) ** 2


def cat_mix(x):
    return [0.6, 0.0, 1.2, 0.3][x[2]] + branin(x[:2]) / 10


F = ("float",)
PROBLEMS = [
    ("branin", [F + (-5.0, 10.0), F + (0.0, 15.0)], 0.397887, branin),
    ("hartmann3", [F + (0.0, 1.0)] * 3, -3.86278, lambda x: hartmann(x, A3, P3)),
    ("hartmann6", [F + (0.0, 1.0)] * 6, -3.32237, lambda x: hartmann(x, A6, P6)),
    ("michal5", [F + (0.0, math.pi)] * 5, -4.687658, michalewicz),
    ("levy6", [F + (-10.0, 10.0)] * 6, 0.0, levy),
    ("rosen6", [F + (-5.0, 10.0)] * 6, 0.0, rosenbrock),
    ("ackley8", [F + (-32.768, 32.768)] * 8, 0.0, ackley),
    ("int-mix", [F + (0.0, 1.0), F + (0.0, 1.0), ("int", 0, 20, False), ("int", 1, 1000, True)], 0.0, int_mix),
    ("cat-mix", [F + (-5.0, 10.0), F + (0.0, 15.0), ("cat", LEVELS)], 0.0397887, cat_mix),
    ("cat-mix-shuf", [F + (-5.0, 10.0), F + (0.0, 15.0), ("cat", SHUFFLED)], 0.0397887, cat_mix),
]


def suggest(trial, i, dim):
    name = f"x{i}"
    if dim[0] == "float":
        return trial.suggest_float(name, dim[1], dim[2])
    if dim[0] == "int":
        return trial.suggest_int(name, dim[1], dim[2], log=dim[3])
    return LEVELS.index(trial.suggest_categorical(name, dim[1]))


def at_bound(dims, x):
    return any(
        d[0] == "float" and min(abs(v - d[1]), abs(d[2] - v)) <= 1e-9 * (d[2] - d[1]) for d, v in zip(dims, x)
    )


def run(sampler, dims, f, evals):
    study = optuna.create_study(sampler=sampler)
    best, times, bound = [], [], 0
    t_last = time.perf_counter()

    def objective(trial):
        nonlocal t_last, bound
        x = [suggest(trial, i, d) for i, d in enumerate(dims)]
        # Time from the previous trial's end to this trial's parameters: the sampler's share.
        times.append(time.perf_counter() - t_last)
        if trial.number >= 10:
            bound += at_bound(dims, x)
        y = f(x)
        best.append(min(best[-1], y) if best else y)
        t_last = time.perf_counter()
        return y

    study.optimize(objective, n_trials=evals)
    return best, times, bound


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--per-seed", action="store_true", help="also print each seed's regret@40 (stderr)")
    ap.add_argument("--only", help="functions, comma-separated (branin,levy6)")
    ap.add_argument("--sampler", help="one sampler (optuna-gp, optuna-tpe or optuna-tpe-mv)")
    args = ap.parse_args()
    print(f"{'function':<12} {'sampler':<10} {'regret@20':>12} {'regret@40':>12} {'bound':>8} {'s/suggestion':>14}")
    samplers = [
        ("optuna-gp", lambda s: optuna.samplers.GPSampler(seed=s)),
        ("optuna-tpe", lambda s: optuna.samplers.TPESampler(seed=s)),
        ("optuna-tpe-mv", lambda s: optuna.samplers.TPESampler(seed=s, multivariate=True)),
    ]
    for name, dims, opt, f in PROBLEMS:
        if args.only and name not in args.only.split(","):
            continue
        for label, make in samplers:
            if (args.sampler and label != args.sampler) or (not args.sampler and label == "optuna-tpe-mv"):
                continue
            curves, times, bound = [], [], 0
            for seed in range(args.seeds):
                best, t, b = run(make(seed), dims, f, 40)
                curves.append(best)
                times.extend(t[10:])  # after the random start-up trials
                bound += b
            if args.per_seed:
                print(f"{name} {label}: regret@40 per seed: " + " ".join(f"{c[39] - opt:.4f}" for c in curves), file=sys.stderr)
            r20 = statistics.median(c[19] - opt for c in curves)
            r40 = statistics.median(c[39] - opt for c in curves)
            share = 100 * bound / (30 * args.seeds)
            print(f"{name:<12} {label:<10} {r20:>12.6f} {r40:>12.6f} {share:>7.0f}% {statistics.median(times):>14.4f}", flush=True)


if __name__ == "__main__":
    main()
