//! How a run ended, and where its workers' time went.

use crate::runner::Phases;
use crate::storage::History;

/// How the run ended.
#[derive(Clone, Debug)]
pub struct Summary {
    pub history: History,
    /// True when a stop was requested before every trial finished.
    pub interrupted: bool,
    /// Wall-clock seconds of this run, from start-up to the last trial's end.
    pub wall_seconds: f64,
    /// Where this run's trials spent their seconds, summed over workers.
    pub phases: Phases,
    /// Seconds workers waited, summed, with no trial left to start while others still ran.
    pub idle_seconds: f64,
    /// Seconds the sampler took to choose this run's new trials.
    pub sampling_seconds: f64,
    /// Worker threads (trials at once) of this run.
    pub workers: usize,
}

impl Summary {
    /// The share of the workers' wall time not spent in forward, backward and update: sampling,
    /// batch assembly, validation, checkpoints, journal, bookkeeping, and idle workers.
    pub fn overhead(&self) -> f64 {
        1.0 - self.phases.compute / self.worker_seconds()
    }

    /// The workers' wall time: wall seconds × workers.
    pub fn worker_seconds(&self) -> f64 {
        self.wall_seconds * self.workers as f64
    }

    /// `overhead: 2.6% of the workers' time outside forward/backward/update (validation 0.9%, …)`;
    /// for a user's `program`, whose time inside tune cannot divide, only what tune measured:
    /// `overhead: 3.1% of the workers' time outside the trials' programs (checkpoint hand-off …)`.
    pub fn overhead_line(&self, program: bool) -> String {
        let share = |s: f64| 100.0 * s / self.worker_seconds();
        let p = &self.phases;
        let other = self.worker_seconds()
            - p.compute
            - p.batches
            - p.validation
            - p.checkpoints
            - self.idle_seconds
            - self.sampling_seconds;
        let (inside, split) = match program {
            true => ("the trials' programs", String::new()),
            false => (
                "forward/backward/update",
                format!(
                    "validation {:.1}%, batch assembly {:.1}%, ",
                    share(p.validation),
                    share(p.batches)
                ),
            ),
        };
        format!(
            "overhead: {:.1}% of the workers' time outside {inside} ({split}checkpoint hand-off {:.1}%, sampling {:.1}%, idle at the end {:.1}%, start-up and trial set-up {:.1}%)",
            100.0 * self.overhead(),
            share(p.checkpoints),
            share(self.sampling_seconds),
            share(self.idle_seconds),
            share(other)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_programs_overhead_says_only_what_tune_measured() {
        let s = Summary {
            history: History::default(),
            interrupted: false,
            wall_seconds: 10.0,
            phases: Phases {
                compute: 8.0,
                checkpoints: 1.0,
                ..Default::default()
            },
            idle_seconds: 0.0,
            sampling_seconds: 0.5,
            workers: 1,
        };
        assert_eq!(
            s.overhead_line(true),
            "overhead: 20.0% of the workers' time outside the trials' programs (checkpoint hand-off 10.0%, sampling 5.0%, idle at the end 0.0%, start-up and trial set-up 5.0%)"
        );
        let builtin = s.overhead_line(false);
        assert!(
            builtin.contains("forward/backward/update (validation 0.0%, batch assembly 0.0%, checkpoint hand-off 10.0%"),
            "{builtin}"
        );
    }
}
