//! The Parzen estimators of TPE (Optuna's `_ParzenEstimator`): how one parameter appears to them
//! ([`Dim`]), each parameter's kernels ([`Kernels`]), and the mixture over trials ([`Parzen`])
//! that candidates are drawn from and scored by.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::space::{Domain, Kind, Param};

/// The weight of the prior kernel against each trial's (Optuna's `prior_weight`).
const PRIOR_WEIGHT: f64 = 1.0;
/// Whether the first and last kernels' bandwidths also look at the distance to the bounds
/// (Optuna's `consider_endpoints`, off by default).
const CONSIDER_ENDPOINTS: bool = false;

/// The weights of `n` trials in trial order (Optuna's `default_weights`): equal up to 25, then a
/// ramp from 1/n for the oldest up to 1 for the 25 newest.
pub(super) fn trial_weights(n: usize) -> Vec<f64> {
    if n < 25 {
        return vec![1.0; n];
    }
    let ramp = n - 25;
    let mut w: Vec<f64> = (0..ramp)
        .map(|i| match ramp {
            1 => 1.0 / n as f64,
            _ => 1.0 / n as f64 + (1.0 - 1.0 / n as f64) * i as f64 / (ramp - 1) as f64,
        })
        .collect();
    w.extend(std::iter::repeat_n(1.0, 25));
    w
}

/// How one parameter appears to the estimators. A point is one number per parameter: a range's
/// value, or the index of a list's value.
#[derive(Clone, Debug)]
pub(super) enum Dim {
    /// A range of one value.
    Fixed(f64),
    /// A range [low, high], modelled in ln when `log`; `step` is 1 for integers (each value holds
    /// its unit cell), 0 for floats.
    Num {
        low: f64,
        high: f64,
        log: bool,
        step: f64,
    },
    /// A list of values, unordered.
    Cat(Vec<f64>),
}

impl Dim {
    pub(super) fn of(p: &Param) -> Dim {
        match &p.domain {
            Domain::List(xs) => Dim::Cat(xs.clone()),
            Domain::Range { low, high, .. } if low == high => Dim::Fixed(*low),
            Domain::Range { low, high, log, .. } => Dim::Num {
                low: *low,
                high: *high,
                log: *log,
                step: if p.kind == Kind::Float { 0.0 } else { 1.0 },
            },
        }
    }

    /// `x` where the kernels live: ln on a log scale.
    pub(super) fn warp(log: bool, x: f64) -> f64 {
        if log {
            x.ln()
        } else {
            x
        }
    }
}

/// One parameter's kernels in a Parzen estimator, the prior's last.
#[derive(Clone, Debug)]
pub(super) enum Kernels {
    Fixed,
    Num {
        mus: Vec<f64>,
        sigmas: Vec<f64>,
        /// The bounds where the kernels are truncated, warped (a step's half beyond the ends).
        lo: f64,
        hi: f64,
        /// ln of each kernel's mass inside [lo, hi], in units of its sigma.
        log_mass: Vec<f64>,
    },
    /// Each kernel's probability of each of the list's values.
    Cat(Vec<Vec<f64>>),
}

impl Kernels {
    /// The kernels at `map`'s indices, in its order.
    fn select(self, map: &[usize]) -> Kernels {
        let pick = |v: &[f64]| map.iter().map(|&i| v[i]).collect::<Vec<f64>>();
        match self {
            Kernels::Fixed => Kernels::Fixed,
            Kernels::Num {
                mus,
                sigmas,
                lo,
                hi,
                log_mass,
            } => Kernels::Num {
                mus: pick(&mus),
                sigmas: pick(&sigmas),
                lo,
                hi,
                log_mass: pick(&log_mass),
            },
            Kernels::Cat(rows) => Kernels::Cat(map.iter().map(|&i| rows[i].clone()).collect()),
        }
    }
}

/// Whether parameter `j` is active at a point whose earlier parameters are drawn (NaN: not, or
/// inactive).
pub(super) type Active<'a> = &'a dyn Fn(usize, &[f64]) -> bool;

/// A Parzen estimator: a mixture of products of one kernel per parameter.
pub(super) struct Parzen {
    weights: Vec<f64>,
    kernels: Vec<Kernels>,
}

impl Parzen {
    /// The estimator of the points `obs` (in trial order).
    pub(super) fn new(dims: &[Dim], obs: &[Vec<f64>]) -> Parzen {
        let mut weights = trial_weights(obs.len());
        weights.push(if obs.is_empty() { 1.0 } else { PRIOR_WEIGHT });
        let total: f64 = weights.iter().sum();
        weights.iter_mut().for_each(|w| *w /= total);
        let kernels = dims
            .iter()
            .enumerate()
            .map(|(j, d)| {
                // A trial where the parameter was inactive (NaN) tells nothing of it: its kernel
                // there is the prior's.
                let xs: Vec<f64> = obs.iter().map(|o| o[j]).filter(|x| !x.is_nan()).collect();
                let kernels = match d {
                    Dim::Fixed(_) => Kernels::Fixed,
                    Dim::Cat(values) => cat_kernels(&xs, values.len()),
                    &Dim::Num {
                        low,
                        high,
                        log,
                        step,
                    } => num_kernels(&xs, low, high, log, step),
                };
                if xs.len() == obs.len() {
                    return kernels;
                }
                // Trial t's kernel: the prior's (last), or the next of the active trials'.
                let mut active = 0..xs.len();
                let mut map: Vec<usize> = obs
                    .iter()
                    .map(|o| match o[j].is_nan() {
                        true => xs.len(),
                        false => active.next().expect("one per active trial"),
                    })
                    .collect();
                map.push(xs.len());
                kernels.select(&map)
            })
            .collect();
        Parzen { weights, kernels }
    }

    /// `n` points drawn from the mixture, each parameter in `order` and only where `active`
    /// says it is, given the point's parameters drawn before it (NaN where inactive).
    pub(super) fn sample(
        &self,
        dims: &[Dim],
        (order, active): (&[usize], Active),
        rng: &mut ChaCha8Rng,
        n: usize,
    ) -> Vec<Vec<f64>> {
        (0..n)
            .map(|_| {
                let k = pick(&self.weights, rng.gen());
                let mut x = vec![f64::NAN; dims.len()];
                for &j in order {
                    if !active(j, &x) {
                        continue;
                    }
                    x[j] = match (&dims[j], &self.kernels[j]) {
                        (Dim::Cat(_), Kernels::Cat(p)) => pick(&p[k], rng.gen()) as f64,
                        (
                            &Dim::Num {
                                low,
                                high,
                                log,
                                step,
                            },
                            Kernels::Num {
                                mus,
                                sigmas,
                                lo,
                                hi,
                                ..
                            },
                        ) => {
                            let z = truncated_normal(rng, mus[k], sigmas[k], *lo, *hi);
                            let v = if log { z.exp() } else { z };
                            if step == 0.0 {
                                v.clamp(low, high)
                            } else {
                                (low + ((v - low) / step).round() * step).clamp(low, high)
                            }
                        }
                        _ => 0.0,
                    };
                }
                x
            })
            .collect()
    }

    /// ln of the mixture's density (or mass, for integers and lists) at `x`.
    pub(super) fn log_pdf(&self, dims: &[Dim], x: &[f64]) -> f64 {
        let terms: Vec<f64> = (0..self.weights.len())
            .map(|k| {
                let mut s = self.weights[k].ln();
                for (j, (d, kern)) in dims.iter().zip(&self.kernels).enumerate() {
                    if x[j].is_nan() {
                        // Inactive at `x`: not a dimension of its branch of the space.
                        continue;
                    }
                    s += match (d, kern) {
                        (Dim::Cat(_), Kernels::Cat(p)) => p[k][x[j] as usize].ln(),
                        (
                            &Dim::Num { log, step, .. },
                            Kernels::Num {
                                mus,
                                sigmas,
                                log_mass,
                                ..
                            },
                        ) => {
                            let (m, sd) = (mus[k], sigmas[k]);
                            let inside = if step == 0.0 {
                                let z = (Dim::warp(log, x[j]) - m) / sd;
                                -0.5 * z * z - 0.5 * (2.0 * std::f64::consts::PI).ln() - sd.ln()
                            } else {
                                let a = (Dim::warp(log, x[j] - step / 2.0) - m) / sd;
                                let b = (Dim::warp(log, x[j] + step / 2.0) - m) / sd;
                                ln_mass(a, b)
                            };
                            inside - log_mass[k]
                        }
                        _ => 0.0,
                    };
                }
                s
            })
            .collect();
        let max = terms.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        if max == f64::NEG_INFINITY {
            return max;
        }
        max + terms.iter().map(|t| (t - max).exp()).sum::<f64>().ln()
    }
}

/// Optuna's categorical kernels: each trial's puts weight 1 on its value over a floor of
/// prior/(n+1) on every value; the prior's is uniform.
fn cat_kernels(xs: &[f64], choices: usize) -> Kernels {
    let floor = PRIOR_WEIGHT / (xs.len() + 1) as f64;
    let mut rows: Vec<Vec<f64>> = xs
        .iter()
        .map(|&x| {
            let mut r = vec![floor; choices];
            r[x as usize] += 1.0;
            r
        })
        .collect();
    rows.push(vec![1.0; choices]);
    for r in &mut rows {
        let s: f64 = r.iter().sum();
        r.iter_mut().for_each(|v| *v /= s);
    }
    Kernels::Cat(rows)
}

/// Optuna's kernels on a range: centred on each value (warped), each as wide as the larger gap to
/// its neighbours (the bounds count as neighbours, except for the outermost kernels unless
/// [`CONSIDER_ENDPOINTS`]), clipped to [range / min(100, kernels + 1), range] (the "magic clip");
/// the prior is centred with the whole range as its width.
fn num_kernels(xs: &[f64], low: f64, high: f64, log: bool, step: f64) -> Kernels {
    let lo = Dim::warp(log, low - step / 2.0);
    let hi = Dim::warp(log, high + step / 2.0);
    let mut mus: Vec<f64> = xs.iter().map(|&x| Dim::warp(log, x)).collect();
    let mut order: Vec<usize> = (0..mus.len()).collect();
    order.sort_by(|&a, &b| mus[a].total_cmp(&mus[b]).then(a.cmp(&b)));
    let mut with_ends = vec![lo];
    with_ends.extend(order.iter().map(|&i| mus[i]));
    with_ends.push(hi);
    let n = mus.len();
    let mut sorted_sigmas: Vec<f64> = (1..=n)
        .map(|i| (with_ends[i] - with_ends[i - 1]).max(with_ends[i + 1] - with_ends[i]))
        .collect();
    if !CONSIDER_ENDPOINTS && with_ends.len() >= 4 {
        sorted_sigmas[0] = with_ends[2] - with_ends[1];
        sorted_sigmas[n - 1] = with_ends[n] - with_ends[n - 1];
    }
    let range = hi - lo;
    let min_sigma = range / 100f64.min(1.0 + (n + 1) as f64);
    let mut sigmas = vec![0.0; n];
    for (rank, &i) in order.iter().enumerate() {
        sigmas[i] = sorted_sigmas[rank].clamp(min_sigma, range);
    }
    mus.push(0.5 * (lo + hi));
    sigmas.push(range);
    let log_mass = mus
        .iter()
        .zip(&sigmas)
        .map(|(m, s)| ln_mass((lo - m) / s, (hi - m) / s))
        .collect();
    Kernels::Num {
        mus,
        sigmas,
        lo,
        hi,
        log_mass,
    }
}

/// The index `u` (uniform in [0, 1)) falls on in the cumulative sums of `p` (summing to 1).
fn pick(p: &[f64], u: f64) -> usize {
    let mut acc = 0.0;
    for (i, w) in p.iter().enumerate() {
        acc += w;
        if u < acc {
            return i;
        }
    }
    p.len() - 1
}

/// A draw from the normal (`mu`, `sigma`) truncated to [lo, hi], by rejection: `mu` lies inside
/// and `sigma` is at most hi - lo, so at least a third of the draws land inside.
fn truncated_normal(rng: &mut ChaCha8Rng, mu: f64, sigma: f64, lo: f64, hi: f64) -> f64 {
    for _ in 0..1000 {
        // Box-Muller.
        let u1: f64 = 1.0 - rng.gen::<f64>();
        let u2: f64 = rng.gen();
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        let x = mu + sigma * z;
        if (lo..=hi).contains(&x) {
            return x;
        }
    }
    mu.clamp(lo, hi)
}

/// ln erfc(z) for z >= 0 (Numerical Recipes' `erfcc`: relative error below 1.2e-7 everywhere,
/// the tails included, and never underflowing since it stays in logs).
fn ln_erfc_pos(z: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    t.ln() - z * z + poly
}

/// ln Φ(x), the standard normal's distribution function.
fn ln_ndtr(x: f64) -> f64 {
    let z = -x / std::f64::consts::SQRT_2;
    if z >= 0.0 {
        ln_erfc_pos(z) - std::f64::consts::LN_2
    } else {
        (1.0 - 0.5 * ln_erfc_pos(-z).exp()).ln()
    }
}

/// ln(Φ(b) - Φ(a)) for a <= b, without cancellation in either tail.
pub(super) fn ln_mass(a: f64, b: f64) -> f64 {
    if b - a < 1e-4 {
        let mid = 0.5 * (a + b);
        return -0.5 * mid * mid - 0.5 * (2.0 * std::f64::consts::PI).ln() + (b - a).ln();
    }
    let (a, b) = if a > 0.0 { (-b, -a) } else { (a, b) };
    if b <= 0.0 {
        let (la, lb) = (ln_ndtr(a), ln_ndtr(b));
        lb + (-(la - lb).exp()).ln_1p()
    } else {
        (1.0 - ln_ndtr(a).exp() - ln_ndtr(-b).exp()).ln()
    }
}
