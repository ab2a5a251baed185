//! The log expected hypervolume improvement of three or more objectives, in closed form, over a
//! decomposition of the region the front leaves free into disjoint boxes.
//!
//! The region below the reference r that no front point dominates is cut by a grid over the front's
//! coordinates in every objective but the last (each axis from -∞ through the front's distinct
//! values to rₖ); above each cell [l, u) of that grid, the free part is the column of the last
//! objective below the least last coordinate of the front points that dominate l (rₘ if none). A
//! point y improves box [l, u) by Πₖ (uₖ - max(yₖ, lₖ))⁺, which factorises over the objectives, so
//! with independent normals its expectation is Σ_boxes Πₖ (G(uₖ) - G(lₖ)), G(c) = E[(c - Y)⁺]
//! (G(-∞) = 0): (u - l)Φ(a) + (u - μ)(Φ(b) - Φ(a)) + σ(φ(b) - φ(a)), a = (l - μ)/σ, b = (u - μ)/σ.
//! Each factor depends on one interval of one axis, so they are taken once per interval, in
//! logarithms, and the boxes summed by log-sum-exp: the criterion keeps a slope far from the front.

use super::ehvi::log_g;

/// The most boxes a decomposition may have; past it the caller scalarises instead.
pub const MAX_BOXES: usize = 100_000;

/// The free region's boxes: each axis's edges but the last's, the last axis's upper bounds, and
/// each box as an interval of each axis (then an index into `tops`).
#[derive(Debug)]
pub struct Boxes {
    edges: Vec<Vec<f64>>,
    tops: Vec<f64>,
    cells: Vec<u32>,
}

impl Boxes {
    /// The boxes of the region below `reference` that `front` (every point below `reference`)
    /// does not dominate; `None` past [`MAX_BOXES`].
    pub fn new(front: &[Vec<f64>], reference: &[f64]) -> Option<Boxes> {
        let m = reference.len();
        let last = m - 1;
        let edges: Vec<Vec<f64>> = (0..last)
            .map(|k| {
                let mut e: Vec<f64> = front.iter().map(|p| p[k]).collect();
                e.push(f64::NEG_INFINITY);
                e.push(reference[k]);
                e.sort_by(f64::total_cmp);
                e.dedup();
                e
            })
            .collect();
        let count = edges
            .iter()
            .try_fold(1usize, |n, e| n.checked_mul(e.len() - 1))?;
        if count > MAX_BOXES {
            return None;
        }
        let mut tops: Vec<f64> = front.iter().map(|p| p[last]).collect();
        tops.push(reference[last]);
        tops.sort_by(f64::total_cmp);
        tops.dedup();
        let mut cells = Vec::with_capacity(count * m);
        let mut index = vec![0usize; last];
        for _ in 0..count {
            let top = front
                .iter()
                .filter(|p| (0..last).all(|k| p[k] <= edges[k][index[k]]))
                .map(|p| p[last])
                .fold(reference[last], f64::min);
            cells.extend(index.iter().map(|&i| i as u32));
            cells.push(tops.partition_point(|&t| t < top) as u32);
            // The next cell, the first axis fastest.
            for (k, i) in index.iter_mut().enumerate() {
                *i += 1;
                if *i < edges[k].len() - 1 {
                    break;
                }
                *i = 0;
            }
        }
        Some(Boxes { edges, tops, cells })
    }

    /// How many boxes.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.cells.len() / (self.edges.len() + 1)
    }

    /// Box `b`'s lower and upper corners (the lower's last coordinate -∞).
    #[cfg(test)]
    pub fn corners(&self, b: usize) -> (Vec<f64>, Vec<f64>) {
        let m = self.edges.len() + 1;
        let cell = &self.cells[b * m..(b + 1) * m];
        let mut lo: Vec<f64> = (0..m - 1)
            .map(|k| self.edges[k][cell[k] as usize])
            .collect();
        let mut hi: Vec<f64> = (0..m - 1)
            .map(|k| self.edges[k][cell[k] as usize + 1])
            .collect();
        lo.push(f64::NEG_INFINITY);
        hi.push(self.tops[cell[m - 1] as usize]);
        (lo, hi)
    }

    /// The log expected hypervolume improvement of a point whose objectives are independent
    /// normals (`mu`, `sd`), and its derivatives in the means and the deviations.
    pub fn log_ehvi(&self, mu: &[f64], sd: &[f64]) -> (f64, Vec<f64>, Vec<f64>) {
        let m = mu.len();
        // Each axis's factors, (ln, ∂/∂μ, ∂/∂σ) per interval (the last axis's per upper bound).
        let factors: Vec<Vec<(f64, f64, f64)>> = (0..m)
            .map(|k| match self.edges.get(k) {
                Some(e) => e
                    .windows(2)
                    .map(|w| log_span(w[0], w[1], mu[k], sd[k]))
                    .collect(),
                None => self.tops.iter().map(|&t| log_g(t, mu[k], sd[k])).collect(),
            })
            .collect();
        let lns: Vec<f64> = self
            .cells
            .chunks_exact(m)
            .map(|c| c.iter().zip(&factors).map(|(&i, f)| f[i as usize].0).sum())
            .collect();
        let top = lns.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if !top.is_finite() {
            return (f64::NEG_INFINITY, vec![0.0; m], vec![0.0; m]);
        }
        let weights: Vec<f64> = lns.iter().map(|l| (l - top).exp()).collect();
        let sum: f64 = weights.iter().sum();
        let (mut dmu, mut dsd) = (vec![0.0; m], vec![0.0; m]);
        for (c, w) in self.cells.chunks_exact(m).zip(&weights) {
            if *w == 0.0 {
                continue;
            }
            let w = w / sum;
            for (k, &i) in c.iter().enumerate() {
                let f = factors[k][i as usize];
                dmu[k] += w * f.1;
                dsd[k] += w * f.2;
            }
        }
        (top + sum.ln(), dmu, dsd)
    }
}

/// ln E[(u - max(Y, l))⁺] = ln(G(u) - G(l)) for Y ~ N(μ, σ²), l < u (l may be -∞), and its
/// derivatives in μ and σ.
fn log_span(l: f64, u: f64, mu: f64, sd: f64) -> (f64, f64, f64) {
    let (lu, mu_u, sd_u) = log_g(u, mu, sd);
    if l == f64::NEG_INFINITY {
        return (lu, mu_u, sd_u);
    }
    let (ll, mu_l, sd_l) = log_g(l, mu, sd);
    let gap = ll - lu;
    if gap >= 0.0 {
        // Too thin to tell apart from nothing.
        return (f64::NEG_INFINITY, 0.0, 0.0);
    }
    let e = gap.exp();
    let keep = -gap.exp_m1();
    (
        lu + keep.ln(),
        (mu_u - e * mu_l) / keep,
        (sd_u - e * sd_l) / keep,
    )
}

/// The points of `points` below `reference` that no other dominates, each once.
pub fn front(points: &[Vec<f64>], reference: &[f64]) -> Vec<Vec<f64>> {
    let below: Vec<&Vec<f64>> = points
        .iter()
        .filter(|p| p.iter().zip(reference).all(|(a, r)| a < r))
        .collect();
    let mut out: Vec<Vec<f64>> = vec![];
    for p in &below {
        let beaten = below
            .iter()
            .any(|q| crate::pareto::dominates(q, p) || (q == p && out.contains(p)));
        if !beaten {
            out.push(p.to_vec());
        }
    }
    out
}

#[cfg(test)]
#[path = "ehvin_tests.rs"]
mod tests;
