"""The peer of benches/pg/bench.sh: Optuna's RDB storage (SQLAlchemy + psycopg2) on the same
PostgreSQL, with as many worker processes and trials as tune, each trial as tiny as tune's (a few
arithmetic operations a virtual epoch) and reporting each of its virtual epochs (`trial.report`
and `trial.should_prune`, as a pruned study does). Workers use ask and tell, timed around Optuna's
calls: the storage's cost per trial (ask, tell) and per virtual epoch (report, should_prune).

Usage: python optuna_rdb.py --url postgresql+psycopg2://user@host:port/db --workers 32
           --trials 640 --epochs 4
Prints one JSON object: trials, seconds (first start to last completion, from the storage),
trials_per_s, coordination ms per epoch and per trial, duplicate trial numbers.
"""

import argparse
import json
import multiprocessing as mp
import time

import optuna


def work(url, study_name, trials, epochs, seed, out):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(
        study_name=study_name,
        storage=url,
        sampler=optuna.samplers.RandomSampler(seed=seed),
    )
    per_trial = per_epoch = 0.0
    for _ in range(trials):
        t0 = time.perf_counter()
        trial = study.ask()
        per_trial += time.perf_counter() - t0
        lr = trial.suggest_float("learning_rate", 1e-3, 3e-2, log=True)
        batch = trial.suggest_categorical("batch_size", [32, 64])
        value = 1.0
        for k in range(1, epochs + 1):
            value = value * (1 - lr) + 1.0 / (batch * k)
            t0 = time.perf_counter()
            trial.report(value, k)
            trial.should_prune()
            per_epoch += time.perf_counter() - t0
        t0 = time.perf_counter()
        study.tell(trial, value)
        per_trial += time.perf_counter() - t0
    out.put((per_trial, per_epoch))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--workers", type=int, default=32)
    p.add_argument("--trials", type=int, default=640)
    p.add_argument("--epochs", type=int, default=4)
    a = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = f"bench-{int(time.time() * 1000)}"
    optuna.create_study(study_name=name, storage=a.url)
    each = a.trials // a.workers
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [
        ctx.Process(target=work, args=(a.url, name, each, a.epochs, i, out))
        for i in range(a.workers)
    ]
    for w in procs:
        w.start()
    costs = [out.get() for _ in procs]
    for w in procs:
        w.join()
    study = optuna.load_study(study_name=name, storage=a.url)
    done = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
    first = min(t.datetime_start for t in done)
    last = max(t.datetime_complete for t in done)
    seconds = (last - first).total_seconds()
    numbers = [t.number for t in study.get_trials(deepcopy=False)]
    trials = len(done)
    print(
        json.dumps(
            {
                "trials": trials,
                "seconds": seconds,
                "trials_per_s": trials / seconds,
                "ms_per_epoch": 1e3 * sum(c[1] for c in costs) / (trials * a.epochs),
                "ms_per_trial": 1e3 * sum(c[0] for c in costs) / trials,
                "duplicates": len(numbers) - len(set(numbers)),
            }
        )
    )


if __name__ == "__main__":
    main()
