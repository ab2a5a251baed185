"""tune's side of benches/objectives.sh: builds problem B's table with a grid study, runs tune's
samplers on problems A and B, runs the two-objective ASHA study against the same study without
pruning, and prints the summary of the JSONL results (both sides). Each subcommand appends one JSON
line per run to the file given. Usage:
  bench.py table TUNE OUT.jsonl
  bench.py sampler TUNE PROBLEM(a|b|c) METHOD SEED TABLE.jsonl RESULTS.jsonl
  bench.py asha TUNE SEED VIRTUAL_EPOCHS RESULTS.jsonl
  bench.py summary SAMPLERS.jsonl ASHA.jsonl TABLE.jsonl"""

import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile

_here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _here)
import hv  # noqa: E402

ROOT = os.path.abspath(os.path.join(_here, "..", ".."))
WINE = os.path.join(ROOT, "studies", "data", "winequality-red.csv")
DATA = {"path": WINE, "target": "quality", "task": "regression", "validation_fraction": 0.2}
TWO = [{"metric": "val_loss"}, {"metric": "parameters", "goal": "min"}]
TRIALS = 40
STOP = float(os.environ.get("STOP_POINT", "20"))

# Problem B's space: the lists of the table's grid (benches/objectives/hv.py).
SPACE = {
    "hidden_width": hv.WIDTHS,
    "depth": hv.DEPTHS,
    "learning_rate": hv.RATES,
    "batch_size": hv.BATCHES,
}


def run_tune(tune, spec, out):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
    try:
        subprocess.run([os.path.abspath(tune), "-q", "--out", out, f.name], check=True, stdout=subprocess.DEVNULL)
    finally:
        os.unlink(f.name)
    with open(os.path.join(out, "leaderboard.csv")) as f:
        return list(csv.DictReader(f))


def table(tune, out_path):
    """Problem B's oracle: every configuration of the grid trained once by tune's built-in MLP;
    its value is the trial's selected (best) val_loss and its exact parameter count."""
    spec = {
        "name": "table",
        "seed": 42,
        "data": DATA,
        "model": {"optimizer": "adam"},
        "budget": {"stop_point": STOP, "virtual_epochs": 9},
        "objectives": TWO,
        "search": {
            "method": "grid",
            "parallel": 1,
            "space": SPACE,
        },
    }
    with tempfile.TemporaryDirectory() as tmp:
        rows = run_tune(tune, spec, os.path.join(tmp, "table"))
    with open(out_path, "w") as f:
        for r in sorted(rows, key=lambda r: int(r["trial"])):
            f.write(json.dumps({
                "trial": int(r["trial"]),
                "hidden_width": int(r["hidden_width"]),
                "depth": int(r["depth"]),
                "learning_rate": float(r["learning_rate"]),
                "batch_size": int(r["batch_size"]),
                "val_loss": float(r["best_val_loss"]),
                "parameters": float(r["best_parameters"]),
            }) + "\n")
    print("table: %d configurations -> %s" % (len(rows), out_path))


def sampler_spec(problem, method, seed, table_path):
    if problem == "a":
        return {
            "name": "a",
            "seed": seed,
            "trainer": {"command": ["python3", os.path.join(ROOT, "studies", "programs", "two_objectives.py")]},
            "budget": {"total_examples": 300, "virtual_epochs": 3},
            "objectives": [{"metric": "obj1", "goal": "min"}, {"metric": "obj2", "goal": "min"}],
            "search": {
                "method": method,
                "trials": TRIALS,
                "parallel": 1,
                "space": {x: {"low": 0.0, "high": 1.0} for x in ("x1", "x2", "x3")},
            },
        }
    if problem == "c":
        return {
            "name": "c",
            "seed": seed,
            "trainer": {"command": ["python3", os.path.join(_here, "dtlz2.py")]},
            "budget": {"total_examples": 1, "virtual_epochs": 1},
            "objectives": [{"metric": "obj%d" % k, "goal": "min"} for k in (1, 2, 3)],
            "search": {
                "method": method,
                "trials": TRIALS,
                "parallel": 1,
                "space": {"x%d" % i: {"low": 0.0, "high": 1.0} for i in range(1, 7)},
            },
        }
    return {
        "name": "b",
        "seed": seed,
        "trainer": {"command": ["python3", os.path.join(_here, "lookup.py"), os.path.abspath(table_path)]},
        "budget": {"total_examples": 1, "virtual_epochs": 1},
        "objectives": TWO,
        "search": {
            "method": method,
            "trials": TRIALS,
            "parallel": 1,
            "space": SPACE,
        },
    }


def sampler(tune, problem, method, seed, table_path, results):
    with tempfile.TemporaryDirectory() as tmp:
        rows = run_tune(tune, sampler_spec(problem, method, int(seed), table_path), os.path.join(tmp, "s"))
    rows.sort(key=lambda r: int(r["trial"]))
    assert len(rows) == TRIALS and all(r["status"] == "complete" for r in rows), rows
    names = {"a": ("obj1", "obj2"), "b": ("val_loss", "parameters"), "c": ("obj1", "obj2", "obj3")}[problem]
    points = [tuple(float(r["best_" + n]) for n in names) for r in rows]
    line = {"side": "tune", "problem": problem, "sampler": os.environ.get("LABEL", method), "seed": int(seed)}
    line.update(hv.score(problem, points, (20, TRIALS)))
    line["suggest_ms"] = statistics.median(float(r["suggest_ms"]) for r in rows)
    line["points"] = line.pop("points")
    with open(results, "a") as f:
        f.write(json.dumps(line) + "\n")


def asha_spec(seed, virtual_epochs, scheduler):
    spec = {
        "name": "asha",
        "seed": seed,
        "data": DATA,
        "model": {"optimizer": "adam"},
        "budget": {"stop_point": STOP, "virtual_epochs": virtual_epochs},
        "objectives": TWO,
        "search": {
            "method": "random",
            "trials": 27,
            "parallel": 1,
            "space": {
                "hidden_width": {"low": 2, "high": 128, "log": True},
                "depth": {"low": 1, "high": 3},
                "learning_rate": {"low": 1e-3, "high": 1e-1, "log": True},
                "batch_size": [16, 32, 64],
            },
        },
    }
    if scheduler:
        spec["scheduler"] = {"kind": "asha", "reduction_factor": 3, "min_virtual_epochs": 1, "mode": "promote"}
    return spec


def asha(tune, seed, virtual_epochs, results):
    """The same 27 random trials (a random trial depends on the seed and its number) with the
    full budget and under two-objective ASHA (eta 3, rungs at virtual epochs 1, 3, 9 (, 27),
    promote)."""
    line = {"seed": int(seed), "virtual_epochs": int(virtual_epochs)}
    with tempfile.TemporaryDirectory() as tmp:
        for name, scheduler in (("full", False), ("asha", True)):
            rows = run_tune(tune, asha_spec(int(seed), int(virtual_epochs), scheduler), os.path.join(tmp, name))
            done = [r for r in rows if r["status"] == "complete"]
            points = [(float(r["best_val_loss"]), float(r["best_parameters"])) for r in done]
            line[name + "_hv"] = hv.hypervolume(points, hv.REF_B)
            line[name + "_hv_tight"] = hv.hypervolume(points, hv.REF_B_TIGHT)
            line[name + "_examples"] = sum(int(r["examples_seen"]) for r in rows)
            line[name + "_complete"] = len(done)
            with open(os.path.join(tmp, name, "pareto.csv")) as f:
                line[name + "_front"] = sum(1 for _ in csv.DictReader(f))
    line["examples_fraction"] = line["asha_examples"] / line["full_examples"]
    line["hv_fraction"] = line["asha_hv"] / line["full_hv"]
    line["hv_tight_fraction"] = line["asha_hv_tight"] / line["full_hv_tight"] if line["full_hv_tight"] else None
    with open(results, "a") as f:
        f.write(json.dumps(line) + "\n")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "table":
        table(*args)
    elif cmd == "sampler":
        sampler(*args)
    elif cmd == "asha":
        asha(*args)
    elif cmd == "summary":
        import summary
        summary.main(*args)
    else:
        sys.exit("unknown subcommand " + cmd)


if __name__ == "__main__":
    main()
