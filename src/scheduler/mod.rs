//! The scheduler seam: at each virtual-epoch boundary, a decision for the trial (go on, or stop
//! it), taken from the study's history: the trial's own curve, and the other trials' when a policy
//! compares them (the median rule, successive halving). Decisions are journalled with the boundary
//! they were taken at, so that a resumed study replays them instead of taking them again.
//!
//! Policies: [`Patience`] (early stopping on the trial's own curve), [`Median`] (the median rule)
//! [`Asha`] (successive halving, stopping or pausing and promoting), [`Hyperband`] (ASHA's
//! brackets) and [`Pbt`] (population-based training: pausing, exploiting, exploring). A new one is a new file
//! here implementing [`Scheduler`]; see docs/design.md.

use crate::plan::{SchedulerPlan, StudyPlan};
use crate::storage::History;

/// Decisions are journalled, so they are the storage's type.
pub use crate::storage::{Decision, Exploit};

mod asha;
mod hyperband;
mod median;
mod patience;
mod pbt;

pub use asha::{Asha, PROMOTION_VERSION};
pub use hyperband::Hyperband;
pub use median::Median;
pub use patience::Patience;
pub use pbt::Pbt;

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

    /// The exploit trial `trial`, promoted now, makes (population-based training): it goes on
    /// from another trial's checkpoint with new parameters. The driver journals it first.
    fn exploit(&self, trial: u64, history: &History) -> Option<Exploit> {
        let _ = (trial, history);
        None
    }

    /// The virtual epochs of trial `trial` whose checkpoints another trial may still start from
    /// (an exploit made or due): retention keeps them.
    fn referenced(&self, trial: u64, history: &History) -> Vec<u32> {
        let _ = (trial, history);
        vec![]
    }

    /// Whether a free worker with nothing to start should wait: a paused trial may be promoted
    /// once the running ones reach a boundary.
    fn waits(&self, history: &History) -> bool {
        let _ = history;
        false
    }

    /// Whether a trial's end joins the board only once durable, as a pause does: retention,
    /// which reads the board, then keeps a checkpoint it started from until it cannot be needed.
    fn waits_durable(&self) -> bool {
        false
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

    fn exploit(&self, trial: u64, history: &History) -> Option<Exploit> {
        self.0.iter().find_map(|s| s.exploit(trial, history))
    }

    fn referenced(&self, trial: u64, history: &History) -> Vec<u32> {
        let mut all: Vec<u32> = self
            .0
            .iter()
            .flat_map(|s| s.referenced(trial, history))
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    fn waits(&self, history: &History) -> bool {
        self.0.iter().any(|s| s.waits(history))
    }

    fn waits_durable(&self) -> bool {
        self.0.iter().any(|s| s.waits_durable())
    }
}

/// The policies the plan asks for (none: every trial trains its whole budget).
pub fn for_plan(plan: &StudyPlan) -> Composed {
    let mut policies: Vec<Box<dyn Scheduler>> = vec![];
    let last = plan.budget.virtual_epochs;
    if let Some(es) = &plan.early_stopping {
        policies.push(Box::new(Patience::new(*es, plan.metric, last)));
    }
    match plan.scheduler.clone() {
        Some(SchedulerPlan::Asha { eta, min, promote }) => {
            let asha = Asha::new(eta, min, promote, plan.metric, last);
            let asha = asha
                .objectives(&plan.objectives)
                .closing(plan.trials as u64);
            policies.push(Box::new(asha))
        }
        Some(SchedulerPlan::Hyperband { eta, min, promote }) => {
            let o = (&plan.objectives, last);
            let h = Hyperband::with(eta, min, promote, o, plan.seed);
            policies.push(Box::new(h.closing(plan.trials as u64)))
        }
        Some(SchedulerPlan::Median { warmup, min_trials }) => {
            policies.push(Box::new(Median::new(warmup, min_trials, plan.metric, last)))
        }
        Some(SchedulerPlan::Pbt(p)) => policies.push(Box::new(Pbt::new(
            p,
            plan.trials,
            plan.metric,
            last,
            plan.seed,
            plan.space.clone(),
        ))),
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
