//! The front in `tune serve`'s `/api/study` (docs/use.md), for a study of several objectives or
//! constraints: the figures `pareto.csv` and `tune status` give, from the same [`Fronts`].

use serde_json::{json, Map, Value};

use super::api::num;
use crate::objective::Goal;
use crate::outputs::front::Fronts;
use crate::plan::StudyPlan;
use crate::storage::History;

/// `front`: the objectives (with goals and given reference values) and constraints, the first
/// front's trials with each objective's value at their selected checkpoint, the hypervolume and
/// the reference point it is measured against (in the objectives' own directions), and how many
/// trials are feasible, infeasible, or without a value yet; `null` with one objective and no
/// constraint.
pub fn front(plan: &StudyPlan, history: &History) -> Value {
    let o = &plan.objectives;
    if o.plain() {
        return Value::Null;
    }
    let fronts = Fronts::of(plan, history);
    let objectives: Vec<Value> = o
        .list
        .iter()
        .zip(&o.references)
        .map(|(m, r)| {
            json!({
                "metric": m.kind.name(),
                "goal": if m.goal == Goal::Min { "min" } else { "max" },
                "reference": r.map(num),
            })
        })
        .collect();
    let bound = |x: f64| if x.is_finite() { num(x) } else { Value::Null };
    let constraints: Vec<Value> = o
        .constraints
        .iter()
        .map(|c| json!({ "metric": c.kind.name(), "min": bound(c.min), "max": bound(c.max) }))
        .collect();
    let trials: Vec<Value> = fronts
        .first()
        .into_iter()
        .map(|n| {
            let t = &history.trials[&n];
            let out = fronts.outcomes[&n].as_ref().expect("on the front");
            let values: Map<String, Value> = o
                .list
                .iter()
                .zip(&out.values)
                .map(|(m, &v)| (m.kind.name().to_string(), num(v)))
                .collect();
            json!({
                "trial": n,
                "values": values,
                "virtual_epoch": t.curve[out.row].virtual_epoch,
                "params": t.params,
            })
        })
        .collect();
    let (hv, reference) = fronts.hypervolume(plan);
    let count = |f: Option<bool>| {
        fronts
            .outcomes
            .keys()
            .filter(|&&t| fronts.feasible(t) == f)
            .count()
    };
    json!({
        "objectives": objectives,
        "constraints": constraints,
        "trials": trials,
        "hypervolume": num(hv),
        "reference": o.point(&reference).into_iter().map(num).collect::<Vec<_>>(),
        "feasible": count(Some(true)),
        "infeasible": count(Some(false)),
        "without_value": count(None),
    })
}
