//! Several objectives in the outputs: each trial's outcome at its selected checkpoint, its
//! front among the feasible trials (`pareto_rank`), `pareto.csv` (the first front), and the
//! front's size and hypervolume that `tune status` prints.

use std::collections::BTreeMap;
use std::path::Path;

use crate::durable::replace_with;
use crate::error::{Error, Result};
use crate::pareto::Outcome;
use crate::plan::StudyPlan;
use crate::storage::History;

/// The trials as several objectives rank them.
pub struct Fronts {
    /// Each trial's outcome at its selected checkpoint (`None`: no value yet).
    pub outcomes: BTreeMap<u64, Option<Outcome>>,
    /// Each trial's front among the feasible trials not cut short (1: not dominated).
    pub ranks: BTreeMap<u64, Option<usize>>,
}

impl Fronts {
    /// The fronts of `history`'s trials under `plan`'s objectives. A trial a scheduler cut short
    /// (pruned, or paused short of the full budget) is on none: its values are of a smaller
    /// budget.
    pub fn of(plan: &StudyPlan, history: &History) -> Fronts {
        let (outcomes, ranks) = plan.objectives.standings(history);
        Fronts { outcomes, ranks }
    }

    /// The trials of the first front, by trial number.
    pub fn first(&self) -> Vec<u64> {
        let on = |(t, r): (&u64, &Option<usize>)| (*r == Some(1)).then_some(*t);
        self.ranks.iter().filter_map(on).collect()
    }

    /// Whether trial `t` keeps every constraint at its selected checkpoint (`None`: no value).
    pub fn feasible(&self, t: u64) -> Option<bool> {
        self.outcomes.get(&t)?.as_ref().map(Outcome::feasible)
    }

    /// The hypervolume of the first front and its reference point (see
    /// [`crate::pareto::Objectives::hypervolume`]).
    pub fn hypervolume(&self, plan: &StudyPlan) -> (f64, Vec<f64>) {
        let shown: Vec<Option<&Outcome>> = self
            .ranks
            .iter()
            .map(|(t, r)| r.and(self.outcomes[t].as_ref()))
            .collect();
        plan.objectives.hypervolume(&shown)
    }
}

/// `pareto.csv`'s columns: trial, the parameters, then each objective's value at the trial's
/// selected checkpoint.
pub fn header(plan: &StudyPlan) -> Vec<String> {
    let mut h = vec!["trial".to_string()];
    h.extend(plan.space.names().map(String::from));
    h.extend(
        plan.objectives
            .list
            .iter()
            .map(|m| m.kind.name().to_string()),
    );
    h
}

/// Writes `pareto.csv` (the first front, by trial) atomically, for a study with several
/// objectives or constraints.
pub fn write_csv(plan: &StudyPlan, history: &History, path: &Path) -> Result<()> {
    let fronts = Fronts::of(plan, history);
    replace_with(path, false, |f| {
        let mut w = csv::Writer::from_writer(f);
        w.write_record(header(plan))?;
        for t in fronts.first() {
            let params = &history.trials[&t].params;
            let mut fields = vec![t.to_string()];
            fields.extend(
                plan.space
                    .names()
                    .map(|n| params.get(n).map(|v| v.to_string()).unwrap_or_default()),
            );
            let values = &fronts.outcomes[&t].as_ref().expect("on the front").values;
            fields.extend(values.iter().map(|v| v.to_string()));
            w.write_record(fields)?;
        }
        w.flush()
    })
    .map_err(|e| Error::io(path, e))
}

/// `tune status`'s line on the front: its size, and the hypervolume it dominates.
pub fn status_line(plan: &StudyPlan, history: &History) -> String {
    let fronts = Fronts::of(plan, history);
    let size = fronts.first().len();
    let feasible = fronts
        .outcomes
        .values()
        .flatten()
        .filter(|o| o.feasible())
        .count();
    let (hv, reference) = fronts.hypervolume(plan);
    // The reference in the objectives' own directions.
    let shown: Vec<String> = plan
        .objectives
        .point(&reference)
        .iter()
        .map(|&x| super::leaderboard::short(x))
        .collect();
    let names: Vec<&str> = plan.objectives.list.iter().map(|m| m.kind.name()).collect();
    format!(
        "Pareto front: {size} trial{} of {feasible} feasible; hypervolume {} against the reference ({}) = ({})\n",
        if size == 1 { "" } else { "s" },
        super::leaderboard::short(hv),
        names.join(", "),
        shown.join(", ")
    )
}
