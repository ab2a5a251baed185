//! The driver alone, in milliseconds: a fake runner whose curves are a formula of the parameters,
//! the in-memory storage, an in-memory artifact store. Trial order, resume, journalled decisions
//! and retention, without training anything.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::*;
use crate::artifacts::{Checkpoint, CheckpointMeta};
use crate::curve::{select_best, CurveRow};
use crate::plan::Overrides;
use crate::runner::{Boundary, Flow, Job, RunnerWorker, TrialHost, TrialOutcome};
use crate::scheduler::Decision;
use crate::space::Params;
use crate::storage::memory::MemoryStorage;
use crate::storage::Event;
use crate::testutil::TempDir;

mod schedulers;

/// A plan of `trials` random trials of 4 virtual epochs on the wine data, in a temp folder.
fn plan(dir: &TempDir, trials: usize, parallel: usize, patience: Option<u32>) -> StudyPlan {
    plan_with(dir, trials, parallel, patience, serde_json::Value::Null)
}

/// [`plan`] with the spec's `scheduler` section (none when null).
fn plan_with(
    dir: &TempDir,
    trials: usize,
    parallel: usize,
    patience: Option<u32>,
    scheduler: serde_json::Value,
) -> StudyPlan {
    let wine = Path::new(env!("CARGO_MANIFEST_DIR")).join("studies/data/winequality-red.csv");
    let mut spec = serde_json::json!({
        "name": "fake", "seed": 5, "keep": 2,
        "data": { "path": wine, "target": "quality", "task": "regression" },
        "model": { "hidden": [4] },
        "budget": { "total_examples": 400, "virtual_epochs": 4 },
        "search": { "method": "random", "trials": trials, "parallel": parallel,
            "space": { "batch_size": [8, 16, 32, 64], "learning_rate": { "low": 1e-3, "high": 1e-1, "log": true } } }
    });
    if let Some(p) = patience {
        spec["early_stopping"] = serde_json::json!({ "patience": p });
    }
    if !scheduler.is_null() {
        spec["scheduler"] = scheduler;
    }
    let file = dir.path().join("fake.json");
    std::fs::write(&file, spec.to_string()).unwrap();
    let ov = Overrides {
        out: Some(dir.path().join("out")),
        ..Default::default()
    };
    let plan = StudyPlan::load(&file, &ov, &crate::runner::mlp::params::FAMILY).unwrap();
    std::fs::create_dir_all(&plan.out_dir).unwrap();
    plan
}

/// A trial's validation loss at virtual epoch `k`, from its number and parameters.
type Loss = fn(u64, &Params, u32) -> f64;

/// A runner whose curves are a formula ([`Loss`]).
struct FakeRunner {
    epochs: u32,
    metric: crate::objective::Metric,
    loss: Loss,
    /// (trial, virtual epoch it started from), in the order trials were run.
    runs: Mutex<Vec<(u64, u32)>>,
}

/// Curves that are a formula of the learning rate: they improve to virtual epoch 2, then worsen
/// when the learning rate is above 0.01 (so patience stops those).
fn by_learning_rate(_: u64, params: &Params, k: u32) -> f64 {
    let lr = params["learning_rate"].as_f64();
    let drift = if lr > 0.01 { 0.1 } else { -0.01 };
    (lr / 0.01).ln().abs() + 1.0 / k.min(2) as f64 + drift * k as f64
}

impl FakeRunner {
    fn new(plan: &StudyPlan) -> FakeRunner {
        FakeRunner::with(plan, by_learning_rate)
    }

    fn with(plan: &StudyPlan, loss: Loss) -> FakeRunner {
        FakeRunner {
            epochs: plan.budget.virtual_epochs,
            metric: plan.metric,
            loss,
            runs: Mutex::new(vec![]),
        }
    }

    fn row(&self, trial: u64, params: &Params, k: u32) -> CurveRow {
        let val = (self.loss)(trial, params, k);
        CurveRow {
            virtual_epoch: k,
            examples_seen: 100 * k as u64,
            steps: k as u64,
            train_loss: val + 0.5,
            val_loss: val,
            metric: val.sqrt(),
            learning_rate: None,
            reported: Default::default(),
        }
    }
}

impl TrialRunner for FakeRunner {
    fn estimated_cost(&self, params: &Params) -> f64 {
        params["batch_size"].as_f64()
    }

    fn worker(&self) -> crate::error::Result<Box<dyn RunnerWorker + '_>> {
        Ok(Box::new(self))
    }
}

impl RunnerWorker for &FakeRunner {
    fn run(&mut self, job: Job, host: &mut dyn TrialHost) -> crate::error::Result<TrialOutcome> {
        let from = job.start.as_ref().map_or(0, |c| c.meta.virtual_epoch);
        self.runs.lock().unwrap().push((job.trial, from));
        let mut curve = job.start.map(|c| c.meta.curve).unwrap_or_default();
        let end = |status, reason, curve| TrialOutcome {
            status,
            reason,
            seconds: 0.0,
            phases: Default::default(),
            curve,
        };
        for k in from + 1..=self.epochs {
            let row = self.row(job.trial, job.params, k);
            curve.push(row.clone());
            let checkpoint = Box::new(Checkpoint {
                meta: CheckpointMeta {
                    trial: job.trial,
                    params: job.params.clone(),
                    virtual_epoch: k,
                    examples_seen: row.examples_seen,
                    steps: row.steps,
                    seconds: 0.0,
                    curve: curve.clone(),
                    files: None,
                    runner: Default::default(),
                },
                weights: vec![],
                optimizer: Default::default(),
                files: None,
            });
            let best = select_best(&curve, self.metric) == Some(curve.len() - 1);
            let flow = host.boundary(Boundary {
                checkpoint,
                row,
                best,
            })?;
            match flow {
                _ if k == self.epochs => {}
                Flow::Continue => {}
                Flow::Interrupt => return Ok(end(Status::Running, None, curve)),
                Flow::Stop(r) => return Ok(end(Status::Stopped, Some(r), curve)),
            }
        }
        Ok(end(Status::Complete, None, curve))
    }
}

/// Checkpoints in memory.
#[derive(Default)]
struct MemoryStore {
    ckpts: Mutex<BTreeMap<(u64, u32), Checkpoint>>,
    best: Mutex<BTreeMap<u64, Checkpoint>>,
    started: Mutex<BTreeSet<u64>>,
}

impl ArtifactStore for MemoryStore {
    fn begin(&self, trial: u64) -> crate::error::Result<()> {
        self.started.lock().unwrap().insert(trial);
        self.ckpts.lock().unwrap().retain(|k, _| k.0 != trial);
        Ok(())
    }
    fn exists(&self, trial: u64) -> bool {
        self.started.lock().unwrap().contains(&trial)
    }
    fn put(&self, trial: u64, c: &Checkpoint) -> crate::error::Result<()> {
        let k = (trial, c.meta.virtual_epoch);
        self.ckpts.lock().unwrap().insert(k, c.clone());
        Ok(())
    }
    fn get(&self, trial: u64, epoch: u32) -> crate::error::Result<Checkpoint> {
        let c = self.ckpts.lock().unwrap().get(&(trial, epoch)).cloned();
        c.ok_or_else(|| Error::Study(format!("no checkpoint {trial}/{epoch}")))
    }
    fn set_best(&self, trial: u64, epoch: u32) -> crate::error::Result<()> {
        let c = self.get(trial, epoch)?;
        self.best.lock().unwrap().insert(trial, c);
        Ok(())
    }
    fn best(&self, trial: u64) -> crate::error::Result<Checkpoint> {
        let c = self.best.lock().unwrap().get(&trial).cloned();
        c.ok_or_else(|| Error::Study(format!("no best of {trial}")))
    }
    fn epochs(&self, trial: u64) -> Vec<u32> {
        let c = self.ckpts.lock().unwrap();
        c.keys().filter(|k| k.0 == trial).map(|k| k.1).collect()
    }
    fn remove(&self, trial: u64, epoch: u32) -> crate::error::Result<()> {
        self.ckpts.lock().unwrap().remove(&(trial, epoch));
        Ok(())
    }
    fn clean(&self, _: u64) -> crate::error::Result<()> {
        Ok(())
    }
    fn sync(&self, _: u64) -> crate::error::Result<()> {
        Ok(())
    }
    fn name(&self, trial: u64, epoch: Option<u32>) -> String {
        format!("{trial}/{epoch:?}")
    }
}

/// Counts its decisions, and decides as the plan's policies do.
struct Counting {
    inner: crate::scheduler::Composed,
    asked: AtomicUsize,
}

impl Scheduler for Counting {
    fn decide(&self, trial: u64, history: &History) -> Decision {
        self.asked.fetch_add(1, Ordering::SeqCst);
        self.inner.decide(trial, history)
    }

    fn promote(&self, history: &History) -> Option<u64> {
        self.inner.promote(history)
    }

    fn exploit(&self, trial: u64, history: &History) -> Option<crate::storage::Exploit> {
        self.inner.exploit(trial, history)
    }

    fn referenced(&self, trial: u64, history: &History) -> Vec<u32> {
        self.inner.referenced(trial, history)
    }

    fn waits(&self, history: &History) -> bool {
        self.inner.waits(history)
    }

    fn waits_durable(&self) -> bool {
        self.inner.waits_durable()
    }
}

/// One run of the driver on the fakes.
struct Run {
    summary: Summary,
    runs: Vec<(u64, u32)>,
    decisions: usize,
}

fn drive_fake(
    plan: &StudyPlan,
    storage: &mut MemoryStorage,
    store: &MemoryStore,
    stop_after: Option<u64>,
) -> Run {
    drive_with(plan, FakeRunner::new(plan), storage, store, stop_after)
}

/// [`drive_fake`] with `runner`.
fn drive_with(
    plan: &StudyPlan,
    runner: FakeRunner,
    storage: &mut MemoryStorage,
    store: &MemoryStore,
    stop_after: Option<u64>,
) -> Run {
    let scheduler = Counting {
        inner: crate::scheduler::for_plan(plan),
        asked: AtomicUsize::new(0),
    };
    let opts = RunOptions {
        restart: false,
        stop_after_epochs: stop_after,
        sync_every: Duration::ZERO,
        ..RunOptions::default()
    };
    let seams = Seams {
        storage,
        store,
        runner: &runner,
        scheduler: &scheduler,
    };
    let summary = drive(plan, seams, &opts, &AtomicBool::new(false), &Silent).unwrap();
    Run {
        summary,
        runs: runner.runs.into_inner().unwrap(),
        decisions: scheduler.asked.load(Ordering::SeqCst),
    }
}

/// What must not depend on how a study was run: each trial's status, reason and curve.
fn results(h: &History) -> Vec<(u64, Status, Option<String>, Vec<CurveRow>)> {
    h.trials
        .values()
        .map(|t| (t.trial, t.status, t.reason.clone(), t.curve.clone()))
        .collect()
}

#[test]
fn one_worker_takes_trials_in_order_and_several_take_the_costliest_first() {
    let dir = TempDir::new();
    let p = plan(&dir, 6, 1, None);
    let run = drive_fake(
        &p,
        &mut MemoryStorage::default(),
        &MemoryStore::default(),
        None,
    );
    let order: Vec<u64> = run.runs.iter().map(|r| r.0).collect();
    assert_eq!(order, [0, 1, 2, 3, 4, 5]);
    assert!(run
        .summary
        .history
        .trials
        .values()
        .all(|t| t.status == Status::Complete));

    let p2 = plan(&dir, 6, 3, None);
    let runner = FakeRunner::new(&p2);
    let mut sampler = crate::sampler::for_plan(&p2);
    let h = History::default();
    let q = unstarted_trials(6, 3, &runner, &mut *sampler, &h).unwrap();
    let costs: Vec<f64> = q
        .iter()
        .map(|&n| runner.estimated_cost(&sampler.ask(n, &h)))
        .collect();
    assert!(costs.windows(2).all(|w| w[0] >= w[1]), "{q:?}: {costs:?}");
    assert!(costs[0] > costs[5], "the fake costs must differ: {costs:?}");
}

#[test]
fn an_interrupted_study_resumes_from_its_checkpoints_to_the_same_results() {
    let dir = TempDir::new();
    let p = plan(&dir, 5, 1, Some(1));
    let straight = drive_fake(
        &p,
        &mut MemoryStorage::default(),
        &MemoryStore::default(),
        None,
    );
    for stop_after in 1..12 {
        let (mut storage, store) = (MemoryStorage::default(), MemoryStore::default());
        let first = drive_fake(&p, &mut storage.clone(), &store, Some(stop_after));
        assert!(first.summary.interrupted, "stopped after {stop_after}");
        let second = drive_fake(&p, &mut storage, &store, None);
        assert!(!second.summary.interrupted);
        assert_eq!(
            results(&second.summary.history),
            results(&straight.summary.history),
            "stopped after {stop_after}"
        );
        // The interrupted trial went on from its checkpoint, not from scratch.
        let (trial, from) = second.runs[0];
        assert_eq!(from as u64 + first_epochs_before(&first, trial), stop_after);
        // Each boundary was decided once: the resumed run decided only its own.
        assert_eq!(first.decisions + second.decisions, straight.decisions);
    }
}

/// Virtual epochs the first run checkpointed in trials before `trial`.
fn first_epochs_before(first: &Run, trial: u64) -> u64 {
    let h = &first.summary.history;
    h.trials
        .values()
        .filter(|t| t.trial < trial)
        .map(|t| t.curve.len() as u64)
        .sum()
}

#[test]
fn a_journalled_stop_whose_end_was_lost_ends_the_trial_without_training_it() {
    let dir = TempDir::new();
    let p = plan(&dir, 5, 1, Some(1));
    let (storage, store) = (MemoryStorage::default(), MemoryStore::default());
    let straight = drive_fake(&p, &mut storage.clone(), &store, None);
    let stopped: Vec<u64> = straight
        .summary
        .history
        .trials
        .values()
        .filter(|t| t.status == Status::Stopped)
        .map(|t| t.trial)
        .collect();
    assert!(!stopped.is_empty(), "the fake curves stop some trials");
    // The storage as a crash after the decision and before the end would leave it.
    let lost = stopped[0];
    let events: Vec<Event> = storage
        .events()
        .into_iter()
        .filter(|e| !matches!(e, Event::TrialEnded { trial, .. } if *trial == lost))
        .collect();
    let mut cut = MemoryStorage::default();
    cut.append(&events).unwrap();
    let again = drive_fake(&p, &mut cut, &store, None);
    assert_eq!(again.runs, [], "no trial trained again");
    assert_eq!(
        again.decisions, 0,
        "the journalled decision was replayed, not taken again"
    );
    assert_eq!(
        results(&again.summary.history),
        results(&straight.summary.history)
    );
}

#[test]
fn retention_keeps_the_last_two_and_the_best() {
    let dir = TempDir::new();
    let p = plan(&dir, 4, 1, None);
    let store = MemoryStore::default();
    let run = drive_fake(&p, &mut MemoryStorage::default(), &store, None);
    for t in run.summary.history.trials.values() {
        assert_eq!(store.epochs(t.trial), [3, 4], "trial {}", t.trial);
        let best = select_best(&t.curve, p.metric).map(|i| t.curve[i].virtual_epoch);
        assert_eq!(
            store.best(t.trial).unwrap().meta.virtual_epoch,
            best.unwrap()
        );
    }
}

#[test]
fn a_study_begun_under_another_spec_is_refused_before_anything_is_written() {
    let dir = TempDir::new();
    let mut storage = MemoryStorage::default();
    drive_fake(
        &plan(&dir, 2, 1, None),
        &mut storage.clone(),
        &MemoryStore::default(),
        None,
    );
    let before = storage.events().len();
    let other = plan(&dir, 2, 1, Some(2));
    let runner = FakeRunner::new(&other);
    let scheduler = crate::scheduler::for_plan(&other);
    let store = MemoryStore::default();
    let seams = Seams {
        storage: &mut storage,
        store: &store,
        runner: &runner,
        scheduler: &scheduler,
    };
    let stop = AtomicBool::new(false);
    let err = drive(&other, seams, &RunOptions::default(), &stop, &Silent).unwrap_err();
    assert!(err.to_string().contains("(early_stopping)"), "{err}");
    assert_eq!(storage.events().len(), before);
}

#[test]
fn the_best_so_far_a_resumed_run_starts_from_is_the_leaderboards_first() {
    let dir = TempDir::new();
    let p = plan(&dir, 5, 1, None);
    let run = drive_fake(
        &p,
        &mut MemoryStorage::default(),
        &MemoryStore::default(),
        None,
    );
    let history = &run.summary.history;
    let top = &crate::outputs::leaderboard::rows(&p, history)[0];
    let (trial, row) = best_so_far(&p, history).expect("trials validated");
    assert_eq!((trial, row.val_loss), (top.trial, top.best_loss));
    assert!(best_so_far(&p, &History::default()).is_none());
}

/// A storage shared with other (imagined) processes that lost the lease on trial 0 from the
/// start: what PostgreSQL's fencing does to a worker that froze while another took its trial over.
struct LostTrialZero {
    inner: MemoryStorage,
}

impl Storage for LostTrialZero {
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
        // Fenced: nothing of trial 0 is written.
        let kept: Vec<Event> = events
            .iter()
            .filter(|e| crate::storage::postgres::trial_of(e) != Some(0))
            .cloned()
            .collect();
        self.inner.append(&kept)
    }

    fn read_after(&self, cursor: u64) -> Result<(Vec<Event>, u64)> {
        // No other process writes here.
        Ok((vec![], cursor))
    }

    fn shared(&self) -> bool {
        true
    }

    fn lost(&self, trial: u64) -> bool {
        trial == 0
    }
}

#[test]
fn a_trial_whose_lease_was_lost_is_dropped_at_its_next_boundary_and_the_worker_goes_on() {
    let dir = TempDir::new();
    let p = plan(&dir, 3, 1, None);
    let mut storage = LostTrialZero {
        inner: MemoryStorage::default(),
    };
    let runner = FakeRunner::new(&p);
    let scheduler = crate::scheduler::for_plan(&p);
    let seams = Seams {
        storage: &mut storage,
        store: &MemoryStore::default(),
        runner: &runner,
        scheduler: &scheduler,
    };
    let opts = RunOptions::default();
    let summary = drive(&p, seams, &opts, &AtomicBool::new(false), &Silent).unwrap();
    let h = &summary.history;
    // Interrupted at its first boundary, not trained on; the others ran to their end.
    assert_eq!(h.trials[&0].status, Status::Running);
    assert_eq!(h.trials[&0].curve.len(), 1);
    assert!([1, 2]
        .iter()
        .all(|t| h.trials[t].status == Status::Complete));
    let runs = runner.runs.into_inner().unwrap();
    assert_eq!(runs.iter().map(|r| r.0).collect::<Vec<_>>(), [0, 1, 2]);
    // Nothing of trial 0 reached the storage; everything of the others did.
    let events = storage.inner.events();
    assert!(events
        .iter()
        .all(|e| crate::storage::postgres::trial_of(e) != Some(0)));
    let ended = events
        .iter()
        .filter(|e| matches!(e, Event::TrialEnded { .. }))
        .count();
    assert_eq!(ended, 2);
}
