//! The driver with schedulers that compare trials, on curves whose outcomes are worked out by hand:
//! the median rule, ASHA's stopping variant, and ASHA pausing and promoting.

use super::*;

/// Trial n's loss at virtual epoch k: (1 + n) / k, so each trial is worse than the ones before.
fn later_worse(n: u64, _: &Params, k: u32) -> f64 {
    (1 + n) as f64 / k as f64
}

/// Trial n's loss at virtual epoch k: (4 - n) / k, so each trial is better than the ones before.
fn later_better(n: u64, _: &Params, k: u32) -> f64 {
    (4 - n as i64) as f64 / k as f64
}

fn statuses(h: &History) -> Vec<(u64, Status, u32)> {
    h.trials
        .values()
        .map(|t| {
            (
                t.trial,
                t.status,
                t.curve.last().map_or(0, |r| r.virtual_epoch),
            )
        })
        .collect()
}

fn run(trials: usize, scheduler: serde_json::Value, loss: Loss) -> Run {
    let dir = TempDir::new();
    let p = plan_with(&dir, trials, 1, None, scheduler);
    let runner = FakeRunner::with(&p, loss);
    let store = MemoryStore::default();
    drive_with(&p, runner, &mut MemoryStorage::default(), &store, None)
}

#[test]
fn the_median_rule_prunes_trials_worse_than_the_others_median() {
    let s = serde_json::json!({ "kind": "median", "warmup_virtual_epochs": 1, "min_trials": 2 });
    let r = run(5, s, later_worse);
    use Status::*;
    // Trials 0 and 1 have too few others to compare with; 2, 3 and 4 are above the median of
    // the others at virtual epoch 2.
    assert_eq!(
        statuses(&r.summary.history),
        [
            (0, Complete, 4),
            (1, Complete, 4),
            (2, Pruned, 2),
            (3, Pruned, 2),
            (4, Pruned, 2)
        ]
    );
    let reason = r.summary.history.trials[&3].reason.clone().unwrap();
    assert!(
        reason.contains("median of 3 other trials at virtual epoch 2"),
        "{reason}"
    );
}

#[test]
fn asha_stopping_prunes_below_the_top_third_at_each_rung() {
    let s = serde_json::json!({ "kind": "asha", "reduction_factor": 3, "mode": "stop" });
    let r = run(4, s, later_worse);
    use Status::*;
    assert_eq!(
        statuses(&r.summary.history),
        [
            (0, Complete, 4),
            (1, Pruned, 1),
            (2, Pruned, 1),
            (3, Pruned, 1)
        ]
    );
    // Stopping never pauses: every trial ran once, from scratch.
    assert_eq!(r.runs, [(0, 0), (1, 0), (2, 0), (3, 0)]);
}

#[test]
fn asha_promotion_resumes_the_top_half_from_their_rung_checkpoints() {
    let s = serde_json::json!({ "kind": "asha", "reduction_factor": 2, "mode": "promote" });
    let r = run(4, s, later_better);
    use Status::*;
    // Rungs at virtual epochs 1 and 2; worked out by hand in the order one worker takes them.
    assert_eq!(
        r.runs,
        [
            (0, 0),
            (1, 0),
            (1, 1),
            (2, 0),
            (2, 1),
            (2, 2),
            (3, 0),
            (3, 1),
            (3, 2)
        ]
    );
    assert_eq!(
        statuses(&r.summary.history),
        [
            (0, Pruned, 1),
            (1, Pruned, 2),
            (2, Complete, 4),
            (3, Complete, 4)
        ]
    );
    let reason = r.summary.history.trials[&1].reason.clone().unwrap();
    assert!(
        reason.contains("not promoted past the rung of virtual epoch 2"),
        "{reason}"
    );
}

#[test]
fn an_interrupted_asha_study_resumes_to_the_same_results_and_decisions() {
    let dir = TempDir::new();
    let s = serde_json::json!({ "kind": "asha", "reduction_factor": 2, "mode": "promote" });
    let p = plan_with(&dir, 4, 1, None, s);
    let go = |storage: &mut MemoryStorage, store: &MemoryStore, stop: Option<u64>| {
        drive_with(&p, FakeRunner::with(&p, later_better), storage, store, stop)
    };
    let straight = go(&mut MemoryStorage::default(), &MemoryStore::default(), None);
    let decisions = |h: &History| -> Vec<(u64, Option<Decision>)> {
        h.trials
            .values()
            .map(|t| (t.trial, t.decision.clone()))
            .collect()
    };
    for stop_after in 1..12 {
        let (storage, store) = (MemoryStorage::default(), MemoryStore::default());
        let first = go(&mut storage.clone(), &store, Some(stop_after));
        let second = go(&mut storage.clone(), &store, None);
        let h = &second.summary.history;
        assert_eq!(
            results(h),
            results(&straight.summary.history),
            "stop after {stop_after}"
        );
        assert_eq!(decisions(h), decisions(&straight.summary.history));
        // No boundary was decided twice.
        assert_eq!(
            first.decisions + second.decisions,
            straight.decisions,
            "stop after {stop_after}"
        );
    }
}

/// A storage shared with an imagined process that refuses each member's first promotion at every
/// boundary (as PostgreSQL does when another worker promoted it, or wrote of it since this one
/// read): what the driver took for that promotion must not join its history.
struct RefusesFirstPromotions {
    inner: MemoryStorage,
    refused: BTreeSet<(u64, usize)>,
}

impl Storage for RefusesFirstPromotions {
    fn open(
        &mut self,
        name: &str,
        fingerprint: &crate::storage::Fingerprint,
    ) -> Result<crate::storage::Opened> {
        self.inner.open(name, fingerprint)
    }

    fn claim(&mut self, trial: Option<u64>) -> Result<Option<u64>> {
        self.inner.claim(trial)
    }

    fn append(&mut self, events: &[Event]) -> Result<()> {
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, Event::TrialPromoted { .. })),
            "a shared study's promotions claim the trial: {events:?}"
        );
        self.inner.append(events)
    }

    fn read_after(&self, cursor: u64) -> Result<(Vec<Event>, u64)> {
        Ok((vec![], cursor))
    }

    fn shared(&self) -> bool {
        true
    }

    fn promote(&mut self, events: &[Event], seen: u64) -> Result<bool> {
        let Some(Event::TrialPromoted { trial }) = events.last() else {
            panic!("a promotion last: {events:?}");
        };
        let key = (*trial, self.inner.events().len());
        if self.refused.insert(key) {
            return Ok(false);
        }
        self.inner.promote(events, seen)
    }
}

#[test]
fn a_shared_studys_refused_promotion_is_not_taken_and_the_lineage_is_the_same() {
    let dir = TempDir::new();
    let s = serde_json::json!({ "kind": "pbt", "interval_virtual_epochs": 1, "quantile": 0.25 });
    let p = plan_with(&dir, 4, 2, None, s);
    let store = MemoryStore::default();
    let mut journal = MemoryStorage::default();
    let alone = drive_with(
        &p,
        FakeRunner::with(&p, later_better),
        &mut journal,
        &store,
        None,
    );
    let exploits = |events: &[Event]| -> Vec<Event> {
        let mut x: Vec<Event> = events
            .iter()
            .filter(|e| matches!(e, Event::TrialExploited { .. }))
            .cloned()
            .collect();
        x.sort_by_key(|e| format!("{e:?}"));
        x
    };
    let lineage = |h: &History| -> Vec<(u64, Vec<crate::storage::Exploit>, Params)> {
        let t = h.trials.values();
        t.map(|t| (t.trial, t.exploits.clone(), t.params.clone()))
            .collect()
    };
    let want = lineage(&alone.summary.history);
    assert!(want.iter().any(|(_, x, _)| !x.is_empty()), "no exploit");
    let mut storage = RefusesFirstPromotions {
        inner: MemoryStorage::default(),
        refused: BTreeSet::new(),
    };
    let runner = FakeRunner::with(&p, later_better);
    let scheduler = crate::scheduler::for_plan(&p);
    let seams = Seams {
        storage: &mut storage,
        store: &MemoryStore::default(),
        runner: &runner,
        scheduler: &scheduler,
    };
    let opts = RunOptions {
        sync_every: Duration::ZERO,
        ..RunOptions::default()
    };
    let summary = drive(&p, seams, &opts, &AtomicBool::new(false), &Silent).unwrap();
    assert!(!summary.interrupted);
    assert_eq!(lineage(&summary.history), want);
    assert!(!storage.refused.is_empty());
    // Each exploit journalled once: those the study made alone.
    assert_eq!(
        exploits(&storage.inner.events()),
        exploits(&journal.events())
    );
}
