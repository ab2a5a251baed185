"""Shared by both sides of benches/objectives.sh: the 2-D and 3-D hypervolumes (every objective
minimised), the problems' fixed reference points and the closed forms of problems A and C.
Tune's studies and Optuna's studies are scored by this same code."""

import json
import math

# Problem A (ZDT1 in 3 variables, studies/programs/two_objectives.py): each objective is 4/3 times
# its closed form at the checkpoint tune selects (the last of 3 boundaries). Reference point: 1.1 x
# the front's extent in f1 and 11 x its extent in f2, both times 4/3 (g <= 10, so f2 <= 10 x 4/3).
REF_A = (1.1 * 4 / 3, 11 * 4 / 3)
# Problem B and the ASHA bench (wine, val_loss and parameters): val_loss 1.0 (a model predicting
# the training mean scores about 0.65) and 35,000 weights (the largest network searched has 34,689).
REF_B = (1.0, 35000.0)
# Problem A's second, tighter reference point: only trials near the front count (f1 and f2 both
# at most 1.1 x 4/3), so it separates samplers by how well they approach the front.
REF_A_TIGHT = (1.1 * 4 / 3, 1.1 * 4 / 3)
# Problem B's tighter reference point: val_loss 0.45 (about the table's median) and 2,000 weights,
# so that only small, good networks count.
REF_B_TIGHT = (0.45, 2000.0)
# Problem C (DTLZ2, three objectives in six variables): each objective is at most 1 + g <= 2, so
# 1.1 x 2 in each; the tight one, 1.1 in each, counts only points near the front (the unit
# sphere's eighth).
REF_C = (2.2, 2.2, 2.2)
REF_C_TIGHT = (1.1, 1.1, 1.1)


def front(points):
    """The non-dominated points (both minimised), sorted by the first objective."""
    out = []
    for a, b in sorted(points):
        if not out or b < out[-1][1]:
            out.append((a, b))
    return out


def hypervolume(points, ref):
    """The area dominated by `points` and bounded by `ref` (sort and sweep)."""
    pts = [(a, b) for a, b in points if a < ref[0] and b < ref[1]]
    area, prev_b = 0.0, ref[1]
    for a, b in front(pts):
        area += (ref[0] - a) * (prev_b - b)
        prev_b = b
    return area


def hypervolume3(points, ref):
    """The volume dominated by 3-D `points` and bounded by `ref`: slices between successive
    third coordinates, each the 2-D area of the points at or below it."""
    pts = sorted(p for p in points if all(a < r for a, r in zip(p, ref)))
    zs = sorted({p[2] for p in pts}) + [ref[2]]
    vol = 0.0
    for lo, hi in zip(zs, zs[1:]):
        vol += (hi - lo) * hypervolume([(p[0], p[1]) for p in pts if p[2] <= lo], ref[:2])
    return vol


def dtlz2(x):
    """Problem C's three objectives: DTLZ2 (Deb, Thiele, Laumanns and Zitzler 2002) in x1..x6,
    g = sum over x3..x6 of (x - 1/2)^2, the front the unit sphere's eighth at g = 0."""
    g = sum((v - 0.5) ** 2 for v in x[2:])
    a, b = x[0] * math.pi / 2, x[1] * math.pi / 2
    return ((1 + g) * math.cos(a) * math.cos(b), (1 + g) * math.cos(a) * math.sin(b), (1 + g) * math.sin(a))


def zdt1(x1, x2, x3):
    """Problem A's two objectives as tune reads them: obj1 selects the checkpoint, the earliest
    on ties (x1 = 0 ties at every boundary: the first, where the factor is 2); else the last
    boundary of 3, factor 4/3."""
    g = 1 + 9 * (x2 + x3) / 2
    f1 = x1
    f2 = g * (1 - math.sqrt(f1 / g))
    factor = 2.0 if f1 == 0 else 4 / 3
    return f1 * factor, f2 * factor


# Problem B's space: the lookup table's grid (benches/objectives/table.json lists it).
WIDTHS = [2, 3, 4, 6, 8, 11, 16, 23, 32, 45, 64, 91, 128]
DEPTHS = [1, 2, 3]
RATES = [0.001, 0.00215, 0.00464, 0.01, 0.0215, 0.0464, 0.1]
BATCHES = [16, 32, 64]


def key(width, depth, rate, batch):
    """A configuration's key in the table; the rate is matched to the nearest grid value."""
    r = min(RATES, key=lambda v: abs(math.log(v) - math.log(float(rate))))
    return "%d/%d/%g/%d" % (int(width), int(depth), r, int(batch))


def load_table(path):
    """{key: (val_loss, parameters)} from the JSONL table."""
    table = {}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            table[key(r["hidden_width"], r["depth"], r["learning_rate"], r["batch_size"])] = (
                r["val_loss"],
                r["parameters"],
            )
    return table




def refs(problem):
    """A problem's reference points by name: `hv` (the main one) and `hv_tight`."""
    if problem == "a":
        return {"hv": REF_A, "hv_tight": REF_A_TIGHT}
    if problem == "c":
        return {"hv": REF_C, "hv_tight": REF_C_TIGHT}
    return {"hv": REF_B, "hv_tight": REF_B_TIGHT}


def score(problem, points, checkpoints=(20, 40)):
    """A run's hypervolumes after each count of trials (points in trial order) against each
    reference point, and its points (rounded to 7 significant digits) for later scoring."""
    out = {}
    volume = hypervolume3 if problem == "c" else hypervolume
    for name, ref in refs(problem).items():
        for n in checkpoints:
            out["%s%d" % (name, n)] = volume(points[:n], ref)
    out["points"] = [[float("%.7g" % v) for v in p] for p in points]
    return out


def attainable(problem, table=None):
    """The best hypervolume per reference point: A's true front, B's whole table, C's true front
    (the unit sphere's eighth: a cubic reference box's volume r^3 less the ball's eighth, pi/6)."""
    if problem == "c":
        return {name: ref[0] ** 3 - math.pi / 6 for name, ref in refs(problem).items()}
    pts = [zdt1(i / 200000, 0.0, 0.0) for i in range(1, 200001)] if problem == "a" else list(table.values())
    return {name: hypervolume(pts, ref) for name, ref in refs(problem).items()}


def report_constant(trial, **values):
    """The bench trainers' loop (lookup.py, dtlz2.py): at every boundary not yet reported, an
    empty checkpoint and the same `values`, which do not change with training."""
    for boundary in trial.boundaries:
        if boundary <= trial.resume_examples:
            continue
        path = trial.checkpoint_path("ckpt-%d.json" % boundary)
        with open(path, "w") as out:
            out.write("{}")
        trial.report(boundary, path, **values)
