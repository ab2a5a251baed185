"""Prints benches/objectives.sh's tables (Markdown) from its JSONL results: per problem and
sampler, the median over seeds of the hypervolume after 20 and 40 trials (and its share of the
attainable one: problem A's true front, problem B's whole table) and of the time per suggestion;
then the goals; then the two-objective ASHA runs against the same studies without pruning. Problem
C (three objectives) shows where its runs are in the file; the build with the exact three-objective
EHVI (not kept) is labelled bayes-ehvi."""

import json
import os
import statistics
import sys

import hv

ORDER = [("tune", "bayes"), ("tune", "bayes-ehvi"), ("tune", "tpe"), ("tune", "random"), ("optuna", "gp"), ("optuna", "tpe"),
         ("optuna", "nsga2"), ("optuna", "nsga2-pop10"), ("optuna", "random")]


def read(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def med(rows, key):
    return statistics.median(r[key] for r in rows)


def samplers(rows, problem, best):
    head = ("| sampler | seeds | HV at 20 | HV at 40 | HV at 40 / attainable | tight HV at 20 |"
            " tight HV at 40 | tight HV at 40 / attainable | ms per suggestion |")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    medians = {}
    for side, name in ORDER:
        rs = [r for r in rows if r["problem"] == problem and r["side"] == side and r["sampler"] == name]
        if not rs:
            continue
        m = {k: med(rs, k) for k in rs[0] if k.startswith("hv") or k == "suggest_ms"}
        medians[(side, name)] = m
        print("| %s %s | %d | %.4f | %.4f | %.2f %% | %.4f | %.4f | %.2f %% | %.2f |" % (
            side, name, len(rs), m["hv20"], m["hv40"], 100 * m["hv40"] / best["hv"],
            m["hv_tight20"], m["hv_tight40"], 100 * m["hv_tight40"] / best["hv_tight"], m["suggest_ms"]))
    return medians


def goal(problem, medians):
    tune = medians.get(("tune", "bayes"))
    peers = {k: v for k, v in medians.items() if k[0] == "optuna"}
    if not tune or not peers:
        return
    for ref in ("hv", "hv_tight"):
        for n in (20, 40):
            k = "%s%d" % (ref, n)
            (side, best), m = max(peers.items(), key=lambda kv: kv[1][k])
            verdict = "yes" if tune[k] >= m[k] else "no"
            print("- problem %s, %s, %d trials: tune bayes %.4f against Optuna's best (%s) %.4f, ratio %.4f:"
                  " goal met: %s" % (problem.upper(), "tight reference" if ref == "hv_tight" else "reference",
                                     n, tune[k], best, m[k], tune[k] / m[k] if m[k] else float("nan"), verdict))
    gp = peers.get(("optuna", "gp"))
    if gp:
        print("- problem %s: time per suggestion, Optuna's GP over tune's bayes: %.1fx"
              % (problem.upper(), gp["suggest_ms"] / tune["suggest_ms"]))


def asha(all_rows):
    for ve in sorted({r.get("virtual_epochs", 9) for r in all_rows}):
        rows = [r for r in all_rows if r.get("virtual_epochs", 9) == ve]
        print("\n%d virtual epochs\n" % ve)
        print("| seed | examples (ASHA / full) | HV (ASHA / full) | tight HV (ASHA / full) | complete (ASHA) |"
              " front (ASHA, full) |")
        print("|---|---|---|---|---|---|")
        for r in rows:
            tight = r.get("hv_tight_fraction")
            print("| %d | %.1f %% | %.2f %% | %s | %d of 27 | %d, %d |" % (
                r["seed"], 100 * r["examples_fraction"], 100 * r["hv_fraction"],
                "-" if tight is None else "%.2f %%" % (100 * tight), r["asha_complete"],
                r["asha_front"], r["full_front"]))
        ex, h = med(rows, "examples_fraction"), med(rows, "hv_fraction")
        print("| median | %.1f %% | %.2f %% | | | |" % (100 * ex, 100 * h))
        meets = sum(r["examples_fraction"] <= 0.4 and r["hv_fraction"] >= 0.95 for r in rows)
        print()
        print("- ASHA goal at %d virtual epochs (at most 40 %% of the examples for at least 95 %% of the "
              "hypervolume): median %s; %d of %d seeds meet both"
              % (ve, "yes" if ex <= 0.4 and h >= 0.95 else "no", meets, len(rows)))


def main(samplers_path, asha_path, table_path):
    rows = read(samplers_path)
    problems = [p for p in "abc" if any(r["problem"] == p for r in rows)]
    best = {p: hv.attainable(p, hv.load_table(table_path) if p == "b" else None) for p in problems}
    refs = {p: "%s, tight %s" % (hv.refs(p)["hv"], hv.refs(p)["hv_tight"]) for p in "abc"}
    goals = {}
    for problem in problems:
        print("\nProblem %s: reference points %s; attainable HV %.4f, tight %.4f\n"
              % (problem.upper(), refs[problem], best[problem]["hv"], best[problem]["hv_tight"]))
        goals[problem] = samplers(rows, problem, best[problem])
    print()
    for problem in problems:
        goal(problem, goals[problem])
    if not asha_path or not os.path.exists(asha_path):
        return
    print("\nTwo-objective ASHA against the same study without pruning (reference %s)" % refs["b"])
    asha(read(asha_path))
