//! The study driver: the sampler asks, a pool of workers trains (each worker one device slot and a
//! thread pool sized so that running trials × threads ≤ cores), the scheduler decides at every
//! boundary, and every event goes to the storage once what it records is durable. Resuming is
//! replaying the storage's events: finished trials stay, interrupted ones continue from their last
//! intact checkpoint, and the sampler goes on as if never stopped.
//!
//! The driver knows the four seams only as traits ([`Storage`], [`TrialRunner`], [`Scheduler`],
//! [`ArtifactStore`]): [`drive`] runs a study on any of them; [`run`] is the study of a spec in its
//! folder (journal file, folder store, the MLP runner). It prints nothing: what a person sees goes
//! to an [`Observer`].

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::artifacts::recover::{self, BestFile};
use crate::artifacts::ArtifactStore;
use crate::backend::Location;
use crate::curve::{ranks_before, CurveRow};
use crate::error::{Error, Result};
use crate::plan::StudyPlan;
use crate::runner::command::CommandRunner;
use crate::runner::mlp::MlpRunner;
use crate::runner::TrialRunner;
use crate::scheduler::Scheduler;
use crate::storage::{Event, History, Status, Storage};
use crate::tracking::Hub;

mod code;
mod fingerprint;
mod observe;
mod persister;
mod queue;
mod summary;
mod taken;
#[cfg(test)]
mod tests;
mod tracked;
mod warmed;
mod worker;

pub use fingerprint::{check_made_by, fingerprint};
pub use observe::{Observer, Progress, Silent};
pub use queue::unstarted_trials;
pub use summary::Summary;

/// How `tune` runs a study.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Move an existing study folder aside and start over.
    pub restart: bool,
    /// Stop (as on Ctrl-C) once this many virtual epochs have been checkpointed in this run.
    pub stop_after_epochs: Option<u64>,
    /// How long a persister may hold checkpoints and records before making them durable together
    /// (zero: every virtual epoch on its own). What a crash can lose, to be redone.
    pub sync_every: Duration,
    /// A PostgreSQL URL: the study is kept there, shared with other workers, and its checkpoints
    /// too unless `artifacts` names a folder.
    pub storage: Option<String>,
    /// `tune worker`: join a study that exists, never create one.
    pub join: bool,
    /// A folder for the checkpoints (shared by the workers, on NFS for example) instead of the
    /// storage's own place.
    pub artifacts: Option<std::path::PathBuf>,
    /// Go on when the program's files changed since the study last ran (journalled).
    pub allow_code_change: bool,
    /// An MLflow server the trials are logged to (`--mlflow`), over the spec's `tracking.mlflow`.
    pub mlflow: Option<String>,
}

/// The seams a study runs on.
pub struct Seams<'a> {
    pub storage: &'a mut dyn Storage,
    pub store: &'a dyn ArtifactStore,
    pub runner: &'a dyn TrialRunner,
    pub scheduler: &'a dyn Scheduler,
}

/// Runs (or resumes) the study of `plan` in its folder. `stop` asks it to finish the checkpoints
/// being written and return.
pub fn run(
    plan: &StudyPlan,
    opts: &RunOptions,
    stop: &AtomicBool,
    observer: &dyn Observer,
) -> Result<Summary> {
    let tracking = tracked::settings(plan, opts)?;
    let out = &plan.out_dir;
    if opts.restart && out.exists() {
        move_aside(out, observer)?;
    }
    let mut backend = crate::backend::open(
        out,
        opts.storage.as_deref(),
        opts.join,
        opts.artifacts.as_deref(),
    )?;
    if let Some(chose) = &plan.method_chosen {
        observer.event(Progress::Note(chose));
    }
    if let Some(said) = plan.dataset.as_ref().and_then(|d| d.prep.summary()) {
        observer.event(Progress::Note(&said));
    }
    let Some(settings) = tracking else {
        return run_on(plan, &mut backend, opts, stop, observer, None);
    };
    let say = |line: &str| observer.event(Progress::Warning(line));
    let ending = crate::tracking::hub::Ending::default();
    // The trackers' threads end with the scope: at most their flush's wait after the study.
    std::thread::scope(|scope| {
        let hub = Hub::start(scope, &settings, &say, &ending);
        run_on(plan, &mut backend, opts, stop, observer, Some(&hub))
    })
}

/// [`run`] on the study's open `backend`, its events passed on to the trackers of `hub`.
fn run_on(
    plan: &StudyPlan,
    backend: &mut crate::backend::Backend,
    opts: &RunOptions,
    stop: &AtomicBool,
    observer: &dyn Observer,
    hub: Option<&Hub>,
) -> Result<Summary> {
    let out = &plan.out_dir;
    let mut tracked;
    let store = &*backend.store;
    let mut storage: &mut dyn Storage = &mut *backend.storage;
    if let Some(hub) = hub {
        tracked = tracked::Tracked {
            inner: storage,
            hub,
            plan,
            members: Default::default(),
        };
        storage = &mut tracked;
    }
    let mlp;
    let command;
    let runner: &dyn TrialRunner = match &plan.command {
        None => {
            mlp = MlpRunner::new(plan);
            &mlp
        }
        Some(cmd) => {
            command = CommandRunner::new(plan, cmd);
            &command
        }
    };
    let scheduler = crate::scheduler::for_plan(plan);
    let seams = Seams {
        storage,
        store,
        runner,
        scheduler: &scheduler,
    };
    let summary = drive(plan, seams, opts, stop, observer)?;
    // The test rows score the study's end: an interrupted one's top trials may not be its last.
    if !summary.interrupted {
        crate::outputs::test_scores::update(plan, &summary.history, store)?;
    }
    let leaderboard = out.join("leaderboard.csv");
    crate::outputs::leaderboard::write_csv(plan, &summary.history, &leaderboard)?;
    if !plan.objectives.plain() {
        crate::outputs::front::write_csv(plan, &summary.history, &out.join("pareto.csv"))?;
    }
    if let Some(p) = plan.pbt() {
        crate::outputs::replay::write_lineage(plan, &summary.history, p.interval)?;
    }
    crate::outputs::report::write(plan, &summary.history)?;
    if let (Some(hub), false) = (hub, summary.interrupted) {
        let best = best_so_far(plan, &summary.history).map(|(t, _)| t);
        let front = (!plan.objectives.plain()).then(|| {
            let fronts = crate::outputs::front::Fronts::of(plan, &summary.history);
            crate::tracking::Front {
                file: out.join("pareto.csv"),
                trials: summary
                    .history
                    .trials
                    .keys()
                    .map(|&t| (t, fronts.ranks[&t], fronts.feasible(t)))
                    .collect(),
            }
        });
        hub.note(&[crate::tracking::Note::StudyEnded {
            best,
            leaderboard,
            front,
        }]);
    }
    Ok(summary)
}

/// Says where a fine-tuned study's curves start (the checkpoint's validation on this study's
/// rows), and writes it to `init.json` in the study folder.
fn init_note(plan: &StudyPlan, eval: crate::runner::mlp::model::Eval) -> Result<String> {
    let init = plan.init.as_ref().expect("a fine-tuned study");
    let metric = plan.curve_metric().name();
    let json = serde_json::json!({
        "from": init.from,
        "trial": init.trial,
        "virtual_epoch": init.virtual_epoch,
        "checkpoint_crc32": format!("{:08x}", init.crc32),
        "optimizer": if init.keep_optimizer { "keep" } else { "reset" },
        "validation_rows": plan.data().val.rows,
        "val_loss": eval.loss,
        metric: eval.metric,
    });
    let path = plan.out_dir.join("init.json");
    let text = serde_json::to_string_pretty(&json).expect("serialises");
    crate::durable::replace_with(&path, false, |f| {
        std::io::Write::write_all(f, text.as_bytes())
    })
    .map_err(|e| Error::io(&path, e))?;
    Ok(format!(
        "init: every trial starts from trial {} of {} at virtual epoch {}: val_loss {}, {metric} {} on this study's {} validation rows",
        init.trial,
        init.from,
        init.virtual_epoch,
        crate::outputs::short(eval.loss),
        crate::outputs::short(eval.metric),
        plan.data().val.rows
    ))
}

/// Moves the study folder `out` aside, once no other process holds it, to `<name>.old-N` beside
/// it, N the first number free, and says where.
fn move_aside(out: &Path, observer: &dyn Observer) -> Result<()> {
    // The lock first: a study another process runs is never moved from under it.
    let _held = crate::storage::journal::StudyLock::acquire(out)?;
    let name = out.file_name().unwrap_or_default().to_string_lossy();
    let aside = (1u64..)
        .map(|n| out.with_file_name(format!("{name}.old-{n}")))
        // A dangling link counts as taken too: `symlink_metadata`, not `exists`.
        .find(|p| std::fs::symlink_metadata(p).is_err())
        .expect("a free number");
    std::fs::rename(out, &aside).map_err(|e| Error::io(out, e))?;
    observer.event(Progress::Note(&format!(
        "moved the old study aside to {}",
        aside.display()
    )));
    Ok(())
}

/// The best trial of `history` and its selected row, ranked as the leaderboard ranks them.
fn best_so_far<'h>(plan: &StudyPlan, history: &'h History) -> Option<(u64, &'h CurveRow)> {
    let mut best: Option<(u64, &CurveRow)> = None;
    for t in history.trials.values() {
        let Some(i) = crate::curve::select_best(&t.curve, plan.metric) else {
            continue;
        };
        let row = &t.curve[i];
        if best.is_none_or(|(_, b)| ranks_before(plan.metric, row, b)) {
            best = Some((t.trial, row));
        }
    }
    best
}

/// A worker's spec that differs from its shared study's, in one sentence: what differs (with the
/// study's values when short), and what works with `--storage` (`--restart` does not).
fn shared_spec_changed(
    plan: &StudyPlan,
    opts: &RunOptions,
    storage: &dyn Storage,
    print: &crate::storage::Fingerprint,
    keys: &[String],
) -> Error {
    let study = storage.reread().ok().flatten().and_then(|h| h.fingerprint);
    let place = opts
        .storage
        .as_deref()
        .map(crate::storage::postgres::hide_password)
        .unwrap_or_default();
    Error::Study(format!(
        "{}: this spec differs from the study \"{}\" in PostgreSQL at {place} ({}): every worker needs the spec the study began with; for a new study, give the spec another \"name\" (--restart does not apply to a shared study)",
        plan.spec_file.display(),
        plan.name,
        crate::storage::differences(study.as_ref(), print, keys)
    ))
}

/// Runs (or resumes) the study of `plan` on `seams`.
pub fn drive(
    plan: &StudyPlan,
    seams: Seams,
    opts: &RunOptions,
    stop: &AtomicBool,
    observer: &dyn Observer,
) -> Result<Summary> {
    let started_at = Instant::now();
    let Seams {
        storage,
        store,
        runner,
        scheduler,
    } = seams;
    let (history, cursor) = open_study(plan, &mut *storage, store, opts, observer)?;
    let mut sampler = warmed::sampler(plan);
    let queue = queue::queue(plan.trials, plan.parallel, runner, &mut *sampler, &history);
    let done = history.trials.values().filter(|t| t.status.ended()).count();
    observer.event(Progress::Study {
        name: &plan.name,
        done,
        total: done + queue.len(),
        examples: plan.budget.total_examples,
        virtual_epochs: plan.budget.virtual_epochs,
        metric: plan.metric,
        best: best_so_far(plan, &history),
    });
    let workers = plan.parallel.min(queue.len()).max(1);
    let inbox = Mutex::new(queue::Inbox {
        board: history.clone(),
        ..Default::default()
    });
    let early = queue::EarlyEnds {
        seen: done,
        failures: vec![],
    };
    let shared = Mutex::new(queue::Shared {
        early,
        history,
        sampler,
        queue,
        failed: None,
        sampling_seconds: 0.0,
        cursor,
        looked: None,
    });
    let storage: Mutex<&mut dyn Storage> = Mutex::new(storage);
    let ctx = Ctx {
        plan,
        opts,
        shared: &shared,
        inbox: &inbox,
        storage: &storage,
        store,
        runner,
        scheduler,
        stop,
        observer,
        active: &AtomicUsize::new(workers),
    };
    let idle_seconds = run_workers(&ctx, workers);
    {
        let mut s = shared.lock().unwrap();
        s.catch_up(&inbox);
        if s.failed.is_none() && !stop.load(Ordering::SeqCst) && s.queue.is_empty() {
            prune_paused(&mut s.history, *storage.lock().unwrap())?;
            if scheduler.waits_durable() {
                sweep(plan, store, scheduler, &s.history)?;
            }
        }
    }
    // The workers are done: the block above applied the last of their events.
    let reread = storage.lock().unwrap().reread();
    let mut shared = shared.into_inner().unwrap();
    if let Some(all) = reread? {
        // Other processes' trials too, as stored.
        shared.history = all;
    }
    let phases = inbox.into_inner().unwrap().phases;
    if let Some(e) = shared.failed {
        return Err(e);
    }
    // Stopped with trials paused (PBT's members at a boundary, ASHA's before a promotion): work
    // is left that a resume does, whatever the statuses say.
    let stopped = stop.load(Ordering::SeqCst);
    let interrupted = (shared.history.trials.values())
        .any(|t| t.status == Status::Running || (stopped && t.status == Status::Paused))
        || shared.history.trials.len() < plan.trials;
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

/// Opens the study in `storage` for this run: its fingerprint checked (or recorded), its
/// program's code checked, its selected checkpoints repaired, its split and prepared data
/// written. Its history, and the cursor of the events read.
fn open_study(
    plan: &StudyPlan,
    storage: &mut dyn Storage,
    store: &dyn ArtifactStore,
    opts: &RunOptions,
    observer: &dyn Observer,
) -> Result<(History, u64)> {
    let mut print = fingerprint(plan);
    if storage.shared() {
        print.extend(fingerprint::shared(plan));
    }
    let opened = storage.open(&plan.name, &print).map_err(|e| match e {
        Error::SpecChanged(keys) if storage.shared() => {
            shared_spec_changed(plan, opts, &*storage, &print, &keys)
        }
        Error::SpecChanged(_) => Error::Study(format!("{}: {e}", plan.spec_file.display())),
        e => e,
    })?;
    for w in &opened.warnings {
        observer.event(Progress::Warning(w));
    }
    let mut history = opened.history;
    let code = code::check(plan, &history, opts.allow_code_change, storage.shared())?;
    if let Some((event, note)) = code {
        storage.append(std::slice::from_ref(&event))?;
        history.apply(&event);
        observer.event(Progress::Note(&note));
    }
    if !storage.shared() {
        // A shared storage's checkpoints are written in transactions: none is ever half there.
        repair_best_files(plan, store, &history, observer)?;
    }
    // Only once the spec is known to match the study: a refused resume writes nothing.
    crate::outputs::write_split(plan)?;
    if plan.command.is_none() {
        if let Some(eval) = crate::runner::mlp::init_eval(plan)? {
            observer.event(Progress::Note(&init_note(plan, eval)?));
        }
    }
    // The prepared data, for resumes and `status` not to read the data file again; derived, so
    // a failure to write it costs a later parse, not the study.
    if let (Some(data), Some(key)) = (&plan.dataset, &plan.data_key) {
        if let Err(e) = crate::data::cache::save(&plan.out_dir, key, data) {
            observer.event(Progress::Warning(&format!(
                "{}: the prepared data was not cached ({e}): a resume parses the data file again",
                plan.out_dir.display()
            )));
        }
    }
    Ok((history, opened.cursor))
}

/// At the end of a study, the trials still paused were never promoted: they are pruned where they
/// paused.
fn prune_paused(history: &mut History, storage: &mut dyn Storage) -> Result<()> {
    let ended: Vec<Event> = history
        .trials
        .values()
        .filter(|t| t.status == Status::Paused)
        .map(|t| {
            let at = t.curve.last().map_or(0, |r| r.virtual_epoch);
            Event::TrialEnded {
                trial: t.trial,
                status: Status::Pruned,
                reason: Some(format!(
                    "ASHA: not promoted past the rung of virtual epoch {at}"
                )),
                seconds: t.seconds,
            }
        })
        .collect();
    storage.append(&ended)?;
    for e in &ended {
        history.apply(e);
    }
    Ok(())
}

/// At the end of a study whose trials start from each other's checkpoints, those kept for a start
/// that has happened go: each ended trial keeps its last `keep` (and its best, linked apart).
fn sweep(
    plan: &StudyPlan,
    store: &dyn ArtifactStore,
    scheduler: &dyn Scheduler,
    history: &History,
) -> Result<()> {
    use crate::artifacts::{Keep, Retention};
    for t in history.trials.values().filter(|t| t.status.ended()) {
        let epochs = store.epochs(t.trial);
        let Some(&newest) = epochs.last() else {
            continue;
        };
        let referenced = scheduler.referenced(t.trial, history);
        let keep = Retention(vec![
            Keep::Last(plan.keep),
            Keep::Referenced(referenced.into_iter().collect()),
        ]);
        for j in keep.to_delete(&epochs, newest, None) {
            store.remove(t.trial, j)?;
        }
    }
    Ok(())
}

/// Starts the workers and waits for them; the seconds they waited, summed, with no trial left to
/// start while others still ran. The first failure stops the others at their next checkpoint.
fn run_workers(ctx: &Ctx, workers: usize) -> f64 {
    let workers_done = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let spawned = std::thread::Builder::new().spawn_scoped(scope, || {
                if let Err(e) = worker::worker(ctx) {
                    ctx.fail(e);
                }
                workers_done.lock().unwrap().push(Instant::now());
            });
            if let Err(e) = spawned {
                // A process or container limit on threads: the workers already started finish
                // their virtual epochs and the study stops, resumable.
                ctx.active.fetch_sub(1, Ordering::SeqCst);
                ctx.fail(Error::no_thread(e));
            }
        }
    });
    let all_done = Instant::now();
    let done = workers_done.into_inner().unwrap();
    done.iter().map(|t| (all_done - *t).as_secs_f64()).sum()
}

/// Puts back the selected checkpoint of finished trials that is missing or damaged where an intact
/// copy exists, and says which are lost; a lost one stops nothing (its results are recorded).
fn repair_best_files(
    plan: &StudyPlan,
    store: &dyn ArtifactStore,
    history: &History,
    observer: &dyn Observer,
) -> Result<()> {
    for (trial, state) in recover::check_ended(store, history, plan.metric, true) {
        let sentence = match state? {
            BestFile::Lost(why) => format!("trial {trial}: {why}"),
            _ => format!("trial {trial}: its selected checkpoint was missing or damaged; linked again to its intact copy"),
        };
        observer.event(Progress::Warning(&sentence));
    }
    Ok(())
}

/// What every worker needs from the study.
struct Ctx<'a> {
    plan: &'a StudyPlan,
    opts: &'a RunOptions,
    shared: &'a Mutex<queue::Shared>,
    inbox: &'a Mutex<queue::Inbox>,
    /// Apart from `shared`, so that a persister waiting on fdatasync holds up no worker. Lock
    /// order: `shared`, then `storage`.
    storage: &'a Mutex<&'a mut dyn Storage>,
    store: &'a dyn ArtifactStore,
    runner: &'a dyn TrialRunner,
    scheduler: &'a dyn Scheduler,
    stop: &'a AtomicBool,
    observer: &'a dyn Observer,
    /// Workers still taking trials: the cores are shared among their trials.
    active: &'a AtomicUsize,
}

impl Ctx<'_> {
    /// Threads for the math of each running trial: the cores shared among the workers still
    /// taking trials, so that the cores of a worker that found none left go to the others.
    fn share(&self) -> usize {
        (self.plan.cores / self.active.load(Ordering::SeqCst).max(1)).max(1)
    }

    /// Records the first failure and stops the other workers at their next checkpoint.
    fn fail(&self, e: Error) {
        self.stop.store(true, Ordering::SeqCst);
        self.shared.lock().unwrap().failed.get_or_insert(e);
    }
}

/// Everything a study's `status`, `leaderboard` and `report` read: its history and the store of
/// its checkpoints, from the study folder or from PostgreSQL at `storage` (a folder `artifacts`
/// instead for the checkpoints), without taking the lock or changing anything.
pub fn read_history(
    plan: &StudyPlan,
    storage: Option<&str>,
    artifacts: Option<&Path>,
) -> Result<(History, Box<dyn ArtifactStore>)> {
    let loc = match storage {
        Some(url) => Location::Postgres {
            url: url.to_string(),
            name: plan.name.clone(),
        },
        None => Location::Folder(plan.out_dir.clone()),
    };
    crate::backend::read(&loc, &plan.out_dir.join("trials"), artifacts)?.ok_or_else(|| {
        Error::Study(match storage {
            Some(url) => format!(
                "no study named \"{}\" in PostgreSQL at {}: run `tune run {} --storage URL` first",
                plan.name,
                crate::storage::postgres::hide_password(url),
                plan.spec_file.display()
            ),
            None => format!(
                "{}: no study has run here yet: run `tune {}` first",
                plan.out_dir.display(),
                plan.spec_file.display()
            ),
        })
    })
}
