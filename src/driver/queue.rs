//! What the workers share to start trials: the queue, the sampler and the history it asks with,
//! and the inbox where running trials report without waiting on a suggestion.

use std::collections::VecDeque;
use std::sync::Mutex;

use super::{Observer, Progress};
use crate::error::Error;
use crate::runner::{Phases, TrialRunner};
use crate::sampler::Sampler;
use crate::space::Params;
use crate::storage::{Event, History};

/// The in-memory history runs ahead of the storage: the events of running trials wait in the
/// [`Inbox`] and are applied before every suggestion (so the sampler sees every finished epoch and
/// trial), while each worker's persister appends them once what they record is durable.
pub(super) struct Shared {
    pub history: History,
    pub sampler: Box<dyn Sampler>,
    pub queue: VecDeque<Next>,
    pub failed: Option<Error>,
    pub sampling_seconds: f64,
    pub early: EarlyEnds,
    /// Events of the storage read so far (a shared study: other processes' are followed).
    pub cursor: u64,
    /// When this process last looked at the other processes' events and leases.
    pub looked: Option<std::time::Instant>,
}

/// The first trials of the study to end, for a runner that gives up when they all failed before
/// their first boundary ([`crate::runner::TrialRunner::give_up_after`]).
pub(super) struct EarlyEnds {
    /// Trials that ended so far (in this run and before it).
    pub seen: usize,
    /// Those of them that failed before their first boundary: each one's sentence.
    pub failures: Vec<String>,
}

impl EarlyEnds {
    /// Counts a trial's end; the error that stops the study when it is the `n`th to end and all
    /// of them failed before their first boundary.
    pub fn count(
        &mut self,
        n: usize,
        trial: u64,
        reason: Option<&str>,
        before_first: bool,
    ) -> Option<Error> {
        if self.seen >= n {
            return None;
        }
        self.seen += 1;
        if before_first {
            self.failures
                .push(format!("trial {trial}: {}", reason.unwrap_or("failed")));
        }
        (self.seen == n && self.failures.len() == n).then(|| {
            Error::Trials(format!(
                "the first {n} trials all failed before their first report, so the study stops (fix the program, then run again with --restart): {}",
                self.failures.join("; ")
            ))
        })
    }
}

impl Shared {
    /// Starts trial `n`: asks the sampler for its parameters and records the time that took.
    /// Returns them with the `started` record.
    pub fn start(&mut self, n: u64, observer: &dyn Observer) -> (u64, Params, Event) {
        let t0 = std::time::Instant::now();
        let params = self.sampler.ask(n, &self.history);
        let took = t0.elapsed().as_secs_f64();
        self.sampling_seconds += took;
        for w in self.sampler.take_warnings() {
            observer.event(Progress::Warning(&w));
        }
        let e = Event::TrialStarted {
            trial: n,
            params: params.clone(),
            suggest_ms: Some(took * 1e3),
        };
        self.history.apply(&e);
        (n, params, e)
    }

    /// Applies the events waiting in `inbox` to the history, in the order they came.
    pub fn catch_up(&mut self, inbox: &Mutex<Inbox>) {
        for e in inbox.lock().unwrap().events.drain(..) {
            self.history.apply(&e);
        }
    }
}

/// What training workers report, behind a lock held only for a push: a worker never waits on a
/// suggestion (which holds [`Shared`] for as long as the GP takes) to record an epoch.
#[derive(Default)]
pub(super) struct Inbox {
    /// Events for [`Shared::catch_up`].
    pub events: Vec<Event>,
    /// Every boundary and end reported so far, at once: what the scheduler decides from.
    pub board: History,
    /// Virtual epochs checkpointed in this run.
    pub epochs: u64,
    pub phases: Phases,
}

/// A trial for the next free worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Next {
    /// Trial `n`, interrupted: it resumes from its last checkpoint.
    Resume(u64),
    /// Trial `n`, not begun yet, of a sampler whose parameters depend on the trial number alone.
    New(u64),
    /// A new trial of an adaptive sampler, numbered and asked for when a worker takes it.
    Ask,
}

/// For a sampler whose parameters depend on the trial number alone, the numbers below `trials` not
/// begun yet (none for an adaptive sampler), in the order workers take them: any order gives the
/// same results, so with workers in parallel the costliest go first (longest-processing-time
/// order) and the study does not end on one long trial while the other workers idle.
pub fn unstarted_trials(
    trials: usize,
    parallel: usize,
    runner: &dyn TrialRunner,
    sampler: &mut dyn Sampler,
    history: &History,
) -> Option<Vec<u64>> {
    if !sampler.independent() {
        return None;
    }
    let mut fresh: Vec<(u64, f64)> = (0..trials as u64)
        .filter(|n| !history.trials.contains_key(n))
        .map(|n| (n, runner.estimated_cost(&sampler.ask(n, history))))
        .collect();
    if parallel > 1 {
        fresh.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    }
    Some(fresh.into_iter().map(|(n, _)| n).collect())
}

/// The queue of a run: interrupted trials first, then the new ones.
pub(super) fn queue(
    trials: usize,
    parallel: usize,
    runner: &dyn TrialRunner,
    sampler: &mut dyn Sampler,
    history: &History,
) -> VecDeque<Next> {
    let mut queue: VecDeque<Next> = history
        .trials
        .values()
        .filter(|t| t.status == crate::storage::Status::Running)
        .map(|t| Next::Resume(t.trial))
        .collect();
    match unstarted_trials(trials, parallel, runner, sampler, history) {
        Some(fresh) => queue.extend(fresh.into_iter().map(Next::New)),
        None => {
            let started = history.trials.len();
            queue.extend((started..trials.max(started)).map(|_| Next::Ask));
        }
    }
    queue
}
