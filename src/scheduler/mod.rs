//! The scheduler seam: at each virtual-epoch boundary, a decision for the trial (go on, or stop
//! it), taken from the study's history: the trial's own curve, and the other trials' when a policy
//! compares them (the median rule, successive halving). Decisions are journalled with the boundary
//! they were taken at, so that a resumed study replays them instead of taking them again.
//!
//! Policies: [`Patience`] (early stopping on the trial's own curve). A new one is a new file here
//! implementing [`Scheduler`]; see docs/design.md for pausing and promoting (ASHA) and for
//! starting a trial from another's checkpoint (PBT).

use crate::plan::StudyPlan;
use crate::storage::History;

/// Decisions are journalled, so they are the storage's type.
pub use crate::storage::Decision;

mod patience;

pub use patience::Patience;

/// A policy that decides at boundaries.
pub trait Scheduler: Send + Sync {
    /// The decision for trial `trial` at its newest boundary: the last row of its curve in
    /// `history`, which holds every boundary of every trial reported so far.
    fn decide(&self, trial: u64, history: &History) -> Decision;
}

/// Policies composed: the first that does not continue decides.
pub struct Composed(pub Vec<Box<dyn Scheduler>>);

impl Scheduler for Composed {
    fn decide(&self, trial: u64, history: &History) -> Decision {
        self.0
            .iter()
            .map(|s| s.decide(trial, history))
            .find(|d| *d != Decision::Continue)
            .unwrap_or(Decision::Continue)
    }
}

/// The policies the plan asks for (none: every trial trains its whole budget).
pub fn for_plan(plan: &StudyPlan) -> Composed {
    let mut policies: Vec<Box<dyn Scheduler>> = vec![];
    if let Some(es) = &plan.early_stopping {
        policies.push(Box::new(Patience::new(
            *es,
            plan.metric,
            plan.budget.virtual_epochs,
        )));
    }
    Composed(policies)
}
