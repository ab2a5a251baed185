//! Where the GP looks next: the point of the space with the largest log expected improvement
//! (Ament et al. 2023, computed without underflow far from the best), found as Optuna's GPSampler
//! finds it: random candidates, the best of them and a few more drawn in proportion to their
//! expected improvement (and the best point tried) as starts, then from each a local search that
//! alternates a quasi-Newton step over the continuous coordinates (in units of their length
//! scales, so that every direction is equally curved) with a sweep over each discrete
//! coordinate's values, all inside the trust region (`region.rs`). A categorical coordinate's
//! levels are all tried at every sweep, so no level is left unvisited because a continuous search
//! never rounds to it.

use rand::Rng;

use super::encode::Code;
use super::lbfgs::{self, Stop};
use super::model::Gp;
use super::region::Region;

/// One coordinate's part of the region searched: an interval of a continuous coordinate, or the
/// values of a discrete one inside it.
enum Dim {
    Range(f64, f64),
    Set(Vec<f64>),
}

impl Dim {
    fn new(code: &Code, lo: f64, hi: f64) -> Dim {
        match code.choices() {
            None => Dim::Range(lo, hi),
            Some(c) if code.categorical() => Dim::Set(c.to_vec()),
            Some(c) => {
                let inside: Vec<f64> = c
                    .iter()
                    .cloned()
                    .filter(|v| (lo..=hi).contains(v))
                    .collect();
                // A region narrower than the grid: the value nearest its middle.
                let mid = 0.5 * (lo + hi);
                let nearest = c
                    .iter()
                    .cloned()
                    .min_by(|a, b| (a - mid).abs().total_cmp(&(b - mid).abs()));
                Dim::Set(if inside.is_empty() {
                    nearest.into_iter().collect()
                } else {
                    inside
                })
            }
        }
    }

    fn draw(&self, u: f64) -> f64 {
        match self {
            Dim::Range(lo, hi) => lo + u * (hi - lo),
            Dim::Set(c) => c[((u * c.len() as f64) as usize).min(c.len() - 1)],
        }
    }
}

/// ln(z Φ(z) + φ(z)), and Φ(z) divided by that quantity (its derivative's factor), accurate for
/// very negative `z` too (asymptotic series below -6).
pub(super) fn log_h(z: f64) -> (f64, f64) {
    const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;
    if z > -6.0 {
        let cdf = 0.5 * libm::erfc(-z / std::f64::consts::SQRT_2);
        let pdf = (-0.5 * z * z - LN_SQRT_2PI).exp();
        let h = z * cdf + pdf;
        (h.ln(), cdf / h)
    } else {
        let t = -z;
        let u = 1.0 / (t * t);
        let h_series = 1.0 - 3.0 * u + 15.0 * u * u - 105.0 * u * u * u;
        let cdf_series = 1.0 - u + 3.0 * u * u - 15.0 * u * u * u;
        let log_h = -0.5 * z * z - LN_SQRT_2PI - 2.0 * t.ln() + h_series.ln();
        (log_h, t * cdf_series / h_series)
    }
}

/// What the acquisition maximises: its value at a point (with its gradient on request), and the
/// length scales its local searches step in.
pub trait Criterion {
    /// The criterion at `x`; with `grad`, its gradient in `x` too.
    fn value(&self, x: &[f64], grad: Option<&mut [f64]>) -> f64;
    /// Each coordinate's length scale (unit-cube widths).
    fn length_scales(&self) -> Vec<f64>;
}

/// The log expected improvement below `best` (the GP models values to minimise).
pub struct LogEi<'a> {
    pub gp: &'a Gp,
    pub best: f64,
}

impl Criterion for LogEi<'_> {
    fn length_scales(&self) -> Vec<f64> {
        self.gp.length_scales()
    }

    fn value(&self, x: &[f64], grad: Option<&mut [f64]>) -> f64 {
        let d = x.len();
        let (mut gm, mut gv) = (vec![0.0; d], vec![0.0; d]);
        let want = grad.is_some();
        let (mean, var) = self
            .gp
            .posterior(x, want.then_some((&mut gm[..], &mut gv[..])));
        let sd = var.sqrt();
        let z = (self.best - mean) / sd;
        let (lh, ratio) = log_h(z);
        if let Some(g) = grad {
            // ∂/∂μ = -ratio/σ; ∂/∂σ = (1 - ratio z)/σ; σ' = var'/(2σ).
            let d_mean = -ratio / sd;
            let d_sd = (1.0 - ratio * z) / sd;
            for j in 0..d {
                g[j] = d_mean * gm[j] + d_sd * gv[j] / (2.0 * sd);
            }
        }
        sd.ln() + lh
    }
}

/// How hard to search.
#[derive(Clone, Copy, Debug)]
pub struct Effort {
    /// Random candidates scored before the local searches (Optuna: 2048).
    pub candidates: usize,
    /// Local searches (Optuna: 10), the best point tried among their starts.
    pub searches: usize,
}

/// The most values of a discrete coordinate a sweep tries; a larger set is tried at this many
/// evenly spaced values and at the current value's neighbours.
const SWEEP: usize = 32;

/// The coordinates, in the space `codes` describe and inside `region`, with the largest `acq`
/// among those not `taken` (points tried or running), searched from the random candidates drawn
/// with `rng` and from `warm` (the best point tried). On a grid the criterion's maximum is often a
/// point tried (its expected improvement is not zero under noise): then the best of the searches'
/// ends, or of the candidates, that is new. `None` when every one is taken.
pub fn maximise(
    acq: &dyn Criterion,
    codes: &[Code],
    region: &Region,
    warm: &[f64],
    effort: Effort,
    taken: &dyn Fn(&[f64]) -> bool,
    rng: &mut impl Rng,
) -> Option<Vec<f64>> {
    let dims: Vec<Dim> = (0..codes.len())
        .map(|j| Dim::new(&codes[j], region.lo[j], region.hi[j]))
        .collect();
    let candidates: Vec<Vec<f64>> = (0..effort.candidates)
        .map(|_| dims.iter().map(|c| c.draw(rng.gen())).collect())
        .collect();
    let values: Vec<f64> = candidates.iter().map(|x| acq.value(x, None)).collect();
    let mut starts = vec![warm.to_vec()];
    let mut weights: Vec<f64> = {
        let top = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        values.iter().map(|v| (v - top).exp()).collect()
    };
    // The best candidate, then a draw in proportion to exp(log EI), without replacement.
    if let Some(i) = (0..values.len()).max_by(|&a, &b| values[a].total_cmp(&values[b])) {
        starts.push(candidates[i].clone());
        weights[i] = 0.0;
    }
    while starts.len() < effort.searches {
        let total: f64 = weights.iter().sum();
        if total.is_nan() || total <= 0.0 {
            break;
        }
        let mut r = rng.gen::<f64>() * total;
        let i = weights
            .iter()
            .position(|w| {
                r -= w;
                r <= 0.0
            })
            .unwrap_or(weights.len() - 1);
        starts.push(candidates[i].clone());
        weights[i] = 0.0;
    }
    let mut ends: Vec<(Vec<f64>, f64)> = starts
        .into_iter()
        .map(|start| local_search(acq, &dims, start))
        .collect();
    // The first of the largest wins ties, as before; the candidates only when every end is taken.
    let by_value = |a: &(Vec<f64>, f64), b: &(Vec<f64>, f64)| b.1.total_cmp(&a.1);
    ends.sort_by(by_value);
    let first_new = |xs: Vec<(Vec<f64>, f64)>| xs.into_iter().map(|(x, _)| x).find(|x| !taken(x));
    first_new(ends).or_else(|| {
        let mut scored: Vec<(Vec<f64>, f64)> = candidates.into_iter().zip(values).collect();
        scored.sort_by(by_value);
        first_new(scored)
    })
}

/// From `x`, continuous steps and discrete sweeps in turn until neither improves `acq`.
fn local_search(acq: &dyn Criterion, dims: &[Dim], mut x: Vec<f64>) -> (Vec<f64>, f64) {
    let mut fx = acq.value(&x, None);
    for _ in 0..20 {
        let before = fx;
        (x, fx) = continuous_step(acq, dims, x, fx);
        let mut moved = false;
        for (j, dim) in dims.iter().enumerate() {
            if let Dim::Set(choices) = dim {
                moved |= sweep(acq, j, choices, &mut x, &mut fx);
            }
        }
        if !moved || fx <= before {
            break;
        }
    }
    (x, fx)
}

/// A quasi-Newton search over the continuous coordinates of `x`, the others held, in units of the
/// length scales.
fn continuous_step(acq: &dyn Criterion, dims: &[Dim], x: Vec<f64>, fx: f64) -> (Vec<f64>, f64) {
    let free: Vec<(usize, f64, f64)> = dims
        .iter()
        .enumerate()
        .filter_map(|(j, d)| match d {
            Dim::Range(lo, hi) => Some((j, *lo, *hi)),
            Dim::Set(_) => None,
        })
        .collect();
    if free.is_empty() {
        return (x, fx);
    }
    let scale: Vec<f64> = {
        let ls = acq.length_scales();
        free.iter().map(|&(j, _, _)| ls[j]).collect()
    };
    let z0: Vec<f64> = free
        .iter()
        .zip(&scale)
        .map(|(&(j, _, _), s)| x[j] / s)
        .collect();
    let bounds: Vec<(f64, f64)> = free
        .iter()
        .zip(&scale)
        .map(|(&(_, lo, hi), s)| (lo / s, hi / s))
        .collect();
    let mut point = x.clone();
    let mut g = vec![0.0; x.len()];
    let mut f = |z: &[f64], gz: &mut [f64]| {
        for (k, &(j, _, _)) in free.iter().enumerate() {
            point[j] = z[k] * scale[k];
        }
        let v = acq.value(&point, Some(&mut g));
        for (k, &(j, _, _)) in free.iter().enumerate() {
            gz[k] = -g[j] * scale[k];
        }
        -v
    };
    let stop = Stop {
        iterations: 200,
        gradient: 1e-4,
    };
    let (z, neg) = lbfgs::minimise(&mut f, &z0, &bounds, stop);
    if -neg > fx {
        let mut out = x.clone();
        for (k, &(j, lo, hi)) in free.iter().enumerate() {
            // The region's ends exactly (a product with the scale may round past them).
            out[j] = if z[k] >= bounds[k].1 {
                hi
            } else if z[k] <= bounds[k].0 {
                lo
            } else {
                (z[k] * scale[k]).clamp(lo, hi)
            };
        }
        let v = acq.value(&out, None);
        if v > fx {
            return (out, v);
        }
    }
    (x, fx)
}

/// Tries other values of coordinate `j` of `x` (every one for a small set); keeps the best if it
/// improves `fx`. Whether it moved.
fn sweep(acq: &dyn Criterion, j: usize, choices: &[f64], x: &mut [f64], fx: &mut f64) -> bool {
    let n = choices.len();
    let tried: Vec<usize> = if n <= SWEEP {
        (0..n).collect()
    } else {
        let at = choices.iter().position(|c| *c == x[j]).unwrap_or(0);
        let mut v: Vec<usize> = (0..SWEEP).map(|k| k * (n - 1) / (SWEEP - 1)).collect();
        v.extend((at.saturating_sub(3)..(at + 4).min(n)).filter(|i| *i != at));
        v
    };
    let mut point = x.to_vec();
    let mut best: Option<(f64, f64)> = None;
    for i in tried {
        if choices[i] == x[j] {
            continue;
        }
        point[j] = choices[i];
        let v = acq.value(&point, None);
        if v > *fx && best.is_none_or(|b| v > b.1) {
            best = Some((choices[i], v));
        }
    }
    match best {
        Some((c, v)) => {
            x[j] = c;
            *fx = v;
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_h_is_continuous_where_the_series_takes_over_and_its_ratio_is_its_slope() {
        let (a, ra) = log_h(-6.0 + 1e-9);
        let (b, rb) = log_h(-6.0 - 1e-9);
        assert!(
            (a - b).abs() < 1e-3 && (ra - rb).abs() / ra < 1e-3,
            "{a} {b} {ra} {rb}"
        );
        for z in [-30.0, -8.0, -2.0, 0.0, 1.5] {
            let (_, ratio) = log_h(z);
            let slope = (log_h(z + 1e-6).0 - log_h(z - 1e-6).0) / 2e-6;
            assert!(
                (slope - ratio).abs() < 1e-3 * ratio.max(1.0),
                "{z}: {slope} {ratio}"
            );
        }
        assert!(log_h(-40.0).0.is_finite());
    }
}
