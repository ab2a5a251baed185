#!/usr/bin/env python3
"""What any successive-halving rule could reach on a study, in hindsight (issue 31).

Reads full-budget runs of one study at several seeds (each a `tune --out` folder whose trials all
trained the whole budget; `trials/N/curve.csv`) and tries every rule "train all trials to virtual
epoch r1, the best k1 of them on to r2, the best k2 of those to the budget" (one rung when r1 = r2),
each trial ranked at a rung by its best value up to it, as ASHA and Hyperband rank. A rule's cost is
the examples it trains (every trial's virtual epoch is the same number of examples) as a share of
the full budget's; it succeeds at a seed when the best value it reaches is within WITHIN of the full
budget's best. It prints the rules within the cost that succeed at the most seeds, chosen with the
seeds' results known (so an upper bound for a rule chosen beforehand), then each seed's winners'
ranks at a few boundaries. Standard library only.

Usage: benches/pruning_bound.py --metric val_loss --goal min [--cost 0.4] [--within 0.01] RUN...
       (benches/pruning.sh runs it on its full-budget runs when given several SEEDS)
"""
import argparse
import csv
import os


def curves(run, metric, goal):
    """{trial: [value at virtual epoch 1, 2, ...]}, each value signed so that lower is better."""
    sign = 1.0 if goal == "min" else -1.0
    out = {}
    for t in sorted(os.listdir(os.path.join(run, "trials")), key=int):
        with open(os.path.join(run, "trials", t, "curve.csv")) as f:
            out[int(t)] = [sign * float(r[metric]) for r in csv.DictReader(f)]
    return out


def study(run, metric, goal):
    c = curves(run, metric, goal)
    budget = min(len(v) for v in c.values())
    if any(len(v) != budget for v in c.values()):
        raise SystemExit(f"{run}: not every trial trained the whole budget (a full-budget run is needed)")
    # rank[r][t]: trial t's place at boundary r (1-based) by its best up to r, ties to the lower trial
    rank = {}
    for r in range(1, budget + 1):
        order = sorted(c, key=lambda t: (min(c[t][:r]), t))
        rank[r] = {t: i for i, t in enumerate(order)}
    final = {t: min(v) for t, v in c.items()}
    return dict(curves=c, budget=budget, rank=rank, final=final, best=min(final.values()))


def within(value, best, tolerance):
    # values are signed so that lower is better; the gap is relative to the best's magnitude
    return value - best <= tolerance * abs(best)


def reach(s, r1, k1, r2):
    """The best final value among the top k2 at r2 of the top k1 at r1, for every k2 <= k1."""
    first = sorted(s["rank"][r1], key=s["rank"][r1].get)[:k1]
    second = sorted(first, key=s["rank"][r2].get)
    out, best = [], float("inf")
    for t in second:
        best = min(best, s["final"][t])
        out.append(best)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--metric", required=True)
    ap.add_argument("--goal", choices=["min", "max"], required=True)
    ap.add_argument("--cost", type=float, default=0.4)
    ap.add_argument("--within", type=float, default=0.01)
    ap.add_argument("--show", type=int, default=5, help="how many of the best rules to print")
    ap.add_argument("--ranks", type=int, default=1, help="0: leave out each seed's winners' ranks")
    ap.add_argument("runs", nargs="+")
    a = ap.parse_args()
    studies = [study(r, a.metric, a.goal) for r in a.runs]
    n = len(studies[0]["curves"])
    ve = studies[0]["budget"]
    if any(len(s["curves"]) != n or s["budget"] != ve for s in studies):
        raise SystemExit("the runs differ in trials or budget")
    rules = []
    for r1 in range(1, ve):
        for k1 in range(1, n + 1):
            for r2 in range(r1, ve):
                reached = [reach(s, r1, k1, r2) for s in studies]
                for k2 in range(1, k1 + 1) if r2 > r1 else [k1]:
                    cost = (n * r1 + k1 * (r2 - r1) + k2 * (ve - r2)) / (n * ve)
                    if cost > a.cost:
                        continue
                    ok = sum(within(x[k2 - 1], s["best"], a.within) for x, s in zip(reached, studies))
                    rules.append((ok, -cost, r1, k1, r2, k2))
    rules.sort(reverse=True)
    print(f"{len(studies)} seeds, {n} trials, {ve} virtual epochs: {len(rules)} rules cost at most "
          f"{a.cost:.0%} of the examples; the best in hindsight:")
    for ok, cost, r1, k1, r2, k2 in rules[: a.show]:
        rule = (f"all to {r1}, the best {k1} to {ve}" if r1 == r2
                else f"all to {r1}, the best {k1} to {r2}, the best {k2} to {ve}")
        print(f"  within {a.within:.0%} at {ok} of {len(studies)} seeds, {-cost:.0%} of the examples: {rule}")
    if not a.ranks:
        return
    marks = sorted({1, 3, 9, ve // 3} & set(range(1, ve)))
    print(f"each seed's trials within {a.within:.0%} of its best, with their ranks at virtual epochs {marks}:")
    for run, s in zip(a.runs, studies):
        good = [t for t in s["final"] if within(s["final"][t], s["best"], a.within)]
        ranks = "; ".join(f"trial {t}: " + ", ".join(str(s["rank"][r][t] + 1) for r in marks) for t in good)
        print(f"  {os.path.basename(os.path.normpath(run))}: {ranks}")


if __name__ == "__main__":
    main()
