//! Samplers: where each trial's parameters come from. They `ask` with the history of the study, so
//! that a resumed study asks exactly what it would have asked.

use crate::plan::{Method, StudyPlan};
use crate::space::Params;
use crate::storage::History;

pub mod gp;
mod grid;
mod random;
pub mod tpe;

pub use gp::GpSampler;
pub use grid::GridSampler;
pub use random::RandomSampler;
pub use tpe::TpeSampler;

/// Chooses parameters for new trials.
pub trait Sampler: Send {
    /// Parameters for trial number `trial`, given the finished and running trials in `history`.
    fn ask(&mut self, trial: u64, history: &History) -> Params;

    /// Whether `ask` depends on the trial number alone, never on the history: then trials may run
    /// in any order (the study starts the costliest first) with the same results.
    fn independent(&self) -> bool {
        false
    }

    /// What went wrong while asking since the last call (one sentence each), for the user to see:
    /// samplers print nothing.
    fn take_warnings(&mut self) -> Vec<String> {
        vec![]
    }
}

/// The sampler the plan asks for.
pub fn for_plan(plan: &StudyPlan) -> Box<dyn Sampler> {
    let warm: &[(Params, f64)] = plan.warm.as_ref().map_or(&[], |w| &w.trials);
    match plan.method {
        Method::Grid => {
            Box::new(GridSampler::new(&plan.space).skipping(plan.space.grid_done(warm)))
        }
        Method::Random => {
            let done: Vec<Params> = warm.iter().map(|(p, _)| p.clone()).collect();
            Box::new(RandomSampler::new(plan.space.clone(), plan.seed).skipping(&done))
        }
        Method::Bayes => {
            let gp = GpSampler::new(
                plan.space.clone(),
                plan.seed,
                plan.startup_trials,
                plan.metric,
            )
            .objectives(plan.objectives.clone())
            .warm(warm.to_vec());
            match plan.scheduler {
                Some(_) => Box::new(gp.pruning()),
                None => Box::new(gp),
            }
        }
        Method::Tpe => Box::new(
            TpeSampler::new(
                plan.space.clone(),
                plan.seed,
                plan.startup_trials,
                plan.metric,
            )
            .objectives(plan.objectives.clone())
            .warm(warm.to_vec()),
        ),
    }
}

/// Shared by tests of every sampler: all asked points lie in the space.
#[cfg(test)]
pub(crate) fn assert_inside(space: &crate::space::SearchSpace, s: &mut dyn Sampler, n: u64) {
    let h = History::default();
    for t in 0..n {
        let p = s.ask(t, &h);
        assert!(space.contains(&p), "trial {t}: {p:?}");
    }
}
