"""Peer for benches/gp.rs: Optuna's GPSampler and TPESampler on Branin and Hartmann6.

Prints the same table as `cargo bench --bench gp`: median simple regret over seeds after 20 and 50
evaluations, and the median time per trial (sampling only: the functions cost nothing).
Usage: python benches/peers/optuna_gp.py [--seeds N]
"""
import argparse
import sys
import math
import statistics
import time

import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)


def branin(x):
    x1, x2 = x
    b = 5.1 / (4 * math.pi**2)
    c = 5 / math.pi
    return (x2 - b * x1 * x1 + c * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10


A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
P = [
    [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
    [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
    [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
    [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
]
ALPHA = [1.0, 1.2, 3.0, 3.2]


def hartmann6(x):
    return -sum(ALPHA[i] * math.exp(-sum(A[i][j] * (x[j] - P[i][j]) ** 2 for j in range(6))) for i in range(4))


PROBLEMS = [
    ("branin", [(-5.0, 10.0), (0.0, 15.0)], 0.397887, branin),
    ("hartmann6", [(0.0, 1.0)] * 6, -3.32237, hartmann6),
]


def run(sampler, bounds, f, evals):
    study = optuna.create_study(sampler=sampler)
    best, times = [], []
    t_last = time.perf_counter()

    def objective(trial):
        nonlocal t_last
        x = [trial.suggest_float(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(bounds)]
        # Time from the previous trial's end to this trial's parameters: the sampler's share.
        times.append(time.perf_counter() - t_last)
        y = f(x)
        best.append(min(best[-1], y) if best else y)
        t_last = time.perf_counter()
        return y

    study.optimize(objective, n_trials=evals)
    return best, times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--per-seed", action="store_true", help="also print each seed's regret@50 (stderr)")
    ap.add_argument("--only", help="one function (branin or hartmann6)")
    ap.add_argument("--sampler", help="one sampler (optuna-gp, optuna-tpe or optuna-tpe-mv)")
    args = ap.parse_args()
    print(f"{'function':<10} {'sampler':<8} {'regret@20':>12} {'regret@50':>12} {'s/suggestion':>14}")
    for name, bounds, opt, f in PROBLEMS:
        if args.only and name != args.only:
            continue
        for label, make in [("optuna-gp", lambda s: optuna.samplers.GPSampler(seed=s)), ("optuna-tpe", lambda s: optuna.samplers.TPESampler(seed=s)), ("optuna-tpe-mv", lambda s: optuna.samplers.TPESampler(seed=s, multivariate=True))]:
            if args.sampler and label != args.sampler:
                continue
            curves, times = [], []
            for seed in range(args.seeds):
                best, t = run(make(seed), bounds, f, 50)
                curves.append(best)
                times.extend(t[10:])  # after the random start-up trials
            if args.per_seed:
                print(f"{name} {label}: regret@50 per seed: " + " ".join(f"{c[49] - opt:.4f}" for c in curves), file=sys.stderr)
            r20 = statistics.median(c[19] - opt for c in curves)
            r50 = statistics.median(c[49] - opt for c in curves)
            print(f"{name:<10} {label:<8} {r20:>12.5f} {r50:>12.5f} {statistics.median(times):>14.4f}", flush=True)


if __name__ == "__main__":
    main()
