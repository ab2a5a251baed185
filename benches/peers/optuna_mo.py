"""Optuna's side of benches/objectives.sh: its multi-objective samplers on problem A (ZDT1 in three
variables, the closed form that studies/programs/two_objectives.py reports, as tune selects it),
problem B (wine, val_loss and parameters, looked up in the table that tune's grid study built) and
problem C (DTLZ2, three objectives in six variables, benches/objectives/hv.py),
one trial at a time, 40 trials, scored by benches/objectives/hv.py as tune's runs are. The time per
suggestion is study.ask() plus the trial's suggest_* calls (where Optuna's independent sampling
happens). Problem B's four parameters are Optuna integers over the grid's indices (ordered, the
widths and rates log-spaced), tune's are the same lists of values.
Usage: optuna_mo.py PROBLEM(a|b|c) SAMPLER SEEDS TABLE.jsonl RESULTS.jsonl   (SEEDS: e.g. 0-9)"""

import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "objectives"))
import hv  # noqa: E402
import optuna  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)
TRIALS = 40


def make_sampler(name, seed):
    s = optuna.samplers
    if name == "nsga2":
        return s.NSGAIISampler(seed=seed)
    if name == "nsga2-pop10":
        return s.NSGAIISampler(population_size=10, seed=seed)
    if name == "tpe":
        return s.TPESampler(seed=seed)
    if name == "gp":
        return s.GPSampler(seed=seed)
    if name == "random":
        return s.RandomSampler(seed=seed)
    raise SystemExit("unknown sampler " + name)


def ask_a(trial):
    return [trial.suggest_float(x, 0.0, 1.0) for x in ("x1", "x2", "x3")]


def ask_b(trial):
    return [
        hv.WIDTHS[trial.suggest_int("hidden_width_index", 0, len(hv.WIDTHS) - 1)],
        hv.DEPTHS[trial.suggest_int("depth_index", 0, len(hv.DEPTHS) - 1)],
        hv.RATES[trial.suggest_int("learning_rate_index", 0, len(hv.RATES) - 1)],
        hv.BATCHES[trial.suggest_int("batch_size_index", 0, len(hv.BATCHES) - 1)],
    ]


def ask_c(trial):
    return [trial.suggest_float("x%d" % i, 0.0, 1.0) for i in range(1, 7)]


def one(problem, name, seed, table):
    directions = ["minimize"] * (3 if problem == "c" else 2)
    study = optuna.create_study(directions=directions, sampler=make_sampler(name, seed))
    points, ms = [], []
    for _ in range(TRIALS):
        t0 = time.perf_counter()
        trial = study.ask()
        x = {"a": ask_a, "b": ask_b, "c": ask_c}[problem](trial)
        ms.append(1e3 * (time.perf_counter() - t0))
        values = {"a": lambda: hv.zdt1(*x), "b": lambda: table[hv.key(*x)], "c": lambda: hv.dtlz2(x)}[problem]()
        study.tell(trial, list(values))
        points.append(tuple(values))
    line = {"side": "optuna", "problem": problem, "sampler": name, "seed": seed}
    line.update(hv.score(problem, points, (20, TRIALS)))
    line["suggest_ms"] = statistics.median(ms)
    line["points"] = line.pop("points")
    return line


def main():
    problem, name, seeds, table_path, results = sys.argv[1:6]
    lo, hi = (int(v) for v in seeds.split("-"))
    table = hv.load_table(table_path) if problem == "b" else None
    for seed in range(lo, hi + 1):
        line = one(problem, name, seed, table)
        with open(results, "a") as f:
            f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
