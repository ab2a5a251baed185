//! Reading the search space from a study file: each parameter's list or range, every value
//! checked where the file gives it, errors naming the JSON path.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use super::{f32_problem, key, num, Domain, Kind, Param, SearchSpace, Value};
use super::{ParamDecl, ParamDefault, MAX_GRID_POINTS};
use crate::error::{Error, Result};

/// Which parameters a space may name.
#[derive(Clone, Copy, Debug)]
pub enum Names {
    /// Those a trainer declares (the built-in trainer's), with the training rows that bound the
    /// batch size.
    Declared {
        params: &'static [ParamDecl],
        n_train: usize,
    },
    /// Any: a user's program reads them. Lists of strings are categorical; a list or a range
    /// written in JSON integers takes integers, otherwise floats.
    Any,
}

impl SearchSpace {
    /// The space `search.space` of the spec in `file` describes, every value checked.
    pub fn from_spec(
        file: &Path,
        raw: &BTreeMap<String, serde_json::Value>,
        names: Names,
    ) -> Result<SearchSpace> {
        match names {
            Names::Any if raw.is_empty() => {
                return Err(Error::spec(file, "search.space", "names no parameter"));
            }
            Names::Any => {}
            Names::Declared { params: decls, .. } => {
                let required = decls.iter().filter(|d| d.default == ParamDefault::Required);
                for required in required.map(|d| d.name) {
                    if !raw.contains_key(required) {
                        return Err(Error::spec(
                            file,
                            format!("search.space.{required}"),
                            "is required",
                        ));
                    }
                }
            }
        }
        let params = raw
            .iter()
            .map(|(name, v)| {
                let (v, path, when) = super::when::split(file, &format!("search.space.{name}"), v)?;
                let param = match names {
                    Names::Any => Param::any_from_spec(file, name, &path, &v)?,
                    Names::Declared { params: decls, n_train } => {
                        let required = decls
                            .iter()
                            .any(|d| d.name == name && d.default == ParamDefault::Required);
                        if required && !when.always() {
                            return Err(Error::spec(
                                file,
                                format!("search.space.{name}.when"),
                                format!(
                                    "{name} is required by the built-in trainer: it cannot be conditional"
                                ),
                            ));
                        }
                        Param::from_spec(file, name, &path, &v, (decls, n_train))?
                    }
                };
                Ok(Param { when, ..param })
            })
            .collect::<Result<_>>()?;
        let space = SearchSpace { params };
        space.check_conditions(file)?;
        Ok(space)
    }
}

impl Param {
    /// Parameter `name` of the spec's space, from its list of values or its range object, checked
    /// against its declaration among `decls`; a batch size at most the `n_train` training rows.
    fn from_spec(
        file: &Path,
        name: &str,
        path: &str,
        v: &serde_json::Value,
        (decls, n_train): (&[ParamDecl], usize),
    ) -> Result<Param> {
        let path = path.to_string();
        let bad = |path: String, msg: String| Error::spec(file, path, msg);
        let Some(decl) = decls.iter().find(|d| d.name == name) else {
            let known: Vec<&str> = decls.iter().map(|d| d.name).collect();
            return Err(bad(
                path,
                format!("unknown parameter: use one of {}", known.join(", ")),
            ));
        };
        let kind = decl.kind;
        if let Kind::Cat(labels) = kind {
            let domain = label_domain(file, &path, v, (decl, labels))?;
            return Ok(Param {
                name: name.to_string(),
                kind,
                domain,
                when: super::When::default(),
            });
        }
        let number = |v: &serde_json::Value, path: String| -> Result<f64> {
            let x = v
                .as_f64()
                .ok_or_else(|| bad(path.clone(), format!("{v} is not a number")))?;
            if kind == Kind::Int && x.fract() != 0.0 {
                return Err(bad(path, format!("{} is not an integer", num(x))));
            }
            if !decl.accepts(x) {
                return Err(bad(
                    path,
                    format!("{} is not valid: {name} must be {}", num(x), decl.what),
                ));
            }
            match f32_problem(x, decl.below_one) {
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
            when: super::When::default(),
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

impl Param {
    /// Parameter `name` of a space with any names: its kind from what the spec writes.
    fn any_from_spec(file: &Path, name: &str, path: &str, v: &serde_json::Value) -> Result<Param> {
        use serde_json::Value as J;
        let path = path.to_string();
        let bad = |path: String, msg: String| Error::spec(file, path, msg);
        if name.is_empty() {
            return Err(bad(path, "a parameter needs a name".into()));
        }
        let integer = |v: &J| v.is_i64() || v.is_u64();
        let finite = |v: &J, path: String| -> Result<f64> {
            match v.as_f64() {
                Some(x) if x.is_finite() => Ok(x),
                _ => Err(bad(path, format!("{v} is not a number"))),
            }
        };
        match v {
            J::Array(xs) if !xs.is_empty() && xs.iter().all(J::is_string) => {
                let mut labels: Vec<&'static str> = Vec::with_capacity(xs.len());
                for (i, x) in xs.iter().enumerate() {
                    let l = crate::intern::intern(x.as_str().expect("a string"));
                    if labels.contains(&l) {
                        return Err(bad(
                            format!("{path}[{i}]"),
                            format!("\"{l}\" appears twice"),
                        ));
                    }
                    labels.push(l);
                }
                let indices: Vec<f64> = (0..labels.len()).map(|i| i as f64).collect();
                let labels: &'static [&'static str] = Box::leak(labels.into_boxed_slice());
                Ok(Param::list(name, Kind::Cat(labels), &indices))
            }
            J::Array(xs) => {
                if xs.first().is_some_and(J::is_string) {
                    let i = xs.iter().position(|x| !x.is_string()).unwrap_or(0);
                    return Err(bad(
                        format!("{path}[{i}]"),
                        format!(
                            "{} is not a string: a categorical parameter lists strings only",
                            xs[i]
                        ),
                    ));
                }
                if let Some(i) = xs.iter().position(J::is_string) {
                    return Err(bad(
                        format!("{path}[{i}]"),
                        format!("{} is a string in a list of numbers", xs[i]),
                    ));
                }
                let kind = if xs.iter().all(integer) {
                    Kind::Int
                } else {
                    Kind::Float
                };
                let domain = list_domain(file, &path, xs, |v, p| finite(v, p))?;
                Ok(Param {
                    name: name.into(),
                    kind,
                    domain,
                    when: super::When::default(),
                })
            }
            J::Object(o) => {
                let ints = ["low", "high"]
                    .iter()
                    .all(|k| o.get(*k).is_none_or(integer));
                let kind = if ints { Kind::Int } else { Kind::Float };
                let domain = range_domain(file, &path, o, |v, p| finite(v, p))?;
                Ok(Param {
                    name: name.into(),
                    kind,
                    domain,
                    when: super::When::default(),
                })
            }
            other => Err(bad(
                path,
                format!("{other} is neither a list of values nor an object with low and high"),
            )),
        }
    }
}

/// A declared categorical parameter's list of labels, each one of `labels` (the declaration's),
/// none twice: their indices among `labels`, in the order given.
fn label_domain(
    file: &Path,
    path: &str,
    v: &serde_json::Value,
    (decl, labels): (&ParamDecl, &[&str]),
) -> Result<Domain> {
    let bad = |path: String, msg: String| Error::spec(file, path, msg);
    let serde_json::Value::Array(xs) = v else {
        return Err(bad(
            path.into(),
            format!(
                "{v} is not a list of strings: {} takes {}",
                decl.name, decl.what
            ),
        ));
    };
    if xs.is_empty() {
        return Err(Error::spec(file, path, "the list is empty"));
    }
    let mut indices: Vec<f64> = Vec::with_capacity(xs.len());
    for (i, x) in xs.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let Some(l) = x.as_str().and_then(|s| labels.iter().position(|l| *l == s)) else {
            return Err(bad(
                at,
                format!("{x} is not valid: {} must be {}", decl.name, decl.what),
            ));
        };
        if indices.contains(&(l as f64)) {
            return Err(bad(at, format!("{x} appears twice")));
        }
        indices.push(l as f64);
    }
    Ok(Domain::List(indices))
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
            "unknown field: use low, high, log, grid_points, values or when".into(),
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
