//! The scheduler seam: at each virtual-epoch boundary, a decision for the trial (go on, or stop
//! it), taken from the study's history: the trial's own curve, and the other trials' when a policy
//! compares them (the median rule, successive halving). Decisions are journalled with the boundary
//! they were taken at, so that a resumed study replays them instead of taking them again.
//!
//! Policies: [`Patience`] (early stopping on the trial's own curve), [`Median`] (the median rule)
//! [`Asha`] (successive halving, stopping or pausing and promoting) and [`Hyperband`] (ASHA's
//! brackets). A new one is a new file
//! here implementing [`Scheduler`]; see docs/design.md.

use crate::plan::{SchedulerPlan, StudyPlan};
use crate::storage::History;

/// Decisions are journalled, so they are the storage's type.
pub use crate::storage::Decision;

mod asha;
mod hyperband;
mod median;
mod patience;

pub use asha::Asha;
pub use hyperband::Hyperband;
pub use median::Median;
pub use patience::Patience;

/// A policy that decides at boundaries.
pub trait Scheduler: Send + Sync {
    /// The decision for trial `trial` at its newest boundary: the last row of its curve in
    /// `history`, which holds every boundary of every trial reported so far.
    fn decide(&self, trial: u64, history: &History) -> Decision;

    /// A paused trial to resume now, if any (ASHA's promotion), when a worker is free; the
    /// driver records the promotion before the trial trains on.
    fn promote(&self, history: &History) -> Option<u64> {
        let _ = history;
        None
    }
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

    fn promote(&self, history: &History) -> Option<u64> {
        self.0.iter().find_map(|s| s.promote(history))
    }
}

/// The policies the plan asks for (none: every trial trains its whole budget).
pub fn for_plan(plan: &StudyPlan) -> Composed {
    let mut policies: Vec<Box<dyn Scheduler>> = vec![];
    let last = plan.budget.virtual_epochs;
    if let Some(es) = &plan.early_stopping {
        policies.push(Box::new(Patience::new(*es, plan.metric, last)));
    }
    match plan.scheduler {
        Some(SchedulerPlan::Asha { eta, min, promote }) => {
            let asha = Asha::new(eta, min, promote, plan.metric, last);
            policies.push(Box::new(asha.objectives(&plan.objectives)))
        }
        Some(SchedulerPlan::Hyperband { eta, min, promote }) => {
            let o = (&plan.objectives, last);
            policies.push(Box::new(Hyperband::with(eta, min, promote, o, plan.seed)))
        }
        Some(SchedulerPlan::Median { warmup, min_trials }) => {
            policies.push(Box::new(Median::new(warmup, min_trials, plan.metric, last)))
        }
        None => {}
    }
    Composed(policies)
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::curve::CurveRow;
    use crate::storage::{Event, History, Status};

    /// A history of trials `0..`, each with the validation losses of its virtual epochs.
    pub(crate) fn board(trials: &[&[f64]]) -> History {
        let mut h = History::default();
        for (n, vals) in trials.iter().enumerate() {
            let trial = n as u64;
            h.apply(&Event::TrialStarted {
                trial,
                params: Default::default(),
                suggest_ms: None,
            });
            for (i, v) in vals.iter().enumerate() {
                h.apply(&Event::EpochDone {
                    trial,
                    row: CurveRow {
                        virtual_epoch: i as u32 + 1,
                        examples_seen: 0,
                        steps: 0,
                        train_loss: 1.0,
                        val_loss: *v,
                        metric: *v,
                        learning_rate: None,
                        reported: Default::default(),
                    },
                    seconds: 0.0,
                    decision: None,
                });
            }
        }
        h
    }

    /// Trial `trial` leaves its runner with `status`.
    pub(crate) fn end(h: &mut History, trial: u64, status: Status) {
        h.apply(&Event::TrialEnded {
            trial,
            status,
            reason: None,
            seconds: 0.0,
        });
    }
}
