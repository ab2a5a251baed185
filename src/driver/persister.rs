//! A worker's persister: a thread beside the worker that makes checkpoints and events durable in
//! groups while training goes on, so that fsync waits overlap the next virtual epoch instead of
//! adding to it.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use super::Ctx;
use crate::artifacts::{Checkpoint, Keep, Retention};
use crate::curve::CurveRow;
use crate::error::{Error, Result};
use crate::storage::Event;

/// What a worker's persister does, in order.
pub(super) enum Persist {
    /// Append a record that needs no checkpoint stored before it (`started`, `ended` of a trial
    /// that never trained, a boundary recovered from a checkpoint already durable).
    Record(Event),
    /// A trial starts from scratch: make its place, or empty what a crash left in it.
    Begin(u64),
    /// A virtual epoch: its checkpoint is stored at the next commit if the trial still needs it,
    /// and its `record` journalled once that is durable; `best` when it is the trial's best.
    Epoch {
        trial: u64,
        checkpoint: Box<Checkpoint>,
        record: Event,
        best: bool,
    },
    /// The trial left its runner: write its `curve.csv`, then journal `ended` when it ended.
    Left {
        trial: u64,
        curve: Vec<CurveRow>,
        ended: Option<Event>,
    },
    /// Make everything held durable now, then answer.
    Flush(Sender<()>),
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

/// Bytes of checkpoints a worker may have queued for its persister (its group holds at most
/// `keep` + 1 more per trial): enough that a commit's fsyncs never hold up training unless the disk
/// falls this far behind; one checkpoint may always wait, whatever its size.
const QUEUE_BYTES: usize = 256 << 20;

/// The worker's end of its persister's queue.
pub(super) struct Outbox<'a> {
    pub tx: Sender<Persist>,
    pub held: &'a Held,
}

impl Outbox<'_> {
    /// Queues `job`, first waiting while [`QUEUE_BYTES`] are queued. An error when the persister
    /// stopped (on an error of its own, which the worker reports).
    pub fn send(&self, job: Persist) -> Result<()> {
        if self.held.reserve(job.bytes()) && self.tx.send(job).is_ok() {
            Ok(())
        } else {
            Err(Error::System("the persister stopped".into()))
        }
    }
}

/// Checkpoint bytes queued and not yet taken by the persister, and whether it stopped.
#[derive(Default)]
pub(super) struct Held {
    state: Mutex<(usize, bool)>,
    freed: Condvar,
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

    pub fn close(&self) {
        self.state.lock().unwrap().1 = true;
        self.freed.notify_all();
    }
}

/// The persister's loop. It holds each virtual epoch's checkpoint and record in memory and makes
/// them durable in groups: when a trial starts, is promoted or leaves its runner ([`at_once`]), at
/// most `sync_every` after the first record held, and when the run ends or stops. A commit stores
/// the checkpoints the trial still needs (retention's decision over the held ones: the last `keep`
/// and its best; the others are dropped unwritten) and syncs them, then the best, then appends the
/// records as one group, then retention deletes older checkpoints. A record therefore never
/// reaches storage before its checkpoint is durable, and a crash loses only records not appended
/// yet, whose virtual epochs resume redoes to the same results (or recovers from the checkpoints).
/// Per-epoch fsyncs woke the persister four times a virtual epoch, each wake taking a core from a
/// worker when every core trains.
pub(super) fn persist_loop(ctx: &Ctx, rx: Receiver<Persist>, held: &Held) -> Result<()> {
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
        if let Persist::Flush(done) = job {
            group.commit(ctx)?;
            let _ = done.send(());
            continue;
        }
        let bytes = job.bytes();
        let now = at_once(&job);
        group.add(ctx, job)?;
        held.release(bytes);
        if now || group.since.is_some_and(|t| t.elapsed() >= every) {
            group.commit(ctx)?;
        }
    }
    group.commit(ctx)
}

/// Whether `job` is committed as soon as it comes, whatever `sync_every`: a trial that left its
/// runner, and a trial's start or promotion, so that `tune status` (which reads the storage) counts
/// a trial as running from its start on, even one whose virtual epochs take less than `sync_every`
/// (an append per trial, not per virtual epoch).
fn at_once(job: &Persist) -> bool {
    matches!(
        job,
        Persist::Left { .. }
            | Persist::Record(Event::TrialStarted { .. } | Event::TrialPromoted { .. })
    )
}

/// What a persister holds and has not made durable yet.
#[derive(Default)]
struct Group {
    /// When the oldest record held arrived.
    since: Option<Instant>,
    /// Records in the order they came.
    records: Vec<Event>,
    trials: Vec<Pending>,
}

/// A trial's part of a [`Group`].
struct Pending {
    trial: u64,
    /// Checkpoints not stored yet that the trial may still need (retention keeps them: the newest
    /// is always among them, last).
    held: Vec<Checkpoint>,
    /// The newest epoch that was the trial's best when it came.
    best: Option<u32>,
}

impl Group {
    fn pending(&mut self, trial: u64) -> &mut Pending {
        let i = match self.trials.iter().position(|p| p.trial == trial) {
            Some(i) => i,
            None => {
                self.trials.push(Pending {
                    trial,
                    held: vec![],
                    best: None,
                });
                self.trials.len() - 1
            }
        };
        &mut self.trials[i]
    }

    fn add(&mut self, ctx: &Ctx, job: Persist) -> Result<()> {
        self.since.get_or_insert_with(Instant::now);
        match job {
            Persist::Record(e) => self.records.push(e),
            Persist::Begin(trial) => {
                ctx.store.begin(trial)?;
                self.pending(trial);
            }
            Persist::Epoch {
                trial,
                checkpoint,
                record,
                best,
            } => {
                let k = checkpoint.meta.virtual_epoch;
                // What a commit writes: the last `keep` and the best.
                let unwritten = Retention(vec![Keep::Last(ctx.plan.keep), Keep::Best]);
                let p = self.pending(trial);
                if best {
                    p.best = Some(k);
                }
                p.held.push(*checkpoint);
                let best = p.best;
                let (kept, dropped): (Vec<Checkpoint>, Vec<Checkpoint>) =
                    std::mem::take(&mut p.held)
                        .into_iter()
                        .partition(|c| unwritten.keeps(c.meta.virtual_epoch, k, best));
                p.held = kept;
                // A program's checkpoint the store took over and that will never be stored.
                for c in dropped.iter().filter(|c| c.meta.files.is_some()) {
                    ctx.store.remove(trial, c.meta.virtual_epoch)?;
                }
                self.records.push(record);
            }
            Persist::Flush(_) => unreachable!("the loop commits at a flush"),
            Persist::Left {
                trial,
                curve,
                ended,
            } => {
                let dir = ctx.plan.out_dir.join("trials").join(trial.to_string());
                let metric = ctx.plan.curve_metric();
                crate::outputs::write_curve(&dir, &curve, metric)?;
                // Its folder is synced at the commit.
                self.pending(trial);
                self.records.extend(ended);
            }
        }
        Ok(())
    }

    /// Makes everything held durable, in the order resume relies on.
    fn commit(&mut self, ctx: &Ctx) -> Result<()> {
        let store = ctx.store;
        for p in &self.trials {
            for h in &p.held {
                store.put(p.trial, h)?;
            }
            // Ahead of the records: after a crash here the best may name an epoch that resume
            // redoes, to the same bytes.
            if let Some(b) = p.best {
                store.set_best(p.trial, b)?;
            }
            store.sync(p.trial)?;
        }
        // What is stored, listed while the trials are still held (a shared store knows its own
        // writes to a held trial without asking); deleted only once the records are appended.
        let listed: Vec<Vec<u32>> = self
            .trials
            .iter()
            .map(|p| match p.held.is_empty() {
                true => vec![],
                false => store.epochs(p.trial),
            })
            .collect();
        ctx.storage.lock().unwrap().append(&self.records)?;
        // Stored checkpoints: the last `keep` (the best stays through its own link or copy), and
        // those another trial may start from.
        for (p, epochs) in self.trials.iter().zip(&listed) {
            if let Some(newest) = p.held.last() {
                let referenced = {
                    let inbox = ctx.inbox.lock().unwrap();
                    ctx.scheduler.referenced(p.trial, &inbox.board)
                };
                let stored = Retention(vec![
                    Keep::Last(ctx.plan.keep),
                    Keep::Referenced(referenced.into_iter().collect()),
                ]);
                let k = newest.meta.virtual_epoch;
                for j in stored.to_delete(epochs, k, None) {
                    store.remove(p.trial, j)?;
                }
            }
        }
        for e in &self.records {
            if let Event::TrialEnded { trial, .. } = e {
                ctx.observer
                    .event(super::Progress::TrialEnded { trial: *trial });
            }
        }
        *self = Group::default();
        Ok(())
    }
}
