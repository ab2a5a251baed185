//! A study in PostgreSQL, shared by worker processes on any number of machines: the second backend
//! of [`Storage`] (its checkpoints beside it: `artifacts/postgres/`).
//!
//! Tables (`tune_*`, made on first use): studies by name; events by (study, seq), `seq` handed out
//! under the study row's lock so that a reader after a cursor never skips one committed later;
//! trials with their lease (`owner`, `attempt`, `lease_until`, `state`); checkpoints and each
//! trial's selected one as bytes, naming the payload (a program's files, in chunks) they keep. What Optuna's RDB storage does with heartbeats and
//! `fail_stale_trials` is here a lease: a worker renews the leases of its running trials every
//! quarter lease; a trial whose lease ran out (its worker died, froze or lost the network) is
//! claimed by another worker with the next attempt number, and resumed from its last durable
//! checkpoint. Every write of a trial's events and checkpoints checks, in its transaction, that
//! the trial's row still names this process and its attempt (fencing): a worker that lost its lease
//! writes nothing more for the trial and drops it.
//!
//! A lost connection (PostgreSQL restarting, the network) is retried with backoff for
//! [`Pg::patience`]; an append is one transaction with a group key, so a retry after a commit whose
//! answer was lost does not write the group twice.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{check_fingerprint, Event, Fingerprint, History, Opened, Storage};

mod append;
mod connection;
mod mask;

use crate::error::{Error, Result};
pub use connection::{Conn, Pg, LEASE, PATIENCE};
pub use mask::{hide_password, is_url};

/// The study `name` in PostgreSQL as a [`Storage`].
pub struct PgStorage {
    pg: Arc<Pg>,
    /// `tune worker`: join a study, never create one.
    join_only: bool,
    groups: u64,
    /// Trial numbers known to be claimed (read again after each claim lost to another process),
    /// so that a worker does not ask the server about each number the others took.
    claimed: BTreeSet<u64>,
    heartbeat: Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>,
}

impl PgStorage {
    /// The storage at `url`; `join_only` refuses to create a study.
    pub fn connect(url: &str, join_only: bool) -> Result<PgStorage> {
        Ok(PgStorage {
            pg: Pg::connect(url)?,
            join_only,
            groups: 0,
            claimed: BTreeSet::new(),
            heartbeat: None,
        })
    }

    /// The connection, for a [`PgStore`] on the same study.
    pub fn pg(&self) -> Arc<Pg> {
        self.pg.clone()
    }

    /// The history of study `name`, changing nothing; `None` when there is none.
    pub fn read(url: &str, name: &str) -> Result<Option<(History, Arc<Pg>)>> {
        let Some(pg) = Self::find(url, name)? else {
            return Ok(None);
        };
        let events = events_after(&pg, 0, None)?.0;
        let mut history = History::default();
        for e in &events {
            history.apply(e);
        }
        Ok(Some((history, pg)))
    }

    /// A connection to study `name`, for reading it ([`read_more`]); `None` when there is none.
    pub fn find(url: &str, name: &str) -> Result<Option<Arc<Pg>>> {
        let pg = Pg::connect(url)?;
        let Some(id) = pg.with(|c| {
            c.query_opt("SELECT id FROM tune_studies WHERE name = $1", &[&name])
                .map(|r| r.map(|r| r.get::<_, i64>(0)))
        })?
        else {
            return Ok(None);
        };
        pg.study.store(id as u64, Ordering::SeqCst);
        Ok(Some(pg))
    }

    fn start_heartbeat(&mut self) {
        let stop = Arc::new(AtomicBool::new(false));
        let (pg, flag) = (self.pg.clone(), stop.clone());
        let every = pg.lease / 4;
        let spawned = std::thread::Builder::new()
            .name("tune-lease".into())
            .spawn(move || {
                let mut next = Instant::now() + every;
                while !flag.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(50).min(every));
                    if Instant::now() >= next {
                        // A failure here is retried at the next beat; appends report their own.
                        let _ = pg.heartbeat();
                        next = Instant::now() + every;
                    }
                }
            });
        if let Ok(h) = spawned {
            self.heartbeat = Some((stop, h));
        }
    }
}

impl Drop for PgStorage {
    fn drop(&mut self) {
        if let Some((stop, h)) = self.heartbeat.take() {
            stop.store(true, Ordering::SeqCst);
            let _ = h.join();
        }
        if let Ok(path) = std::env::var("TUNE_PG_STATS") {
            let pg = &self.pg;
            let s = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64 * 1e-9;
            let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
            let line = format!(
                "{{\"writer\":\"{}\",\"storage_s\":{},\"epochs_s\":{},\"store_s\":{},\"heartbeat_s\":{},\"storage_calls\":{},\"epochs_calls\":{},\"store_calls\":{}}}\n",
                pg.writer,
                s(&pg.storage_ns),
                s(&pg.epochs_ns),
                s(&pg.store_ns),
                s(&pg.heartbeat_ns),
                n(&pg.storage_calls),
                n(&pg.epochs_calls),
                n(&pg.store_calls)
            );
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path);
            let _ = file.and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
        }
        // Interrupted trials are free at once for another worker, not after their lease.
        let held: Vec<i64> = self
            .pg
            .held
            .lock()
            .unwrap()
            .keys()
            .map(|t| *t as i64)
            .collect();
        if !held.is_empty() {
            let (pg, study) = (&self.pg, self.pg.study());
            let _ = pg.with(|c| {
                c.execute(
                    "UPDATE tune_trials SET lease_until = now() - interval '1 second'
                     WHERE study = $1 AND owner = $2 AND state = 'running' AND trial = ANY($3)",
                    &[&study, &pg.writer, &held],
                )
            });
        }
    }
}

/// Claims trial `$2` for this process (`$3`, a lease of `$4` seconds): its attempt and the epochs
/// of the checkpoints stored for it; or, when its row was there, no attempt and every trial number
/// claimed (as of the statement's start: a claim committed since is found at the next conflict).
const CLAIM: &str = "
WITH won AS (
    INSERT INTO tune_trials (study, trial, owner, lease_until)
    VALUES ($1, $2, $3, now() + make_interval(secs => $4))
    ON CONFLICT DO NOTHING RETURNING attempt)
SELECT (SELECT attempt FROM won),
    ARRAY(SELECT epoch FROM tune_checkpoints WHERE study = $1 AND trial = $2
        AND EXISTS (SELECT 1 FROM won) ORDER BY epoch),
    ARRAY(SELECT trial FROM tune_trials WHERE study = $1 AND NOT EXISTS (SELECT 1 FROM won))";

/// The events of the study after sequence number `cursor` (all but `skip`'s), and the last number.
fn events_after(pg: &Pg, cursor: u64, skip: Option<&str>) -> Result<(Vec<Event>, u64)> {
    let rows = pg.with(|c| {
        let after = c.prepared(
            "SELECT seq, writer, body FROM tune_events WHERE study = $1 AND seq > $2 ORDER BY seq",
        )?;
        c.query(&after, &[&pg.study(), &(cursor as i64)])
    })?;
    let mut last = cursor;
    let mut events = Vec::with_capacity(rows.len());
    for r in rows {
        last = r.get::<_, i64>(0) as u64;
        if skip.is_some_and(|w| w == r.get::<_, &str>(1)) {
            continue;
        }
        let body: &str = r.get(2);
        let e = serde_json::from_str(body).map_err(|e| {
            Error::Study(format!(
                "PostgreSQL at {}: event {last} of the study cannot be read ({e}): it was written by another build of tune or changed by hand",
                pg.shown
            ))
        })?;
        events.push(e);
    }
    Ok((events, last))
}

/// The events of the study `pg` was [found](PgStorage::find) for after sequence number `cursor`
/// (0: all of them), and the cursor after them: for a reader that follows a running study.
pub fn read_more(pg: &Pg, cursor: u64) -> Result<(Vec<Event>, u64)> {
    events_after(pg, cursor, None)
}

/// The trial an event is about, if any.
pub fn trial_of(e: &Event) -> Option<u64> {
    match e {
        Event::StudyCreated { .. } | Event::CodeChanged { .. } => None,
        Event::TrialStarted { trial, .. }
        | Event::EpochDone { trial, .. }
        | Event::TrialPromoted { trial }
        | Event::TrialExploited { trial, .. }
        | Event::TrialEnded { trial, .. } => Some(*trial),
    }
}

impl Storage for PgStorage {
    fn open(&mut self, name: &str, fingerprint: &Fingerprint) -> Result<Opened> {
        let pg = self.pg.clone();
        let created = serde_json::to_string(&Event::StudyCreated {
            name: name.to_string(),
            fingerprint: fingerprint.clone(),
        })
        .expect("events serialise");
        let join_only = self.join_only;
        // The study's id, made with its first event when it has none (unless joining only).
        let id = pg.with(|c| {
            let mut tx = c.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock(7215011)", &[])?;
            let found = tx.query_opt("SELECT id FROM tune_studies WHERE name = $1", &[&name])?;
            let id = match found {
                Some(r) => Some(r.get::<_, i64>(0)),
                None if join_only => None,
                None => {
                    let id: i64 = tx
                        .query_one(
                            "INSERT INTO tune_studies (name, events) VALUES ($1, 1) RETURNING id",
                            &[&name],
                        )?
                        .get(0);
                    tx.execute(
                        "INSERT INTO tune_events (study, seq, writer, body) VALUES ($1, 1, $2, $3)",
                        &[&id, &pg.writer, &created],
                    )?;
                    Some(id)
                }
            };
            tx.commit()?;
            Ok(id)
        })?;
        let Some(id) = id else {
            return Err(Error::Study(format!(
                "no study named \"{name}\" in PostgreSQL at {}: start it with `tune run STUDY.json --storage URL`, then add workers",
                pg.shown
            )));
        };
        pg.study.store(id as u64, Ordering::SeqCst);
        let (events, cursor) = events_after(&pg, 0, None)?;
        let mut history = History::default();
        for e in &events {
            history.apply(e);
        }
        check_fingerprint(&history, fingerprint)?;
        self.start_heartbeat();
        Ok(Opened {
            history,
            cursor,
            warnings: vec![],
        })
    }

    fn claim(&mut self, trial: Option<u64>) -> Result<Option<u64>> {
        let pg = &self.pg;
        let lease = pg.lease.as_secs_f64();
        // One statement: the row with its attempt and the checkpoints stored for the trial, or,
        // when another process has it, the numbers claimed so far (not asked about again).
        let insert = |c: &mut Conn, n: u64| {
            let claim = c.prepared(CLAIM)?;
            let r = c.query_one(&claim, &[&pg.study(), &(n as i64), &pg.writer, &lease])?;
            let got = r.get::<_, Option<i64>>(0).map(|a| (n, a, r.get(1)));
            Ok::<_, postgres::Error>((got, r.get::<_, Vec<i64>>(2)))
        };
        let got = match trial {
            Some(n) if self.claimed.contains(&n) => None,
            Some(n) => {
                let (got, claimed) = pg.with(|c| insert(c, n))?;
                if got.is_none() {
                    self.claimed = claimed.into_iter().map(|t| t as u64).collect();
                    self.claimed.insert(n);
                }
                got
            }
            None => pg.with(|c| loop {
                let next: i64 = c
                    .query_one(
                        "SELECT coalesce(max(trial) + 1, 0) FROM tune_trials WHERE study = $1",
                        &[&pg.study()],
                    )?
                    .get(0);
                if let (Some(got), _) = insert(c, next as u64)? {
                    break Ok(Some(got));
                }
            })?,
        };
        Ok(got.map(|(n, attempt, epochs)| {
            pg.hold(n, attempt, epochs);
            n
        }))
    }

    fn append(&mut self, events: &[Event]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        self.groups += 1;
        let pg = &*self.pg;
        // Virtual epochs' records alone, or with a trial's start or end: the bench's two figures.
        let clock = match events.iter().all(|e| matches!(e, Event::EpochDone { .. })) {
            true => &pg.epochs_ns,
            false => &pg.storage_ns,
        };
        let group = self.groups as i64;
        match events
            .iter()
            .any(|e| matches!(e, Event::TrialPromoted { .. }))
        {
            true => pg.timed(clock, |c| {
                append::with_promotion(pg, c, group, events, i64::MAX)
            }),
            false => append::append(pg, clock, group, events),
        }
    }

    fn promote(&mut self, events: &[Event], seen: u64) -> Result<bool> {
        self.groups += 1;
        let (pg, group) = (&*self.pg, self.groups as i64);
        pg.timed(&pg.storage_ns, |c| {
            append::with_promotion(pg, c, group, events, seen as i64)
        })?;
        let mut promoted = events.iter().filter_map(|e| match e {
            Event::TrialPromoted { trial } => Some(*trial),
            _ => None,
        });
        Ok(promoted.all(|t| !pg.lost(t)))
    }

    fn read_after(&self, cursor: u64) -> Result<(Vec<Event>, u64)> {
        events_after(&self.pg, cursor, Some(&self.pg.writer))
    }

    fn shared(&self) -> bool {
        true
    }

    fn resume(&mut self, trial: u64) -> Result<bool> {
        let pg = &self.pg;
        let lease = pg.lease.as_secs_f64();
        let attempt = pg.with(|c| {
            let take = c.prepared(
                "UPDATE tune_trials SET owner = $3, attempt = attempt + 1,
                     lease_until = now() + make_interval(secs => $4)
                 WHERE study = $1 AND trial = $2 AND state = 'running' AND lease_until < now()
                 RETURNING attempt, ARRAY(SELECT epoch FROM tune_checkpoints
                     WHERE study = $1 AND trial = $2 ORDER BY epoch)",
            )?;
            c.query_opt(&take, &[&pg.study(), &(trial as i64), &pg.writer, &lease])
                .map(|r| r.map(|r| (r.get::<_, i64>(0), r.get::<_, Vec<i32>>(1))))
        })?;
        let Some((a, epochs)) = attempt else {
            return Ok(false);
        };
        pg.lost.lock().unwrap().remove(&trial);
        pg.hold(trial, a, epochs);
        Ok(true)
    }

    fn orphans(&mut self) -> Result<super::Orphans> {
        let pg = &self.pg;
        let rows = pg.with(|c| {
            let running = c.prepared(
                "SELECT trial, lease_until < now() FROM tune_trials
                 WHERE study = $1 AND state = 'running' AND owner <> $2 ORDER BY trial",
            )?;
            c.query(&running, &[&pg.study(), &pg.writer])
        })?;
        Ok(super::Orphans {
            expired: rows
                .iter()
                .filter(|r| r.get::<_, bool>(1))
                .map(|r| r.get::<_, i64>(0) as u64)
                .collect(),
            elsewhere: rows.len(),
        })
    }

    fn lost(&self, trial: u64) -> bool {
        self.pg.lost(trial)
    }

    fn suggesting(&mut self, lock: bool) -> Result<()> {
        let pg = &self.pg;
        let sql = match lock {
            true => "SELECT pg_advisory_lock(7215012, $1::integer)",
            false => "SELECT pg_advisory_unlock(7215012, $1::integer)",
        };
        // The study's id within the lock's second key (ids past 2^31 share locks: still correct).
        let key = (pg.study() & 0x7fff_ffff) as i32;
        pg.with(|c| c.execute(sql, &[&key]).map(|_| ()))
    }

    fn reread(&self) -> Result<Option<History>> {
        let mut history = History::default();
        for e in &events_after(&self.pg, 0, None)?.0 {
            history.apply(e);
        }
        Ok(Some(history))
    }
}
