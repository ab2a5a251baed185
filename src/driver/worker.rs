//! A worker: a thread pool for the math and, beside it, its persister; it takes trials from the
//! queue until none is left, starts each where recovery says, and hosts it while its runner trains:
//! every boundary goes to the scheduler for a decision and to the persister to be made durable.

use std::sync::atomic::Ordering;

use super::persister::{persist_loop, Held, Outbox, Persist};
use super::queue::Next;
use super::taken::{copied, Taken};
use super::{Ctx, Progress};
use crate::artifacts::recover::{self, Owner};
use crate::artifacts::Checkpoint;
use crate::curve::CurveRow;
use crate::error::{Error, Result};
use crate::runner::{Boundary, Flow, Job, RunnerWorker, TrialHost};
use crate::scheduler::Decision;
use crate::space::Params;
use crate::storage::{Event, Status};

/// Threads of all the workers' pools together, at most (when the cores allow a trial more).
const POOL_THREADS: usize = 1024;

/// One worker: a thread pool for the math (a thread per core, of which its trial uses its share,
/// [`Ctx::share`]), and inside it the runner's worker (a device of its own: a CUDA device cannot
/// cross threads), taking trials until none are left. Beside it runs its persister.
pub(super) fn worker(ctx: &Ctx) -> Result<()> {
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
            .map_err(Error::no_thread)?;
        let outbox = Outbox { tx, held: &held };
        let trained = pool.install(|| {
            let mut runner = ctx.runner.worker()?;
            worker_loop(ctx, &outbox, &mut *runner)
        });
        // Its cores go to the trials still running, from their next step on.
        ctx.active.fetch_sub(1, Ordering::SeqCst);
        drop(outbox);
        let persisted = persister.join().expect("the persister does not panic");
        // The persister's error comes first: the worker only saw its channel close.
        persisted.and(trained)
    })
}

/// What a free worker gets: a trial, nothing now (a shared study: trials run elsewhere and may yet
/// be left to it), or nothing more. One a trial, moved once: its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Take {
    Trial(Taken),
    Wait,
    Done,
}

fn take(ctx: &Ctx) -> Result<Take> {
    let mut guard = ctx.shared.lock().unwrap();
    let s = &mut *guard;
    s.catch_up(ctx.inbox);
    let shared = ctx.storage.lock().unwrap().shared();
    // Other workers' events and the trials they left behind (dead, frozen or cut off past their
    // lease), looked at once a second: they go first, having the fewest epochs left.
    if shared && s.looked.is_none_or(|t| t.elapsed() >= LOOK_EVERY) {
        s.looked = Some(std::time::Instant::now());
        follow(ctx, s)?;
        if let Some(t) = take_over(ctx, s)? {
            return Ok(Take::Trial(t));
        }
    }
    if let Some(t) = promote(ctx, s, shared)? {
        return Ok(Take::Trial(t));
    }
    while let Some(item) = s.queue.pop_front() {
        let fresh = |(trial, params, started): (u64, Params, Event)| {
            // The scheduler's board knows the trial from its start on.
            ctx.inbox.lock().unwrap().board.apply(&started);
            Taken::fresh(trial, params, started)
        };
        match item {
            Next::Resume(n) => {
                // A shared study's trial may run elsewhere: taken only once its lease ran out.
                if ctx.storage.lock().unwrap().resume(n)? {
                    return Ok(Take::Trial(resumed(ctx, s, n, shared)?));
                }
            }
            Next::New(n) => {
                // Another process may have started it (a shared storage): the next one, then.
                if ctx.storage.lock().unwrap().claim(Some(n))?.is_some() {
                    return Ok(Take::Trial(fresh(s.start(n, ctx.observer))));
                }
            }
            Next::Ask if shared => {
                ctx.storage.lock().unwrap().suggesting(true)?;
                let asked = ask_shared(ctx, s);
                ctx.storage.lock().unwrap().suggesting(false)?;
                if let Some(mut t) = asked?.map(fresh) {
                    // Recorded already, under the suggestion lock.
                    t.started.clear();
                    return Ok(Take::Trial(t));
                }
            }
            Next::Ask => {
                let n = ctx.storage.lock().unwrap().claim(None)?;
                let n = n.expect("a next number is always free");
                return Ok(Take::Trial(fresh(s.start(n, ctx.observer))));
            }
        }
    }
    if !shared {
        // A paused trial may still be promoted once the running ones reach their boundary.
        let waits = ctx.scheduler.waits(&ctx.inbox.lock().unwrap().board);
        return Ok(if waits { Take::Wait } else { Take::Done });
    }
    // While others still run trials, this worker waits in case one is left behind, or (at a
    // barrier of population-based training) until a paused one may be promoted.
    follow(ctx, s)?;
    if let Some(t) = take_over(ctx, s)? {
        return Ok(Take::Trial(t));
    }
    if let Some(t) = promote(ctx, s, shared)? {
        return Ok(Take::Trial(t));
    }
    let elsewhere = ctx.storage.lock().unwrap().orphans()?.elsewhere;
    let waits = ctx.scheduler.waits(&ctx.inbox.lock().unwrap().board);
    Ok(if elsewhere == 0 && !waits {
        Take::Done
    } else {
        Take::Wait
    })
}

/// How often a worker with trials to start looks at the other workers' events and leases.
const LOOK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// A trial whose lease ran out, claimed to resume it, if any.
fn take_over(ctx: &Ctx, s: &mut super::queue::Shared) -> Result<Option<Taken>> {
    let orphans = ctx.storage.lock().unwrap().orphans()?;
    for n in orphans.expired {
        if ctx.storage.lock().unwrap().resume(n)? {
            return Ok(Some(resumed(ctx, s, n, true)?));
        }
    }
    Ok(None)
}

/// A new trial of an adaptive sampler in a shared study, under the suggestion lock: the sampler
/// sees every trial the other workers started (running ones as the constant liar), the number is
/// the first below `trials` no worker claimed (so that together they start no more than that), and
/// its start is recorded before the lock is released. `None` when every number is claimed.
fn ask_shared(ctx: &Ctx, s: &mut super::queue::Shared) -> Result<Option<(u64, Params, Event)>> {
    follow(ctx, s)?;
    let free: Vec<u64> = (0..ctx.plan.trials as u64)
        .filter(|n| !s.history.trials.contains_key(n))
        .collect();
    for n in free {
        if ctx.storage.lock().unwrap().claim(Some(n))?.is_some() {
            let started = s.start(n, ctx.observer);
            ctx.storage
                .lock()
                .unwrap()
                .append(std::slice::from_ref(&started.2))?;
            return Ok(Some(started));
        }
    }
    Ok(None)
}

/// Applies the events other processes appended since the last look to the history and to the
/// scheduler's board.
fn follow(ctx: &Ctx, s: &mut super::queue::Shared) -> Result<()> {
    let (events, cursor) = ctx.storage.lock().unwrap().read_after(s.cursor)?;
    s.cursor = cursor;
    let mut inbox = ctx.inbox.lock().unwrap();
    for e in &events {
        s.history.apply(e);
        inbox.board.apply(e);
    }
    Ok(())
}

/// Trial `n`, claimed to resume it: as the storage tells it now (the events of the process that
/// had it included), or started anew when that process died before recording its start.
fn resumed(ctx: &Ctx, s: &mut super::queue::Shared, n: u64, shared: bool) -> Result<Taken> {
    if shared {
        follow(ctx, s)?;
    }
    if !s.history.trials.contains_key(&n) {
        let (trial, params, started) = s.start(n, ctx.observer);
        ctx.inbox.lock().unwrap().board.apply(&started);
        return Ok(Taken::fresh(trial, params, started));
    };
    Ok(Taken::of(&s.history, n, vec![]))
}

/// A paused trial the scheduler promotes, if any: the promotion joins the board and the history
/// at once (no other worker takes it) and is recorded by the persister before the trial trains.
/// An exploit (population-based training) is decided on the board before the promotion and
/// journalled ahead of it, in the same group: the promotion commits at once, never without it.
/// In a `shared` study the group is appended here, one transaction that claims the paused trial
/// unless another process wrote of it since this one last read: of the workers that saw the same
/// barrier complete, one wins and journals the exploit (the same, decided from the same history);
/// the others read its events and take none.
fn promote(ctx: &Ctx, s: &mut super::queue::Shared, shared: bool) -> Result<Option<Taken>> {
    let mut inbox = ctx.inbox.lock().unwrap();
    let Some(n) = ctx.scheduler.promote(&inbox.board) else {
        return Ok(None);
    };
    let exploit = ctx.scheduler.exploit(n, &inbox.board);
    let mut events: Vec<Event> = exploit.map(|x| x.event()).into_iter().collect();
    events.push(Event::TrialPromoted { trial: n });
    if shared {
        drop(inbox);
        let won = ctx.storage.lock().unwrap().promote(&events, s.cursor)?;
        if !won {
            follow(ctx, s)?;
            return Ok(None);
        }
        inbox = ctx.inbox.lock().unwrap();
    }
    for e in &events {
        inbox.board.apply(e);
    }
    drop(inbox);
    for e in &events {
        s.history.apply(e);
    }
    let started = if shared { vec![] } else { events };
    Ok(Some(Taken::of(&s.history, n, started)))
}

fn worker_loop(ctx: &Ctx, tx: &Outbox, runner: &mut dyn RunnerWorker) -> Result<()> {
    loop {
        if ctx.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        let t = match take(ctx)? {
            Take::Trial(t) => t,
            Take::Done => return Ok(()),
            Take::Wait => {
                std::thread::sleep(std::time::Duration::from_millis(200));
                continue;
            }
        };
        // A new trial's `started` goes through the persister, ahead of its epochs; a crash before
        // it is durable only means the same trial number draws the same parameters again.
        for e in t.started.iter().cloned() {
            tx.send(Persist::Record(e))?;
        }
        let (start, decision) = resume_from(ctx, tx, &t)?;
        let at = start
            .as_ref()
            .map(|c| (c.meta.virtual_epoch, c.meta.examples_seen));
        ctx.observer.event(Progress::TrialStarted {
            trial: t.trial,
            params: &t.params,
            at,
        });
        if let (Some(status), Some(c)) = (ending(&decision), &start) {
            // Its end (or pause) was decided and not yet recorded before the interruption: it
            // ends again exactly where it ended.
            let reason = match &decision {
                Some(Decision::Stop(r) | Decision::Prune(r)) => Some(r.clone()),
                _ => None,
            };
            let ended = Event::TrialEnded {
                trial: t.trial,
                status,
                reason,
                seconds: c.meta.seconds,
            };
            leave(ctx, tx, t.trial, c.meta.curve.clone(), Some(ended))?;
            continue;
        }
        let mut host = Host {
            ctx,
            tx,
            trial: t.trial,
            ending: None,
        };
        let job = Job {
            trial: t.trial,
            params: &t.params,
            start,
            streams: t.streams,
        };
        let outcome = runner.run(job, &mut host)?;
        // The runner knows stopped and interrupted; the scheduler's decision says which stop (its
        // own patience, or pruned by comparison) and which interruption (a pause).
        let status = match (outcome.status, ending(&host.ending)) {
            (Status::Stopped, Some(s)) | (Status::Running, Some(s @ Status::Paused)) => s,
            (s, _) => s,
        };
        let ended = (status != Status::Running).then_some(Event::TrialEnded {
            trial: t.trial,
            status,
            reason: outcome.reason.clone(),
            seconds: outcome.seconds,
        });
        ctx.inbox.lock().unwrap().phases += outcome.phases;
        if let (Some(n), true) = (ctx.runner.give_up_after(), ended.is_some()) {
            let before_first = status == Status::Failed && outcome.curve.is_empty();
            let reason = outcome.reason.as_deref();
            let give_up = ctx
                .shared
                .lock()
                .unwrap()
                .early
                .count(n, t.trial, reason, before_first);
            if let Some(e) = give_up {
                ctx.fail(e);
            }
        }
        leave(ctx, tx, t.trial, outcome.curve, ended)?;
    }
}

/// The status a decision ends (or pauses) a trial with.
fn ending(decision: &Option<Decision>) -> Option<Status> {
    match decision {
        Some(Decision::Stop(_)) => Some(Status::Stopped),
        Some(Decision::Prune(_)) => Some(Status::Pruned),
        Some(Decision::Pause) => Some(Status::Paused),
        _ => None,
    }
}

/// The trial left its runner: its end (when it ended) joins the history, and the persister writes
/// its curve and records the end.
fn leave(
    ctx: &Ctx,
    tx: &Outbox,
    trial: u64,
    curve: Vec<CurveRow>,
    ended: Option<Event>,
) -> Result<()> {
    ctx.observer.event(Progress::TrialLeft { trial });
    let paused = matches!(
        ended,
        Some(Event::TrialEnded {
            status: Status::Paused,
            ..
        })
    );
    // A trial that exploited another's checkpoint holds it until its own end is durable.
    let durable = paused || (ended.is_some() && ctx.scheduler.waits_durable());
    let seen = ended.clone();
    if !durable {
        publish(ctx, seen.clone());
    }
    tx.send(Persist::Left {
        trial,
        curve,
        ended,
    })?;
    if durable {
        // A paused trial may be promoted by any worker, which resumes it from its checkpoint:
        // the scheduler sees the pause once that checkpoint is durable.
        let (done, wait) = std::sync::mpsc::channel();
        tx.send(Persist::Flush(done))?;
        wait.recv()
            .map_err(|_| Error::System("the persister stopped".into()))?;
        publish(ctx, seen);
    }
    Ok(())
}

/// A trial's end joins the scheduler's board and, at the next catch-up, the history.
fn publish(ctx: &Ctx, ended: Option<Event>) {
    let mut inbox = ctx.inbox.lock().unwrap();
    if let Some(e) = &ended {
        inbox.board.apply(e);
    }
    inbox.events.extend(ended);
}

/// Where the trial starts, new or resumed: from the checkpoint recovery chooses (see
/// [`recover::recover`]), whose rows the storage lacks are recorded again behind the trial's
/// `started`, each with the scheduler's decision; or from scratch in an emptied place. Also the
/// decision at the starting boundary: the journalled one, or one taken now where none was.
fn resume_from(
    ctx: &Ctx,
    tx: &Outbox,
    t: &Taken,
) -> Result<(Option<Checkpoint>, Option<Decision>)> {
    if let Some(x) = &t.copy {
        return Ok((Some(copied(ctx, t, x)?), Some(Decision::Continue)));
    }
    let who = Owner {
        trial: t.trial,
        params: &t.params,
        exploits: &t.exploits,
    };
    let r = recover::recover(ctx.store, &who, &t.curve, ctx.plan.metric)?;
    for w in &r.warnings {
        ctx.observer.event(Progress::Warning(w));
    }
    let Some(c) = r.start else {
        tx.send(Persist::Begin(t.trial))?;
        return Ok((None, None));
    };
    let (k, j) = (c.meta.virtual_epoch as usize, t.curve.len());
    let decision = if k > j {
        // Boundaries whose records a torn append lost: recorded again, each decided.
        let mut d = Decision::Continue;
        for row in r.missing {
            d = record(ctx, tx, t.trial, row, c.meta.seconds)?;
        }
        d
    } else if k < j {
        // An earlier checkpoint than the storage's last boundary: the trial went on from it.
        Decision::Continue
    } else if let Some(d) = t.decision.clone() {
        d
    } else {
        // A journal of an earlier build records no decisions: the one at this boundary, now.
        record(
            ctx,
            tx,
            t.trial,
            c.meta.curve[k - 1].clone(),
            c.meta.seconds,
        )?
    };
    Ok((Some(c), Some(decision)))
}

/// Records a boundary whose checkpoint is durable already: decided, it goes to the persister now.
fn record(ctx: &Ctx, tx: &Outbox, trial: u64, row: CurveRow, seconds: f64) -> Result<Decision> {
    let (decision, e) = decide(ctx, trial, row, seconds);
    tx.send(Persist::Record(e))?;
    Ok(decision)
}

/// The scheduler's decision at a new boundary of `trial`, and its record, which joins the board
/// and the history.
fn decide(ctx: &Ctx, trial: u64, row: CurveRow, seconds: f64) -> (Decision, Event) {
    let mut inbox = ctx.inbox.lock().unwrap();
    let mut e = Event::EpochDone {
        trial,
        row,
        seconds,
        decision: None,
    };
    inbox.board.apply(&e);
    let d = ctx.scheduler.decide(trial, &inbox.board);
    if let Event::EpochDone { decision, .. } = &mut e {
        *decision = Some(d.clone());
    }
    inbox.board.apply(&e);
    inbox.events.push(e.clone());
    (d, e)
}

/// The driver's side of a trial in a runner.
struct Host<'a, 'c> {
    ctx: &'a Ctx<'c>,
    tx: &'a Outbox<'a>,
    trial: u64,
    /// The decision that ended or paused the trial, when one did.
    ending: Option<Decision>,
}

impl TrialHost for Host<'_, '_> {
    fn threads(&self) -> usize {
        self.ctx.share()
    }

    fn stopping(&self) -> bool {
        self.ctx.stop.load(Ordering::SeqCst)
    }

    fn adopt(
        &mut self,
        epoch: u32,
        from: &std::path::Path,
    ) -> Result<(crate::artifacts::Payload, std::path::PathBuf)> {
        self.ctx.store.adopt(self.trial, epoch, from)
    }

    fn progress(&mut self, examples_seen: u64) {
        self.ctx.observer.event(Progress::Examples {
            trial: self.trial,
            examples_seen,
        });
    }

    fn boundary(&mut self, b: Boundary) -> Result<Flow> {
        let ctx = self.ctx;
        ctx.observer.event(Progress::Boundary {
            trial: self.trial,
            row: &b.row,
        });
        let seconds = b.checkpoint.meta.seconds;
        let (decision, record) = decide(ctx, self.trial, b.row, seconds);
        self.tx.send(Persist::Epoch {
            trial: self.trial,
            checkpoint: b.checkpoint,
            record,
            best: b.best,
        })?;
        let mut inbox = ctx.inbox.lock().unwrap();
        inbox.epochs += 1;
        if ctx
            .opts
            .stop_after_epochs
            .is_some_and(|n| inbox.epochs >= n)
        {
            ctx.stop.store(true, Ordering::SeqCst);
        }
        if ctx.storage.lock().unwrap().lost(self.trial) {
            // Another worker took the trial over (this one froze or lost the network past its
            // lease): nothing of it was written from then on, and it is dropped here.
            ctx.observer.event(Progress::Warning(&format!(
                "trial {}: its lease ran out and another worker took it over; dropped here",
                self.trial
            )));
            return Ok(Flow::Interrupt);
        }
        let flow = match &decision {
            Decision::Stop(reason) | Decision::Prune(reason) => Flow::Stop(reason.clone()),
            Decision::Pause => Flow::Interrupt,
            Decision::Continue if ctx.stop.load(Ordering::SeqCst) => Flow::Interrupt,
            Decision::Continue => Flow::Continue,
        };
        if decision != Decision::Continue {
            self.ending = Some(decision);
        }
        Ok(flow)
    }
}
