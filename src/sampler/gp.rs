//! Bayesian search: a Gaussian-process surrogate (egobox) asked with the whole history of finished
//! trials. Parameters are encoded for the GP (log scales in log10, lists and integers as ordinal
//! values) and decoded back exactly, never outside the space. Running trials are "constant liars":
//! they enter the history with the best value seen so far, so parallel suggestions do not crowd them.
//! Anything the GP cannot handle (too few distinct points, a constant objective, a failed fit, a
//! duplicate suggestion) falls back to a seeded random draw with a warning.

use egobox_ego::{EgorServiceBuilder, InfillStrategy, XType};
use ndarray::{Array2, ArrayView1};

use super::Sampler;
use crate::objective::{Goal, Metric};
use crate::pareto::Objectives;
use crate::seed::{self, Purpose};
use crate::space::{Domain, Kind, Param, Params, SearchSpace};
use crate::storage::History;

mod observed;

/// The version of how suggestions are made (start design, kernel, bounds): part of a Bayesian
/// study's fingerprint, so that a study begun by a build that suggested otherwise refuses to
/// resume instead of going on with other suggestions.
pub const VERSION: &str = "ese-lhs, matern52, theta<=1, logei";

/// How one parameter appears to the GP.
#[derive(Clone, Debug, PartialEq)]
enum Code {
    /// A continuous range, in log10 when `log`.
    Float { low: f64, high: f64, log: bool },
    /// Ordered values the GP sees as `coords` (log10 of the values, or their rank for a list) and
    /// that decode to `values`.
    Ord { coords: Vec<f64>, values: Vec<f64> },
}

impl Code {
    /// The lowest and highest GP coordinate.
    fn bounds(&self) -> (f64, f64) {
        match self {
            Code::Float {
                low,
                high,
                log: true,
            } => (low.log10(), high.log10()),
            Code::Float { low, high, .. } => (*low, *high),
            Code::Ord { coords, .. } => (coords[0], coords[coords.len() - 1]),
        }
    }
}

/// The encoding of a whole space: one coordinate per parameter, whatever their number.
#[derive(Clone, Debug)]
pub struct Encoding {
    params: Vec<Param>,
    codes: Vec<Code>,
}

/// Integer ranges with more values than this are encoded as continuous and rounded.
const MAX_ORDINALS: usize = 2000;

impl Encoding {
    /// The encoding of `space`.
    pub fn new(space: &SearchSpace) -> Encoding {
        let codes = space
            .params
            .iter()
            .map(|p| match (&p.domain, p.kind) {
                (Domain::List(xs), _) => {
                    let mut values = xs.clone();
                    values.sort_by(f64::total_cmp);
                    Code::Ord {
                        coords: (0..values.len()).map(|i| i as f64).collect(),
                        values,
                    }
                }
                (Domain::Range { low, high, log, .. }, Kind::Int)
                    if high - low < MAX_ORDINALS as f64 =>
                {
                    let values: Vec<f64> = (*low as i64..=*high as i64).map(|i| i as f64).collect();
                    let coords = values
                        .iter()
                        .map(|&v| if *log { v.log10() } else { v })
                        .collect();
                    Code::Ord { coords, values }
                }
                (Domain::Range { low, high, log, .. }, _) => Code::Float {
                    low: *low,
                    high: *high,
                    log: *log,
                },
            })
            .collect();
        Encoding {
            params: space.params.clone(),
            codes,
        }
    }

    /// The bounds of each GP coordinate.
    fn bounds(&self) -> Vec<(f64, f64)> {
        self.codes.iter().map(Code::bounds).collect()
    }

    /// egobox's description of the encoded space: ranges by their bounds, ordinals by their values.
    pub fn xtypes(&self) -> Vec<XType> {
        self.codes
            .iter()
            .zip(self.bounds())
            .map(|(c, (lo, hi))| match c {
                Code::Ord { coords, .. } if coords.len() > 1 => XType::Ord(coords.clone()),
                _ => XType::Float(lo, hi),
            })
            .collect()
    }

    /// The `n`-point start design over the encoded space, seeded by `seed`: a Latin hypercube (each
    /// coordinate's range cut in `n` strata, every stratum used once) whose points egobox-doe spreads
    /// apart (maximin, by enhanced stochastic evolution). Against a plain random hypercube it took
    /// the median Hartmann6 regret at 50 evaluations from 0.119 to 0.0009 over 40 seeds
    /// (`benches/gp.rs`): the GP starts from a view of the whole space, not of one basin.
    pub fn start_design(&self, seed: u64, n: usize) -> Vec<Params> {
        use egobox_doe::SamplingMethod;
        let b = self.bounds();
        let limits =
            Array2::from_shape_fn((b.len(), 2), |(i, j)| if j == 0 { b[i].0 } else { b[i].1 });
        // The optimiser swaps coordinates between two different points (it loops for ever on one)
        // and compares distances (all zero when no coordinate has a range): a plain Latin
        // hypercube there, which is also the best one.
        let spread = n >= 2 && b.iter().any(|(lo, hi)| hi > lo);
        let design = egobox_doe::Lhs::new(&limits)
            .kind(if spread {
                egobox_doe::LhsKind::Optimized
            } else {
                egobox_doe::LhsKind::Classic
            })
            .with_rng(seed::rng(seed, Purpose::Design, 0, n as u64))
            .sample(n);
        design.rows().into_iter().map(|x| self.decode(x)).collect()
    }

    /// The GP coordinates of `p`. A parameter inactive at `p` (absent) sits at its lowest
    /// coordinate: points that differ only in inactive parameters are one point to the GP.
    pub fn encode(&self, p: &Params) -> Vec<f64> {
        self.params
            .iter()
            .zip(&self.codes)
            .map(|(param, code)| {
                let Some(&v) = p.get(&param.name) else {
                    return code.bounds().0;
                };
                let v = param.number(v);
                match code {
                    Code::Float { log: true, .. } => v.log10(),
                    Code::Float { .. } => v,
                    Code::Ord { coords, values } => coords[nearest(values, v)],
                }
            })
            .collect()
    }

    /// The parameters at GP coordinates `x`: clamped into the space, integers and lists exact.
    pub fn decode(&self, x: ArrayView1<f64>) -> Params {
        self.params
            .iter()
            .zip(&self.codes)
            .zip(x.iter())
            .map(|((param, code), &c)| {
                let v = match code {
                    Code::Float { low, high, log } => {
                        let c = if c.is_finite() { c } else { *low };
                        let v = if *log { 10f64.powf(c) } else { c };
                        v.clamp(*low, *high)
                    }
                    Code::Ord { coords, values } => {
                        values[nearest(coords, if c.is_finite() { c } else { coords[0] })]
                    }
                };
                (param.name.clone(), param.value(v))
            })
            .collect()
    }
}

fn nearest(xs: &[f64], v: f64) -> usize {
    let mut best = 0;
    for (i, x) in xs.iter().enumerate() {
        if (x - v).abs() < (xs[best] - v).abs() {
            best = i;
        }
    }
    best
}

/// Above this many points, the GP's hyperparameters are fitted on a subset of this size (the best
/// half and an even spread of the rest) and then held fixed for the GP on every point: the fit is
/// cubic in the points and restarted, the fixed-θ GP is one factorisation. Measured in benches/gp.rs.
const THETA_SUBSET: usize = 64;

/// The bounds of the GP's inverse correlation lengths (per coordinate, in units of the inputs'
/// standard deviation): at most 1, so no length is shorter than the spread of the points tried.
/// egobox's default allows up to 10; a surrogate this smooth still says something about the parts
/// of the space not tried yet, as Optuna's prior on length scales makes its GP do. Measured with
/// `benches/gp.rs` over 40 seeds: Hartmann6 regret@20 1.45 -> 1.00, regret@50 0.119 -> 0.0062 (alone; 0.00024
/// with the start design above); upper bounds 0.5 and 0.7 smooth too much, 1.5 and 2 too little.
fn theta_tuning() -> egobox_gp::ThetaTuning<f64> {
    egobox_gp::ThetaTuning::Full {
        init: ndarray::array![egobox_gp::ThetaTuning::<f64>::DEFAULT_INIT],
        bounds: ndarray::array![(egobox_gp::ThetaTuning::<f64>::DEFAULT_BOUNDS.0, 1.0)],
    }
}

/// The correlation lengths of a Matérn 5/2 GP fitted to at most [`THETA_SUBSET`] of the rows.
fn theta_on_subset(
    x: &Array2<f64>,
    y: &Array2<f64>,
    settings: GpSettings,
) -> Option<ndarray::Array1<f64>> {
    use egobox_gp::correlation_models::Matern52Corr;
    use egobox_gp::mean_models::ConstantMean;
    use linfa::prelude::*;
    let n = x.nrows();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| y[[a, 0]].total_cmp(&y[[b, 0]]).then(a.cmp(&b)));
    let half = THETA_SUBSET / 2;
    let rest = &order[half..];
    let mut pick: Vec<usize> = order[..half].to_vec();
    pick.extend((0..THETA_SUBSET - half).map(|i| rest[i * rest.len() / (THETA_SUBSET - half)]));
    let xs = x.select(ndarray::Axis(0), &pick);
    let ys = y.select(ndarray::Axis(0), &pick);
    let gp = egobox_gp::GaussianProcess::<f64, ConstantMean, Matern52Corr>::params(
        ConstantMean::default(),
        Matern52Corr::default(),
    )
    .theta_tuning(theta_tuning())
    .n_start(settings.gp_starts)
    .max_eval(settings.gp_max_eval)
    .fit(&Dataset::new(xs, ys.column(0).to_owned()))
    .ok()?;
    Some(gp.theta().clone())
}

/// A suggestion and how it was made.
#[derive(Clone, Debug, PartialEq)]
pub struct Suggestion {
    pub params: Params,
    /// Why the GP was not used, when it was not.
    pub fallback: Option<String>,
}

/// The GP's settings, tuned against `benches/gp.rs`.
#[derive(Clone, Copy, Debug)]
pub struct GpSettings {
    /// Restarts of the GP hyperparameter fit.
    pub gp_starts: usize,
    /// Restarts of the infill (LogEI) optimisation.
    pub infill_starts: usize,
    /// Likelihood evaluations of each GP hyperparameter fit.
    pub gp_max_eval: usize,
}

impl Default for GpSettings {
    /// 5 restarts of 50 evaluations for the fit, 10 for the infill, at every history size: with
    /// the length scales bounded, heavier fits from 20 points on (10 restarts of 100) measured the
    /// same regrets over 40 seeds in `benches/gp.rs` at 1.5x the time per suggestion.
    fn default() -> Self {
        GpSettings {
            gp_starts: 5,
            infill_starts: 10,
            gp_max_eval: 50,
        }
    }
}

/// Suggests the next point to evaluate given `observed` (points and values to minimise) and
/// `pending` (points being evaluated). Deterministic in (seed, trial, observed, pending).
pub fn suggest(
    space: &SearchSpace,
    enc: &Encoding,
    settings: GpSettings,
    seed: u64,
    trial: u64,
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
    let d = enc.codes.len();
    let x = Array2::from_shape_fn((rows.len(), d), |(i, j)| rows[i].0[j]);
    // Standardise the values: the GP's fit is better conditioned and the scale of the metric stops mattering.
    let mean = rows.iter().map(|r| r.1).sum::<f64>() / rows.len() as f64;
    let sd = (rows.iter().map(|r| (r.1 - mean).powi(2)).sum::<f64>() / rows.len() as f64)
        .sqrt()
        .max(1e-12);
    let y = Array2::from_shape_fn((rows.len(), 1), |(i, _)| (rows[i].1 - mean) / sd);

    let xtypes = enc.xtypes();
    let gp_seed = seed::derive(seed, Purpose::Sample, trial, 1);
    let attempt = std::panic::catch_unwind(|| {
        let theta = if rows.len() > THETA_SUBSET {
            theta_on_subset(&x, &y, settings)
        } else {
            None
        };
        let egor = EgorServiceBuilder::optimize()
            .configure(|c| {
                c.configure_gp(|g| {
                    let g = g
                        .correlation_spec(egobox_ego::CorrelationSpec::MATERN52)
                        .n_start(settings.gp_starts)
                        .max_eval(settings.gp_max_eval);
                    g.theta_tuning(match theta {
                        Some(t) => egobox_gp::ThetaTuning::Fixed(t),
                        None => theta_tuning(),
                    })
                })
                .infill_strategy(InfillStrategy::LogEI)
                .n_start(settings.infill_starts)
                .seed(gp_seed)
            })
            .min_within_mixint_space(&xtypes)
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(egor.suggest(&x, &y))
    });
    let next = match attempt {
        Ok(Ok(next)) if next.nrows() >= 1 && next.row(0).iter().all(|v| v.is_finite()) => next,
        Ok(Ok(_)) => return random("the GP suggested no finite point".into()),
        Ok(Err(e)) => return random(format!("the GP could not be configured: {e}")),
        Err(_) => return random("the GP fit failed (ill-conditioned)".into()),
    };
    let params = enc.decode(next.row(0));
    // Without its inactive parameters (which the GP sees pinned), the point may be one it has.
    let code = enc.encode(&space.prune(params.clone()));
    if rows.iter().any(|r| r.0 == code) {
        return random("the GP suggested a point already tried or running".into());
    }
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
            observed,
            pending,
        )
    }
}

impl Sampler for GpSampler {
    fn ask(&mut self, trial: u64, history: &History) -> Params {
        let sign = if self.objectives.first().goal == Goal::Max {
            -1.0
        } else {
            1.0
        };
        let (mut observed, pending) = match self.pruning {
            false => self.whole(trial, history),
            true => self.at_level(trial, history),
        };
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
            let x = ndarray::Array1::from(enc.encode(&p));
            let back = enc.decode(x.view());
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
            [f64::NAN, 2.5, f64::INFINITY, 0.5],
        ] {
            let p = enc.decode(ndarray::Array1::from(x.to_vec()).view());
            assert!(s.contains(&p), "{x:?} -> {p:?}");
        }
        // Lists are ordinal by rank; log integers by log10.
        assert!(matches!(&enc.xtypes()[0], XType::Ord(c) if c == &vec![0.0, 1.0, 2.0, 3.0, 4.0]));
        assert!(
            matches!(&enc.xtypes()[2], XType::Float(a, b) if (*a + 4.0).abs() < 1e-12 && (*b + 1.0).abs() < 1e-12)
        );
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
        let a = suggest(&s, &enc, GpSettings::default(), 1, 12, &obs, &[]);
        let b = suggest(&s, &enc, GpSettings::default(), 1, 12, &obs, &[]);
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
        let r = suggest(&s, &enc, GpSettings::default(), 1, 6, &obs, &[]);
        assert!(r.fallback.as_deref().unwrap().contains("constant"));
        assert!(s.contains(&r.params));
        let same = vec![(obs[0].0.clone(), 1.0), (obs[0].0.clone(), 2.0)];
        let r = suggest(&s, &enc, GpSettings::default(), 1, 2, &same, &[]);
        assert!(r.fallback.as_deref().unwrap().contains("distinct"));
        // Failed trials (NaN) count as the worst result, not as missing.
        let mut failed = observed(10);
        failed[3].1 = f64::NAN;
        let r = suggest(&s, &enc, GpSettings::default(), 1, 10, &failed, &[]);
        assert_eq!(r.fallback, None);
    }
}
