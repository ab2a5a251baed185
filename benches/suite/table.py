"""The sampler suite's tables for docs/benchmarks.md, from the JSON lines of `cargo bench --bench suite`
and `benches/peers/optuna_suite.py` (files named on the command line, or stdin). Standard library only.

One table per budget of trials: each problem's median regret over the seeds and median seconds per
suggestion for each sampler, and tune bayes's (and auto's) regret over the better of Optuna's two,
marked ✓ where it is within 10 % of it or lower (the goal of issue 31). Then the share of suggestions
after the start-up trials with a float coordinate within 1e-9 of a bound.
Usage: python3 benches/suite/table.py tune.jsonl optuna.jsonl
"""
import fileinput
import json
import os

PROBLEMS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "problems.json")
COLUMNS = [("tune-bayes", "tune bayes"), ("tune-tpe", "tune tpe"), ("tune-auto", "tune auto"),
           ("tune-random", "random"), ("optuna-tpe", "Optuna TPE"), ("optuna-gp", "Optuna GP")]


def regret(x):
    if x is None:
        return "–"
    return "0" if x == 0 else f"{x:.3g}"


def secs(x):
    if x is None:
        return "–"
    if x >= 1:
        return f"{x:.1f} s"
    for scale, unit in ((1e-3, "ms"), (1e-6, "µs")):
        if x >= scale:
            v = x / scale
            return f"{v:.0f} {unit}" if v >= 10 else f"{v:.1f} {unit}"
    return "<1 µs"


def ratio(ours, theirs):
    """ours / theirs and whether it is within 10 % or lower (regrets under 1e-9 count as equal)."""
    if ours is None or theirs is None:
        return "–", None
    ok = ours <= 1.1 * theirs or ours < 1e-9
    if theirs < 1e-12:
        return ("=" if ours < 1e-9 else "∞") + (" ✓" if ok else " ✗"), ok
    return f"{ours / theirs:.2g} " + ("✓" if ok else "✗"), ok


def main():
    rows, notes = {}, []
    for line in fileinput.input():
        if line.startswith("# "):
            notes.append(line[2:].strip())
        elif line.startswith("{"):
            r = json.loads(line)
            rows[(r["problem"], r["sampler"])] = r
    problems = json.load(open(PROBLEMS))["problems"]
    for p in problems:  # auto is whichever of bayes and tpe it chose
        auto = rows.get((p["name"], "tune-auto"))
        if auto and (p["name"], auto["chose"]) in rows:
            rows[(p["name"], "tune-auto")] = dict(rows[(p["name"], auto["chose"])], chose=auto["chose"])
    budgets = sorted({int(b) for r in rows.values() for b in r.get("regret", {})})
    seeds = sorted({r["seeds"] for r in rows.values() if "seeds" in r})
    for n in budgets:
        print(f"\n**{n} trials** (median regret over {'/'.join(map(str, seeds))} seeds, and median time per suggestion)\n")
        head = ["problem", "params"] + [c[1] for c in COLUMNS] + ["bayes ÷ best Optuna", "auto ÷ best Optuna"]
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        wins = {"tune-bayes": 0, "tune-auto": 0}
        counted = 0
        for p in problems:
            got = {s: rows.get((p["name"], s)) for s, _ in COLUMNS}
            if not any(got.values()):
                continue
            cells = [p["name"], str(len(p["space"]))]
            for s, _ in COLUMNS:
                r = got[s]
                if r is None:
                    cells.append("–")
                    continue
                chose = " (" + r["chose"].removeprefix("tune-") + ")" if s == "tune-auto" else ""
                cells.append(f"{regret(r['regret'].get(str(n)))} · {secs(r['secs'].get(str(n)))}{chose}")
            peers = [got[s]["regret"][str(n)] for s in ("optuna-tpe", "optuna-gp") if got[s]]
            best = min(peers) if peers else None
            if best is not None and got["tune-bayes"]:
                counted += 1
            for s in ("tune-bayes", "tune-auto"):
                text, ok = ratio(got[s]["regret"][str(n)] if got[s] else None, best)
                wins[s] += bool(ok)
                cells.append(text)
            print("| " + " | ".join(cells) + " |")
        print(f"\ntune bayes within 10 % of the better of Optuna's TPE and GP, or lower: {wins['tune-bayes']} of "
              f"{counted} problems; tune auto: {wins['tune-auto']} of {counted}.")
    print("\n**Suggestions at a bound** (share of the suggestions after the start-up trials, in the studies of "
          f"{max(budgets)} trials, with a float coordinate within 1e-9 of a bound, in units of its range)\n")
    cols = [c for c in COLUMNS if c[0] != "tune-auto"]
    print("| problem | " + " | ".join(c[1] for c in cols) + " | GP fallbacks |")
    print("|" + "---|" * (len(cols) + 2))
    for p in problems:
        got = [rows.get((p["name"], s)) for s, _ in cols]
        if not any(got):
            continue
        share = ["–" if r is None or r["at_bound"] is None else f"{100 * r['at_bound']:.0f} %" for r in got]
        gp = rows.get((p["name"], "tune-bayes"))
        fallbacks = f"{gp['warnings']} of {gp['after_startup']}" if gp else "–"
        print(f"| {p['name']} | " + " | ".join(share) + f" | {fallbacks} |")
    for note in notes:
        print(f"\n{note}")


if __name__ == "__main__":
    main()
