//! Whole seeded GP studies on small test functions: what a user would see, not how it is computed.

use super::GpSampler;
use crate::objective::{Goal, Metric, MetricKind};
use crate::space::{Kind, Param, Params, SearchSpace, Value};

const METRIC: Metric = Metric {
    kind: MetricKind::ValLoss,
    goal: Goal::Min,
};

/// Runs a GP study of `trials` on `f` and returns every trial's parameters and value.
fn study(
    space: &SearchSpace,
    seed: u64,
    trials: u64,
    f: impl Fn(&Params) -> f64,
) -> Vec<(Params, f64)> {
    let gp = GpSampler::new(space.clone(), seed, 8, METRIC);
    let mut observed: Vec<(Params, f64)> = vec![];
    for t in 0..trials {
        let p = gp.propose(t, &observed, &[]).params;
        let y = f(&p);
        observed.push((p, y));
    }
    observed
}

const LEVELS: [&str; 4] = ["adam", "lion", "rmsprop", "sgd"];
const SHUFFLED: [&str; 4] = ["sgd", "rmsprop", "adam", "lion"];

/// A separable function: a level's offset (unrelated to any order of the labels) plus a bowl.
fn separable(p: &Params) -> f64 {
    let offset = match p["optimizer"] {
        Value::Str("rmsprop") => 0.0,
        Value::Str("sgd") => 0.6,
        Value::Str("adam") => 0.3,
        _ => 0.9,
    };
    let x = p["x"].as_f64();
    let y = p["y"].as_f64();
    offset + (x - 0.3).powi(2) + (y - 0.6).powi(2)
}

fn with_levels(levels: &'static [&'static str]) -> SearchSpace {
    SearchSpace {
        params: vec![
            Param::list("optimizer", Kind::Cat(levels), &[0.0, 1.0, 2.0, 3.0]),
            Param::range("x", Kind::Float, 0.0, 1.0, false),
            Param::range("y", Kind::Float, 0.0, 1.0, false),
        ],
    }
}

#[test]
fn shuffling_a_categoricals_levels_does_not_change_the_level_found_best() {
    for seed in 0..3 {
        let best = |levels| {
            let runs = study(&with_levels(levels), seed, 20, separable);
            let (p, y) = runs
                .iter()
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap()
                .clone();
            (p["optimizer"], y)
        };
        let (a, ya) = best(&LEVELS);
        let (b, yb) = best(&SHUFFLED);
        assert_eq!(a, Value::Str("rmsprop"), "seed {seed}");
        assert_eq!(a, b, "seed {seed}");
        // Levels are numbered by their labels, not by where the spec lists them: the same study.
        assert_eq!(ya, yb, "seed {seed}");
    }
}

/// A 4-dimensional bowl whose minimum, (0.3, 0.6, 0.45, 0.7), is inside the box.
fn bowl(p: &Params) -> f64 {
    let c = [0.3, 0.6, 0.45, 0.7];
    (0..4)
        .map(|i| (p[&format!("x{i}")].as_f64() - c[i]).powi(2))
        .sum()
}

#[test]
fn a_minority_of_suggestions_sit_on_a_bound_when_the_optimum_is_inside() {
    let space = SearchSpace {
        params: (0..4)
            .map(|i| Param::range(&format!("x{i}"), Kind::Float, 0.0, 1.0, false))
            .collect(),
    };
    let (mut at_bound, mut asked) = (0, 0);
    for seed in 0..4 {
        let runs = study(&space, seed, 30, bowl);
        for (p, _) in &runs[8..] {
            asked += 1;
            let on = (0..4).any(|i| {
                let v = p[&format!("x{i}")].as_f64();
                v <= 1e-9 || v >= 1.0 - 1e-9
            });
            at_bound += usize::from(on);
        }
        let best = runs.iter().map(|r| r.1).fold(f64::INFINITY, f64::min);
        assert!(best < 1e-3, "seed {seed}: best {best}");
    }
    // Measured: 10 of 88 (11 %) with the GP's pessimistic prior mean (gp::PRIOR_MEAN); 19 of 88
    // (22 %) with the prior at the values' mean, 24 % without the trust region too; egobox's GP
    // put 23-66 % of the suggestions on a bound on the sampler suite. The line: 15 %.
    let share = at_bound as f64 / asked as f64;
    assert!(
        share <= 0.15,
        "{at_bound} of {asked} suggestions at a bound"
    );
}

#[test]
fn the_bayes_version_a_fingerprint_holds_names_the_gp_of_each_objective_for_two_only() {
    use crate::pareto::{Constraint, Objectives};
    let with = |n: usize, constrained: bool| {
        let mut o = Objectives::single(METRIC, MetricKind::ValLoss);
        for k in 1..n {
            o.list.push(Metric {
                kind: MetricKind::Reported(["a", "b", "c"][k - 1]),
                goal: Goal::Min,
            });
            o.references.push(None);
        }
        if constrained {
            o.constraints.push(Constraint {
                kind: MetricKind::ValLoss,
                min: f64::NEG_INFINITY,
                max: 1.0,
            });
        }
        super::version(&o)
    };
    // The strings the studies begun before this build hold.
    let each = format!("{}, gp-each-warped-ehvi2-pof", super::VERSION);
    assert_eq!(with(1, false), super::VERSION);
    assert_eq!(with(1, true), each);
    assert_eq!(with(2, false), each);
    assert_eq!(with(2, true), each);
    // Three or more objectives stay scalarised (ParEGO), as before.
    assert_eq!(with(3, false), super::VERSION);
    assert_eq!(with(4, true), super::VERSION);
}
