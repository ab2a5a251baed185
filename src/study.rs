//! The study driver: the sampler asks, a pool of workers trains (each worker one device slot and a
//! thread pool sized so that running trials × threads ≤ cores), and every event goes to the journal.
//! Resuming is replaying the journal: finished trials stay, interrupted ones continue from their
//! last checkpoint, and the sampler goes on as if never stopped.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::checkpoint::{Checkpoint, Checkpointer, CurveRow};
use crate::error::{Error, Result};
use crate::journal::{self, Event, History, Journal, Status, StudyLock};
use crate::leaderboard;
use crate::model::Backend;
use crate::plan::{DeviceKind, StudyPlan};
use crate::recover::{self, BestFile};
use crate::sampler::{self, Sampler};
use crate::space::Params;
use crate::trainer::{run_trial, write_curve, Flow, Phases, TrialEvent};

/// How `tune` runs a study.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Move an existing study folder aside and start over.
    pub restart: bool,
    /// Draw progress bars (indicatif hides them anyway when stderr is not a terminal).
    pub progress: bool,
    /// Stop (as on Ctrl-C) once this many virtual epochs have been checkpointed in this run.
    pub stop_after_epochs: Option<u64>,
    /// How long a persister may hold checkpoints and journal records before making them durable
    /// together (zero: every virtual epoch on its own). What a crash can lose, to be redone.
    pub sync_every: std::time::Duration,
}

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

    /// `overhead: 2.6% of the workers' time outside forward/backward/update (validation 0.9%, …)`.
    pub fn overhead_line(&self) -> String {
        let share = |s: f64| 100.0 * s / self.worker_seconds();
        let p = &self.phases;
        let other = self.worker_seconds()
            - p.compute
            - p.batches
            - p.validation
            - p.checkpoints
            - self.idle_seconds
            - self.sampling_seconds;
        format!(
            "overhead: {:.1}% of the workers' time outside forward/backward/update (validation {:.1}%, batch assembly {:.1}%, checkpoint hand-off {:.1}%, sampling {:.1}%, idle at the end {:.1}%, start-up and trial set-up {:.1}%)",
            100.0 * self.overhead(),
            share(p.validation),
            share(p.batches),
            share(p.checkpoints),
            share(self.sampling_seconds),
            share(self.idle_seconds),
            share(other)
        )
    }
}

/// The study's journal file.
pub fn journal_path(out: &Path) -> PathBuf {
    out.join("journal.jsonl")
}

/// The folder of trial `n`.
pub fn trial_dir(out: &Path, n: u64) -> PathBuf {
    out.join("trials").join(n.to_string())
}

/// The version of the data stream's shuffle: Fisher–Yates with Lemire draws from ChaCha8.
const STREAM_VERSION: &str = "fisher-yates-lemire-chacha8";

/// Every spec field that changes results, with the data file's checksum and the version of the
/// data order: a resume refuses to go on when one differs. `trials`, `parallel`, `keep` and `device` may change.
pub fn fingerprint(plan: &StudyPlan) -> BTreeMap<String, serde_json::Value> {
    fn v<T: serde::Serialize>(x: &T) -> serde_json::Value {
        serde_json::to_value(x).expect("spec fields serialise")
    }
    let s = &plan.spec;
    [
        ("seed", v(&s.seed)),
        ("data", v(&s.data)),
        ("data file contents", v(&format!("{:08x}", plan.data_crc32))),
        ("model", v(&s.model)),
        ("budget", v(&s.budget)),
        ("search.method", v(&s.search.method)),
        ("search.space", v(&s.search.space)),
        ("search.startup_trials", v(&s.search.startup_trials)),
        ("metric", v(&s.metric)),
        ("goal", v(&s.goal)),
        ("early_stopping", v(&s.early_stopping)),
        // How a pass's order is drawn from the seed (src/data/stream.rs): a study begun by a build
        // that drew it otherwise cannot resume exactly.
        ("data order", v(&STREAM_VERSION)),
    ]
    .into_iter()
    // How the GP chooses (src/sampler/gp.rs), for Bayesian studies only: a Bayesian study begun
    // by a build that chose otherwise would go on with other suggestions.
    .chain(
        (plan.method == crate::plan::Method::Bayes)
            .then(|| ("bayes", v(&crate::sampler::gp::VERSION))),
    )
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Writes `split.json`: which data rows (0 = the first row after the header) are training and which
/// validation rows, so that other tools can use exactly this split.
fn write_split(plan: &StudyPlan) -> Result<()> {
    let path = plan.out_dir.join("split.json");
    let d = &plan.dataset;
    let json = serde_json::json!({
        "data": plan.data_file,
        "train_rows": d.train.source_rows,
        "validation_rows": d.val.source_rows,
    });
    crate::checkpoint::write_derived(&path, json.to_string().as_bytes())
        .map_err(|e| Error::io(&path, e))
}

/// Reads the history of the study in `plan.out_dir` without changing anything (for `leaderboard`,
/// `status` and `report`).
pub fn read_history(plan: &StudyPlan) -> Result<History> {
    let path = journal_path(&plan.out_dir);
    if !path.exists() {
        return Err(Error::Study(format!(
            "{}: no study has run here yet: run `tune {}` first",
            plan.out_dir.display(),
            plan.spec_file.display()
        )));
    }
    Ok(journal::replay(&path)?.history)
}

/// Puts back the `best.safetensors` of finished trials that is missing or damaged where an intact
/// copy exists, and says which are lost; a lost one stops nothing (its results are journalled).
fn repair_best_files(plan: &StudyPlan, history: &History) -> Result<()> {
    for t in history
        .trials
        .values()
        .filter(|t| t.status != Status::Running)
    {
        let ckpt = Checkpointer::new(trial_dir(&plan.out_dir, t.trial), plan.keep);
        let state = recover::check_best(&ckpt, t.trial, &t.params, &t.curve, plan.metric, true)
            .map_err(|e| Error::io(&ckpt.dir, e))?;
        match state {
            BestFile::Intact => {}
            BestFile::Repaired => eprintln!(
                "warning: trial {}: best.safetensors was missing or damaged; linked again to its intact copy",
                t.trial
            ),
            BestFile::Lost(why) => eprintln!("warning: trial {}: {why}", t.trial),
        }
    }
    Ok(())
}

/// What the workers share to start trials. The in-memory history runs ahead of the journal: the
/// events of running trials wait in the [`Inbox`] and are applied before every suggestion (so the
/// sampler sees every finished epoch and trial), while each worker's persister appends them once
/// the files they record are durable.
struct Shared {
    history: History,
    sampler: Box<dyn Sampler>,
    queue: VecDeque<Next>,
    /// The number of the next trial an adaptive sampler starts.
    next_trial: u64,
    failed: Option<Error>,
    sampling_seconds: f64,
}

impl Shared {
    /// Starts trial `n`: asks the sampler for its parameters and records the time that took. Returns
    /// what the worker needs, with the `started` record for the journal.
    fn start(&mut self, n: u64) -> (u64, Params, Vec<CurveRow>, Option<Event>) {
        let t0 = std::time::Instant::now();
        let params = self.sampler.ask(n, &self.history);
        let took = t0.elapsed().as_secs_f64();
        self.sampling_seconds += took;
        let e = Event::TrialStarted {
            trial: n,
            params: params.clone(),
            suggest_ms: Some(took * 1e3),
        };
        self.history.apply(&e);
        (n, params, vec![], Some(e))
    }

    /// Applies the events waiting in `inbox` to the history, in the order they came.
    fn catch_up(&mut self, inbox: &Mutex<Inbox>) {
        for e in inbox.lock().unwrap().events.drain(..) {
            self.history.apply(&e);
        }
    }
}

/// A trial for the next free worker.
#[derive(Clone, Copy, Debug)]
enum Next {
    /// Trial `n`, interrupted: it resumes from its last checkpoint.
    Resume(u64),
    /// Trial `n`, not begun yet, of a sampler whose parameters depend on the trial number alone.
    New(u64),
    /// A new trial of an adaptive sampler, numbered and asked for when a worker takes it.
    Ask,
}

/// For a sampler whose parameters depend on the trial number alone, the numbers below
/// `plan.trials` not begun yet (none for an adaptive sampler), in the order workers take them: any
/// order gives the same results, so with workers in parallel the costliest go first
/// (longest-processing-time order) and the study does not end on one long trial while the other
/// workers idle.
pub fn unstarted_trials(
    plan: &StudyPlan,
    sampler: &mut dyn Sampler,
    history: &History,
) -> Option<Vec<u64>> {
    if !sampler.independent() {
        return None;
    }
    let mut fresh: Vec<(u64, f64)> = (0..plan.trials as u64)
        .filter(|n| !history.trials.contains_key(n))
        .map(|n| (n, estimated_cost(plan, &sampler.ask(n, history))))
        .collect();
    if plan.parallel > 1 {
        fresh.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    }
    Some(fresh.into_iter().map(|(n, _)| n).collect())
}

/// A trial's relative training cost, for ordering: steps × (per-step cost + batch × per-example
/// cost), in nanoseconds of this project's 2-core machine on the CPU, fitted to the wine study's
/// trial times (the leaderboard's `seconds`, batch 16 to 256): a step costs about 12 µs plus 1 ns
/// per weight (the optimizer), an example 0.14 ns per multiply-add of its forward pass (forward and
/// backward; 0.08 at width 512, 0.2 at width 32).
pub fn estimated_cost(plan: &StudyPlan, params: &Params) -> f64 {
    let data = &plan.dataset;
    let sizes = crate::model::layer_sizes(&plan.model, params, data.n_inputs(), data.n_outputs());
    let macs: f64 = sizes.windows(2).map(|w| (w[0] * w[1]) as f64).sum();
    let batch = params
        .get("batch_size")
        .map_or(1.0, |b| b.as_f64().max(1.0));
    let steps = (plan.budget.total_examples as f64 / batch).ceil();
    steps * (12_000.0 + macs + 0.14 * batch * macs)
}

/// What training workers report, behind a lock held only for a push: a worker never waits on a
/// suggestion (which holds [`Shared`] for as long as the GP takes) to record an epoch.
#[derive(Default)]
struct Inbox {
    events: Vec<Event>,
    /// Virtual epochs checkpointed in this run.
    epochs: u64,
    phases: Phases,
}

/// What a worker's persister thread does, in order.
enum Persist {
    /// Append a record that needs no file written before it (`started`).
    Record(Event),
    /// A new trial: make its folder, or empty what a crash left in it.
    Begin(std::sync::Arc<Checkpointer>),
    /// A virtual epoch: its checkpoint is written at the next commit if the trial still needs it,
    /// and its `record` journalled once that is durable; `best` when it is the trial's best.
    Epoch {
        ckpt: std::sync::Arc<Checkpointer>,
        checkpoint: Box<Checkpoint>,
        record: Event,
        best: bool,
    },
    /// The trial left the trainer: write its `curve.csv`, then journal `ended` when it ended.
    Left {
        ckpt: std::sync::Arc<Checkpointer>,
        curve: Vec<crate::checkpoint::CurveRow>,
        ended: Option<Event>,
    },
}

impl Persist {
    /// The checkpoint bytes the job holds in memory.
    fn bytes(&self) -> usize {
        match self {
            Persist::Epoch { checkpoint, .. } => checkpoint.bytes(),
            _ => 0,
        }
    }
}

/// Runs (or resumes) the study. `stop` asks it to finish the checkpoints being written and return.
pub fn run(plan: &StudyPlan, opts: &RunOptions, stop: &AtomicBool) -> Result<Summary> {
    let started_at = std::time::Instant::now();
    let out = &plan.out_dir;
    if opts.restart && out.exists() {
        // The lock first: a study another process runs is never moved from under it.
        let _old = StudyLock::acquire(out)?;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let aside = out.with_file_name(format!(
            "{}.old-{stamp}",
            out.file_name().unwrap_or_default().to_string_lossy()
        ));
        std::fs::rename(out, &aside).map_err(|e| Error::io(out, e))?;
        eprintln!("moved the old study aside to {}", aside.display());
    }
    std::fs::create_dir_all(out.join("trials")).map_err(|e| Error::io(out, e))?;
    let _lock = StudyLock::acquire(out)?;

    let fp = fingerprint(plan);
    let jpath = journal_path(out);
    let (mut history, mut journal) = if jpath.exists() {
        let journal::Replayed {
            history,
            len,
            records,
            torn,
        } = journal::replay(&jpath)?;
        if torn {
            eprintln!("warning: {}: cut off a torn last append (a crash mid-write); what it recorded is recovered from the checkpoints or trained again", jpath.display());
        }
        if let Some(old) = &history.fingerprint {
            let changed: Vec<&str> = fp
                .keys()
                .filter(|k| old.get(*k) != fp.get(*k))
                .map(String::as_str)
                .collect();
            if !changed.is_empty() {
                return Err(Error::Study(format!(
                    "{}: the spec changed since this study began ({}): run with --restart to start over (the old study is moved aside)",
                    plan.spec_file.display(),
                    changed.join(", ")
                )));
            }
        }
        repair_best_files(plan, &history)?;
        (history, Journal::open(&jpath, len, records)?)
    } else {
        (History::default(), Journal::open(&jpath, 0, 0)?)
    };
    // A new study, or one whose first record was torn.
    if history.fingerprint.is_none() {
        let e = Event::StudyCreated {
            name: plan.name.clone(),
            fingerprint: fp,
        };
        journal.append(&e)?;
        history.apply(&e);
        // The journal's name (and `trials/`) in the study folder.
        crate::checkpoint::sync_dir(out).map_err(|e| Error::io(out, e))?;
    }
    // Only once the spec is known to match the study: a refused resume writes nothing.
    write_split(plan)?;

    let mut queue: VecDeque<Next> = history
        .trials
        .values()
        .filter(|t| t.status == Status::Running)
        .map(|t| Next::Resume(t.trial))
        .collect();
    let mut sampler = sampler::for_plan(plan);
    match unstarted_trials(plan, &mut *sampler, &history) {
        Some(fresh) => queue.extend(fresh.into_iter().map(Next::New)),
        None => {
            let started = history.trials.len();
            queue.extend((started..plan.trials.max(started)).map(|_| Next::Ask));
        }
    }
    let next_trial = history.trials.keys().next_back().map_or(0, |n| n + 1);
    let done = history
        .trials
        .values()
        .filter(|t| t.status != Status::Running)
        .count();
    let total = done + queue.len();

    let bars = MultiProgress::new();
    if !opts.progress {
        bars.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let study_bar = bars.add(ProgressBar::new(total as u64));
    study_bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} trials  {elapsed_precise} {msg}",
        )
        .unwrap()
        .progress_chars("=> "),
    );
    study_bar.set_prefix(plan.name.clone());
    study_bar.set_position(done as u64);

    let workers = plan.parallel.min(queue.len()).max(1);
    let shared = Mutex::new(Shared {
        history,
        sampler,
        queue,
        next_trial,
        failed: None,
        sampling_seconds: 0.0,
    });
    let journal = Mutex::new(journal);
    let inbox = Mutex::new(Inbox::default());
    let active = AtomicUsize::new(workers);
    let ctx = Ctx {
        plan,
        opts,
        shared: &shared,
        inbox: &inbox,
        journal: &journal,
        stop,
        bars: &bars,
        study_bar: &study_bar,
        active: &active,
    };
    let workers_done = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let spawned = std::thread::Builder::new().spawn_scoped(scope, || {
                let r = match plan.device {
                    DeviceKind::Cpu => worker(&ctx, dfdx::tensor::Cpu::default),
                    #[cfg(feature = "cuda")]
                    DeviceKind::Cuda(i) => match dfdx::tensor::Cuda::try_build(i, plan.seed) {
                        Ok(_) => worker(&ctx, || {
                            dfdx::tensor::Cuda::try_build(i, plan.seed).expect("built once already")
                        }),
                        Err(e) => Err(Error::Study(format!("cannot open CUDA device {i}: {e:?}"))),
                    },
                    #[cfg(not(feature = "cuda"))]
                    DeviceKind::Cuda(_) => {
                        unreachable!("the plan refuses CUDA in a build without it")
                    }
                };
                if let Err(e) = r {
                    // One worker's failure stops the others at their next checkpoint.
                    stop.store(true, Ordering::SeqCst);
                    let mut s = shared.lock().unwrap();
                    s.failed.get_or_insert(e);
                }
                workers_done.lock().unwrap().push(std::time::Instant::now());
            });
            if let Err(e) = spawned {
                // A process or container limit on threads: the workers already started finish
                // their virtual epochs and the study stops, resumable.
                stop.store(true, Ordering::SeqCst);
                active.fetch_sub(1, Ordering::SeqCst);
                shared.lock().unwrap().failed.get_or_insert(no_thread(e));
            }
        }
    });
    let all_done = std::time::Instant::now();
    study_bar.finish_and_clear();
    let mut shared = shared.into_inner().unwrap();
    shared.catch_up(&inbox);
    let phases = inbox.into_inner().unwrap().phases;
    let idle_seconds: f64 = workers_done
        .into_inner()
        .unwrap()
        .iter()
        .map(|t| (all_done - *t).as_secs_f64())
        .sum();
    if let Some(e) = shared.failed {
        return Err(e);
    }
    let interrupted = shared
        .history
        .trials
        .values()
        .any(|t| t.status == Status::Running)
        || shared.history.trials.len() < plan.trials;
    leaderboard::write_csv(plan, &shared.history, &out.join("leaderboard.csv"))?;
    crate::report::write(plan, &shared.history)?;
    Ok(Summary {
        history: shared.history,
        interrupted,
        wall_seconds: started_at.elapsed().as_secs_f64(),
        phases,
        idle_seconds,
        sampling_seconds: shared.sampling_seconds,
        workers,
    })
}

/// What every worker needs from the study.
struct Ctx<'a> {
    plan: &'a StudyPlan,
    opts: &'a RunOptions,
    shared: &'a Mutex<Shared>,
    inbox: &'a Mutex<Inbox>,
    /// Apart from `shared`, so that a persister waiting on fdatasync holds up no worker. Lock order:
    /// `shared`, then `journal`.
    journal: &'a Mutex<Journal>,
    stop: &'a AtomicBool,
    bars: &'a MultiProgress,
    study_bar: &'a ProgressBar,
    /// Workers still taking trials: the cores are shared among their trials.
    active: &'a AtomicUsize,
}

impl Ctx<'_> {
    /// Threads for the math of each running trial: the cores shared among the workers still
    /// taking trials, so that the cores of a worker that found none left go to the others.
    fn share(&self) -> usize {
        (self.plan.cores / self.active.load(Ordering::SeqCst).max(1)).max(1)
    }
}

/// The error of a thread that could not start.
fn no_thread(e: std::io::Error) -> Error {
    Error::System(format!(
        "cannot start a thread: {e} (a limit on processes or threads, such as `ulimit -u` or a container's pids limit, may be too low)"
    ))
}

/// Threads of all the workers' pools together, at most (when the cores allow a trial more).
const POOL_THREADS: usize = 1024;

/// One worker: a thread pool for the math (a thread per core, of which its trial uses its share,
/// [`Ctx::share`]), and inside it a device of its own (a dfdx CUDA device cannot cross threads),
/// taking trials until none are left. Beside it runs its persister, which makes checkpoints
/// durable while training goes on: fsync waits overlap the next virtual epoch (or the next trial)
/// instead of adding to them.
fn worker<D: Backend>(ctx: &Ctx, make_device: impl Fn() -> D + Sync) -> Result<()> {
    // A thread per core, so that a trial can take the cores of workers that finished; with many
    // workers on many cores, fewer (about `POOL_THREADS` in all), never fewer than a first share.
    let workers = ctx.active.load(Ordering::SeqCst).max(1);
    let threads = ctx
        .plan
        .cores
        .min((POOL_THREADS / workers).max(ctx.share()));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::System(format!("cannot start the worker's threads: {e} (a limit on processes or threads, such as `ulimit -u` or a container's pids limit, may be too low)")))?;
    let (tx, rx) = std::sync::mpsc::channel::<Persist>();
    let held = Held::default();
    std::thread::scope(|scope| {
        let persister = std::thread::Builder::new()
            .spawn_scoped(scope, || {
                let r = persist_loop(ctx, rx, &held);
                held.close();
                r
            })
            .map_err(no_thread)?;
        let outbox = Outbox { tx, held: &held };
        let trained = pool.install(|| worker_loop(ctx, &outbox, make_device()));
        // Its cores go to the trials still running, from their next step on.
        ctx.active.fetch_sub(1, Ordering::SeqCst);
        drop(outbox);
        let persisted = persister.join().expect("the persister does not panic");
        // The persister's error comes first: the worker only saw its channel close.
        persisted.and(trained)
    })
}

/// Bytes of checkpoints a worker may have queued for its persister (its group holds at most
/// `keep` + 1 more per trial): enough that a commit's fsyncs never hold up training unless the disk
/// falls this far behind; one checkpoint may always wait, whatever its size.
const QUEUE_BYTES: usize = 256 << 20;

/// The worker's end of its persister's queue.
struct Outbox<'a> {
    tx: std::sync::mpsc::Sender<Persist>,
    held: &'a Held,
}

impl Outbox<'_> {
    /// Queues `job`, first waiting while [`QUEUE_BYTES`] are queued. An error when the persister
    /// stopped (on an error of its own, which `worker` reports).
    fn send(&self, job: Persist) -> Result<()> {
        if self.held.reserve(job.bytes()) && self.tx.send(job).is_ok() {
            Ok(())
        } else {
            Err(Error::Study("the persister stopped".into()))
        }
    }
}

/// Checkpoint bytes queued and not yet taken by the persister, and whether it stopped.
#[derive(Default)]
struct Held {
    state: Mutex<(usize, bool)>,
    freed: std::sync::Condvar,
}

impl Held {
    fn reserve(&self, n: usize) -> bool {
        let mut s = self.state.lock().unwrap();
        while s.0 > 0 && s.0 + n > QUEUE_BYTES && !s.1 {
            s = self.freed.wait(s).unwrap();
        }
        s.0 += n;
        !s.1
    }

    fn release(&self, n: usize) {
        self.state.lock().unwrap().0 -= n;
        self.freed.notify_all();
    }

    fn close(&self) {
        self.state.lock().unwrap().1 = true;
        self.freed.notify_all();
    }
}

/// A worker's persister. It holds each virtual epoch's checkpoint and journal record in memory and
/// makes them durable in groups: when a trial leaves the trainer, at most `sync_every` after the
/// first record held, and when the run ends or stops. A commit writes the checkpoints the trial
/// still needs (the last `keep` and its best; the others were dropped unwritten when they fell out
/// of that set) and fsyncs them, then the best link, then journals the records with one fdatasync,
/// then retention deletes older files. A record therefore never reaches the journal before its
/// checkpoint is durable, and a crash loses only records not journalled yet, whose virtual epochs
/// resume redoes to the same results. Per-epoch fsyncs woke the persister four times a virtual
/// epoch, each wake taking a core from a worker when every core trains.
fn persist_loop(ctx: &Ctx, rx: std::sync::mpsc::Receiver<Persist>, held: &Held) -> Result<()> {
    use std::sync::mpsc::RecvTimeoutError;
    let every = ctx.opts.sync_every;
    let mut group = Group::default();
    loop {
        let job = match group.since {
            None => rx.recv().ok(),
            Some(t) => match rx.recv_timeout(every.saturating_sub(t.elapsed())) {
                Ok(job) => Some(job),
                Err(RecvTimeoutError::Timeout) => {
                    group.commit(ctx)?;
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => None,
            },
        };
        let Some(job) = job else { break };
        let (bytes, left) = (job.bytes(), matches!(job, Persist::Left { .. }));
        group.add(ctx, job)?;
        held.release(bytes);
        if left || group.since.is_some_and(|t| t.elapsed() >= every) {
            group.commit(ctx)?;
        }
    }
    group.commit(ctx)
}

/// What a persister holds and has not made durable yet.
#[derive(Default)]
struct Group {
    /// When the oldest record held arrived.
    since: Option<std::time::Instant>,
    /// Journal records in the order they came.
    records: Vec<Event>,
    trials: Vec<Pending>,
    /// Trial folders were made: `trials/` needs its fsync.
    new_folders: bool,
}

/// A trial's part of a [`Group`].
struct Pending {
    ckpt: std::sync::Arc<Checkpointer>,
    /// Checkpoints not written yet that the trial may still need: within keep-last-N of the newest
    /// (which is always among them, last), or its best.
    held: Vec<Checkpoint>,
    /// The newest epoch that was the trial's best when it came.
    best: Option<u32>,
}

impl Group {
    fn pending(&mut self, ckpt: std::sync::Arc<Checkpointer>) -> &mut Pending {
        let i = match self.trials.iter().position(|p| p.ckpt.dir == ckpt.dir) {
            Some(i) => i,
            None => {
                self.trials.push(Pending {
                    ckpt,
                    held: vec![],
                    best: None,
                });
                self.trials.len() - 1
            }
        };
        &mut self.trials[i]
    }

    fn add(&mut self, ctx: &Ctx, job: Persist) -> Result<()> {
        self.since.get_or_insert_with(std::time::Instant::now);
        match job {
            Persist::Record(e) => self.records.push(e),
            Persist::Begin(ckpt) => {
                let dir = &ckpt.dir;
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
                ckpt.clear().map_err(|e| Error::io(dir, e))?;
                self.new_folders = true;
            }
            Persist::Epoch {
                ckpt,
                checkpoint,
                record,
                best,
            } => {
                let k = checkpoint.meta.virtual_epoch;
                let p = self.pending(ckpt);
                if best {
                    p.best = Some(k);
                }
                p.held.push(*checkpoint);
                let (keep_from, best) = (p.ckpt.keep_from(k), p.best);
                p.held.retain(|c| {
                    let j = c.meta.virtual_epoch;
                    j >= keep_from || Some(j) == best
                });
                self.records.push(record);
            }
            Persist::Left { ckpt, curve, ended } => {
                write_curve(&ckpt, &curve, ctx.plan.dataset.task)?;
                // Its folder is fsynced at the commit.
                self.pending(ckpt);
                if let Some(e) = ended {
                    self.records.push(e);
                    ctx.study_bar.inc(1);
                }
            }
        }
        Ok(())
    }

    /// Makes everything held durable, in the order resume relies on.
    fn commit(&mut self, ctx: &Ctx) -> Result<()> {
        for p in &self.trials {
            let c = &p.ckpt;
            for h in &p.held {
                let k = h.meta.virtual_epoch;
                c.write(h).map_err(|e| Error::io(&c.path(k), e))?;
            }
            // Ahead of the journal: after a crash here the link may name an epoch that resume
            // redoes, to the same bytes.
            if let Some(b) = p.best {
                c.link_best(b).map_err(|e| Error::io(&c.best_path(), e))?;
            }
            crate::checkpoint::sync_dir(&c.dir).map_err(|e| Error::io(&c.dir, e))?;
        }
        if self.new_folders {
            let trials = ctx.plan.out_dir.join("trials");
            crate::checkpoint::sync_dir(&trials).map_err(|e| Error::io(&trials, e))?;
        }
        ctx.journal.lock().unwrap().append_all(&self.records)?;
        for p in &self.trials {
            if let Some(newest) = p.held.last() {
                let k = newest.meta.virtual_epoch;
                p.ckpt.retain(k).map_err(|e| Error::io(&p.ckpt.dir, e))?;
            }
        }
        *self = Group::default();
        Ok(())
    }
}

fn worker_loop<D: Backend>(ctx: &Ctx, tx: &Outbox, dev: D) -> Result<()> {
    let (plan, shared, stop) = (ctx.plan, ctx.shared, ctx.stop);
    loop {
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        // `started` is the record of a new trial, None for one that resumes; `curve` what the
        // journal holds of it.
        let (trial, params, curve, started) = {
            let mut guard = shared.lock().unwrap();
            let s = &mut *guard;
            s.catch_up(ctx.inbox);
            let Some(item) = s.queue.pop_front() else {
                return Ok(());
            };
            match item {
                Next::Resume(n) => {
                    let t = &s.history.trials[&n];
                    (n, t.params.clone(), t.curve.clone(), None)
                }
                Next::New(n) => s.start(n),
                Next::Ask => {
                    s.next_trial += 1;
                    s.start(s.next_trial - 1)
                }
            }
        };
        // A new trial's `started` goes through the persister, ahead of its epochs; a crash before
        // it is durable only means the same trial number draws the same parameters again.
        if let Some(e) = started {
            tx.send(Persist::Record(e))?;
        }
        let ckpt = std::sync::Arc::new(Checkpointer::new(
            trial_dir(&plan.out_dir, trial),
            plan.keep,
        ));
        let resume = resume_from(ctx, tx, &ckpt, trial, &params, &curve)?;

        let bar = ctx.bars.add(ProgressBar::new(plan.budget.total_examples));
        bar.set_style(
            ProgressStyle::with_template(
                "  trial {prefix:>3} [{bar:30}] {human_pos}/{human_len} examples  {msg}",
            )
            .unwrap()
            .progress_chars("=> "),
        );
        bar.set_prefix(trial.to_string());
        let label = describe(&params);
        let epochs = plan.budget.virtual_epochs;
        let done = resume.as_ref().map_or(0, |c| c.meta.virtual_epoch);
        bar.set_message(format!("virtual epoch {done}/{epochs}  {label}"));
        if let Some(c) = &resume {
            bar.set_position(c.meta.examples_seen);
        }
        crate::model::set_threads(ctx.share());
        let mut on = |e: TrialEvent| -> Result<Flow> {
            // Every 64 steps and every virtual epoch: the cores of workers that finished.
            crate::model::set_threads(ctx.share());
            match e {
                TrialEvent::Steps { examples_seen } => bar.set_position(examples_seen),
                TrialEvent::Epoch {
                    checkpoint,
                    row,
                    best,
                } => {
                    bar.set_position(row.examples_seen);
                    bar.set_message(format!(
                        "virtual epoch {}/{epochs}  {label}",
                        row.virtual_epoch
                    ));
                    let e = Event::EpochDone {
                        trial,
                        row: row.clone(),
                        seconds: checkpoint.meta.seconds,
                    };
                    let job = Persist::Epoch {
                        ckpt: ckpt.clone(),
                        checkpoint,
                        record: e.clone(),
                        best,
                    };
                    tx.send(job)?;
                    let mut inbox = ctx.inbox.lock().unwrap();
                    inbox.events.push(e);
                    inbox.epochs += 1;
                    if ctx
                        .opts
                        .stop_after_epochs
                        .is_some_and(|n| inbox.epochs >= n)
                    {
                        stop.store(true, Ordering::SeqCst);
                    }
                }
            }
            Ok(if stop.load(Ordering::SeqCst) {
                Flow::Stop
            } else {
                Flow::Continue
            })
        };
        let outcome = run_trial(
            dev.clone(),
            plan,
            trial,
            &params,
            &ckpt.dir,
            resume,
            &mut on,
        )?;
        bar.finish_and_clear();
        ctx.bars.remove(&bar);
        let ended = (outcome.status != Status::Running).then_some(Event::TrialEnded {
            trial,
            status: outcome.status,
            reason: outcome.reason,
            seconds: outcome.seconds,
        });
        {
            let mut inbox = ctx.inbox.lock().unwrap();
            inbox.phases += outcome.phases;
            inbox.events.extend(ended.clone());
        }
        let job = Persist::Left {
            ckpt,
            curve: outcome.curve,
            ended,
        };
        tx.send(job)?;
    }
}

/// Where trial `trial` starts, new or resumed: from the checkpoint recovery chooses (see
/// [`recover::recover`]), whose rows the journal lacks are journalled again behind the trial's
/// `started` and join the history; or from scratch in an emptied folder.
fn resume_from(
    ctx: &Ctx,
    tx: &Outbox,
    ckpt: &std::sync::Arc<Checkpointer>,
    trial: u64,
    params: &Params,
    journal: &[CurveRow],
) -> Result<Option<Checkpoint>> {
    let r = recover::recover(ckpt, trial, params, journal, ctx.plan.metric)
        .map_err(|e| Error::io(&ckpt.dir, e))?;
    for w in &r.warnings {
        ctx.bars.suspend(|| eprintln!("warning: {w}"));
    }
    let Some(c) = r.start else {
        tx.send(Persist::Begin(ckpt.clone()))?;
        return Ok(None);
    };
    for row in r.missing {
        let e = Event::EpochDone {
            trial,
            row,
            seconds: c.meta.seconds,
        };
        ctx.inbox.lock().unwrap().events.push(e.clone());
        tx.send(Persist::Record(e))?;
    }
    Ok(Some(c))
}

/// `batch_size=32 learning_rate=0.001`, for progress lines.
pub fn describe(params: &Params) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}={}", leaderboard::short(v.as_f64())))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `tune status` text: counts by status, the best trial so far, and each trial's use of its budget.
pub fn status(plan: &StudyPlan, history: &History) -> String {
    let count = |st: Status| history.trials.values().filter(|t| t.status == st).count();
    let mut out = format!(
        "study {}: {} of {} trials started; {} complete, {} stopped early, {} failed, {} running or interrupted\n",
        plan.name,
        history.trials.len(),
        plan.trials,
        count(Status::Complete),
        count(Status::Stopped),
        count(Status::Failed),
        count(Status::Running)
    );
    let rows = leaderboard::rows(plan, history);
    if let Some(best) = rows.first().filter(|r| !r.best.is_nan()) {
        out += &format!(
            "best so far: trial {} with {} = {} at virtual epoch {} ({})\n",
            best.trial,
            plan.metric.kind.name(),
            leaderboard::short(best.best),
            best.best_virtual_epoch.unwrap_or(0),
            describe(&history.trials[&best.trial].params)
        );
    }
    for t in history
        .trials
        .values()
        .filter(|t| t.status != Status::Running)
    {
        let ckpt = Checkpointer::new(trial_dir(&plan.out_dir, t.trial), plan.keep);
        let state = recover::check_best(&ckpt, t.trial, &t.params, &t.curve, plan.metric, false);
        match state {
            Ok(BestFile::Lost(why)) => out += &format!("damaged: trial {}: {why}\n", t.trial),
            Err(e) => out += &format!("damaged: trial {}: {}: {e}\n", t.trial, ckpt.dir.display()),
            Ok(_) => {}
        }
    }
    let total = plan.budget.total_examples;
    for t in history.trials.values() {
        let seen = t.curve.last().map_or(0, |r| r.examples_seen);
        out += &format!(
            "  trial {:>3}  {:<8}  {:>6.1}% of the budget ({seen}/{total} examples, virtual epoch {}/{})  {}\n",
            t.trial,
            t.status.as_str(),
            100.0 * seen as f64 / total as f64,
            t.curve.last().map_or(0, |r| r.virtual_epoch),
            plan.budget.virtual_epochs,
            describe(&t.params)
        );
    }
    out
}
