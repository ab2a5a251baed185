//! The command runner: each trial is a user's program, run with its parameters and budget in its
//! environment (`TUNE_*`), reporting each boundary as a line on its stdout after writing its
//! checkpoint. The runner checks each report, has the store take the checkpoint over, and hands
//! the boundary to the host as the built-in trainer does; it stops the process (SIGTERM to its
//! group, SIGKILL after a grace period) when the host stops the trial or the study stops. See
//! README, "Your own training program", for the contract.

pub mod check;
mod confine;
mod control;
mod follow;
mod full;
mod lines;
mod process;
mod shared;
mod slots;
mod supervisor;
pub use supervisor::{set_supervisor, supervise, SUPERVISE_ARG};
pub mod report;

use std::path::{Path, PathBuf};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Job, Phases, RunnerWorker, TrialHost, TrialOutcome, TrialRunner};
use crate::artifacts::CheckpointMeta;
use crate::error::{Error, Result};
use crate::plan::{CommandPlan, StudyPlan};
use crate::seed::{self, Purpose};
use crate::space::Params;
use crate::storage::Status;
use process::Line;
use shared::{Root, Turn};
use slots::{gpu_environment, Slots};

/// A worker's forking program's server, with the folder of its last trial.
type Served = (process::Trial, PathBuf);

/// Trials whose programs all fail before a first report, as the first to end, after which the
/// study stops (a wrong path, a missing module: every trial would).
const GIVE_UP_AFTER: usize = 3;

/// The most characters of a trial's reason (the journal, the leaderboard and the report show it).
const REASON: usize = 600;

/// How often a runner waiting for a report looks at the study's stop flag.
const POLL: Duration = Duration::from_millis(50);

/// The command runner of a study.
pub struct CommandRunner<'a> {
    plan: &'a StudyPlan,
    cmd: &'a CommandPlan,
    /// Programs that made their last report and are exiting, each watched by a thread: the next
    /// trial does not wait for an interpreter's teardown. Joined when the runner is dropped.
    exiting: Mutex<Vec<JoinHandle<()>>>,
    /// The GPU slots its trials take.
    slots: Slots,
    /// The program server its workers share (with `trainer.fork`).
    root: std::sync::Arc<Root>,
    /// The shared server, with the folder of its last trial, once its worker is done: the other
    /// workers' servers are its children's (under the supervisor, they end with it).
    parked: Mutex<Vec<Served>>,
}

impl<'a> CommandRunner<'a> {
    /// The runner of `plan`, whose trainer is `cmd`.
    pub fn new(plan: &'a StudyPlan, cmd: &'a CommandPlan) -> CommandRunner<'a> {
        CommandRunner {
            plan,
            cmd,
            exiting: Mutex::new(vec![]),
            slots: Slots {
                running: Mutex::new(vec![]),
            },
            root: Root::new(),
            parked: Mutex::new(vec![]),
        }
    }
}

impl Drop for CommandRunner<'_> {
    /// No program outlives the study's run.
    fn drop(&mut self) {
        for (s, dir) in self.parked.get_mut().unwrap().drain(..) {
            s.finish(&dir);
        }
        for h in self.exiting.get_mut().unwrap().drain(..) {
            let _ = h.join();
        }
    }
}

impl TrialRunner for CommandRunner<'_> {
    /// Every trial alike: a program's cost is its own business.
    fn estimated_cost(&self, _: &Params) -> f64 {
        1.0
    }

    fn worker(&self) -> Result<Box<dyn RunnerWorker + '_>> {
        Ok(Box::new(CommandWorker {
            plan: self.plan,
            cmd: self.cmd,
            exiting: &self.exiting,
            slots: &self.slots,
            root: &self.root,
            parked: &self.parked,
            server: None,
        }))
    }

    fn give_up_after(&self) -> Option<usize> {
        Some(GIVE_UP_AFTER)
    }
}

struct CommandWorker<'a> {
    plan: &'a StudyPlan,
    cmd: &'a CommandPlan,
    exiting: &'a Mutex<Vec<JoinHandle<()>>>,
    slots: &'a Slots,
    root: &'a std::sync::Arc<Root>,
    parked: &'a Mutex<Vec<Served>>,
    /// With `trainer.fork`: the program's server, with the folder of its last trial.
    server: Option<Served>,
}

impl RunnerWorker for CommandWorker<'_> {
    fn run(&mut self, job: Job, host: &mut dyn TrialHost) -> Result<TrialOutcome> {
        let server = self.cmd.fork.then_some((&mut self.server, self.root));
        let shared = (self.exiting, self.slots);
        run_trial(self.plan, self.cmd, job, host, shared, server)
    }
}

impl Drop for CommandWorker<'_> {
    /// The server ends with its worker (the end of its input ends it); the shared one, with the
    /// last of them.
    fn drop(&mut self) {
        match self.server.take() {
            Some((s, dir)) if s.shared() => self.parked.lock().unwrap().push((s, dir)),
            Some((s, dir)) => s.finish(&dir),
            None => {}
        }
    }
}

/// The trial's folder, where its log and its program's working checkpoint folder are.
fn trial_dir(plan: &StudyPlan, trial: u64) -> PathBuf {
    plan.out_dir.join("trials").join(trial.to_string())
}

/// The environment a trial's process gets besides the spec's.
fn environment(
    plan: &StudyPlan,
    job: &Job,
    work: &Path,
    threads: usize,
) -> Result<Vec<(String, String)>> {
    let mut env = study_environment(plan, threads);
    // The seed of the trial whose state the job goes on from: its own, or after an exploit
    // (population-based training) the copied member's.
    let trial_seed = seed::derive(plan.seed, Purpose::Init, job.streams, 0);
    env.extend([
        ("TUNE_PARAMS".to_string(), json(job.params)),
        ("TUNE_TRIAL".into(), job.trial.to_string()),
        ("TUNE_SEED".into(), trial_seed.to_string()),
        // For the libraries that take 32 bits only (NumPy's legacy seed).
        ("TUNE_SEED32".into(), (trial_seed & 0xFFFF_FFFF).to_string()),
        (
            "TUNE_CHECKPOINT_DIR".into(),
            absolute(work).display().to_string(),
        ),
        ("TUNE_THREADS".into(), threads.to_string()),
    ]);
    if let Some(c) = &job.start {
        let files = c.files.as_ref().ok_or_else(|| {
            Error::Damaged(format!(
                "trial {}: its checkpoint of virtual epoch {} holds no program checkpoint",
                job.trial, c.meta.virtual_epoch
            ))
        })?;
        env.push((
            "TUNE_RESUME_FROM".into(),
            absolute(files).display().to_string(),
        ));
        env.push((
            "TUNE_RESUME_EXAMPLES".into(),
            c.meta.examples_seen.to_string(),
        ));
    }
    Ok(env)
}

/// JSON text of what the environment carries.
fn json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).expect("parameters and numbers serialise")
}

/// What every trial's process gets alike: the budget's boundaries, the study, the device, the
/// data and its split.
fn study_environment(plan: &StudyPlan, threads: usize) -> Vec<(String, String)> {
    let boundaries: Vec<u64> = (1..=plan.budget.virtual_epochs)
        .map(|k| plan.budget.boundary(k))
        .collect();
    let mut env = vec![
        ("TUNE_BOUNDARIES".to_string(), json(&boundaries)),
        ("TUNE_STUDY".into(), plan.name.clone()),
    ];
    // The device as the process sees it: the GPUs it is given are its `cuda:0`…; a forking
    // program's server sees every GPU of the study, each trial its own (see [`gpu_environment`]).
    let gpus = plan.command.as_ref().and_then(|c| c.gpus.as_ref());
    let all: Vec<&str> = gpus
        .map(|g| g.groups.iter().flatten().map(String::as_str).collect())
        .unwrap_or_default();
    env.extend(gpu_environment(gpus.is_some().then_some(&all[..])));
    for k in ["OMP_NUM_THREADS", "MKL_NUM_THREADS"] {
        env.push((k.into(), threads.to_string()));
    }
    if let (Some(file), Some(_)) = (&plan.data_file, &plan.dataset) {
        env.push(("TUNE_DATA".into(), absolute(file).display().to_string()));
        env.push((
            "TUNE_SPLIT".into(),
            absolute(&plan.out_dir.join("split.json"))
                .display()
                .to_string(),
        ));
    }
    env
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// How a trial's run ends.
enum End {
    Complete,
    Failed(String),
    Stopped(String),
    /// The study stops; the trial resumes from its last checkpoint.
    Interrupted,
}

/// Runs one trial's program from `job`'s start to its end, or until the host or the study stops it.
fn run_trial(
    plan: &StudyPlan,
    cmd: &CommandPlan,
    job: Job,
    host: &mut dyn TrialHost,
    (exiting, slots): (&Mutex<Vec<JoinHandle<()>>>, &Slots),
    server: Option<(&mut Option<Served>, &std::sync::Arc<Root>)>,
) -> Result<TrialOutcome> {
    let t0 = Instant::now();
    let job_trial = job.trial;
    let dir = trial_dir(plan, job.trial);
    let work = dir.join("work");
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    // A process an earlier run of the study left (it was killed) must not write beside this one.
    process::kill_leftovers(&dir);
    // What the program wrote after its last report is not part of any checkpoint.
    if work.exists() {
        std::fs::remove_dir_all(&work).map_err(|e| Error::io(&work, e))?;
    }
    std::fs::create_dir_all(&work).map_err(|e| Error::io(&work, e))?;
    let meta = match &job.start {
        Some(c) => c.meta.clone(),
        None => CheckpointMeta::fresh(job.trial, job.params),
    };
    let base_seconds = meta.seconds;
    let mut env = environment(plan, &job, &work, cmd.threads)?;
    let gpu = slots.take(cmd);
    if let (Some(s), Some(g)) = (&gpu, &cmd.gpus) {
        let ids: Vec<&str> = g.groups[s.i].iter().map(String::as_str).collect();
        env.extend(gpu_environment(Some(&ids)));
    }
    let started = match server {
        None => process::start(cmd, &env, &dir, false).map(|p| (p, None)),
        Some((slot, root)) => {
            let stopping = || host.stopping();
            serve(cmd, (slot, root), &env, &dir, &stopping).map(|p| (p, Some(slot)))
        }
    };
    let (mut proc, server) = match started {
        Ok(p) => p,
        Err(e) if full::io_full(&e) => {
            return Err(full::error(
                &work,
                job_trial,
                &format!("it could not start: {e}"),
            ))
        }
        Err(e) => {
            let reason = format!("cannot start {}: {e}", cmd.command[0]);
            return Ok(outcome(End::Failed(reason), meta, base_seconds, t0));
        }
    };
    let mut run = follow::Follow {
        plan,
        cmd,
        work: &work,
        meta,
        base: base_seconds,
        t0,
        handoff: 0.0,
    };
    let end = match run.run(&mut proc, host) {
        Ok(end) => end,
        Err(e) => {
            proc.finish(&dir);
            return Err(e);
        }
    };
    let (meta, handoff) = (run.meta, run.handoff);
    let why = match &end {
        End::Complete => None,
        End::Failed(why) => Some(format!("failed: {why}")),
        End::Stopped(why) => Some(format!("stopped: {why}")),
        End::Interrupted => {
            Some("the study stops: the trial resumes from its last checkpoint".to_string())
        }
    };
    if let Some(why) = &why {
        proc.note(why);
    }
    match server.filter(|_| proc.serving) {
        Some(slot) => keep_server(proc, slot, job_trial, &end, (dir, work)),
        None => let_exit(proc, cmd, why.is_none(), exiting, (dir, work))?,
    }
    let mut out = outcome(end, meta, base_seconds, t0);
    out.phases.checkpoints = handoff;
    out.phases.compute -= handoff;
    Ok(out)
}

/// A forking program's trial `trial` ended with `end`: its server stays in `slot` for the next
/// trial once this one's process ended (a complete trial's exits while the server starts the
/// next one), else it is stopped.
fn keep_server(
    mut proc: process::Trial,
    slot: &mut Option<Served>,
    trial: u64,
    end: &End,
    (dir, work): (PathBuf, PathBuf),
) {
    let complete = matches!(end, End::Complete);
    let ended = complete
        || proc.ended_trial
        || proc.stop_trial(trial).is_err()
        || wait_end(&mut proc, trial, supervisor::GRACE + Duration::from_secs(2));
    if ended && !complete {
        proc.end_trial_processes(trial);
    }
    proc.release(&dir);
    if ended && proc.running() {
        *slot = Some((proc, dir));
    } else {
        proc.finish(&dir);
    }
    let _ = std::fs::remove_dir_all(&work);
}

/// A trial's own process is done with: stopped at once, or, after its last report (`reported`),
/// given `trainer.exit_grace` to exit, which a watcher waits for while this worker goes on.
fn let_exit(
    mut proc: process::Trial,
    cmd: &CommandPlan,
    reported: bool,
    exiting: &Mutex<Vec<JoinHandle<()>>>,
    (dir, work): (PathBuf, PathBuf),
) -> Result<()> {
    let done = move |proc: process::Trial| {
        proc.finish(&dir);
        // The program's scratch: what it wrote after its last report belongs to no checkpoint.
        let _ = std::fs::remove_dir_all(&work);
    };
    if !reported {
        done(proc);
        return Ok(());
    }
    let grace = cmd.exit_grace;
    let watch = move || {
        if proc.wait_for(grace).is_none() {
            proc.note("still running after its last report: stopped");
        }
        done(proc);
    };
    let h = std::thread::Builder::new()
        .name("trial-exit".into())
        .spawn(watch)
        .map_err(Error::no_thread)?;
    exiting.lock().unwrap().push(h);
    Ok(())
}

/// The trial of `env` in `dir` on this worker's forking program's server; when there is none
/// (or it died), on a server of its own forked from the study's shared one (see [`shared`]), or
/// on the program started for it with the offer to fork (see [`process::start`]).
fn serve(
    cmd: &CommandPlan,
    (slot, root): (&mut Option<Served>, &std::sync::Arc<Root>),
    env: &[(String, String)],
    dir: &Path,
    stopping: &dyn Fn() -> bool,
) -> std::io::Result<process::Trial> {
    if let Some((mut s, last)) = slot.take() {
        if s.running() {
            s.begin(env, dir)?;
            return Ok(s);
        }
        s.finish(&last);
    }
    loop {
        match root.turn(stopping) {
            Turn::Start(announce) => {
                let mut p = process::start(cmd, env, dir, true)?;
                p.announce = Some(announce);
                return Ok(p);
            }
            Turn::Fork(control, token) => match process::fork_from(&control, &token, env, dir) {
                Ok(p) => return Ok(p),
                // The shared server is gone: another is started.
                Err(_) => root.lost(&control),
            },
            Turn::Alone => return process::start(cmd, env, dir, true),
        }
    }
}

/// Waits up to `limit` for a forking program's trial `trial` to end; whether it did.
fn wait_end(proc: &mut process::Trial, trial: u64, limit: Duration) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        match proc.lines.recv_timeout(POLL) {
            Ok(Line::End { trial: t, .. }) if t == trial => return true,
            Ok(Line::Closed) | Err(RecvTimeoutError::Disconnected) => return false,
            _ => {}
        }
    }
    false
}

/// The outcome of a run that ended with `end`, its curve in `meta`.
fn outcome(end: End, meta: CheckpointMeta, base: f64, t0: Instant) -> TrialOutcome {
    let now = base + t0.elapsed().as_secs_f64();
    let end = match end {
        End::Failed(r) => End::Failed(report::one_line(&r, REASON)),
        End::Stopped(r) => End::Stopped(report::one_line(&r, REASON)),
        e => e,
    };
    let (status, reason, seconds) = match end {
        End::Complete => (Status::Complete, None, meta.seconds),
        End::Failed(r) => (Status::Failed, Some(r), now),
        End::Stopped(r) => (Status::Stopped, Some(r), meta.seconds),
        End::Interrupted => (Status::Running, None, meta.seconds),
    };
    TrialOutcome {
        status,
        reason,
        seconds,
        phases: Phases {
            compute: t0.elapsed().as_secs_f64(),
            ..Default::default()
        },
        curve: meta.curve,
    }
}
