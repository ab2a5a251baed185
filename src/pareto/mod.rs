//! Several objectives: which points dominate which, the non-dominated sorting of a set of points
//! into fronts, the crowding distance within a front (NSGA-II's, which MOASHA uses to break ties
//! inside a rung), and the hypervolume a front dominates up to a reference point.
//!
//! Every point is a vector of values to MINIMISE (a maximised objective enters negated); a point
//! with a NaN is dominated by every point without one and dominates none (a failed trial).
//! The hypervolume is exact: the dominated region is cut into slices along the last objective and
//! each slice's (d−1)-dimensional volume computed the same way, down to a sweep in two dimensions
//! (the "hypervolume by slicing objectives" of While et al. 2006; BoTorch's box decomposition gives
//! the same numbers faster for large fronts, which tuning studies do not reach).

mod objectives;
pub use objectives::{Constraint, Objectives, Outcome};

/// Whether `a` dominates `b`: no worse in every objective and better in one.
pub fn dominates(a: &[f64], b: &[f64]) -> bool {
    if a.iter().any(|x| x.is_nan()) {
        return false;
    }
    if b.iter().any(|x| x.is_nan()) {
        return true;
    }
    let mut better = false;
    for (x, y) in a.iter().zip(b) {
        if x > y {
            return false;
        }
        better |= x < y;
    }
    better
}

/// Each point's front: 1 for the non-dominated, 2 for those only the first front dominates, and
/// so on (Deb et al.'s fast non-dominated sort).
pub fn ranks(points: &[Vec<f64>]) -> Vec<usize> {
    let n = points.len();
    let mut dominated_by = vec![0usize; n];
    let mut dominating: Vec<Vec<usize>> = vec![vec![]; n];
    for i in 0..n {
        for j in i + 1..n {
            if dominates(&points[i], &points[j]) {
                dominating[i].push(j);
                dominated_by[j] += 1;
            } else if dominates(&points[j], &points[i]) {
                dominating[j].push(i);
                dominated_by[i] += 1;
            }
        }
    }
    let mut rank = vec![0usize; n];
    let mut front: Vec<usize> = (0..n).filter(|&i| dominated_by[i] == 0).collect();
    let mut r = 1;
    while !front.is_empty() {
        let mut next = vec![];
        for &i in &front {
            rank[i] = r;
            for &j in &dominating[i] {
                dominated_by[j] -= 1;
                if dominated_by[j] == 0 {
                    next.push(j);
                }
            }
        }
        next.sort_unstable();
        front = next;
        r += 1;
    }
    rank
}

/// The crowding distance of each point of one front (NSGA-II): the sum over objectives of the
/// gap between its two neighbours, relative to the objective's range; the extremes of each
/// objective are infinitely far, so that the front's ends are kept.
pub fn crowding(front: &[Vec<f64>]) -> Vec<f64> {
    let n = front.len();
    let mut d = vec![0.0; n];
    if n == 0 {
        return d;
    }
    let objectives = front[0].len();
    for m in 0..objectives {
        let v: Vec<f64> = front.iter().map(|p| p[m]).collect();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| v[a].total_cmp(&v[b]).then(a.cmp(&b)));
        let (lo, hi) = (v[order[0]], v[order[n - 1]]);
        d[order[0]] = f64::INFINITY;
        d[order[n - 1]] = f64::INFINITY;
        if hi <= lo || !(hi - lo).is_finite() {
            continue;
        }
        for w in order.windows(3) {
            d[w[1]] += (v[w[2]] - v[w[0]]) / (hi - lo);
        }
    }
    d
}

/// The `k` best of `points` by front, then by crowding distance (largest first), then by index:
/// MOASHA's choice of the trials a rung keeps. Their indices, best first.
pub fn best_k(points: &[Vec<f64>], k: usize) -> Vec<usize> {
    let rank = ranks(points);
    let mut order: Vec<usize> = (0..points.len()).collect();
    let mut dist = vec![0.0; points.len()];
    for r in 1..=rank.iter().copied().max().unwrap_or(0) {
        let members: Vec<usize> = (0..points.len()).filter(|&i| rank[i] == r).collect();
        let front: Vec<Vec<f64>> = members.iter().map(|&i| points[i].clone()).collect();
        for (&i, c) in members.iter().zip(crowding(&front)) {
            dist[i] = c;
        }
    }
    order.sort_by(|&a, &b| {
        rank[a]
            .cmp(&rank[b])
            .then(dist[b].total_cmp(&dist[a]))
            .then(a.cmp(&b))
    });
    order.truncate(k);
    order
}

/// The hypervolume `points` dominate inside the box up to `reference` (points that do not
/// dominate it, or hold a NaN, add nothing).
pub fn hypervolume(points: &[Vec<f64>], reference: &[f64]) -> f64 {
    let inside: Vec<Vec<f64>> = points
        .iter()
        .filter(|p| {
            p.len() == reference.len() && p.iter().zip(reference).all(|(x, r)| !x.is_nan() && x < r)
        })
        .cloned()
        .collect();
    if reference.is_empty() {
        return 0.0;
    }
    slice(inside, reference)
}

/// The volume dominated by `points` (all inside the box) up to `reference`.
fn slice(mut points: Vec<Vec<f64>>, reference: &[f64]) -> f64 {
    let d = reference.len();
    if points.is_empty() {
        return 0.0;
    }
    if d == 1 {
        let best = points.iter().map(|p| p[0]).fold(f64::INFINITY, f64::min);
        return reference[0] - best;
    }
    if d == 2 {
        // A sweep: by the first objective, each point adds the strip its second objective
        // improves on the best so far.
        points.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
        let (mut area, mut best) = (0.0, reference[1]);
        for p in &points {
            if p[1] < best {
                area += (reference[0] - p[0]) * (best - p[1]);
                best = p[1];
            }
        }
        return area;
    }
    // Slices along the last objective: between consecutive values, the points at or below the
    // slice's lower edge dominate a (d−1)-dimensional region of its thickness.
    points.sort_by(|a, b| a[d - 1].total_cmp(&b[d - 1]));
    let mut volume = 0.0;
    let mut below: Vec<Vec<f64>> = Vec::with_capacity(points.len());
    for (i, p) in points.iter().enumerate() {
        below.push(p[..d - 1].to_vec());
        let top = points.get(i + 1).map_or(reference[d - 1], |q| q[d - 1]);
        let thickness = top - p[d - 1];
        if thickness > 0.0 {
            volume += thickness * slice(front_of(&below), &reference[..d - 1]);
        }
    }
    volume
}

/// The non-dominated points of `points` (a smaller set to slice; the same volume).
fn front_of(points: &[Vec<f64>]) -> Vec<Vec<f64>> {
    points
        .iter()
        .enumerate()
        .filter(|(i, p)| {
            !points.iter().enumerate().any(|(j, q)| {
                dominates(q, p) || (j < *i && q.iter().zip(p.iter()).all(|(a, b)| a == b))
            })
        })
        .map(|(_, p)| p.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random_points(rng: &mut impl Rng, n: usize, d: usize) -> Vec<Vec<f64>> {
        (0..n)
            .map(|_| {
                (0..d)
                    .map(|_| (rng.gen::<f64>() * 10.0).round() / 10.0)
                    .collect()
            })
            .collect()
    }

    /// The volume by brute force: the union of the boxes [p, r] by inclusion–exclusion over every
    /// subset (their intersection is the box from the componentwise maximum).
    fn by_inclusion_exclusion(points: &[Vec<f64>], r: &[f64]) -> f64 {
        let pts: Vec<&Vec<f64>> = points
            .iter()
            .filter(|p| p.iter().zip(r).all(|(x, y)| x < y))
            .collect();
        let mut total = 0.0;
        for mask in 1u32..(1 << pts.len()) {
            let mut corner = vec![f64::NEG_INFINITY; r.len()];
            for (i, p) in pts.iter().enumerate() {
                if mask & (1 << i) != 0 {
                    for (c, x) in corner.iter_mut().zip(p.iter()) {
                        *c = c.max(*x);
                    }
                }
            }
            let vol: f64 = corner.iter().zip(r).map(|(c, y)| y - c).product();
            total += if mask.count_ones() % 2 == 1 {
                vol
            } else {
                -vol
            };
        }
        total
    }

    #[test]
    fn the_hypervolume_is_the_union_of_the_dominated_boxes() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for d in 1..=4 {
            for n in [0, 1, 2, 5, 9] {
                let pts = random_points(&mut rng, n, d);
                let r = vec![0.9; d];
                let want = by_inclusion_exclusion(&pts, &r);
                let got = hypervolume(&pts, &r);
                assert!(
                    (got - want).abs() < 1e-9,
                    "d {d} n {n}: {got} against {want}: {pts:?}"
                );
            }
        }
    }

    #[test]
    fn hypervolume_by_hand_and_ignores_what_adds_nothing() {
        let r = [4.0, 4.0];
        let front = vec![vec![1.0, 3.0], vec![2.0, 2.0], vec![3.0, 1.0]];
        // 3×1 + 2×1 + 1×1 strips: 3 + 2 + 1.
        assert_eq!(hypervolume(&front, &r), 6.0);
        let mut more = front.clone();
        more.push(vec![3.0, 3.0]); // dominated
        more.push(vec![5.0, 0.0]); // outside the box
        more.push(vec![f64::NAN, 0.0]); // failed
        more.push(vec![2.0, 2.0]); // again
        assert_eq!(hypervolume(&more, &r), 6.0);
        assert_eq!(hypervolume(&[vec![0.0, 0.0, 0.0]], &[1.0, 2.0, 3.0]), 6.0);
    }

    #[test]
    fn fronts_are_non_dominated_within_and_dominated_by_the_one_before() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut pts = random_points(&mut rng, 40, 3);
        pts.push(vec![f64::NAN, 0.0, 0.0]);
        let rank = ranks(&pts);
        assert_eq!(
            *rank.last().unwrap(),
            rank.iter().copied().max().unwrap(),
            "NaN is last"
        );
        for i in 0..pts.len() {
            for j in 0..pts.len() {
                if rank[i] == rank[j] {
                    assert!(!dominates(&pts[i], &pts[j]), "{i} {j} in one front");
                }
            }
            if rank[i] > 1 {
                assert!(
                    (0..pts.len()).any(|j| rank[j] == rank[i] - 1 && dominates(&pts[j], &pts[i])),
                    "{i} has no dominator in the front before"
                );
            }
        }
    }

    #[test]
    fn crowding_keeps_the_ends_and_prefers_the_lonely() {
        let front = vec![
            vec![0.0, 10.0],
            vec![1.0, 9.0],
            vec![1.1, 8.9],
            vec![5.0, 5.0],
            vec![10.0, 0.0],
        ];
        let c = crowding(&front);
        assert!(c[0].is_infinite() && c[4].is_infinite());
        assert!(c[3] > c[1] && c[3] > c[2], "{c:?}");
        // Keeping three: the ends, then the lonely middle point.
        let mut kept = best_k(&front, 3);
        kept.sort();
        assert_eq!(kept, [0, 3, 4]);
        // A dominated point comes after the whole first front.
        let mut with = front.clone();
        with.push(vec![6.0, 6.0]);
        assert_eq!(best_k(&with, 6)[5], 5);
    }
}
