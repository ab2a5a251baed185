//! The search space: named parameters with typed values, lists or ranges (optionally on a log scale).
//! Words follow Optuna's distributions: `low`, `high`, `log`.
//!
//! This file owns parameters, their values and domains, and random draws; `grid` enumerates grids
//! and `spec` reads the space from a study file.

mod grid;
mod spec;
mod when;
pub use spec::Names;
pub use when::When;

pub use grid::Grid;

use std::collections::BTreeMap;
use std::fmt;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Whether a parameter takes integers, floats, or one of a list of strings (its values are
/// indices into the labels).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Int,
    Float,
    Cat(&'static [&'static str]),
}

/// A parameter a trainer accepts, as it declares it (the built-in trainer's:
/// `runner::mlp::params::PARAMS`): the space of a spec is checked against the declaration.
#[derive(Clone, Copy, Debug)]
pub struct ParamDecl {
    pub name: &'static str,
    pub kind: Kind,
    /// What a valid value is, as a message ends: "an integer of at least 1".
    pub what: &'static str,
    /// Whether a finite value is valid (see [`ParamDecl::accepts`]).
    pub valid: fn(f64) -> bool,
    /// Whether a float must stay below 1 in f32, in which training computes (a momentum of 1
    /// makes the optimizer diverge).
    pub below_one: bool,
    /// What it changes: a parameter of the network's shape is the checkpoint's with `init`.
    pub role: Role,
    /// Its value when the space does not tune it.
    pub default: ParamDefault,
    /// Its name where columns are few (the live view): `lr`.
    pub short: &'static str,
}

impl ParamDecl {
    /// Whether `v` is a valid value: finite, and valid for the parameter.
    pub fn accepts(&self, v: f64) -> bool {
        v.is_finite() && (self.valid)(v)
    }
}

/// What a declared parameter changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// How training goes: the batch, the step.
    Training,
    /// The optimizer's settings.
    Optimizer,
    /// The network's shape.
    Shape,
}

/// A declared parameter's value when the space does not tune it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamDefault {
    /// None: the space must tune it.
    Required,
    /// The setting at this path of the spec (`model.weight_decay`).
    Setting(&'static str),
}

/// Why `x`, a valid float, would not be the same kind of number in f32, in which training
/// computes: too large (infinite), too small (0), or, when it must stay `below_one` (a momentum or
/// a beta of 1 makes the optimizer diverge), rounded up to 1.
pub fn f32_problem(x: f64, below_one: bool) -> Option<String> {
    let y = x as f32;
    if y.is_infinite() {
        Some(format!(
            "{} is too large for f32, in which training computes (at most 3.4e38)",
            num(x)
        ))
    } else if y == 0.0 && x != 0.0 {
        Some(format!(
            "{} is too small for f32, in which training computes: it would be 0",
            num(x)
        ))
    } else if below_one && y >= 1.0 {
        Some(format!(
            "{} is 1 in f32, in which training computes: it must stay below 1",
            num(x)
        ))
    } else {
        None
    }
}

/// `x` as messages show it: plain decimals for everyday sizes (0.03, 5000), exponent notation for
/// the very large and the very small, whose plain decimals run to hundreds of digits.
pub fn num(x: f64) -> String {
    if x != 0.0 && x.is_finite() && !(1e-5..1e16).contains(&x.abs()) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// The most values a grid may take from one range (`grid_points`): the values are held in memory.
pub const MAX_GRID_POINTS: usize = 1_000_000;

/// One typed parameter value: JSON's integers, other numbers and strings (a categorical
/// parameter's label, interned).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    Int(i64),
    Float(f64),
    Str(&'static str),
}

impl Value {
    /// The value as a float (exact for the integers we use); NaN for a label.
    pub fn as_f64(self) -> f64 {
        match self {
            Value::Int(i) => i as f64,
            Value::Float(f) => f,
            Value::Str(_) => f64::NAN,
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Value, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or a string")
            }
            fn visit_i64<E>(self, v: i64) -> std::result::Result<Value, E> {
                Ok(Value::Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Value, E> {
                i64::try_from(v)
                    .map(Value::Int)
                    .or(Ok(Value::Float(v as f64)))
            }
            fn visit_f64<E>(self, v: f64) -> std::result::Result<Value, E> {
                Ok(Value::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<Value, E> {
                Ok(Value::Str(crate::intern::intern(v)))
            }
        }
        d.deserialize_any(V)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Str(s) => f.write_str(s),
        }
    }
}

/// A trial's parameters by name.
pub type Params = BTreeMap<String, Value>;

/// The values a parameter may take.
#[derive(Clone, Debug, PartialEq)]
pub enum Domain {
    /// An explicit list, in the order given.
    List(Vec<f64>),
    /// A closed interval, sampled uniformly (in log space when `log`).
    Range {
        low: f64,
        high: f64,
        log: bool,
        /// How many points a grid takes from the range.
        grid_points: Option<usize>,
    },
}

/// One parameter of the space.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: String,
    pub kind: Kind,
    pub domain: Domain,
    /// When it is active (`"when"`): always, when empty. An inactive parameter is absent from a
    /// trial's parameters.
    pub when: When,
}

impl Param {
    /// A parameter taking one of `values`.
    pub fn list(name: &str, kind: Kind, values: &[f64]) -> Param {
        Param {
            name: name.into(),
            kind,
            domain: Domain::List(values.to_vec()),
            when: When::default(),
        }
    }

    /// A parameter over [`low`, `high`], on a log scale when `log`.
    pub fn range(name: &str, kind: Kind, low: f64, high: f64, log: bool) -> Param {
        Param {
            name: name.into(),
            kind,
            domain: Domain::Range {
                low,
                high,
                log,
                grid_points: None,
            },
            when: When::default(),
        }
    }

    /// The same range, taking `n` points in a grid (the tests' grids).
    #[cfg(test)]
    pub(crate) fn with_grid_points(mut self, n: usize) -> Param {
        if let Domain::Range { grid_points, .. } = &mut self.domain {
            *grid_points = Some(n);
        }
        self
    }

    /// `x` as a value of this parameter's kind (integers rounded to the nearest; a label by its
    /// index).
    pub fn value(&self, x: f64) -> Value {
        match self.kind {
            Kind::Int => Value::Int(x.round() as i64),
            Kind::Float => Value::Float(x),
            Kind::Cat(labels) => {
                Value::Str(labels[(x.round().max(0.0) as usize).min(labels.len() - 1)])
            }
        }
    }

    /// `v` as a number of this parameter's domain: itself, or a label's index.
    pub fn number(&self, v: Value) -> f64 {
        match (self.kind, v) {
            (Kind::Cat(labels), Value::Str(s)) => labels
                .iter()
                .position(|l| *l == s)
                .map_or(f64::NAN, |i| i as f64),
            _ => v.as_f64(),
        }
    }

    /// One random draw from the parameter's domain.
    pub fn sample(&self, rng: &mut impl Rng) -> Value {
        match &self.domain {
            Domain::List(xs) => self.value(xs[rng.gen_range(0..xs.len())]),
            Domain::Range { low, high, log, .. } => {
                let (low, high) = (*low, *high);
                if low == high {
                    return self.value(low);
                }
                // Integers: widen by half a unit each side so that the end points are as likely as the rest.
                let (lo, hi) = match self.kind {
                    Kind::Int | Kind::Cat(_) => (low - 0.5, high + 0.5),
                    Kind::Float => (low, high),
                };
                let u: f64 = rng.gen();
                let x = if *log {
                    (lo.ln() + u * (hi.ln() - lo.ln())).exp()
                } else {
                    lo + u * (hi - lo)
                };
                self.value(x.clamp(low, high))
            }
        }
    }

    /// Whether `v` lies in this parameter's domain.
    pub fn contains(&self, v: Value) -> bool {
        let x = self.number(v);
        match &self.domain {
            Domain::List(xs) => xs.iter().any(|&y| self.value(y) == v),
            Domain::Range { low, high, .. } => x >= *low && x <= *high,
        }
    }

    /// The values a pre-flight check tries (`tune check`): a list's values, a range's two ends,
    /// each once, in the order given.
    pub fn ends(&self) -> Vec<Value> {
        let xs = match &self.domain {
            Domain::List(xs) => xs.clone(),
            Domain::Range { low, high, .. } => vec![*low, *high],
        };
        let mut out: Vec<Value> = Vec::with_capacity(xs.len());
        for v in xs.into_iter().map(|x| self.value(x)) {
            if !out.iter().any(|&o| key(o) == key(v)) {
                out.push(v);
            }
        }
        out
    }

    /// The largest value this parameter can take.
    pub fn max(&self) -> f64 {
        match &self.domain {
            Domain::List(xs) => xs.iter().cloned().fold(f64::MIN, f64::max),
            Domain::Range { high, .. } => *high,
        }
    }
}

/// The parameters a study searches over, in a fixed (alphabetical) order.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchSpace {
    pub params: Vec<Param>,
}

impl SearchSpace {
    /// The sorted grid indices of the points of `trials` (an earlier study's) in this space's grid.
    pub fn grid_done(&self, trials: &[(Params, f64)]) -> Vec<u64> {
        let Ok(grid) = self.grid() else {
            return vec![];
        };
        let mut done: Vec<u64> = trials
            .iter()
            .filter_map(|(p, _)| grid.index_of(p))
            .collect();
        done.sort_unstable();
        done.dedup();
        done
    }

    /// Parameter names in column order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.params.iter().map(|p| p.name.as_str())
    }

    /// One random point: its active parameters, each drawn after those its condition names.
    pub fn sample(&self, rng: &mut impl Rng) -> Params {
        let mut out = Params::new();
        for i in self.draw_order() {
            let p = &self.params[i];
            if p.when.holds(&out) {
                out.insert(p.name.clone(), p.sample(rng));
            }
        }
        out
    }

    /// Whether `params` are a point of the space: its active parameters, each in its domain, and
    /// no other.
    pub fn contains(&self, params: &Params) -> bool {
        let active = self.params.iter().filter(|p| p.when.holds(params));
        params.len() == active.clone().count()
            && active
                .into_iter()
                .all(|p| params.get(&p.name).is_some_and(|v| p.contains(*v)))
    }
}

/// A key equal for equal values (0 and -0 alike; labels are interned, one address each), for
/// sets of values.
fn key(v: Value) -> (u8, u64) {
    match v {
        Value::Int(i) => (0, i as u64),
        Value::Float(x) => (1, (x + 0.0).to_bits()),
        Value::Str(s) => (2, s.as_ptr() as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    pub(super) fn space() -> SearchSpace {
        SearchSpace {
            params: vec![
                Param::range("batch_size", Kind::Int, 16.0, 256.0, true).with_grid_points(5),
                Param::range("learning_rate", Kind::Float, 1e-4, 1e-1, true),
            ],
        }
    }

    #[test]
    fn samples_stay_inside_and_reach_both_ends() {
        let s = space();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..5_000 {
            let p = s.sample(&mut rng);
            assert!(s.contains(&p), "{p:?}");
            if let Value::Int(b) = p["batch_size"] {
                seen.insert(b);
            }
        }
        assert!(seen.contains(&16) && seen.contains(&256), "{seen:?}");
    }

    #[test]
    fn ends_are_a_lists_values_or_a_ranges_ends_once() {
        let s = space();
        assert_eq!(s.params[0].ends(), [16, 256].map(Value::Int));
        assert_eq!(s.params[1].ends(), [1e-4, 1e-1].map(Value::Float));
        let p = Param::list("hidden_width", Kind::Int, &[8.0, 8.2, 4.0, 8.0]);
        assert_eq!(p.ends(), [8, 4].map(Value::Int));
        let p = Param::range("momentum", Kind::Float, 0.5, 0.5, false);
        assert_eq!(p.ends(), [Value::Float(0.5)]);
    }

    #[test]
    fn f32_problems() {
        assert_eq!(f32_problem(0.0, false), None);
        assert_eq!(f32_problem(1e-3, true), None);
        assert!(f32_problem(1e39, false).unwrap().contains("too large"));
        assert!(f32_problem(1e-50, false).unwrap().contains("too small"));
        assert!(f32_problem(0.999_999_999, true)
            .unwrap()
            .contains("below 1"));
        assert_eq!(f32_problem(0.999_999_999, false), None);
    }
}
