//! The objectives sub-plan: `metric` and `goal`, or `objectives` and `constraints`, checked
//! against the trainer (the built-in trainer's metrics of the task and its cost metrics, or any
//! number a program reports) into [`Objectives`].

use std::path::Path;

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::objective::{Goal, Metric, MetricKind, FLOPS, PARAMETERS};
use crate::pareto::{Constraint, Objectives};
use crate::space;
use crate::spec::StudySpec;

/// The study's objectives and constraints, read from `spec` (in `file`) for `data`, the
/// built-in trainer's table (`None`: a program's metrics).
pub(super) fn read(file: &Path, spec: &StudySpec, data: Option<&Dataset>) -> Result<Objectives> {
    let kind = |path: &str, name: &str| -> Result<MetricKind> {
        match (&spec.trainer, data, &spec.data) {
            (None, Some(_), Some(_)) if name == PARAMETERS || name == FLOPS => {
                Ok(MetricKind::Reported(crate::intern::intern(name)))
            }
            (None, Some(data), Some(d)) => MetricKind::from_spec(file, path, name, data, &d.task),
            _ => MetricKind::of_program(file, path, name),
        }
    };
    let mut list = vec![];
    let mut references = vec![];
    match &spec.objectives {
        None => {
            let name = spec.metric.as_deref().unwrap_or("val_loss");
            let k = kind("metric", name)?;
            let goal = Goal::from_spec(file, "goal", spec.goal.as_deref(), k)?;
            list.push(Metric { kind: k, goal });
            references.push(None);
        }
        Some(_) if spec.metric.is_some() || spec.goal.is_some() => {
            let both = if spec.metric.is_some() {
                "metric"
            } else {
                "goal"
            };
            return Err(Error::spec(
                file,
                "objectives",
                format!("give either \"{both}\" or \"objectives\" (whose entries each have a \"metric\" and a \"goal\"), not both"),
            ));
        }
        Some(given) if given.is_empty() => {
            return Err(Error::spec(file, "objectives", "names no objective"));
        }
        Some(given) => {
            for (i, o) in given.iter().enumerate() {
                let at = |f: &str| format!("objectives[{i}].{f}");
                let k = kind(&at("metric"), &o.metric)?;
                if list.iter().any(|m: &Metric| m.kind == k) {
                    return Err(Error::spec(
                        file,
                        at("metric"),
                        format!("\"{}\" is already an objective", o.metric),
                    ));
                }
                let goal = Goal::from_spec(file, &at("goal"), o.goal.as_deref(), k)?;
                if let Some(r) = o.reference.filter(|r| !r.is_finite()) {
                    return Err(Error::spec(
                        file,
                        at("reference"),
                        format!("{r} is not a number"),
                    ));
                }
                list.push(Metric { kind: k, goal });
                references.push(o.reference);
            }
        }
    }
    let mut constraints = vec![];
    for (i, c) in spec.constraints.iter().flatten().enumerate() {
        let at = |f: &str| format!("constraints[{i}].{f}");
        let k = kind(&at("metric"), &c.metric)?;
        let (min, max) = (
            c.min.unwrap_or(f64::NEG_INFINITY),
            c.max.unwrap_or(f64::INFINITY),
        );
        if c.min.is_none() && c.max.is_none() {
            return Err(Error::spec(
                file,
                at("metric"),
                "the constraint has no \"min\" and no \"max\"",
            ));
        }
        for (f, v) in [("min", c.min), ("max", c.max)] {
            if let Some(v) = v.filter(|v| !v.is_finite()) {
                return Err(Error::spec(file, at(f), format!("{v} is not a number")));
            }
        }
        if min > max {
            return Err(Error::spec(
                file,
                at("min"),
                format!(
                    "{} is above the constraint's max {}: no trial could keep it",
                    space::num(min),
                    space::num(max)
                ),
            ));
        }
        constraints.push(Constraint { kind: k, min, max });
    }
    let first = list[0].kind;
    let in_curve = match (&spec.trainer, data) {
        (None, Some(d)) => first.in_curve(d.task),
        _ => first,
    };
    Ok(Objectives {
        list,
        references,
        constraints,
        in_curve,
    })
}
