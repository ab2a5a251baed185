//! The tree-structured Parzen estimator (TPE), multivariate, after Optuna's `TPESampler` with
//! `multivariate=True` and its defaults. The finished trials are split by value: the best
//! `gamma(n) = min(ceil(n / 10), 25)` are good, the rest bad. Each group becomes a Parzen estimator:
//! a mixture, one kernel per trial plus a prior kernel over the whole space, each kernel a product
//! over parameters of a truncated normal (ranges, in ln when on a log scale; integers as the mass
//! of their unit cell) or of a categorical distribution (lists, unordered: a list's values are
//! never compared by size). 24 candidates are drawn from the good estimator l(x) and the one with
//! the largest log l(x) - log g(x) is asked.
//!
//! Running trials are bad (the constant liar, Optuna's `constant_liar=True`), so parallel trials
//! spread out; failed trials are bad too. Trials a scheduler cut short (pruned, paused) rank after
//! every trial that ran to its end, by how far they got and then by their last value (Optuna's rule
//! for pruned trials). Until `startup` trials have finished (an earlier study's count), trials are
//! drawn at random. Every draw comes from the stream (seed, trial): the same study asks the same.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::Sampler;
use crate::curve::best_value;
use crate::objective::{Goal, Metric};
use crate::seed::{self, Purpose};
use crate::space::{Domain, Kind, Param, Params, SearchSpace};
use crate::storage::{History, Status};

/// The version of how TPE suggests, part of a TPE study's fingerprint: a study begun by a build
/// that suggested otherwise refuses to resume instead of going on with other suggestions.
pub const VERSION: &str = "tpe-multivariate, gamma 0.1 cap 25, 24 candidates, liar";

/// Candidates drawn from l(x) for each suggestion (Optuna's `n_ei_candidates`).
pub const CANDIDATES: usize = 24;
/// The weight of the prior kernel against each trial's (Optuna's `prior_weight`).
const PRIOR_WEIGHT: f64 = 1.0;
/// Whether the first and last kernels' bandwidths also look at the distance to the bounds
/// (Optuna's `consider_endpoints`, off by default).
const CONSIDER_ENDPOINTS: bool = false;

/// The good trials of `n` finished ones (Optuna's `default_gamma`).
pub fn gamma(n: usize) -> usize {
    n.div_ceil(10).min(25)
}

/// The weights of `n` trials in trial order (Optuna's `default_weights`): equal up to 25, then a
/// ramp from 1/n for the oldest up to 1 for the 25 newest.
fn trial_weights(n: usize) -> Vec<f64> {
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
enum Dim {
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
    fn of(p: &Param) -> Dim {
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
    fn warp(log: bool, x: f64) -> f64 {
        if log {
            x.ln()
        } else {
            x
        }
    }
}

/// One parameter's kernels in a Parzen estimator, the prior's last.
#[derive(Clone, Debug)]
enum Kernels {
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

/// A Parzen estimator: a mixture of products of one kernel per parameter.
struct Parzen {
    weights: Vec<f64>,
    kernels: Vec<Kernels>,
}

impl Parzen {
    /// The estimator of the points `obs` (in trial order).
    fn new(dims: &[Dim], obs: &[Vec<f64>]) -> Parzen {
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
    fn sample(
        &self,
        dims: &[Dim],
        (order, active): (&[usize], &dyn Fn(usize, &[f64]) -> bool),
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
    fn log_pdf(&self, dims: &[Dim], x: &[f64]) -> f64 {
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
fn ln_mass(a: f64, b: f64) -> f64 {
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

/// Where a trial stands for the split: smaller is better. Trials that ran to their end by value,
/// then trials cut short by how far they got and their last value, then failures.
type Rank = (u8, i64, f64);

/// The TPE sampler of a study.
pub struct TpeSampler {
    space: SearchSpace,
    dims: Vec<Dim>,
    /// The order parameters are drawn in: those conditions name first.
    order: Vec<usize>,
    seed: u64,
    startup: usize,
    metric: Metric,
    /// An earlier study's trials (parameters, value; a warm start), older than this one's.
    warm: Vec<(Params, f64)>,
}

impl TpeSampler {
    pub fn new(space: SearchSpace, seed: u64, startup: usize, metric: Metric) -> Self {
        TpeSampler {
            dims: space.params.iter().map(Dim::of).collect(),
            order: space.draw_order(),
            space,
            seed,
            startup,
            metric,
            warm: vec![],
        }
    }

    /// Starts from an earlier study's trials: they count as finished trials, before this one's.
    pub fn warm(mut self, trials: Vec<(Params, f64)>) -> Self {
        self.warm = trials;
        self
    }

    /// The point of `p` (NaN where a parameter is inactive), or none when a value is not in the
    /// space (a trial of an older space).
    fn encode(&self, p: &Params) -> Option<Vec<f64>> {
        self.space
            .params
            .iter()
            .zip(&self.dims)
            .map(|(param, d)| {
                if !param.when.holds(p) {
                    return Some(f64::NAN);
                }
                let v = *p.get(&param.name)?;
                match d {
                    Dim::Fixed(_) => Some(0.0),
                    Dim::Cat(xs) => xs
                        .iter()
                        .position(|&x| param.value(x) == v)
                        .map(|i| i as f64),
                    Dim::Num { low, high, .. } => {
                        let x = param.number(v);
                        (x >= *low && x <= *high).then_some(x)
                    }
                }
            })
            .collect()
    }

    /// The parameters at point `x` (those active, not NaN), inside the space.
    fn decode(&self, x: &[f64]) -> Params {
        self.space
            .params
            .iter()
            .zip(&self.dims)
            .zip(x)
            .filter(|(_, c)| !c.is_nan())
            .map(|((param, d), &c)| (param.name.clone(), param.value(Self::coordinate(d, c))))
            .collect()
    }

    /// The number of the domain coordinate `c` of `d` stands for.
    fn coordinate(d: &Dim, c: f64) -> f64 {
        match d {
            Dim::Fixed(v) => *v,
            Dim::Cat(xs) => xs[(c as usize).min(xs.len() - 1)],
            Dim::Num { low, high, .. } => c.clamp(*low, *high),
        }
    }

    /// Whether parameter `j` is active at the (partly drawn) point `x`.
    fn active(&self, j: usize, x: &[f64]) -> bool {
        let when = &self.space.params[j].when;
        when.always()
            || when.holds_with(|name| {
                let i = self.space.params.iter().position(|p| p.name == name)?;
                let c = x[i];
                (!c.is_nan())
                    .then(|| self.space.params[i].value(Self::coordinate(&self.dims[i], c)))
            })
    }

    /// Where the trial stands for the split (values signed so that smaller is better).
    fn rank(&self, status: Status, curve: &[crate::curve::CurveRow], sign: f64) -> Rank {
        let last = curve
            .last()
            .map_or(f64::NAN, |r| r.selection_value(self.metric));
        let best = best_value(curve, self.metric);
        let or_worst = |v: f64| if v.is_nan() { f64::INFINITY } else { sign * v };
        match status {
            Status::Failed => (2, 0, 0.0),
            Status::Pruned | Status::Paused => (1, -(curve.len() as i64), or_worst(last)),
            _ if best.is_nan() => (2, 0, 0.0),
            _ => (0, 0, sign * best),
        }
    }

    /// The good and the bad points (each in trial order, warm ones first) and how many trials
    /// finished, for trial `trial`.
    fn split(&self, trial: u64, history: &History) -> (Vec<Vec<f64>>, Vec<Vec<f64>>, usize) {
        let sign = if self.metric.goal == Goal::Max {
            -1.0
        } else {
            1.0
        };
        // (order, rank, point); the warm trials come first.
        let mut finished: Vec<(usize, Rank, Vec<f64>)> = vec![];
        let mut running: Vec<(usize, Vec<f64>)> = vec![];
        for (i, (p, v)) in self.warm.iter().enumerate() {
            let rank = if v.is_nan() {
                (2, 0, 0.0)
            } else {
                (0, 0, sign * v)
            };
            if let Some(x) = self.encode(p) {
                finished.push((i, rank, x));
            }
        }
        for t in history.trials.values().filter(|t| t.trial != trial) {
            let order = self.warm.len() + t.trial as usize;
            let Some(x) = self.encode(&t.params) else {
                continue;
            };
            match t.status {
                Status::Running => running.push((order, x)),
                s => finished.push((order, self.rank(s, &t.curve, sign), x)),
            }
        }
        let n = finished.len();
        finished.sort_by(|a, b| {
            (a.1 .0, a.1 .1)
                .cmp(&(b.1 .0, b.1 .1))
                .then(a.1 .2.total_cmp(&b.1 .2))
                .then(a.0.cmp(&b.0))
        });
        let bad = finished.split_off(gamma(n));
        let mut good: Vec<(usize, Vec<f64>)> = finished.into_iter().map(|f| (f.0, f.2)).collect();
        let mut bad: Vec<(usize, Vec<f64>)> = bad.into_iter().map(|f| (f.0, f.2)).collect();
        bad.extend(running);
        good.sort_by_key(|g| g.0);
        bad.sort_by_key(|b| b.0);
        let strip = |v: Vec<(usize, Vec<f64>)>| v.into_iter().map(|(_, x)| x).collect();
        (strip(good), strip(bad), n)
    }

    /// Trial `trial`'s parameters: random until `startup` trials finished, then TPE.
    pub fn propose(&self, trial: u64, history: &History) -> Params {
        let (good, bad, n) = self.split(trial, history);
        if n < self.startup.max(1) {
            return self
                .space
                .sample(&mut seed::rng(self.seed, Purpose::Sample, trial, 0));
        }
        let l = Parzen::new(&self.dims, &good);
        let g = Parzen::new(&self.dims, &bad);
        let mut rng = seed::rng(self.seed, Purpose::Sample, trial, 1);
        let mut best: Option<(f64, Vec<f64>)> = None;
        let active = |j: usize, x: &[f64]| self.active(j, x);
        for x in l.sample(&self.dims, (&self.order, &active), &mut rng, CANDIDATES) {
            let score = l.log_pdf(&self.dims, &x) - g.log_pdf(&self.dims, &x);
            if best.as_ref().is_none_or(|(s, _)| score > *s || s.is_nan()) {
                best = Some((score, x));
            }
        }
        self.decode(&best.expect("candidates are drawn").1)
    }
}

impl Sampler for TpeSampler {
    fn ask(&mut self, trial: u64, history: &History) -> Params {
        self.propose(trial, history)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::curve::CurveRow;
    use crate::objective::MetricKind;
    use crate::sampler::RandomSampler;
    use crate::storage::TrialRecord;

    const LOSS: Metric = Metric {
        kind: MetricKind::ValLoss,
        goal: Goal::Min,
    };

    fn record(trial: u64, params: Params, status: Status, values: &[f64]) -> TrialRecord {
        let curve = values
            .iter()
            .enumerate()
            .map(|(i, &v)| CurveRow {
                virtual_epoch: i as u32 + 1,
                examples_seen: 0,
                steps: 0,
                train_loss: v,
                val_loss: v,
                metric: v,
                learning_rate: None,
                reported: Default::default(),
            })
            .collect();
        TrialRecord {
            trial,
            params,
            status,
            reason: None,
            curve,
            seconds: 0.0,
            suggest_ms: None,
            decision: None,
        }
    }

    /// Runs `n` trials one after another on `f` (to minimise); the parameters asked.
    fn run(s: &mut dyn Sampler, f: &dyn Fn(&Params) -> f64, n: u64) -> (Vec<Params>, f64) {
        let mut h = History::default();
        let mut asked = vec![];
        let mut best = f64::INFINITY;
        for t in 0..n {
            let p = s.ask(t, &h);
            let v = f(&p);
            best = best.min(v);
            h.trials
                .insert(t, record(t, p.clone(), Status::Complete, &[v]));
            asked.push(p);
        }
        (asked, best)
    }

    const ACT: &[&str] = &["relu", "tanh", "gelu"];
    const OPT: &[&str] = &["adam", "sgd"];

    /// An optimizer with a momentum for sgd only and a beta for adam only.
    fn branches() -> SearchSpace {
        let when =
            |label: &'static str| crate::space::When(vec![("optimizer".into(), vec![label])]);
        SearchSpace {
            params: vec![
                Param {
                    when: when("adam"),
                    ..Param::range("beta", Kind::Float, 0.5, 0.999, false)
                },
                Param::range("learning_rate", Kind::Float, 1e-4, 1.0, true),
                Param {
                    when: when("sgd"),
                    ..Param::range("momentum", Kind::Float, 0.0, 0.99, false)
                },
                Param::list("optimizer", Kind::Cat(OPT), &[0.0, 1.0]),
            ],
        }
    }

    /// Best with sgd, a learning rate of 0.01 and a momentum of 0.9 (0); adam's best is 0.2.
    fn branches_loss(p: &Params) -> f64 {
        let lr = (p["learning_rate"].as_f64().log10() + 2.0).powi(2);
        match p.get("momentum") {
            Some(m) => lr + 4.0 * (m.as_f64() - 0.9).powi(2),
            None => 0.2 + lr + (p["beta"].as_f64() - 0.9).powi(2),
        }
    }

    #[test]
    fn a_conditional_space_gets_only_active_parameters_and_is_learned() {
        let s = branches();
        let (mut tpe, mut random) = (vec![], vec![]);
        for seed in 0..10 {
            let (asked, best) = run(
                &mut TpeSampler::new(s.clone(), seed, 8, LOSS),
                &branches_loss,
                40,
            );
            for p in &asked {
                assert!(s.contains(p), "seed {seed}: {p:?}");
            }
            tpe.push(best);
            random.push(run(&mut RandomSampler::new(s.clone(), seed), &branches_loss, 40).1);
        }
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (t, r) = (median(tpe), median(random));
        assert!(
            t < 0.5 * r,
            "TPE's median best {t} against random search's {r}"
        );
    }

    fn mixed() -> SearchSpace {
        SearchSpace {
            params: vec![
                Param::list("activation", Kind::Cat(ACT), &[0.0, 1.0, 2.0]),
                Param::list("batch_size", Kind::Int, &[64.0, 16.0, 256.0, 32.0]),
                Param::range("depth", Kind::Int, 1.0, 4.0, false),
                Param::range("dropout", Kind::Float, 0.25, 0.25, false),
                Param::list("epochs", Kind::Int, &[5.0]),
                Param::range("hidden_width", Kind::Int, 8.0, 512.0, true),
                Param::range("learning_rate", Kind::Float, 1e-4, 1e-1, true),
                Param::range("momentum", Kind::Float, 0.0, 0.99, false),
            ],
        }
    }

    fn mixed_loss(p: &Params) -> f64 {
        let act = if p["activation"] == crate::space::Value::Str("tanh") {
            0.0
        } else {
            0.3
        };
        (p["learning_rate"].as_f64().log10() + 2.5).powi(2)
            + 0.1 * (p["batch_size"].as_f64().log2() - 5.0).powi(2)
            + 0.01 * (p["hidden_width"].as_f64().log2() - 6.0).powi(2)
            + (p["momentum"].as_f64() - 0.9).powi(2)
            + 0.05 * p["depth"].as_f64()
            + act
    }

    #[test]
    fn the_same_study_asks_the_same() {
        let s = mixed();
        let run_with = |seed| {
            run(
                &mut TpeSampler::new(s.clone(), seed, 5, LOSS),
                &mixed_loss,
                30,
            )
            .0
        };
        let a = run_with(3);
        assert_eq!(a, run_with(3));
        assert_ne!(a[10..], run_with(4)[10..]);
        // With running trials in the history too, and asked in another order.
        let mut h = History::default();
        for (t, p) in a.iter().enumerate().take(20) {
            let status = if t % 4 == 0 {
                Status::Running
            } else {
                Status::Complete
            };
            h.trials.insert(
                t as u64,
                record(t as u64, p.clone(), status, &[mixed_loss(p)]),
            );
        }
        let mut tpe = TpeSampler::new(s.clone(), 3, 5, LOSS);
        let x = tpe.ask(21, &h);
        let y = tpe.ask(20, &h);
        assert_eq!(x, TpeSampler::new(s.clone(), 3, 5, LOSS).ask(21, &h));
        assert_eq!(y, TpeSampler::new(s, 3, 5, LOSS).ask(20, &h));
    }

    #[test]
    fn suggestions_are_values_of_the_space() {
        let s = mixed();
        for seed in 0..3 {
            let mut tpe = TpeSampler::new(s.clone(), seed, 5, LOSS);
            let mut h = History::default();
            for t in 0..80u64 {
                let p = tpe.ask(t, &h);
                assert!(s.contains(&p), "trial {t}: {p:?}");
                assert_eq!(p["dropout"], crate::space::Value::Float(0.25));
                assert_eq!(p["epochs"], crate::space::Value::Int(5));
                // Every kind of ending: failed, pruned short, running (the liar), complete.
                let (status, values) = match t % 7 {
                    0 => (Status::Failed, vec![]),
                    1 => (Status::Pruned, vec![mixed_loss(&p) + 1.0]),
                    2 => (Status::Running, vec![]),
                    _ => (Status::Complete, vec![mixed_loss(&p) + 1.0, mixed_loss(&p)]),
                };
                h.trials.insert(t, record(t, p, status, &values));
            }
        }
        crate::sampler::assert_inside(&s, &mut TpeSampler::new(s.clone(), 1, 5, LOSS), 20);
    }

    fn median(mut xs: Vec<f64>) -> f64 {
        xs.sort_by(f64::total_cmp);
        xs[xs.len() / 2]
    }

    #[test]
    fn beats_random_search_on_a_quadratic() {
        let s = SearchSpace {
            params: vec![
                Param::range("x", Kind::Float, -1.0, 1.0, false),
                Param::range("y", Kind::Float, -1.0, 1.0, false),
            ],
        };
        let f = |p: &Params| (p["x"].as_f64() - 0.3).powi(2) + (p["y"].as_f64() + 0.2).powi(2);
        let seeds = 0..11;
        let tpe: Vec<f64> = seeds
            .clone()
            .map(|seed| run(&mut TpeSampler::new(s.clone(), seed, 10, LOSS), &f, 40).1)
            .collect();
        let random: Vec<f64> = seeds
            .map(|seed| run(&mut RandomSampler::new(s.clone(), seed), &f, 40).1)
            .collect();
        let (t, r) = (median(tpe), median(random));
        assert!(t < 0.5 * r, "median best: TPE {t}, random {r}");
    }

    #[test]
    fn maximises_when_the_goal_is_max() {
        let s = SearchSpace {
            params: vec![Param::range("x", Kind::Float, 0.0, 1.0, false)],
        };
        let acc = Metric {
            kind: MetricKind::Accuracy,
            goal: Goal::Max,
        };
        // Accuracy peaks at x = 0.8: the good trials are the high ones.
        let f = |p: &Params| -(1.0 - (p["x"].as_f64() - 0.8).powi(2));
        let (asked, _) = run(&mut TpeSampler::new(s, 2, 10, acc), &|p| -f(p), 40);
        let late: Vec<f64> = asked[30..].iter().map(|p| p["x"].as_f64()).collect();
        let near = late.iter().filter(|x| (**x - 0.8).abs() < 0.2).count();
        assert!(near >= 6, "{late:?}");
    }

    /// A list's values are unordered: a shuffled list gives the same estimator, value for value.
    #[test]
    fn list_order_does_not_matter() {
        let costs = [
            0.6, 0.3, 0.8, 0.0, 0.5, 0.7, 0.4, 0.9, 0.35, 0.65, 0.55, 0.75,
        ];
        let natural: Vec<f64> = (0..12).map(|i| i as f64).collect();
        let shuffled = [7.0, 2.0, 11.0, 5.0, 0.0, 9.0, 3.0, 1.0, 10.0, 4.0, 8.0, 6.0];
        let space = |order: &[f64]| SearchSpace {
            params: vec![
                Param::list("level", Kind::Int, order),
                Param::range("x", Kind::Float, 0.0, 1.0, false),
            ],
        };
        let f = |p: &Params| (p["x"].as_f64() - 0.5).powi(2) + costs[p["level"].as_f64() as usize];
        // The estimators of the same trials agree on every value, whatever the list's order.
        let (asked, _) = run(&mut RandomSampler::new(space(&natural), 0), &f, 20);
        let density = |order: &[f64]| {
            let tpe = TpeSampler::new(space(order), 0, 10, LOSS);
            let pts: Vec<Vec<f64>> = asked.iter().map(|p| tpe.encode(p).unwrap()).collect();
            let est = Parzen::new(&tpe.dims, &pts[..8]);
            natural
                .iter()
                .map(|&v| {
                    let mut p = asked[0].clone();
                    p.insert("level".into(), crate::space::Value::Int(v as i64));
                    est.log_pdf(&tpe.dims, &tpe.encode(&p).unwrap())
                })
                .collect::<Vec<f64>>()
        };
        let (a, b) = (density(&natural), density(&shuffled));
        assert!(
            a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-12),
            "{a:?} {b:?}"
        );
        // And searches find the same best level, and ask it more often than chance (1/12).
        for seed in 0..5 {
            for order in [&natural[..], &shuffled[..]] {
                let (asked, _) = run(&mut TpeSampler::new(space(order), seed, 10, LOSS), &f, 40);
                let best = asked.iter().min_by(|p, q| f(p).total_cmp(&f(q))).unwrap();
                assert_eq!(best["level"].as_f64(), 3.0, "seed {seed}, order {order:?}");
                let on_best = asked[10..]
                    .iter()
                    .filter(|p| p["level"].as_f64() == 3.0)
                    .count();
                assert!(
                    on_best >= 8,
                    "seed {seed}, order {order:?}: {on_best} of 30"
                );
            }
        }
    }

    #[test]
    fn the_split_ranks_finished_trials_then_cut_ones_then_failures() {
        let s = SearchSpace {
            params: vec![Param::range("x", Kind::Float, 0.0, 1.0, false)],
        };
        let at = |t: u64| -> Params {
            [("x".to_string(), crate::space::Value::Float(t as f64 / 20.0))].into()
        };
        let mut h = History::default();
        let mut add = |t: u64, status, values: &[f64]| {
            h.trials.insert(t, record(t, at(t), status, values));
        };
        add(0, Status::Complete, &[9.0, 5.0]);
        add(1, Status::Pruned, &[0.1]);
        add(2, Status::Pruned, &[0.9, 0.5]);
        add(4, Status::Running, &[0.0]);
        add(3, Status::Failed, &[]);
        for t in 5..12 {
            add(t, Status::Failed, &[]);
        }
        let tpe = TpeSampler::new(s, 0, 5, LOSS);
        let (good, bad, n) = tpe.split(12, &h);
        // 11 finished, the best 2 good: the trial that ran to its end, then the one cut later.
        assert_eq!(n, 11);
        assert_eq!(good, vec![vec![0.0], vec![0.1]]);
        // The rest and the running trial (the liar) are bad, in trial order.
        let xs: Vec<f64> = bad.iter().map(|x| x[0] * 20.0).map(f64::round).collect();
        assert_eq!(
            xs,
            (1..12)
                .filter(|&t| t != 2)
                .map(|t| t as f64)
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn normal_masses() {
        // Φ(1) - Φ(-1), Φ(0) - Φ(-inf) and far tails without cancellation.
        assert!((ln_mass(-1.0, 1.0).exp() - 0.682_689_49).abs() < 1e-6);
        assert!((ln_mass(-40.0, 0.0).exp() - 0.5).abs() < 1e-6);
        assert!((ln_mass(30.0, 31.0) - ln_mass(-31.0, -30.0)).abs() < 1e-9);
        assert!(ln_mass(30.0, 31.0).is_finite() && ln_mass(30.0, 31.0) < -400.0);
        assert_eq!(gamma(0), 0);
        assert_eq!(gamma(10), 1);
        assert_eq!(gamma(11), 2);
        assert_eq!(gamma(1000), 25);
        let w = trial_weights(30);
        assert_eq!(w.len(), 30);
        assert!((w[0] - 1.0 / 30.0).abs() < 1e-12 && w[4] == 1.0 && w[29] == 1.0);
    }
}
