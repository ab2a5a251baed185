//! Conditional parameters: `"when": {"optimizer": "sgd"}` makes a parameter active only while
//! another, categorical, parameter takes one of the given labels (a label or a list of them; with
//! several names, all must hold). An inactive parameter is absent from a trial's parameters.
//! Conditions may chain (`nesterov` when `momentum_kind`, itself when `optimizer`), never loop.
//!
//! This file reads conditions, checks them against the space, and answers which parameters are
//! active and in which order they are drawn (those a condition names first).

use std::collections::BTreeMap;
use std::path::Path;

use super::{Kind, Param, Params, SearchSpace, Value};
use crate::error::{Error, Result};

/// When a parameter is active: each named parameter takes one of its labels. Always, when empty.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct When(pub Vec<(String, Vec<&'static str>)>);

impl When {
    /// Whether the parameter is always active.
    pub fn always(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether it holds where the parameters' values are `value` (`None`: absent, inactive).
    pub fn holds_with(&self, value: impl Fn(&str) -> Option<Value>) -> bool {
        self.0.iter().all(|(name, labels)| match value(name) {
            Some(Value::Str(s)) => labels.contains(&s),
            _ => false,
        })
    }

    /// Whether it holds for `params`.
    pub fn holds(&self, params: &Params) -> bool {
        self.holds_with(|n| params.get(n).copied())
    }

    /// The parameters it names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(n, _)| n.as_str())
    }
}

/// A parameter's spec `v` at `path` split into what gives its values (a list, a range, or an
/// object's `values`) and its condition, read but not yet checked against the space.
pub(super) fn split(
    file: &Path,
    path: &str,
    v: &serde_json::Value,
) -> Result<(serde_json::Value, String, When)> {
    use serde_json::Value as J;
    let bad = |at: String, msg: String| Error::spec(file, at, msg);
    let J::Object(o) = v else {
        return Ok((v.clone(), path.to_string(), When::default()));
    };
    let when = match o.get("when") {
        None => When::default(),
        Some(J::Object(w)) if !w.is_empty() => {
            let mut out = Vec::with_capacity(w.len());
            for (name, labels) in w {
                let at = format!("{path}.when.{name}");
                let labels: Vec<&'static str> = match labels {
                    J::String(s) => vec![crate::intern::intern(s)],
                    J::Array(xs) if !xs.is_empty() && xs.iter().all(J::is_string) => xs
                        .iter()
                        .map(|x| crate::intern::intern(x.as_str().expect("a string")))
                        .collect(),
                    other => {
                        return Err(bad(
                            at,
                            format!("{other} is neither a label nor a list of labels"),
                        ))
                    }
                };
                out.push((name.clone(), labels));
            }
            When(out)
        }
        Some(other) => {
            return Err(bad(
                format!("{path}.when"),
                format!("{other} is not an object naming a categorical parameter and its labels"),
            ))
        }
    };
    let mut rest = o.clone();
    rest.remove("when");
    if let Some(values) = rest.remove("values") {
        if let Some(key) = rest.keys().next() {
            return Err(bad(
                format!("{path}.{key}"),
                "cannot go with values: give values or a range (low, high), not both".into(),
            ));
        }
        return Ok((values, format!("{path}.values"), when));
    }
    Ok((J::Object(rest), path.to_string(), when))
}

impl SearchSpace {
    /// The order in which parameters are drawn: each after those its condition names, otherwise
    /// in the space's order (the space's order itself when nothing is conditional).
    pub fn draw_order(&self) -> Vec<usize> {
        let index: BTreeMap<&str, usize> = self.names().zip(0..).collect();
        let mut placed = vec![false; self.params.len()];
        let mut order = Vec::with_capacity(self.params.len());
        while order.len() < self.params.len() {
            let ready = (0..self.params.len()).find(|&i| {
                !placed[i]
                    && self.params[i]
                        .when
                        .names()
                        .all(|n| index.get(n).is_none_or(|&j| placed[j]))
            });
            // A loop (which reading the space refuses) is drawn in the space's order.
            let i = ready.unwrap_or_else(|| placed.iter().position(|p| !p).expect("one left"));
            placed[i] = true;
            order.push(i);
        }
        order
    }

    /// Whether any parameter is conditional.
    pub fn conditional(&self) -> bool {
        self.params.iter().any(|p| !p.when.always())
    }

    /// The indices of the parameters some condition names, in draw order.
    pub fn parents(&self) -> Vec<usize> {
        let named = |p: &Param| {
            self.params
                .iter()
                .any(|q| q.when.names().any(|n| n == p.name))
        };
        self.draw_order()
            .into_iter()
            .filter(|&i| named(&self.params[i]))
            .collect()
    }

    /// `params` without the parameters inactive in them.
    pub fn prune(&self, mut params: Params) -> Params {
        for i in self.draw_order() {
            let p = &self.params[i];
            if !p.when.holds(&params) {
                params.remove(&p.name);
            }
        }
        params
    }

    /// Checks every condition against the space (`file`'s `search.space`): it names another,
    /// categorical, parameter and labels of it, and conditions do not loop.
    pub(super) fn check_conditions(&self, file: &Path) -> Result<()> {
        for p in &self.params {
            for (name, labels) in &p.when.0 {
                let at = format!("search.space.{}.when.{name}", p.name);
                let bad = |msg: String| Err(Error::spec(file, at.clone(), msg));
                if *name == p.name {
                    return bad("a parameter cannot depend on itself".into());
                }
                let Some(parent) = self.params.iter().find(|q| q.name == *name) else {
                    return bad(format!("\"{name}\" is not a parameter of the space"));
                };
                if !matches!(parent.kind, Kind::Cat(_)) {
                    return bad(format!(
                        "{name} is not categorical: a condition names a parameter listed as strings"
                    ));
                }
                let listed: Vec<&str> = parent
                    .ends()
                    .into_iter()
                    .filter_map(|v| match v {
                        Value::Str(s) => Some(s),
                        _ => None,
                    })
                    .collect();
                if let Some(l) = labels.iter().find(|l| !listed.contains(l)) {
                    return bad(format!(
                        "\"{l}\" is not a value of {name}: use {}",
                        listed.join(", ")
                    ));
                }
            }
        }
        self.check_loops(file)
    }

    /// Refuses conditions that loop, naming the loop.
    fn check_loops(&self, file: &Path) -> Result<()> {
        let index: BTreeMap<&str, usize> = self.names().zip(0..).collect();
        for start in 0..self.params.len() {
            // Follow the first name of each condition (any loop is found from one of its members
            // by a depth-first walk).
            let mut path = vec![start];
            if let Some(cycle) = self.walk(&index, &mut path) {
                let names: Vec<&str> = cycle
                    .iter()
                    .map(|&i| self.params[i].name.as_str())
                    .collect();
                return Err(Error::spec(
                    file,
                    format!("search.space.{}.when", names[0]),
                    format!("conditions loop: {}", names.join(" → ")),
                ));
            }
        }
        Ok(())
    }

    /// A loop reachable from the end of `path` by conditions, as the names in it (first again
    /// at the end).
    fn walk(&self, index: &BTreeMap<&str, usize>, path: &mut Vec<usize>) -> Option<Vec<usize>> {
        let last = *path.last().expect("a start");
        for n in self.params[last].when.names() {
            let Some(&j) = index.get(n) else { continue };
            if let Some(at) = path.iter().position(|&i| i == j) {
                let mut cycle = path[at..].to_vec();
                cycle.push(j);
                return Some(cycle);
            }
            path.push(j);
            if let Some(c) = self.walk(index, path) {
                return Some(c);
            }
            path.pop();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::Names;
    use rand::SeedableRng;
    use std::collections::HashSet;

    fn read(json: &str) -> Result<SearchSpace> {
        let raw: BTreeMap<String, serde_json::Value> = serde_json::from_str(json).unwrap();
        SearchSpace::from_spec(Path::new("study.json"), &raw, Names::Any)
    }

    /// An optimizer with a momentum for sgd only, a nesterov switch for sgd's momentum only, and
    /// betas for adam: a chain two deep.
    const TREE: &str = r#"{
        "optimizer": ["sgd", "adam"],
        "momentum": {"low": 0.0, "high": 0.99, "when": {"optimizer": "sgd"}},
        "nesterov": {"values": ["on", "off"], "when": {"optimizer": ["sgd"], "kind": "heavy"}},
        "kind": {"values": ["heavy", "light"], "when": {"optimizer": "sgd"}},
        "beta": {"values": [0.9, 0.99], "when": {"optimizer": "adam"}},
        "lr": {"values": [0.1, 0.01]}
    }"#;

    fn active_names(p: &Params) -> Vec<&str> {
        p.keys().map(String::as_str).collect()
    }

    #[test]
    fn parents_are_drawn_first_and_inactive_parameters_are_absent() {
        let s = read(TREE).unwrap();
        let order: Vec<&str> = s
            .draw_order()
            .iter()
            .map(|&i| s.params[i].name.as_str())
            .collect();
        let at = |n: &str| order.iter().position(|o| *o == n).unwrap();
        assert!(
            at("optimizer") < at("momentum") && at("kind") < at("nesterov"),
            "{order:?}"
        );
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut seen = HashSet::new();
        for _ in 0..500 {
            let p = s.sample(&mut rng);
            assert!(s.contains(&p), "{p:?}");
            let sgd = p["optimizer"] == Value::Str("sgd");
            assert_eq!(p.contains_key("momentum"), sgd, "{p:?}");
            assert_eq!(p.contains_key("beta"), !sgd, "{p:?}");
            let heavy = p.get("kind") == Some(&Value::Str("heavy"));
            assert_eq!(p.contains_key("nesterov"), heavy, "{p:?}");
            seen.insert(active_names(&p).join(","));
        }
        // adam; sgd light; sgd heavy.
        assert_eq!(seen.len(), 3, "{seen:?}");
    }

    #[test]
    fn a_point_with_an_inactive_parameter_is_not_in_the_space() {
        let s = read(TREE).unwrap();
        let mut p = Params::new();
        p.insert("optimizer".into(), Value::Str("adam"));
        p.insert("beta".into(), Value::Float(0.9));
        p.insert("lr".into(), Value::Float(0.1));
        assert!(s.contains(&p));
        let mut with = p.clone();
        with.insert("momentum".into(), Value::Float(0.5));
        assert!(!s.contains(&with));
        assert_eq!(s.prune(with), p);
        p.remove("beta");
        assert!(!s.contains(&p), "an active parameter is missing");
    }

    #[test]
    fn the_grid_holds_each_active_combination_once() {
        // Momentum is a float range: a grid needs its grid_points.
        assert_eq!(read(TREE).unwrap().grid().unwrap_err().0, "momentum");
        let s =
            read(&TREE.replace(r#""high": 0.99,"#, r#""high": 0.9, "grid_points": 3,"#)).unwrap();
        let grid = s.grid().unwrap();
        // adam: 2 × 2; sgd light: 3 momenta × 2 lr; sgd heavy: 3 × 2 nesterov × 2 lr.
        assert_eq!(grid.size(), Some(4 + 6 + 12));
        let mut keys = HashSet::new();
        for i in 0..22 {
            let p = grid.point(i);
            assert!(s.contains(&p), "point {i}: {p:?}");
            assert_eq!(grid.index_of(&p), Some(i), "{p:?}");
            assert!(keys.insert(format!("{p:?}")), "point {i} twice: {p:?}");
        }
    }

    #[test]
    fn without_conditions_the_grid_keeps_its_order() {
        let s = read(r#"{"a": [1, 2, 3], "b": ["x", "y"], "c": {"values": [0.5, 0.25]}}"#).unwrap();
        assert!(!s.conditional());
        assert_eq!(s.draw_order(), [0, 1, 2]);
        let grid = s.grid().unwrap();
        assert_eq!(grid.size(), Some(12));
        let p = grid.point(1);
        assert_eq!(
            (p["a"], p["b"], p["c"]),
            (Value::Int(1), Value::Str("x"), Value::Float(0.25))
        );
        assert_eq!(grid.point(11)["a"], Value::Int(3));
    }

    #[test]
    fn bad_conditions_name_the_place() {
        let err = |json: &str| read(json).unwrap_err().to_string();
        let e = err(r#"{"m": {"low": 0, "high": 1, "when": {"opt": "sgd"}}}"#);
        assert!(
            e.contains("search.space.m.when.opt") && e.contains("not a parameter"),
            "{e}"
        );
        let e = err(r#"{"o": ["a", "b"], "m": {"low": 0, "high": 1, "when": {"o": "c"}}}"#);
        assert!(
            e.contains("search.space.m.when.o")
                && e.contains("\"c\" is not a value of o: use a, b"),
            "{e}"
        );
        let e = err(r#"{"o": [1, 2], "m": {"low": 0, "high": 1, "when": {"o": "1"}}}"#);
        assert!(e.contains("not categorical"), "{e}");
        let e = err(r#"{"o": {"values": ["a"], "when": {"o": "a"}}}"#);
        assert!(e.contains("itself"), "{e}");
        let e = err(
            r#"{"a": {"values": ["x"], "when": {"b": "y"}}, "b": {"values": ["y"], "when": {"a": "x"}}}"#,
        );
        assert!(e.contains("conditions loop: a → b → a"), "{e}");
        let e = err(r#"{"o": ["a"], "m": {"low": 0, "high": 1, "when": {"o": 3}}}"#);
        assert!(
            e.contains("search.space.m.when.o") && e.contains("neither a label"),
            "{e}"
        );
        let e = err(r#"{"o": ["a"], "m": {"low": 0, "high": 1, "when": "o"}}"#);
        assert!(e.contains("search.space.m.when:"), "{e}");
        let e = err(r#"{"m": {"values": [1], "low": 0}}"#);
        assert!(
            e.contains("search.space.m.low") && e.contains("not both"),
            "{e}"
        );
        let e = err(r#"{"m": {"values": [1, "a"]}}"#);
        assert!(e.contains("search.space.m.values[1]"), "{e}");
    }
}
