//! The search space: named parameters with typed values, lists or ranges (optionally on a log scale).
//! Words follow Optuna's distributions: `low`, `high`, `log`.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::Path;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

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
                // Rounding may give a value twice; a set keeps the first of each in linear time.
                let mut seen = HashSet::with_capacity(n);
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
                    if seen.insert(key(v)) {
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

    /// The grid over every parameter's grid values, or the name of a parameter that has none and why.
    pub fn grid(&self) -> Result<Grid, (String, String)> {
        let mut axes = Vec::with_capacity(self.params.len());
        let mut size = Some(1u64);
        for p in &self.params {
            let values = p.grid_values().map_err(|m| (p.name.clone(), m))?;
            size = size.and_then(|s| s.checked_mul(values.len() as u64));
            axes.push((p.name.clone(), values));
        }
        Ok(Grid { axes, size })
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

impl SearchSpace {
    /// The space `search.space` of the spec in `file` describes, every value checked; `n_train`
    /// training rows bound the batch size.
    pub fn from_spec(
        file: &Path,
        raw: &BTreeMap<String, serde_json::Value>,
        n_train: usize,
    ) -> Result<SearchSpace> {
        for required in ["batch_size", "learning_rate"] {
            if !raw.contains_key(required) {
                return Err(Error::spec(
                    file,
                    format!("search.space.{required}"),
                    "is required",
                ));
            }
        }
        let params = raw
            .iter()
            .map(|(name, v)| Param::from_spec(file, name, v, n_train))
            .collect::<Result<_>>()?;
        Ok(SearchSpace { params })
    }
}

impl Param {
    /// Parameter `name` of the spec's space, from its list of values or its range object.
    fn from_spec(file: &Path, name: &str, v: &serde_json::Value, n_train: usize) -> Result<Param> {
        let path = format!("search.space.{name}");
        let bad = |path: String, msg: String| Error::spec(file, path, msg);
        let Some(&(_, kind, what)) = KNOWN.iter().find(|k| k.0 == name) else {
            let known: Vec<&str> = KNOWN.iter().map(|k| k.0).collect();
            return Err(bad(
                path,
                format!("unknown parameter: use one of {}", known.join(", ")),
            ));
        };
        let number = |v: &serde_json::Value, path: String| -> Result<f64> {
            let x = v
                .as_f64()
                .ok_or_else(|| bad(path.clone(), format!("{v} is not a number")))?;
            if kind == Kind::Int && x.fract() != 0.0 {
                return Err(bad(path, format!("{} is not an integer", num(x))));
            }
            if !value_ok(name, x) {
                return Err(bad(
                    path,
                    format!("{} is not valid: {name} must be {what}", num(x)),
                ));
            }
            match f32_problem(x, name == "momentum") {
                Some(msg) if kind == Kind::Float => Err(bad(path, msg)),
                _ => Ok(x),
            }
        };
        let domain = match v {
            serde_json::Value::Array(xs) => list_domain(file, &path, xs, number)?,
            serde_json::Value::Object(o) => range_domain(file, &path, o, number)?,
            other => {
                return Err(bad(
                    path,
                    format!("{other} is neither a list of values nor an object with low and high"),
                ))
            }
        };
        let p = Param {
            name: name.to_string(),
            kind,
            domain,
        };
        if name == "batch_size" && p.max() > n_train as f64 {
            let at = match &p.domain {
                Domain::List(xs) => format!(
                    "{path}[{}]",
                    xs.iter().position(|&x| x > n_train as f64).unwrap_or(0)
                ),
                Domain::Range { .. } => format!("{path}.high"),
            };
            return Err(bad(
                at,
                format!(
                    "batch size {} is larger than the {n_train} training rows",
                    num(p.max())
                ),
            ));
        }
        Ok(p)
    }
}

/// A list of values, each checked by `number`, none twice.
fn list_domain(
    file: &Path,
    path: &str,
    xs: &[serde_json::Value],
    number: impl Fn(&serde_json::Value, String) -> Result<f64>,
) -> Result<Domain> {
    if xs.is_empty() {
        return Err(Error::spec(file, path, "the list is empty"));
    }
    let mut vals = Vec::with_capacity(xs.len());
    // A set, not a search of the list: a long list is checked in linear time.
    let mut seen = HashSet::with_capacity(xs.len());
    for (i, x) in xs.iter().enumerate() {
        let x = number(x, format!("{path}[{i}]"))?;
        if !seen.insert(key(Value::Float(x))) {
            return Err(Error::spec(
                file,
                format!("{path}[{i}]"),
                format!("{} appears twice", num(x)),
            ));
        }
        vals.push(x);
    }
    Ok(Domain::List(vals))
}

/// A range `{"low", "high", "log", "grid_points"}`, its ends checked by `number`.
fn range_domain(
    file: &Path,
    path: &str,
    o: &serde_json::Map<String, serde_json::Value>,
    number: impl Fn(&serde_json::Value, String) -> Result<f64>,
) -> Result<Domain> {
    let bad = |path: String, msg: String| Error::spec(file, path, msg);
    if let Some(key) = o
        .keys()
        .find(|k| !["low", "high", "log", "grid_points"].contains(&k.as_str()))
    {
        return Err(bad(
            format!("{path}.{key}"),
            "unknown field: use low, high, log or grid_points".into(),
        ));
    }
    let get = |k: &str| {
        o.get(k)
            .ok_or_else(|| bad(format!("{path}.{k}"), "is required".into()))
    };
    let low = number(get("low")?, format!("{path}.low"))?;
    let high = number(get("high")?, format!("{path}.high"))?;
    let log = match o.get("log") {
        None => false,
        Some(serde_json::Value::Bool(b)) => *b,
        Some(other) => {
            return Err(bad(
                format!("{path}.log"),
                format!("{other} is not true or false"),
            ))
        }
    };
    let grid_points = match o.get("grid_points") {
        None => None,
        Some(g) => Some(grid_points(g).map_err(|msg| bad(format!("{path}.grid_points"), msg))?),
    };
    if low > high {
        return Err(bad(
            path.into(),
            format!("low ({}) is above high ({})", num(low), num(high)),
        ));
    }
    if log && low <= 0.0 {
        return Err(bad(
            format!("{path}.low"),
            format!("a log scale needs low above 0, got {}", num(low)),
        ));
    }
    Ok(Domain::Range {
        low,
        high,
        log,
        grid_points,
    })
}

/// A range's `grid_points`: a whole number from 1 to [`MAX_GRID_POINTS`] (1e3 counts as 1000).
fn grid_points(g: &serde_json::Value) -> Result<usize, String> {
    match g.as_f64() {
        Some(n) if n >= 1.0 && n.fract() == 0.0 && n <= MAX_GRID_POINTS as f64 => Ok(n as usize),
        Some(n) if n.fract() == 0.0 && n > MAX_GRID_POINTS as f64 => Err(format!(
            "{} grid points is more than the {MAX_GRID_POINTS} a range may give",
            num(n)
        )),
        _ => Err(format!("{g} is not an integer of at least 1")),
    }
}

/// A key equal for equal values (0 and -0 alike), for sets of values.
fn key(v: Value) -> (bool, u64) {
    match v {
        Value::Int(i) => (false, i as u64),
        Value::Float(x) => (true, (x + 0.0).to_bits()),
    }
}

/// Every combination of the parameters' grid values, enumerated by index rather than built: a
/// study capped at a few trials of a huge grid takes its first points at once.
#[derive(Clone, Debug)]
pub struct Grid {
    /// Each parameter's values, in the space's order.
    axes: Vec<(String, Vec<Value>)>,
    /// The number of points; `None` when it does not fit in a u64.
    size: Option<u64>,
}

impl Grid {
    /// The number of points, or `None` when it is more than a u64 holds.
    pub fn size(&self) -> Option<u64> {
        self.size
    }

    /// Point `i` (0-based, below [`Grid::size`]): the first parameter varies slowest, the last
    /// fastest, as in nested loops.
    pub fn point(&self, mut i: u64) -> Params {
        let mut out = Params::new();
        for (name, values) in self.axes.iter().rev() {
            let n = values.len() as u64;
            out.insert(name.clone(), values[(i % n) as usize]);
            i /= n;
        }
        out
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
        let grid = s.grid().unwrap();
        assert_eq!(grid.size(), Some(10));
        let g: Vec<Params> = (0..10).map(|i| grid.point(i)).collect();
        assert_eq!(g[0]["batch_size"], Value::Int(16));
        assert_eq!(g[1]["learning_rate"], Value::Float(0.01));
        assert_eq!(g[9]["batch_size"], Value::Int(256));
        assert!(g.iter().all(|p| s.contains(p)));
        let mut uniq = g.clone();
        uniq.dedup();
        assert_eq!(uniq.len(), 10);
    }

    /// The old grid, built in full: nested loops with the last parameter innermost.
    fn built(s: &SearchSpace) -> Vec<Params> {
        let mut points = vec![Params::new()];
        for p in &s.params {
            let values = p.grid_values().unwrap();
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
        points
    }

    #[test]
    fn points_by_index_are_the_built_grid_in_order() {
        let s = SearchSpace {
            params: vec![
                Param::range("batch_size", Kind::Int, 1.0, 7.0, false),
                Param::range("hidden_width", Kind::Int, 3.0, 300.0, true).with_grid_points(9),
                Param::list("learning_rate", Kind::Float, &[0.1, 0.01, 0.3]),
                Param::range("momentum", Kind::Float, 0.0, 0.9, false).with_grid_points(4),
            ],
        };
        let all = built(&s);
        let grid = s.grid().unwrap();
        assert_eq!(grid.size(), Some(all.len() as u64));
        for (i, p) in all.iter().enumerate() {
            assert_eq!(&grid.point(i as u64), p, "point {i}");
        }
    }

    #[test]
    fn grid_size_is_a_checked_product() {
        let wide = |name: &str| Param::range(name, Kind::Int, 1.0, 9_999.0, false);
        let s = SearchSpace {
            params: vec![wide("batch_size"), wide("hidden_width")],
        };
        assert_eq!(s.grid().unwrap().size(), Some(9_999 * 9_999));
        // Five lists of 10,000 values: 10^20 points, more than a u64 holds.
        let values: Vec<f64> = (1..=10_000).map(f64::from).collect();
        let s = SearchSpace {
            params: (0..5)
                .map(|i| Param::list(&format!("p{i}"), Kind::Int, &values))
                .collect(),
        };
        let grid = s.grid().unwrap();
        assert_eq!(grid.size(), None);
        assert_eq!(grid.point(0)["p4"], Value::Int(1));
        assert_eq!(grid.point(10_001)["p3"], Value::Int(2));
        assert_eq!(grid.point(10_001)["p4"], Value::Int(2));
    }

    #[test]
    fn rounded_grid_values_keep_the_first_of_each() {
        let p = Param::range("batch_size", Kind::Int, 1.0, 4.0, false).with_grid_points(10);
        assert_eq!(p.grid_values().unwrap(), [1, 2, 3, 4].map(Value::Int));
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
