//! Bayesian search with two objectives, or with constraints: a GP per objective and per
//! constrained metric (each fitted as the single objective's is: standardised, the objectives'
//! prior mean pessimistic, the constraints' at their mean; the objectives warped first, see
//! `warp.rs`), the criterion of `ehvi.rs`, searched
//! over the whole box (the trust region follows one best point; a front has many). Running trials
//! are "Kriging believers": each GP takes them at its own prediction, which removes their
//! uncertainty, and the front takes their predicted objectives, so that parallel suggestions
//! spread out. Anything these GPs cannot model (an objective constant so far, a failed fit) is
//! left to the scalarised search (`None`).

use super::acquire::{self, Criterion};
use super::ehvi::{Bound, Constrained, Objective};
use super::model::{Gp, Inputs};
use super::{fit_gp, region, standardise, warp, Encoding, GpSettings, Suggestion, PRIOR_MEAN};
use crate::seed::{self, Purpose};
use crate::space::{Params, SearchSpace};

/// A trial the GPs learn from, at its selected checkpoint.
pub struct Seen {
    pub params: Params,
    /// Each objective's value, to minimise (NaN: none; all NaN for a failed trial).
    pub values: Vec<f64>,
    /// Each constrained metric's value (NaN: none).
    pub bounded: Vec<f64>,
    pub feasible: bool,
}

/// A GP of one metric: its model, and how its values were standardised.
struct Fitted {
    gp: Gp,
    mean: f64,
    sd: f64,
    /// Subtracted from the standardised values (the prior's pessimism).
    shift: f64,
}

impl Fitted {
    fn unit(&self, v: f64) -> f64 {
        (v - self.mean) / self.sd - self.shift
    }
}

/// Fits a GP to the `values` of `x` (NaN rows left out), then adds `pending` at its own
/// predictions. `None` when fewer than two distinct values or the fit fails.
fn fit(
    x: &[Vec<f64>],
    values: &[f64],
    pending: &[Vec<f64>],
    categorical: &[bool],
    shift: f64,
    iterations: usize,
) -> Option<Fitted> {
    let keep: Vec<usize> = (0..x.len()).filter(|&i| values[i].is_finite()).collect();
    let v: Vec<f64> = keep.iter().map(|&i| values[i]).collect();
    let (lo, hi) = v
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &y| {
            (a.min(y), b.max(y))
        });
    if keep.len() < 2 || lo == hi {
        return None;
    }
    let (y, mean, sd) = standardise(&v, shift);
    let rows: Vec<Vec<f64>> = keep.iter().map(|&i| x[i].clone()).collect();
    let (gp, raw) = fit_gp(rows.clone(), &y, categorical, iterations)?;
    let gp = if pending.is_empty() {
        gp
    } else {
        let mut all = rows;
        let mut ys = y;
        for p in pending {
            ys.push(gp.posterior(p, None).0);
            all.push(p.clone());
        }
        let inputs = Inputs {
            rows: all,
            categorical: categorical.to_vec(),
        };
        Gp::new(inputs, &ys, &raw)?
    };
    Some(Fitted {
        gp,
        mean,
        sd,
        shift,
    })
}

/// The non-dominated points of `points` below `reference`, sorted by the first coordinate.
fn front(mut points: Vec<(f64, f64)>, reference: (f64, f64)) -> Vec<(f64, f64)> {
    points.retain(|p| p.0 < reference.0 && p.1 < reference.1);
    points.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut out: Vec<(f64, f64)> = vec![];
    for p in points {
        if out.last().is_none_or(|l| p.1 < l.1) {
            out.push(p);
        }
    }
    out
}

/// Optuna's reference point for the acquisition: each objective's worst feasible value moved
/// out by a tenth of its size (never onto it).
fn reference(worst: f64) -> f64 {
    let r = (1.1 * worst).max(0.9 * worst);
    if r == worst {
        worst + 1e-9
    } else {
        r
    }
}

/// What the objectives' GPs contribute to the criterion, given each objective's (warped) `values`
/// of the trials kept (those in `feasible` on the front) and the running trials' points `waiting`.
fn objective<'a>(
    objectives: &'a [Fitted],
    values: &[Vec<f64>],
    feasible: &[usize],
    waiting: &[Vec<f64>],
) -> Objective<'a> {
    if feasible.is_empty() {
        Objective::None
    } else if objectives.len() == 1 {
        let best = feasible
            .iter()
            .map(|&i| objectives[0].unit(values[0][i]))
            .fold(f64::INFINITY, f64::min);
        Objective::Ei(acquire::LogEi {
            gp: &objectives[0].gp,
            best,
        })
    } else {
        let unit = |i: usize, k: usize| objectives[k].unit(values[k][i]);
        let worst = |k: usize| {
            let w = feasible
                .iter()
                .map(|&i| unit(i, k) + PRIOR_MEAN)
                .fold(f64::NEG_INFINITY, f64::max);
            reference(w) - PRIOR_MEAN
        };
        let r = (worst(0), worst(1));
        let mut points: Vec<(f64, f64)> =
            feasible.iter().map(|&i| (unit(i, 0), unit(i, 1))).collect();
        // The running trials' predicted objectives join the front (believed, as by the GPs).
        points.extend(waiting.iter().map(|p| {
            (
                objectives[0].gp.posterior(p, None).0,
                objectives[1].gp.posterior(p, None).0,
            )
        }));
        Objective::Ehvi {
            gps: [&objectives[0].gp, &objectives[1].gp],
            front: front(points, r),
            reference: r,
        }
    }
}

/// The coded points of `seen` and `pending`, each once (the first of any repeats), with the
/// trials kept.
#[allow(clippy::type_complexity)]
fn distinct<'s>(
    enc: &Encoding,
    seen: &'s [Seen],
    pending: &[Params],
) -> (Vec<Vec<f64>>, Vec<&'s Seen>, Vec<Vec<f64>>) {
    let mut x: Vec<Vec<f64>> = vec![];
    let mut kept: Vec<&Seen> = vec![];
    for s in seen {
        let code = enc.encode(&s.params);
        if !x.contains(&code) {
            x.push(code);
            kept.push(s);
        }
    }
    let mut waiting: Vec<Vec<f64>> = vec![];
    for p in pending {
        let code = enc.encode(p);
        if !x.contains(&code) && !waiting.contains(&code) {
            waiting.push(code);
        }
    }
    (x, kept, waiting)
}

/// Trial `trial`'s point from `seen` (in trial order) and `pending`, for one or two objectives
/// and the constraints `limits` (each metric's [min, max]). `None`: these GPs cannot model the
/// history; the caller searches the scalarised objective instead.
#[allow(clippy::too_many_arguments)]
pub fn suggest(
    space: &SearchSpace,
    enc: &Encoding,
    settings: GpSettings,
    seed: u64,
    trial: u64,
    seen: &[Seen],
    pending: &[Params],
    limits: &[(f64, f64)],
) -> Option<Suggestion> {
    let m = seen.first()?.values.len();
    let (x, kept, waiting) = distinct(enc, seen, pending);
    let categorical: Vec<bool> = enc.codes.iter().map(|c| c.categorical()).collect();
    let iterations = settings.fit_iterations;
    // A failed trial counts as the worst of each objective, as with one; then each objective is
    // warped (`warp.rs`).
    let values: Vec<Vec<f64>> = (0..m)
        .map(|k| {
            let worst = kept
                .iter()
                .map(|s| s.values[k])
                .filter(|v| v.is_finite())
                .fold(f64::NEG_INFINITY, f64::max);
            let filled: Vec<f64> = kept
                .iter()
                .map(|s| match s.values[k].is_finite() {
                    true => s.values[k],
                    false => worst,
                })
                .collect();
            warp::power(&filled)
        })
        .collect();
    let mut objectives = vec![];
    for ys in &values {
        objectives.push(fit(&x, ys, &waiting, &categorical, PRIOR_MEAN, iterations)?);
    }
    // Each constrained metric warped as the objectives are, its bounds with it.
    let mut bounds = vec![];
    for (j, &(lo, hi)) in limits.iter().enumerate() {
        let raw: Vec<f64> = kept.iter().map(|s| s.bounded[j]).collect();
        let w = warp::Warp::fit(&raw);
        let ys: Vec<f64> = raw
            .iter()
            .map(|&v| if v.is_finite() { w.apply(v) } else { v })
            .collect();
        // A metric constant so far (or never reported) tells nothing about where it holds.
        if let Some(f) = fit(&x, &ys, &waiting, &categorical, 0.0, iterations) {
            bounds.push((f, w.apply(lo), w.apply(hi)));
        }
    }
    let feasible: Vec<usize> = (0..kept.len())
        .filter(|&i| kept[i].feasible && kept[i].values.iter().all(|v| v.is_finite()))
        .collect();
    if feasible.is_empty() && bounds.is_empty() {
        return None;
    }
    let objective = objective(&objectives, &values, &feasible, &waiting);
    let d = enc.codes.len();
    let mut scales = vec![0.0; d];
    for f in &objectives {
        for (s, l) in scales.iter_mut().zip(f.gp.length_scales()) {
            *s += l / m as f64;
        }
    }
    let acq = Constrained {
        objective,
        bounds: bounds
            .iter()
            .map(|(f, lo, hi)| Bound {
                gp: &f.gp,
                lo: f.unit(*lo),
                hi: f.unit(*hi),
            })
            .collect(),
        scales,
    };
    // The searches start from the best point tried by the criterion itself (on the front, or the
    // likeliest feasible).
    let start = x
        .iter()
        .max_by(|a, b| acq.value(a, None).total_cmp(&acq.value(b, None)))?
        .clone();
    let taken = |c: &[f64]| {
        let code = enc.encode(&space.prune(enc.decode(c)));
        x.contains(&code) || waiting.contains(&code)
    };
    let effort = acquire::Effort {
        candidates: settings.candidates,
        searches: settings.searches,
    };
    let mut rng = seed::rng(seed, Purpose::Sample, trial, 1);
    let whole = region::Region::whole(d);
    let next = acquire::maximise(&acq, &enc.codes, &whole, &start, effort, &taken, &mut rng);
    Some(match next {
        Some(next) => Suggestion {
            params: enc.decode(&next),
            fallback: None,
        },
        None => Suggestion {
            params: space.sample(&mut seed::rng(seed, Purpose::Sample, trial, 0)),
            fallback: Some("every point the GP considered was already tried or running".into()),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::{Kind, Param};

    fn square() -> SearchSpace {
        SearchSpace {
            params: vec![
                Param::range("x", Kind::Float, 0.0, 1.0, false),
                Param::range("y", Kind::Float, 0.0, 1.0, false),
            ],
        }
    }

    /// A seeded study of `trials` (8 from the start design) on `f`, which gives each point its
    /// objectives, its constrained metrics and whether they hold.
    fn study(
        seed: u64,
        trials: u64,
        limits: &[(f64, f64)],
        f: impl Fn(f64, f64) -> Seen,
    ) -> Vec<Seen> {
        let space = square();
        let enc = Encoding::new(&space);
        let design = enc.start_design(seed, 8);
        let mut seen: Vec<Seen> = vec![];
        for t in 0..trials {
            let p = match design.get(t as usize) {
                Some(p) => p.clone(),
                None => {
                    let s = suggest(
                        &space,
                        &enc,
                        GpSettings::default(),
                        seed,
                        t,
                        &seen,
                        &[],
                        limits,
                    )
                    .expect("the GPs model it");
                    assert_eq!(s.fallback, None);
                    s.params
                }
            };
            seen.push(f(p["x"].as_f64(), p["y"].as_f64()));
        }
        seen
    }

    fn point(x: f64, y: f64, values: Vec<f64>, bounded: Vec<f64>, limits: &[(f64, f64)]) -> Seen {
        let mut params = Params::new();
        params.insert("x".into(), crate::space::Value::Float(x));
        params.insert("y".into(), crate::space::Value::Float(y));
        let feasible = bounded
            .iter()
            .zip(limits)
            .all(|(v, (lo, hi))| lo <= v && v <= hi);
        Seen {
            params,
            values,
            bounded,
            feasible,
        }
    }

    #[test]
    fn a_constrained_gp_suggests_where_the_constraint_holds_and_finds_the_constrained_best() {
        // The bowl's bottom (0.8, 0.8) breaks x + y <= 1; the best feasible point is (0.5, 0.5),
        // at 0.18.
        let limits = [(f64::NEG_INFINITY, 1.0)];
        for seed in 0..3 {
            let runs = study(seed, 30, &limits, |x, y| {
                let f = (x - 0.8).powi(2) + (y - 0.8).powi(2);
                point(x, y, vec![f], vec![x + y], &limits)
            });
            let asked = &runs[8..];
            // The best is on the constraint's edge: the suggestions close in on it from inside,
            // never toward the bowl's bottom (g = 1.6) behind it.
            let near = asked.iter().filter(|s| s.bounded[0] <= 1.01).count();
            assert!(
                near * 10 >= asked.len() * 9,
                "seed {seed}: {near} of {}",
                asked.len()
            );
            let best = runs
                .iter()
                .filter(|s| s.feasible)
                .map(|s| s.values[0])
                .fold(f64::INFINITY, f64::min);
            assert!(best < 0.18 + 0.005, "seed {seed}: {best}");
        }
    }

    #[test]
    fn two_objectives_approach_their_front_from_both_ends() {
        // f1 = x, f2 = 1 - sqrt(x) + y: the front is y = 0, the hypervolume against (1, 2) at most
        // 2 - 1/3 - … = 1 + 2/3 = 1.667 (the area under 1 - sqrt(x) subtracted from 2 × 1).
        for seed in 0..3 {
            let runs = study(seed, 24, &[], |x, y| {
                point(x, y, vec![x, 1.0 - x.sqrt() + y], vec![], &[])
            });
            let pts: Vec<Vec<f64>> = runs.iter().map(|s| s.values.clone()).collect();
            let area = crate::pareto::hypervolume(&pts, &[1.0, 2.0]);
            assert!(area > 1.6, "seed {seed}: {area}");
        }
    }

    #[test]
    fn the_front_keeps_the_non_dominated_points_below_the_reference_in_order() {
        let pts = vec![
            (0.5, 0.5),
            (0.2, 0.9),
            (0.6, 0.6),
            (0.9, 0.1),
            (0.1, 3.0),
            (0.2, 0.8),
        ];
        assert_eq!(
            front(pts, (1.0, 1.0)),
            vec![(0.2, 0.8), (0.5, 0.5), (0.9, 0.1)]
        );
        assert_eq!(reference(2.0), 2.2);
        assert_eq!(reference(-2.0), -1.8);
        assert!(reference(0.0) > 0.0);
    }
}
