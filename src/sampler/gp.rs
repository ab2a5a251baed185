//! Bayesian search: a Gaussian process (`gp/model.rs`) asked with the whole history of finished
//! trials, its log expected improvement maximised inside a trust region around the best trial
//! (`gp/acquire.rs`, `gp/region.rs`); with two objectives or constraints, a GP of each
//! (`gp/multi.rs`, `gp/ehvi.rs`). Parameters
//! are encoded for the GP in the unit cube (`gp/encode.rs`: log scales in log, integers and lists
//! on their grid, labels unordered) and decoded back exactly, never outside the space. Running
//! trials are "constant liars": they enter the history with the best value seen so far, so
//! parallel suggestions do not crowd them. Anything the GP cannot handle (too few distinct points,
//! a constant objective, a failed fit, a duplicate suggestion) falls back to a seeded random draw
//! with a warning.

use super::Sampler;
use crate::objective::{Goal, Metric};
use crate::pareto::Objectives;
use crate::seed::{self, Purpose};
use crate::space::{Params, SearchSpace};
use crate::storage::History;

mod acquire;
mod ehvi;
mod encode;
mod lbfgs;
mod model;
mod multi;
mod observed;
mod region;
#[cfg(test)]
mod study_tests;
mod warp;

pub use encode::Encoding;
use model::{Gp, Inputs};

/// The version of how suggestions are made (start design, kernel, prior, criterion and its
/// search): part of a Bayesian study's fingerprint, so that a study begun by a build that
/// suggested otherwise refuses to resume instead of going on with other suggestions.
pub const VERSION: &str =
    "ese-lhs, matern52-hamming, optuna-length-prior, prior-mean-3sd, logei-multistart, turbo-region";

/// Where the GP's prior puts the objective far from every point tried: this many standard
/// deviations of the values seen above their mean (worse). With the prior at the mean, the box's
/// corners, the farthest from every point, looked as promising as anything near the best and
/// drew up to 90 % of the suggestions onto the bounds; a pessimistic prior mean makes the
/// unexplored far corners look bad unless the data say otherwise. Measured on the sampler suite
/// (benches/suite.sh, docs/benchmarks.md): 0, 0.5, 0.75, 1, 2, 3 and 4 on seeds 0-9, 3 checked
/// against 0 on seeds 10-19.
const PRIOR_MEAN: f64 = 3.0;

/// Above this many points, the GP's hyperparameters are fitted on a subset of this size (the best
/// half and an even spread of the rest) and then held fixed for the GP on every point: the fit is
/// cubic in the points and iterated, the fixed GP is one factorisation. Measured in benches/gp.rs.
const FIT_SUBSET: usize = 64;

/// The rows the hyperparameters are fitted on: all, or [`FIT_SUBSET`] of them.
fn fit_rows(x: &[Vec<f64>], y: &[f64]) -> (Vec<Vec<f64>>, Vec<f64>) {
    let n = y.len();
    if n <= FIT_SUBSET {
        return (x.to_vec(), y.to_vec());
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| y[a].total_cmp(&y[b]).then(a.cmp(&b)));
    let half = FIT_SUBSET / 2;
    let rest = &order[half..];
    let mut pick: Vec<usize> = order[..half].to_vec();
    pick.extend((0..FIT_SUBSET - half).map(|i| rest[i * rest.len() / (FIT_SUBSET - half)]));
    (
        pick.iter().map(|&i| x[i].clone()).collect(),
        pick.iter().map(|&i| y[i]).collect(),
    )
}

/// `values` standardised (mean 0 and variance 1 over them: the GP's prior is for a signal of
/// variance 1, and the metric's scale stops mattering), less `shift`; with their mean and
/// standard deviation.
fn standardise(values: &[f64], shift: f64) -> (Vec<f64>, f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n)
        .sqrt()
        .max(1e-12);
    let y = values.iter().map(|v| (v - mean) / sd - shift).collect();
    (y, mean, sd)
}

/// The GP on points `x` and standardised values `y`, its hyperparameters fitted on
/// [`fit_rows`] of them; with those hyperparameters. `None` when a kernel matrix does not factor.
fn fit_gp(
    x: Vec<Vec<f64>>,
    y: &[f64],
    categorical: &[bool],
    iterations: usize,
) -> Option<(Gp, Vec<f64>)> {
    let inputs = |rows: Vec<Vec<f64>>| Inputs {
        rows,
        categorical: categorical.to_vec(),
    };
    let (fx, fy) = fit_rows(&x, y);
    let raw = model::fit_hyper(&inputs(fx), &fy, iterations)?;
    let gp = Gp::new(inputs(x), y, &raw)?;
    Some((gp, raw))
}

/// A suggestion and how it was made.
#[derive(Clone, Debug, PartialEq)]
pub struct Suggestion {
    pub params: Params,
    /// Why the GP was not used, when it was not.
    pub fallback: Option<String>,
}

/// The GP's settings (benches/gp.rs overrides them with TUNE_GP).
#[derive(Clone, Copy, Debug)]
pub struct GpSettings {
    /// Random candidates scored before the acquisition's local searches.
    pub candidates: usize,
    /// Local searches of the acquisition.
    pub searches: usize,
    /// Iterations of the hyperparameters' fit.
    pub fit_iterations: usize,
}

impl Default for GpSettings {
    /// Optuna's GPSampler's: 2048 candidates and 10 local searches; the fit runs to convergence
    /// (it takes a few dozen iterations from the prior's mode).
    fn default() -> Self {
        GpSettings {
            candidates: 2048,
            searches: 10,
            fit_iterations: 200,
        }
    }
}

/// The trust region's side after the GP's suggestions so far: those of `observed` (in trial
/// order) after the first `startup`, measured against the best before them (NaN: no improvement).
fn trust(observed: &[(Params, f64)], startup: usize, d: usize) -> f64 {
    let split = startup.clamp(1, observed.len().max(1)).min(observed.len());
    let (design, asked) = observed.split_at(split);
    let best = design
        .iter()
        .map(|o| o.1)
        .filter(|v| v.is_finite())
        .fold(f64::INFINITY, f64::min);
    let ys: Vec<f64> = asked
        .iter()
        .map(|o| if o.1.is_finite() { o.1 } else { f64::INFINITY })
        .collect();
    region::side(best, &ys, d)
}

/// Suggests the next point to evaluate given `observed` (points and values to minimise, in trial
/// order, the first `startup` of them the start design) and `pending` (points being evaluated).
/// Deterministic in (seed, trial, observed, pending).
#[allow(clippy::too_many_arguments)]
pub fn suggest(
    space: &SearchSpace,
    enc: &Encoding,
    settings: GpSettings,
    seed: u64,
    trial: u64,
    startup: usize,
    observed: &[(Params, f64)],
    pending: &[Params],
) -> Suggestion {
    let random = |why: String| Suggestion {
        params: space.sample(&mut seed::rng(seed, Purpose::Sample, trial, 0)),
        fallback: Some(why),
    };
    let finite: Vec<&(Params, f64)> = observed.iter().filter(|o| o.1.is_finite()).collect();
    let mut distinct: Vec<Vec<f64>> = finite.iter().map(|o| enc.encode(&o.0)).collect();
    distinct.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    distinct.dedup();
    if distinct.len() < 2 {
        return random("fewer than two distinct finished points".into());
    }
    let best = finite.iter().map(|o| o.1).fold(f64::INFINITY, f64::min);
    let worst = finite.iter().map(|o| o.1).fold(f64::NEG_INFINITY, f64::max);
    if best == worst {
        return random("the objective is constant so far".into());
    }

    // Failed trials count as bad results: the worst seen, not missing ones. Pending trials lie
    // with the best value seen (constant liar, minimum).
    let mut rows: Vec<(Vec<f64>, f64)> = observed
        .iter()
        .map(|(p, y)| (enc.encode(p), if y.is_finite() { *y } else { worst }))
        .collect();
    rows.extend(pending.iter().map(|p| (enc.encode(p), best)));
    // The GP needs distinct points: keep the first of any repeats.
    let mut seen: Vec<Vec<f64>> = vec![];
    rows.retain(|(x, _)| {
        let dup = seen.iter().any(|s| s == x);
        seen.push(x.clone());
        !dup
    });
    let (y, _, _) = standardise(&rows.iter().map(|r| r.1).collect::<Vec<_>>(), PRIOR_MEAN);
    let x: Vec<Vec<f64>> = rows.iter().map(|r| r.0.clone()).collect();
    let categorical: Vec<bool> = enc.codes.iter().map(|c| c.categorical()).collect();
    let Some((gp, _)) = fit_gp(x.clone(), &y, &categorical, settings.fit_iterations) else {
        return random("the GP fit failed (ill-conditioned)".into());
    };
    // The best finished point (the first of the lowest: finished rows come before pending ones)
    // is the criterion's reference and one of the searches' starts.
    let best_row = (0..rows.len())
        .min_by(|&a, &b| y[a].total_cmp(&y[b]))
        .unwrap_or(0);
    let acq = acquire::LogEi {
        gp: &gp,
        best: y[best_row],
    };
    let effort = acquire::Effort {
        candidates: settings.candidates,
        searches: settings.searches,
    };
    let mut rng = seed::rng(seed, Purpose::Sample, trial, 1);
    let side = trust(observed, startup, enc.codes.len());
    let region = region::Region::around(&x[best_row], &gp.length_scales(), &enc.codes, side);
    // Without its inactive parameters (which the GP sees pinned), a point may be one it has.
    let taken = |x: &[f64]| {
        let code = enc.encode(&space.prune(enc.decode(x)));
        rows.iter().any(|r| r.0 == code)
    };
    let at = &x[best_row];
    // A region shrunk on a grid may hold only points tried: then the whole box.
    let Some(next) = acquire::maximise(&acq, &enc.codes, &region, at, effort, &taken, &mut rng)
        .or_else(|| {
            let whole = region::Region::whole(enc.codes.len());
            acquire::maximise(&acq, &enc.codes, &whole, at, effort, &taken, &mut rng)
        })
    else {
        return random("every point the GP considered was already tried or running".into());
    };
    let params = enc.decode(&next);
    Suggestion {
        params,
        fallback: None,
    }
}

/// The GP sampler of a study: a Latin hypercube for the first `startup` trials, then the GP.
pub struct GpSampler {
    space: SearchSpace,
    enc: Encoding,
    seed: u64,
    startup: usize,
    /// What it minimises: one objective's value, or several scalarised (see
    /// [`Objectives::scalars`]).
    objectives: Objectives,
    /// Other GP settings than the default (for tuning them in benches/gp.rs).
    pub settings: Option<GpSettings>,
    /// The start design, made once.
    design: std::sync::OnceLock<Vec<Params>>,
    /// Fallbacks to random sampling not yet taken by [`Sampler::take_warnings`].
    warnings: Vec<String>,
    /// Trials may be cut short by a scheduler: model a level of the budget (BOHB's rule).
    pruning: bool,
    /// An earlier study's trials (parameters, value; a warm start), observed before this one's.
    warm: Vec<(Params, f64)>,
}

impl GpSampler {
    pub fn new(space: SearchSpace, seed: u64, startup: usize, metric: Metric) -> Self {
        GpSampler {
            enc: Encoding::new(&space),
            space,
            seed,
            startup,
            objectives: Objectives::single(metric, metric.kind),
            settings: None,
            design: std::sync::OnceLock::new(),
            warnings: vec![],
            pruning: false,
            warm: vec![],
        }
    }

    /// Starts from an earlier study's trials (Optuna's `add_trials`): they are observed first,
    /// and count toward the start-up trials.
    pub fn warm(mut self, trials: Vec<(Params, f64)>) -> Self {
        self.startup = self.startup.saturating_sub(trials.len());
        self.warm = trials;
        self
    }

    /// Trial `trial`'s parameters given `observed` (parameters and values to minimise; NaN for a
    /// failed trial) and `pending` (running trials): point `trial` of the start-up Latin hypercube,
    /// then the GP. What `ask` does once it has read the history; benches/gp.rs calls it directly.
    pub fn propose(
        &self,
        trial: u64,
        observed: &[(Params, f64)],
        pending: &[Params],
    ) -> Suggestion {
        // Every coordinate is proposed; the parameters inactive at the point are dropped.
        let s = self.propose_every(trial, observed, pending);
        Suggestion {
            params: self.space.prune(s.params),
            ..s
        }
    }

    /// [`GpSampler::propose`] with a value for every parameter, active or not.
    fn propose_every(
        &self,
        trial: u64,
        observed: &[(Params, f64)],
        pending: &[Params],
    ) -> Suggestion {
        if (trial as usize) < self.startup {
            return Suggestion {
                params: self
                    .design
                    .get_or_init(|| self.enc.start_design(self.seed, self.startup))
                    [trial as usize]
                    .clone(),
                fallback: None,
            };
        }
        if observed.len() < 2 {
            // Start-up trials still running: nothing to fit yet, and no warning needed.
            return Suggestion {
                params: self
                    .space
                    .sample(&mut seed::rng(self.seed, Purpose::Sample, trial, 0)),
                fallback: None,
            };
        }
        suggest(
            &self.space,
            &self.enc,
            self.settings.unwrap_or_default(),
            self.seed,
            trial,
            // The warm start's trials come first in `observed` and count as start-up trials.
            self.warm.len() + self.startup,
            observed,
            pending,
        )
    }
}

impl GpSampler {
    /// Whether each objective and constrained metric gets a GP of its own (`multi.rs`): two
    /// objectives, or one with constraints. Three or more objectives are scalarised (ParEGO).
    fn each(&self) -> bool {
        each(&self.objectives)
    }

    /// Trial `trial`'s parameters from a GP per objective and constrained metric, when the study
    /// has them and they can model its history.
    fn ask_each(&mut self, trial: u64, history: &History) -> Option<Params> {
        if !self.each() || (trial as usize) < self.startup {
            return None;
        }
        let (seen, pending) = self.seen(history);
        if seen.len() < 2 {
            return None;
        }
        let limits: Vec<(f64, f64)> = self
            .objectives
            .constraints
            .iter()
            .map(|c| (c.min, c.max))
            .collect();
        let s = multi::suggest(
            &self.space,
            &self.enc,
            self.settings.unwrap_or_default(),
            self.seed,
            trial,
            &seen,
            &pending,
            &limits,
        )?;
        if let Some(why) = &s.fallback {
            self.warnings
                .push(format!("trial {trial}: {why}; sampled at random instead"));
        }
        Some(self.space.prune(s.params))
    }
}

/// Whether `objectives` get a GP of each objective and constrained metric: two objectives, or
/// one with constraints.
fn each(objectives: &Objectives) -> bool {
    !objectives.plain() && objectives.list.len() <= 2
}

/// [`VERSION`] for a study with `objectives`: two objectives, or constraints, are searched by a
/// GP of each (`multi.rs`), and a study begun by a build that scalarised them must not go on.
pub fn version(objectives: &Objectives) -> String {
    if each(objectives) {
        format!("{VERSION}, gp-each-warped-ehvi2-pof")
    } else {
        VERSION.to_string()
    }
}

impl Sampler for GpSampler {
    fn ask(&mut self, trial: u64, history: &History) -> Params {
        let sign = if self.objectives.first().goal == Goal::Max {
            -1.0
        } else {
            1.0
        };
        if let Some(params) = self.ask_each(trial, history) {
            return params;
        }
        let (mut observed, pending) = self.observed(trial, history);
        if !self.warm.is_empty() {
            let warm = self.warm.iter().map(|(p, v)| (p.clone(), sign * v));
            observed = warm.chain(observed).collect();
        }
        let s = self.propose(trial, &observed, &pending);
        if let Some(why) = &s.fallback {
            self.warnings
                .push(format!("trial {trial}: {why}; sampled at random instead"));
        }
        s.params
    }

    fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::{Kind, Param};
    use rand::SeedableRng;

    fn space() -> SearchSpace {
        SearchSpace {
            params: vec![
                Param::list("batch_size", Kind::Int, &[64.0, 16.0, 256.0, 32.0, 128.0]),
                Param::range("hidden_width", Kind::Int, 8.0, 512.0, true),
                Param::range("learning_rate", Kind::Float, 1e-4, 1e-1, true),
                Param::range("momentum", Kind::Float, 0.0, 0.99, false),
            ],
        }
    }

    #[test]
    fn encoding_round_trips_and_decodes_inside_the_space() {
        let s = space();
        let enc = Encoding::new(&s);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for _ in 0..500 {
            let p = s.sample(&mut rng);
            let back = enc.decode(&enc.encode(&p));
            assert_eq!(back["batch_size"], p["batch_size"]);
            assert_eq!(back["hidden_width"], p["hidden_width"]);
            for name in ["learning_rate", "momentum"] {
                let (a, b) = (back[name].as_f64(), p[name].as_f64());
                assert!(
                    (a - b).abs() <= 1e-12 * b.abs().max(1e-12),
                    "{name}: {a} vs {b}"
                );
            }
        }
        // Any coordinates, even outside the bounds or not finite, decode into the space.
        for x in [
            [-9.0, -9.0, -9.0, -9.0],
            [99.0, 99.0, 99.0, 99.0],
            [f64::NAN, 2.5, f64::INFINITY, f64::NEG_INFINITY],
        ] {
            let p = enc.decode(&x);
            assert!(s.contains(&p), "{x:?} -> {p:?}");
        }
        // Numeric lists are on the grid of their ranks; a log range's ends are 0 and 1.
        let c = enc.encode(&s.sample(&mut rng));
        assert!([0.1, 0.3, 0.5, 0.7, 0.9]
            .iter()
            .any(|v| (c[0] - v).abs() < 1e-12));
        let mut ends = s.sample(&mut rng);
        ends.insert("learning_rate".into(), crate::space::Value::Float(1e-4));
        ends.insert("momentum".into(), crate::space::Value::Float(0.99));
        let c = enc.encode(&ends);
        assert_eq!((c[2], c[3]), (0.0, 1.0));
        // and the coordinates 0 and 1 decode to the ends exactly, not to 1.1e-16 off them.
        let back = enc.decode(&[0.5, 0.5, 0.0, 1.0]);
        assert_eq!(back["learning_rate"], crate::space::Value::Float(1e-4));
        assert_eq!(back["momentum"], crate::space::Value::Float(0.99));
    }

    #[test]
    fn the_startup_design_is_a_latin_hypercube() {
        let s = space();
        let enc = Encoding::new(&s);
        let n = 8;
        let pts = enc.start_design(4, n);
        assert_eq!(pts.len(), n);
        assert!(pts.iter().all(|p| s.contains(p)));
        // One point per stratum of the (log) learning-rate and momentum ranges.
        for (name, to_unit) in [
            (
                "learning_rate",
                (|v: f64| (v.log10() + 4.0) / 3.0) as fn(f64) -> f64,
            ),
            ("momentum", |v: f64| v / 0.99),
        ] {
            let mut strata: Vec<usize> = pts
                .iter()
                .map(|p| (to_unit(p[name].as_f64()) * n as f64) as usize)
                .collect();
            strata.sort();
            assert_eq!(strata, (0..n).collect::<Vec<_>>(), "{name}");
        }
        assert_eq!(pts, enc.start_design(4, n));
        assert_ne!(pts, enc.start_design(5, n));
        // Lists of one value, a space of nothing else, and designs of one or two points are
        // designs too (egobox's optimiser loops for ever on one point).
        let lr = Param::range("learning_rate", Kind::Float, 1e-4, 1e-1, true);
        let one = Param::list("batch_size", Kind::Int, &[32.0]);
        for space in [vec![one.clone(), lr], vec![one]] {
            let space = SearchSpace { params: space };
            for n in [1, 2, 5] {
                let pts = Encoding::new(&space).start_design(4, n);
                assert_eq!(pts.len(), n);
                assert!(pts
                    .iter()
                    .all(|p| space.contains(p) && p["batch_size"].as_f64() == 32.0));
            }
        }
    }

    fn observed(n: u64) -> Vec<(Params, f64)> {
        let s = space();
        (0..n)
            .map(|t| {
                let p = s.sample(&mut seed::rng(9, Purpose::Sample, t, 0));
                let lr = p["learning_rate"].as_f64().log10();
                let b = p["batch_size"].as_f64().log2();
                (p, (lr + 2.5).powi(2) + 0.1 * (b - 5.0).powi(2))
            })
            .collect()
    }

    #[test]
    fn suggestions_are_deterministic_inside_and_new() {
        let s = space();
        let enc = Encoding::new(&s);
        let obs = observed(12);
        let a = suggest(&s, &enc, GpSettings::default(), 1, 12, 6, &obs, &[]);
        let b = suggest(&s, &enc, GpSettings::default(), 1, 12, 6, &obs, &[]);
        assert_eq!(a, b);
        assert_eq!(a.fallback, None);
        assert!(s.contains(&a.params));
        assert!(obs
            .iter()
            .all(|o| enc.encode(&o.0) != enc.encode(&a.params)));
        // A pending copy of the suggestion makes the next one differ.
        let c = suggest(
            &s,
            &enc,
            GpSettings::default(),
            1,
            12,
            6,
            &obs,
            std::slice::from_ref(&a.params),
        );
        assert_ne!(enc.encode(&c.params), enc.encode(&a.params));
    }

    #[test]
    fn degenerate_histories_fall_back_to_random() {
        let s = space();
        let enc = Encoding::new(&s);
        let mut obs = observed(6);
        for o in &mut obs {
            o.1 = 1.0;
        }
        let r = suggest(&s, &enc, GpSettings::default(), 1, 6, 6, &obs, &[]);
        assert!(r.fallback.as_deref().unwrap().contains("constant"));
        assert!(s.contains(&r.params));
        let same = vec![(obs[0].0.clone(), 1.0), (obs[0].0.clone(), 2.0)];
        let r = suggest(&s, &enc, GpSettings::default(), 1, 2, 6, &same, &[]);
        assert!(r.fallback.as_deref().unwrap().contains("distinct"));
        // Failed trials (NaN) count as the worst result, not as missing.
        let mut failed = observed(10);
        failed[3].1 = f64::NAN;
        let r = suggest(&s, &enc, GpSettings::default(), 1, 10, 6, &failed, &[]);
        assert_eq!(r.fallback, None);
    }
}
