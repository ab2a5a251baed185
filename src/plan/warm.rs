//! The warm-start sub-plan (`search.warm_start`): an earlier study's finished trials on the same
//! space, which a Bayesian study's GP starts from (Optuna's `add_trials`) and which grid and random
//! search do not run again. With several objectives or constraints the earlier study must have
//! the same ones, and its trials come with their curves (every objective's value and constrained
//! metric at their selected checkpoints), which the samplers scalarise with the study's own.

use std::path::Path;

use crate::backend::Location;
use crate::curve::best_value;
use crate::error::{Error, Result};
use crate::objective::{Goal, Metric};
use crate::pareto::Objectives;
use crate::space::{Params, SearchSpace};
use crate::spec::StudySpec;
use crate::storage::{Status, TrialRecord};

/// Trials of an earlier study: each one's parameters and its selected value of the study's metric
/// (NaN: it failed, or reached no value).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WarmStart {
    pub trials: Vec<(Params, f64)>,
    /// With several objectives or constraints (empty with one): the same trials as the earlier
    /// study recorded them, numbered 0, 1, … in its order, which a Bayesian or TPE search sees
    /// before its own trials (src/driver/warmed.rs).
    pub records: Vec<TrialRecord>,
    /// CRC-32 of what was taken, for the fingerprint.
    pub crc32: u32,
}

/// What this study is judged by, which the earlier study must share: the spec `file`'s `metric`
/// and `goal` as given, and the objectives and constraints as read (`read` reads them from a spec).
pub(super) struct Judged<'a> {
    pub metric: Metric,
    pub metric_json: serde_json::Value,
    pub goal_json: serde_json::Value,
    pub objectives: &'a Objectives,
    pub spec: &'a StudySpec,
    pub read: &'a dyn Fn(&StudySpec) -> Result<Objectives>,
}

/// The finished trials of the study at `loc` (a folder, or a study in PostgreSQL; from the spec
/// `file`), judged as this study is, that lie in `space`.
pub(super) fn load(
    file: &Path,
    loc: &Location,
    space: &SearchSpace,
    judged: &Judged,
) -> Result<WarmStart> {
    let bad = |msg: String| Error::spec(file, "search.warm_start", msg);
    let shown = loc.shown();
    let history = crate::backend::history(loc)
        .map_err(|e| bad(format!("{shown} cannot be read: {e}")))?
        .ok_or_else(|| match loc {
            Location::Folder(_) => bad(format!("{shown} holds no study (no journal.jsonl)")),
            Location::Postgres { .. } => bad(format!("{shown} holds no study")),
        })?;
    if let Some(fp) = &history.fingerprint {
        for (key, ours) in [("metric", &judged.metric_json), ("goal", &judged.goal_json)] {
            if let Some(theirs) = fp.get(key).filter(|t| *t != ours) {
                return Err(bad(format!(
                    "{shown} was judged by {key} {theirs}, this study by {ours}: their values do not compare"
                )));
            }
        }
        if let Some(theirs) = other_objectives(fp, judged) {
            return Err(bad(format!(
                "{shown} was judged by {theirs}, this study by {}: their values do not compare",
                describe(judged.objectives)
            )));
        }
    }
    let taken: Vec<&TrialRecord> = history
        .trials
        .values()
        .filter(|t| !matches!(t.status, Status::Running | Status::Paused))
        .filter(|t| space.contains(&t.params))
        .collect();
    if taken.is_empty() {
        return Err(bad(format!(
            "{shown} has no finished trial whose parameters lie in this study's space"
        )));
    }
    let trials: Vec<(Params, f64)> = taken
        .iter()
        .map(|t| (t.params.clone(), best_value(&t.curve, judged.metric)))
        .collect();
    if judged.objectives.plain() {
        return Ok(WarmStart {
            crc32: crc32(&trials, |v| v.to_string()),
            trials,
            records: vec![],
        });
    }
    let records: Vec<TrialRecord> = (0..)
        .zip(&taken)
        .map(|(i, t)| TrialRecord {
            trial: i,
            ..(*t).clone()
        })
        .collect();
    // What the samplers read of each: its outcome under this study's objectives.
    let outcomes: Vec<(Params, String)> = records
        .iter()
        .map(|t| {
            let o = judged.objectives.outcome(&t.curve);
            let o = o.map(|o| (o.row, o.values, o.violation.to_string()));
            (
                t.params.clone(),
                format!("{:?} {} {o:?}", t.status, t.curve.len()),
            )
        })
        .collect();
    Ok(WarmStart {
        crc32: crc32(&outcomes, String::clone),
        trials,
        records,
    })
}

/// CRC-32 of parameters and what each brings, `shown` as text.
fn crc32<T>(taken: &[(Params, T)], shown: impl Fn(&T) -> String) -> u32 {
    let text = serde_json::to_string(&taken.iter().map(|(p, v)| (p, shown(v))).collect::<Vec<_>>())
        .expect("parameters serialise");
    crc32fast::hash(text.as_bytes())
}

/// The objectives and constraints of the earlier study whose fingerprint is `fp`, described,
/// when they are not this study's (its spec's fields read as this spec's would be).
fn other_objectives(
    fp: &std::collections::BTreeMap<String, serde_json::Value>,
    judged: &Judged,
) -> Option<String> {
    let field = |k: &str| fp.get(k).cloned().unwrap_or(serde_json::Value::Null);
    let raw = || {
        format!(
            "objectives {} and constraints {}",
            field("objectives"),
            field("constraints")
        )
    };
    let mut spec = judged.spec.clone();
    let read = (|| -> Option<Objectives> {
        spec.objectives = serde_json::from_value(field("objectives")).ok()?;
        spec.constraints = serde_json::from_value(field("constraints")).ok()?;
        (spec.metric, spec.goal) = match spec.objectives {
            Some(_) => (None, None),
            None => (
                serde_json::from_value(field("metric")).ok()?,
                serde_json::from_value(field("goal")).ok()?,
            ),
        };
        (judged.read)(&spec).ok()
    })();
    let ours = judged.objectives;
    match read {
        Some(t) if t.list == ours.list && t.constraints == ours.constraints => None,
        Some(t) => Some(describe(&t)),
        None => Some(raw()),
    }
}

/// Objectives and constraints in words: `objectives val_loss (min), parameters (min) under
/// parameters ≤ 20000`.
fn describe(o: &Objectives) -> String {
    let list: Vec<String> = o
        .list
        .iter()
        .map(|m| {
            let goal = if m.goal == Goal::Max { "max" } else { "min" };
            format!("{} ({goal})", m.kind.name())
        })
        .collect();
    let mut out = format!("objectives {}", list.join(", "));
    let bounds: Vec<String> = o
        .constraints
        .iter()
        .map(|c| {
            let num = crate::space::num;
            match (c.min.is_finite(), c.max.is_finite()) {
                (true, true) => format!("{} ≤ {} ≤ {}", num(c.min), c.kind.name(), num(c.max)),
                (true, false) => format!("{} ≥ {}", c.kind.name(), num(c.min)),
                _ => format!("{} ≤ {}", c.kind.name(), num(c.max)),
            }
        })
        .collect();
    match bounds.is_empty() {
        true => out.push_str(" without constraints"),
        false => out.push_str(&format!(" under {}", bounds.join(", "))),
    }
    out
}
