//! The search space: named parameters with typed values, lists or ranges (optionally on a log scale).
//! Words follow Optuna's distributions: `low`, `high`, `log`.

use std::collections::BTreeMap;
use std::fmt;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Whether a parameter takes integers or floats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Int,
    Float,
}

/// The parameters a trial can tune, with their kind and what a valid value is.
pub const KNOWN: &[(&str, Kind, &str)] = &[
    ("batch_size", Kind::Int, "an integer of at least 1"),
    ("learning_rate", Kind::Float, "a number above 0"),
    ("weight_decay", Kind::Float, "a number of at least 0"),
    ("momentum", Kind::Float, "a number in [0, 1)"),
    ("hidden_width", Kind::Int, "an integer of at least 1"),
];

/// Whether `v` is valid for parameter `name` (one of [`KNOWN`]).
pub fn value_ok(name: &str, v: f64) -> bool {
    v.is_finite()
        && match name {
            "batch_size" | "hidden_width" => v >= 1.0,
            "learning_rate" => v > 0.0,
            "weight_decay" => v >= 0.0,
            "momentum" => (0.0..1.0).contains(&v),
            _ => false,
        }
}

/// One typed parameter value.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Int(i64),
    Float(f64),
}

impl Value {
    /// The value as a float (exact for the integers we use).
    pub fn as_f64(self) -> f64 {
        match self {
            Value::Int(i) => i as f64,
            Value::Float(f) => f,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
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
}

impl Param {
    /// A parameter taking one of `values`.
    pub fn list(name: &str, kind: Kind, values: &[f64]) -> Param {
        Param {
            name: name.into(),
            kind,
            domain: Domain::List(values.to_vec()),
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
        }
    }

    /// The same range, taking `n` points in a grid.
    pub fn with_grid_points(mut self, n: usize) -> Param {
        if let Domain::Range { grid_points, .. } = &mut self.domain {
            *grid_points = Some(n);
        }
        self
    }

    fn value(&self, x: f64) -> Value {
        match self.kind {
            Kind::Int => Value::Int(x.round() as i64),
            Kind::Float => Value::Float(x),
        }
    }

    /// The grid points of this parameter, or why it has none.
    pub fn grid_values(&self) -> Result<Vec<Value>, String> {
        match &self.domain {
            Domain::List(xs) => Ok(xs.iter().map(|&x| self.value(x)).collect()),
            Domain::Range {
                low,
                high,
                log,
                grid_points,
            } => {
                let (low, high) = (*low, *high);
                let n = match (grid_points, self.kind) {
                    (Some(n), _) => *n,
                    (None, Kind::Int) if high - low < 10_000.0 => (high - low) as usize + 1,
                    (None, Kind::Int) => {
                        return Err("has too many integers for a grid: give grid_points".into())
                    }
                    (None, Kind::Float) => {
                        return Err(
                            "is a float range: a grid needs grid_points (or give a list)".into(),
                        )
                    }
                };
                let mut out: Vec<Value> = Vec::with_capacity(n);
                for i in 0..n {
                    let t = if n == 1 {
                        0.0
                    } else {
                        i as f64 / (n - 1) as f64
                    };
                    let x = if *log {
                        (low.ln() + t * (high.ln() - low.ln())).exp()
                    } else {
                        low + t * (high - low)
                    };
                    let v = self.value(x.clamp(low, high));
                    if !out.contains(&v) {
                        out.push(v);
                    }
                }
                Ok(out)
            }
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
                    Kind::Int => (low - 0.5, high + 0.5),
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
        let x = v.as_f64();
        match &self.domain {
            Domain::List(xs) => xs.iter().any(|&y| self.value(y) == v),
            Domain::Range { low, high, .. } => x >= *low && x <= *high,
        }
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
    /// Parameter names in column order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.params.iter().map(|p| p.name.as_str())
    }

    /// Every point of the grid, the last parameter varying fastest.
    pub fn grid(&self) -> Result<Vec<Params>, (String, String)> {
        let mut points = vec![Params::new()];
        for p in &self.params {
            let values = p.grid_values().map_err(|m| (p.name.clone(), m))?;
            points = points
                .into_iter()
                .flat_map(|base| {
                    values.iter().map(move |v| {
                        let mut next = base.clone();
                        next.insert(p.name.clone(), *v);
                        next
                    })
                })
                .collect();
        }
        Ok(points)
    }

    /// One random point.
    pub fn sample(&self, rng: &mut impl Rng) -> Params {
        self.params
            .iter()
            .map(|p| (p.name.clone(), p.sample(rng)))
            .collect()
    }

    /// Whether every parameter of `params` lies in the space.
    pub fn contains(&self, params: &Params) -> bool {
        params.len() == self.params.len()
            && self
                .params
                .iter()
                .all(|p| params.get(&p.name).is_some_and(|v| p.contains(*v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn space() -> SearchSpace {
        SearchSpace {
            params: vec![
                Param::range("batch_size", Kind::Int, 16.0, 256.0, true).with_grid_points(5),
                Param::range("learning_rate", Kind::Float, 1e-4, 1e-1, true),
            ],
        }
    }

    #[test]
    fn log_int_grid_hits_powers_of_two() {
        let v = space().params[0].grid_values().unwrap();
        assert_eq!(v, [16, 32, 64, 128, 256].map(Value::Int));
    }

    #[test]
    fn float_range_in_a_grid_needs_grid_points() {
        let err = space().grid().unwrap_err();
        assert_eq!(err.0, "learning_rate");
        assert!(err.1.contains("grid_points"), "{}", err.1);
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
    fn grid_is_the_cartesian_product() {
        let mut s = space();
        s.params[1].domain = Domain::List(vec![0.1, 0.01]);
        let g = s.grid().unwrap();
        assert_eq!(g.len(), 10);
        assert_eq!(g[0]["batch_size"], Value::Int(16));
        assert_eq!(g[1]["learning_rate"], Value::Float(0.01));
        assert!(g.iter().all(|p| s.contains(p)));
    }
}
