"""Peer for benches/pbt.sh: Ray Tune's PopulationBasedTraining on the wine study, done the way tune
does it (tune's split.json, features standardised with the training rows' statistics, MLP
11-64-64-1 with Adam and MSE, tune's data stream, the same budget: total = floor(stop_point x
training rows) examples per member, virtual-epoch boundaries at round(k x total / V)).

One Ray training iteration is one virtual epoch (the same examples whatever the batch size, the
last batch before a boundary smaller), so perturbation_interval=1 is tune's interval_virtual_epochs
1. A population of 8 (num_samples), quantile 0.25, resample 0.25, perturbation factors 1.2/0.8,
both parameters mutated (the batch size moves to a neighbour in its list, the learning rate is
multiplied; Ray does not clip it to the space), synchronous (every member waits at the boundary,
as tune's members do). A member's checkpoint holds weights, Adam's state, the data order and
position and its random stream, so an exploiting member continues from the copied state; then
its own new learning rate is set in place. Two trials at a time (ray.init(num_cpus=2)), one torch
thread each. The seed seeds Ray's initial sampling, its PBT decisions (Python's and NumPy's global
streams in the driver) and each member's torch and data streams; even so Ray's PBT runs do not
repeat exactly for a seed (measured; the trainer alone, --scheduler fifo, does).

With --scheduler fifo, the same trials without PBT (Ray's random search of 8 on the full budget),
which tells the trainer's share of a difference from the scheduler's.

--check-copy checks, outside Ray, that an exploiting member's next step equals its source's under
the new parameters. Otherwise prints one JSON line: seed, best val MSE over all members and
iterations, examples trained by all members, exploits, wall seconds.
"""
import argparse
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time

import numpy as np

PEERS = os.path.dirname(os.path.abspath(__file__))


def member_index(trial_name):
    """The trial's index in the population (Ray names trials ..._00003)."""
    m = re.search(r"(\d+)$", trial_name or "")
    return int(m.group(1)) if m else 0


def make_trainable():
    import torch
    from ray import tune
    from stream import Stream
    from tabular import load

    class Member(tune.Trainable):
        def setup(self, config):
            torch.set_num_threads(1)
            self.xtr, self.ytr, self.xva, self.yva, _ = load(
                config["data"], config["split"], config["target"], "regression"
            )
            n = self.xtr.shape[0]
            total = int(config["stop_point"] * n)
            v = config["virtual_epochs"]
            self.bounds = [(2 * k * total + v) // (2 * v) for k in range(v + 1)]
            member = member_index(self.trial_name)
            torch.manual_seed(config["seed"] * 1000 + member)
            layers, width = [], self.xtr.shape[1]
            for h in config["hidden"]:
                layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
                width = h
            self.model = torch.nn.Sequential(*layers, torch.nn.Linear(width, 1))
            self.opt = torch.optim.Adam(self.model.parameters(), lr=config["learning_rate"])
            self.stream = Stream(n, np.random.default_rng([config["seed"], member]))
            self.k = 0  # virtual epochs trained (copied on exploit)

        def reset_config(self, new_config):
            # A reused actor may start another member: build everything anew; a checkpoint, if
            # the trial has one, is restored after this.
            self.setup(new_config)
            return True

        def step(self):
            self.k += 1
            left = self.bounds[self.k] - self.bounds[self.k - 1]
            trained, batch = left, self.config["batch_size"]
            while left > 0:
                b = min(batch, left)
                idx = self.stream.next(b)
                self.opt.zero_grad()
                loss = torch.nn.functional.mse_loss(self.model(self.xtr[idx]), self.ytr[idx])
                loss.backward()
                self.opt.step()
                left -= b
            with torch.no_grad():
                val = torch.nn.functional.mse_loss(self.model(self.xva), self.yva).item()
            return {"val_loss": val, "trained": trained, "virtual_epoch": self.k}

        def save_checkpoint(self, checkpoint_dir):
            s = self.stream
            torch.save(
                {
                    "model": self.model.state_dict(),
                    "optimizer": self.opt.state_dict(),
                    "k": self.k,
                    "order": s.order,
                    "pos": s.pos,
                    "rng": s.rng.bit_generator.state,
                },
                os.path.join(checkpoint_dir, "state.pt"),
            )

        def load_checkpoint(self, checkpoint_dir):
            st = torch.load(os.path.join(checkpoint_dir, "state.pt"), weights_only=False)
            self.model.load_state_dict(st["model"])
            self.opt.load_state_dict(st["optimizer"])
            # Adam's state came along; the learning rate is this member's (new) one.
            for g in self.opt.param_groups:
                g["lr"] = self.config["learning_rate"]
            self.k = st["k"]
            self.stream.order, self.stream.pos = st["order"], st["pos"]
            self.stream.rng.bit_generator.state = st["rng"]

    return Member


def check_copy(args):
    """Outside Ray: member b loads member a's checkpoint after 2 virtual epochs with new parameters;
    its next virtual epoch must equal a's under the same new parameters (the state came along)."""
    member = make_trainable()
    base = {"data": os.path.abspath(args.data), "split": os.path.abspath(args.split),
            "target": args.target, "stop_point": args.stop_point,
            "virtual_epochs": args.virtual_epochs, "hidden": [int(h) for h in args.hidden.split(",")]}
    a = member(config=dict(base, seed=args.seed, batch_size=64, learning_rate=0.01))
    for _ in range(2):
        a.train()
    d = tempfile.mkdtemp(prefix="ray-pbt-check-")
    a.save_checkpoint(d)
    b = member(config=dict(base, seed=args.seed + 1, batch_size=32, learning_rate=0.002))
    b.load_checkpoint(d)
    shutil.rmtree(d)
    a.config["batch_size"] = 32
    for g in a.opt.param_groups:
        g["lr"] = 0.002
    va, vb = a.train()["val_loss"], b.train()["val_loss"]
    print(json.dumps({"check": "copy", "source": va, "exploiter": vb, "equal": va == vb}))
    if va != vb:
        raise SystemExit("ray_pbt.py: the exploiting member's step differs from its source's")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", required=True)
    ap.add_argument("--target", default="quality")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--population", type=int, default=8)
    ap.add_argument("--scheduler", default="pbt", choices=["pbt", "fifo"])
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--stop-point", type=float, default=50)
    ap.add_argument("--virtual-epochs", type=int, default=10)
    ap.add_argument("--hidden", default="64,64")
    ap.add_argument("--batch-sizes", default="16,32,64,128,256")
    ap.add_argument("--check-copy", action="store_true", help="check the exploit's state copy, no Ray run")
    args = ap.parse_args()
    if args.check_copy:
        sys.path.insert(0, PEERS)
        return check_copy(args)

    # Ray's workers import stream and tabular from here.
    os.environ["PYTHONPATH"] = PEERS + os.pathsep + os.environ.get("PYTHONPATH", "")
    sys.path.insert(0, PEERS)
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    import ray
    from ray import tune
    from ray.tune.schedulers import PopulationBasedTraining
    from ray.tune.search import BasicVariantGenerator

    random.seed(args.seed)
    np.random.seed(args.seed)
    ray.init(
        num_cpus=args.cpus,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="ERROR",
        runtime_env={"env_vars": {"PYTHONPATH": os.environ["PYTHONPATH"]}},
    )
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    lr = tune.loguniform(1e-4, 1e-1)
    space = {
        "data": os.path.abspath(args.data),
        "split": os.path.abspath(args.split),
        "target": args.target,
        "seed": args.seed,
        "stop_point": args.stop_point,
        "virtual_epochs": args.virtual_epochs,
        "hidden": [int(h) for h in args.hidden.split(",")],
        "batch_size": tune.choice(batch_sizes),
        "learning_rate": lr,
    }
    pbt = PopulationBasedTraining(
        time_attr="training_iteration",
        perturbation_interval=1,
        hyperparam_mutations={"batch_size": batch_sizes, "learning_rate": lr},
        quantile_fraction=0.25,
        resample_probability=0.25,
        perturbation_factors=(1.2, 0.8),
        log_config=False,
        synch=True,
    )
    rows = []

    class Collect(tune.Callback):
        def on_trial_result(self, iteration, trials, trial, result, **info):
            rows.append((result["val_loss"], result["trained"]))

    storage = tempfile.mkdtemp(prefix="ray-pbt-")
    tuner = tune.Tuner(
        make_trainable(),
        param_space=space,
        tune_config=tune.TuneConfig(
            metric="val_loss",
            mode="min",
            scheduler=pbt if args.scheduler == "pbt" else None,
            search_alg=BasicVariantGenerator(random_state=args.seed),
            num_samples=args.population,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=f"pbt-{args.seed}",
            storage_path=storage,
            stop={"training_iteration": args.virtual_epochs},
            checkpoint_config=tune.CheckpointConfig(checkpoint_frequency=1),
            callbacks=[Collect()],
            verbose=0,
        ),
    )
    t0 = time.perf_counter()
    grid = tuner.fit()
    wall = time.perf_counter() - t0
    ray.shutdown()
    shutil.rmtree(storage, ignore_errors=True)
    errors = [r.error for r in grid if r.error]
    if errors:
        raise SystemExit(f"ray_pbt.py: {len(errors)} trials failed: {errors[0]}")
    print(
        json.dumps(
            {
                "seed": args.seed,
                "best_val_loss": min(v for v, _ in rows),
                "examples": sum(e for _, e in rows),
                "scheduler": args.scheduler,
                "exploits": pbt._num_perturbations,
                "results": len(rows),
                "wall": wall,
            }
        )
    )


if __name__ == "__main__":
    main()
