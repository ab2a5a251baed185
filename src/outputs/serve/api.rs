//! The read-only JSON API of `tune serve` (docs/use.md): the study (`/api/study`), its trials
//! (`/api/trials`) and one trial's curve (`/api/trials/N/curve`), built from a history as the
//! leaderboard and `curve.csv` are, so that a script reads the same numbers as those files.

use serde_json::{json, Map, Value};

use crate::objective::{Goal, MetricKind};
use crate::outputs::leaderboard::{self, Row};
use crate::plan::StudyPlan;
use crate::storage::{History, Status};

/// A number as JSON: `null` for NaN and the infinities (which JSON cannot hold).
pub(super) fn num(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// `/api/study`: the study's name, metric and goal, its budget, how many trials are in each
/// state, the best trial so far (`null` before any has a result), and with several objectives or
/// constraints the front (see [`super::front::front`]).
pub fn study(plan: &StudyPlan, history: &History, version: u64) -> Value {
    let count = |st: Status| history.trials.values().filter(|t| t.status == st).count();
    let mut counts = Map::new();
    for st in [
        Status::Running,
        Status::Complete,
        Status::Stopped,
        Status::Failed,
        Status::Pruned,
        Status::Paused,
    ] {
        counts.insert(st.as_str().into(), count(st).into());
    }
    let rows = leaderboard::rows(plan, history);
    let best = rows.first().filter(|r| !r.best.is_nan()).map(|r| {
        json!({
            "trial": r.trial,
            "value": num(r.best),
            "virtual_epoch": r.best_virtual_epoch,
            "params": history.trials[&r.trial].params,
        })
    });
    json!({
        "name": plan.name,
        "metric": plan.metric.kind.name(),
        "goal": if plan.metric.goal == Goal::Min { "min" } else { "max" },
        "trials_planned": plan.trials,
        "trials_started": history.trials.len(),
        "counts": counts,
        "best": best,
        "front": super::front::front(plan, history),
        "budget": {
            "total_examples": plan.budget.total_examples,
            "virtual_epochs": plan.budget.virtual_epochs,
        },
        "version": version,
    })
}

/// `/api/trials`: one object per trial, by trial number, with the leaderboard's figures.
pub fn trials(plan: &StudyPlan, history: &History) -> Value {
    let mut rows = leaderboard::rows(plan, history);
    rows.sort_by_key(|r| r.trial);
    Value::Array(rows.iter().map(|r| trial(history, r)).collect())
}

/// One trial of `/api/trials`: its leaderboard row, parameters by name.
fn trial(history: &History, r: &Row) -> Value {
    let t = &history.trials[&r.trial];
    json!({
        "trial": r.trial,
        "rank": r.rank,
        "state": r.status.as_str(),
        "params": t.params,
        "value": num(r.best),
        "virtual_epoch": r.best_virtual_epoch,
        "final_value": num(r.last),
        "examples_seen": r.examples_seen,
        "steps": r.steps,
        "boundaries": t.curve.len(),
        "seconds": num(r.seconds),
        "reason": Some(&r.reason).filter(|s| !s.is_empty()),
        "pareto_rank": r.pareto_rank,
        "feasible": r.feasible,
    })
}

/// `/api/trials/N/curve`: trial `n`'s rows, with the columns of its `curve.csv` (blank there:
/// `null` here), whose `metric` column is named after the metric it holds; `None` when the study
/// has no trial `n`.
pub fn curve(plan: &StudyPlan, history: &History, n: u64) -> Option<Value> {
    let t = history.trials.get(&n)?;
    let metric = plan.curve_metric();
    let shown = ["steps", "train_loss", "val_loss", metric.name()];
    let extra = crate::curve::reported_names(&t.curve, &shown);
    let rows: Vec<Value> = t
        .curve
        .iter()
        .map(|r| {
            let mut row = Map::new();
            row.insert("virtual_epoch".into(), r.virtual_epoch.into());
            row.insert("examples_seen".into(), r.examples_seen.into());
            row.insert("steps".into(), r.steps_shown().into());
            for name in ["train_loss", "val_loss"] {
                row.insert(name.into(), num(r.value_of(name)));
            }
            if metric != MetricKind::ValLoss {
                row.insert(metric.name().into(), num(r.metric));
            }
            for name in &extra {
                row.insert(name.clone(), num(r.value_of(name)));
            }
            if let Some(rate) = r.learning_rate {
                row.insert("learning_rate".into(), num(rate));
            }
            Value::Object(row)
        })
        .collect();
    Some(json!({
        "trial": n,
        "state": t.status.as_str(),
        "metric": plan.metric.kind.name(),
        "rows": rows,
    }))
}

#[cfg(test)]
mod tests {
    use super::num;

    #[test]
    fn numbers_json_cannot_hold_are_null() {
        assert_eq!(num(f64::NAN), serde_json::Value::Null);
        assert_eq!(num(f64::INFINITY), serde_json::Value::Null);
        assert_eq!(num(0.25), serde_json::json!(0.25));
    }
}
