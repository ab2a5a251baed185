//! The connection to PostgreSQL that a process's storage, checkpoint store and lease heartbeat
//! share, with the leases it holds: retries with backoff, fences, renewal.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use postgres::{Client, NoTls, Statement};

use crate::error::{Error, Result};

/// How long a lease lasts unless renewed (`TUNE_LEASE_SECONDS` overrides it, for tests).
pub const LEASE: Duration = Duration::from_secs(20);
/// How long an operation retries a lost connection before the run stops (resumable).
pub const PATIENCE: Duration = Duration::from_secs(120);

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tune_studies (
    id bigserial PRIMARY KEY, name text UNIQUE NOT NULL, events bigint NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS tune_events (
    study bigint NOT NULL, seq bigint NOT NULL, writer text NOT NULL, trial bigint,
    body text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (study, seq));
CREATE TABLE IF NOT EXISTS tune_groups (
    study bigint NOT NULL, writer text NOT NULL, n bigint NOT NULL, PRIMARY KEY (study, writer, n));
CREATE TABLE IF NOT EXISTS tune_trials (
    study bigint NOT NULL, trial bigint NOT NULL, state text NOT NULL DEFAULT 'running',
    owner text NOT NULL, attempt bigint NOT NULL DEFAULT 1, lease_until timestamptz NOT NULL,
    PRIMARY KEY (study, trial));
CREATE TABLE IF NOT EXISTS tune_checkpoints (
    study bigint NOT NULL, trial bigint NOT NULL, epoch integer NOT NULL, bytes bytea NOT NULL,
    PRIMARY KEY (study, trial, epoch));
CREATE TABLE IF NOT EXISTS tune_best (
    study bigint NOT NULL, trial bigint NOT NULL, epoch integer NOT NULL, bytes bytea NOT NULL,
    PRIMARY KEY (study, trial));
CREATE TABLE IF NOT EXISTS tune_payloads (
    id bigserial PRIMARY KEY, study bigint NOT NULL, trial bigint NOT NULL, epoch integer NOT NULL,
    writer text NOT NULL, attempt bigint NOT NULL, size bigint NOT NULL,
    published boolean NOT NULL DEFAULT false, UNIQUE (study, trial, id));
CREATE TABLE IF NOT EXISTS tune_chunks (
    payload bigint NOT NULL REFERENCES tune_payloads (id) ON DELETE CASCADE, seq integer NOT NULL,
    bytes bytea NOT NULL, PRIMARY KEY (payload, seq));
DO $$ BEGIN
    -- The column that names a record's payload, added to the tables of earlier builds, indexed
    -- for the foreign key's checks when a payload is deleted. Only when it is missing: ALTER and
    -- CREATE INDEX would lock the table at every worker's start.
    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'tune_checkpoints'::regclass
            AND attname = 'payload' AND NOT attisdropped) THEN
        ALTER TABLE tune_checkpoints ADD COLUMN payload bigint REFERENCES tune_payloads (id);
        CREATE INDEX tune_checkpoints_payload ON tune_checkpoints (payload)
            WHERE payload IS NOT NULL;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'tune_best'::regclass
            AND attname = 'payload' AND NOT attisdropped) THEN
        ALTER TABLE tune_best ADD COLUMN payload bigint REFERENCES tune_payloads (id);
        CREATE INDEX tune_best_payload ON tune_best (payload) WHERE payload IS NOT NULL;
    END IF;
END $$;
";

/// A connection with the statements it prepared: the server parses and plans each once per
/// connection, and runs it in one round trip after (a statement sent as text is prepared again at
/// every call, a round trip more). A new connection (after a lost one) starts with none.
pub struct Conn {
    client: Client,
    prepared: HashMap<String, Statement>,
}

impl Conn {
    fn new(client: Client) -> Conn {
        Conn {
            client,
            prepared: HashMap::new(),
        }
    }

    /// `sql` prepared on this connection, the first time only.
    pub(crate) fn prepared(
        &mut self,
        sql: &str,
    ) -> std::result::Result<Statement, postgres::Error> {
        if let Some(s) = self.prepared.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.prepared.insert(sql.to_string(), s.clone());
        Ok(s)
    }
}

impl Deref for Conn {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

/// A connection shared by this process's storage, checkpoint store and heartbeat, and the leases
/// it holds.
pub struct Pg {
    /// The URL without its password, for messages.
    pub(super) shown: String,
    pub(super) config: postgres::Config,
    pub(super) client: Mutex<Option<Conn>>,
    /// The checkpoints' connection, which does not wait for the disk at commit (see
    /// `artifacts/postgres/`).
    pub(super) store_client: Mutex<Option<Conn>>,
    /// The connection that streams programs' checkpoints in and out (opened at the first), so that
    /// a long stream holds up no other trial's records.
    pub(super) payload_client: Mutex<Option<Conn>>,
    /// This process, in lease rows and events: `host:pid:random`.
    pub(super) writer: String,
    pub(super) study: AtomicU64,
    pub(super) lease: Duration,
    pub(super) patience: Duration,
    /// Trials this process holds, with their attempt numbers.
    pub(super) held: Mutex<BTreeMap<u64, i64>>,
    /// Trials whose lease this process lost: nothing more is written for them.
    pub(super) lost: Mutex<BTreeSet<u64>>,
    /// The checkpoints stored for trials this process holds, by trial and attempt: read in the
    /// statement that claimed the trial, then kept by this process's writes (no other process
    /// writes a trial's checkpoints while this one holds it).
    pub(crate) known: Mutex<BTreeMap<(u64, i64), BTreeSet<u32>>>,
    /// Nanoseconds spent on the study's events and claims, on appends of virtual epochs' records
    /// alone, on checkpoints, and renewing leases (written to `TUNE_PG_STATS` at the end, for
    /// benches/pg).
    pub storage_ns: AtomicU64,
    pub epochs_ns: AtomicU64,
    pub store_ns: AtomicU64,
    pub heartbeat_ns: AtomicU64,
    /// Calls to the server (round trips, but for the few transactions of several statements) on
    /// the study's events and claims, on virtual epochs' records alone and on checkpoints.
    pub storage_calls: AtomicU64,
    pub epochs_calls: AtomicU64,
    pub store_calls: AtomicU64,
}

/// A failure in words: the server's message when it sent one, else the cause (refused, timed out).
fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return db.message().to_string();
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// Whether a failure may pass by itself: the connection (PostgreSQL restarting, the network), a
/// server shutting down or starting, a serialization failure or deadlock.
fn transient(e: &postgres::Error) -> bool {
    match e.code() {
        None => true,
        Some(c) => {
            let c = c.code();
            c.starts_with("08") || c.starts_with("57P") || c == "40001" || c == "40P01"
        }
    }
}

impl Pg {
    /// Connects to `url` and makes the tables; a bad URL or a server that cannot be reached is the
    /// user's mistake, in one sentence.
    pub fn connect(url: &str) -> Result<Arc<Pg>> {
        let shown = super::hide_password(url);
        let mut config: postgres::Config = url.parse().map_err(|e| {
            Error::Study(format!(
                "--storage: `{shown}` is not a PostgreSQL URL or connection string: {e}"
            ))
        })?;
        config.connect_timeout(Duration::from_secs(10));
        if config.get_application_name().is_none() {
            config.application_name("tune");
        }
        let client = config.connect(NoTls).map_err(|e| {
            Error::Study(format!(
                "--storage: cannot connect to PostgreSQL at {shown}: {}",
                describe(&e)
            ))
        })?;
        let seconds = |name: &str, default: Duration| {
            std::env::var(name)
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
                .and_then(|s| Duration::try_from_secs_f64(s).ok())
                .filter(|d| !d.is_zero())
                .unwrap_or(default)
        };
        let random: u32 = rand::random();
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "host".into());
        let pg = Arc::new(Pg {
            shown,
            config,
            client: Mutex::new(Some(Conn::new(client))),
            store_client: Mutex::new(None),
            payload_client: Mutex::new(None),
            writer: format!("{host}:{}:{random:08x}", std::process::id()),
            study: AtomicU64::new(0),
            lease: seconds("TUNE_LEASE_SECONDS", LEASE),
            patience: seconds("TUNE_PG_PATIENCE_SECONDS", PATIENCE),
            held: Mutex::new(BTreeMap::new()),
            lost: Mutex::new(BTreeSet::new()),
            known: Mutex::new(BTreeMap::new()),
            storage_ns: AtomicU64::new(0),
            epochs_ns: AtomicU64::new(0),
            store_ns: AtomicU64::new(0),
            heartbeat_ns: AtomicU64::new(0),
            storage_calls: AtomicU64::new(0),
            epochs_calls: AtomicU64::new(0),
            store_calls: AtomicU64::new(0),
        });
        pg.with(|c| {
            let mut tx = c.transaction()?;
            // Two processes making the tables at once would collide on PostgreSQL's catalog.
            tx.execute("SELECT pg_advisory_xact_lock(7215011)", &[])?;
            tx.batch_execute(SCHEMA)?;
            tx.batch_execute(super::append::FUNCTION)?;
            tx.commit()
        })
        .map_err(|e| match e {
            // The server refused (no right to create tables in the database, say): the setup's.
            Error::System(m) => Error::Study(format!("--storage: {m}")),
            e => e,
        })?;
        Ok(pg)
    }

    /// Runs `f` on the connection, reconnecting with backoff while failures are transient, for at
    /// most [`Pg::patience`]. `f` must be whole transactions (it may run again).
    pub fn with<T>(
        &self,
        f: impl FnMut(&mut Conn) -> std::result::Result<T, postgres::Error>,
    ) -> Result<T> {
        self.timed(&self.storage_ns, f)
    }

    /// [`Pg::with`], its time added to `clock`.
    pub(crate) fn timed<T>(
        &self,
        clock: &AtomicU64,
        f: impl FnMut(&mut Conn) -> std::result::Result<T, postgres::Error>,
    ) -> Result<T> {
        let start = Instant::now();
        let calls = match clock {
            c if std::ptr::eq(c, &self.epochs_ns) => Some(&self.epochs_calls),
            c if std::ptr::eq(c, &self.storage_ns) => Some(&self.storage_calls),
            _ => None,
        };
        let r = self.retrying(&self.client, calls, f);
        clock.fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        r
    }

    /// [`Pg::with`] on the checkpoints' connection.
    pub(crate) fn store<T>(
        &self,
        f: impl FnMut(&mut Conn) -> std::result::Result<T, postgres::Error>,
    ) -> Result<T> {
        let start = Instant::now();
        let r = self.retrying(&self.store_client, Some(&self.store_calls), f);
        self.store_ns
            .fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        r
    }

    /// [`Pg::with`] on the connection that streams programs' checkpoints (its time counted as the
    /// checkpoints').
    pub(crate) fn payloads<T>(
        &self,
        f: impl FnMut(&mut Conn) -> std::result::Result<T, postgres::Error>,
    ) -> Result<T> {
        let start = Instant::now();
        let r = self.retrying(&self.payload_client, Some(&self.store_calls), f);
        self.store_ns
            .fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        r
    }

    fn retrying<T>(
        &self,
        client: &Mutex<Option<Conn>>,
        calls: Option<&AtomicU64>,
        mut f: impl FnMut(&mut Conn) -> std::result::Result<T, postgres::Error>,
    ) -> Result<T> {
        let start = Instant::now();
        let mut delay = Duration::from_millis(50);
        // Checkpoints' connections do not wait for the disk at commit.
        let store = !std::ptr::eq(client, &self.client);
        loop {
            let mut guard = client.lock().unwrap();
            let last = match guard.as_mut().filter(|c| !c.is_closed()) {
                Some(c) => {
                    if let Some(n) = calls {
                        n.fetch_add(1, Ordering::Relaxed);
                    }
                    match f(c) {
                        Ok(v) => return Ok(v),
                        Err(e) if transient(&e) => {
                            *guard = None;
                            describe(&e)
                        }
                        Err(e) => return Err(self.failed(e)),
                    }
                }
                None => match self.config.connect(NoTls).and_then(|mut c| {
                    if store {
                        c.batch_execute("SET synchronous_commit = off")?;
                    }
                    Ok(c)
                }) {
                    Ok(c) => {
                        *guard = Some(Conn::new(c));
                        continue;
                    }
                    Err(e) => describe(&e),
                },
            };
            drop(guard);
            if start.elapsed() >= self.patience {
                return Err(Error::System(format!(
                    "PostgreSQL at {}: unreachable for {} s ({last}); the study stops here and resumes when run again",
                    self.shown,
                    self.patience.as_secs()
                )));
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    fn failed(&self, e: postgres::Error) -> Error {
        Error::System(format!("PostgreSQL at {}: {}", self.shown, describe(&e)))
    }

    pub(crate) fn study(&self) -> i64 {
        self.study.load(Ordering::SeqCst) as i64
    }

    /// Whether this process lost its lease on `trial`.
    pub fn lost(&self, trial: u64) -> bool {
        self.lost.lock().unwrap().contains(&trial)
    }

    /// The attempt at `trial` this process holds, if it holds it.
    pub(crate) fn attempt(&self, trial: u64) -> Option<i64> {
        self.held.lock().unwrap().get(&trial).copied()
    }

    /// This process's name in lease rows and events.
    pub(crate) fn writer(&self) -> &String {
        &self.writer
    }

    /// The server's URL without its password.
    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }

    /// Holds attempt `attempt` at `trial`, whose stored checkpoints the claim read as `epochs`.
    pub(super) fn hold(&self, trial: u64, attempt: i64, epochs: Vec<i32>) {
        self.held.lock().unwrap().insert(trial, attempt);
        let epochs = epochs.into_iter().map(|k| k as u32).collect();
        self.known.lock().unwrap().insert((trial, attempt), epochs);
    }

    /// Marks `trial` lost: it is dropped, and nothing more is written for it.
    pub(crate) fn lose(&self, trial: u64) {
        self.release(trial);
        self.lost.lock().unwrap().insert(trial);
    }

    /// No longer holds `trial` (it ended, paused or was lost).
    pub(super) fn release(&self, trial: u64) {
        self.held.lock().unwrap().remove(&trial);
        self.known.lock().unwrap().retain(|(t, _), _| *t != trial);
    }

    /// Renews the leases of the trials this process holds; those another worker took are lost.
    pub(super) fn heartbeat(&self) -> Result<()> {
        let lease = self.lease.as_secs_f64();
        self.timed(&self.heartbeat_ns, |c| {
            let renew = c.prepared(
                "UPDATE tune_trials SET lease_until = now() + make_interval(secs => $3)
                 WHERE study = $1 AND owner = $2 AND state = 'running' RETURNING trial, attempt",
            )?;
            let rows = c.query(&renew, &[&self.study(), &self.writer, &lease])?;
            // Under the connection's lock: no append changes `held` meanwhile.
            let renewed: BTreeSet<(u64, i64)> = rows
                .iter()
                .map(|r| (r.get::<_, i64>(0) as u64, r.get::<_, i64>(1)))
                .collect();
            let gone: Vec<u64> = self
                .held
                .lock()
                .unwrap()
                .iter()
                .filter(|(t, a)| !renewed.contains(&(**t, **a)))
                .map(|(t, _)| *t)
                .collect();
            for t in gone {
                self.lose(t);
            }
            Ok(())
        })
    }

    /// Checks, in `tx`, that this process still holds `trial` (locking its row against a claim
    /// until the transaction ends); `true` for a trial it never held (a finished trial's repair).
    pub(crate) fn fence(
        &self,
        tx: &mut postgres::Transaction,
        trial: u64,
    ) -> std::result::Result<bool, postgres::Error> {
        let Some(attempt) = self.held.lock().unwrap().get(&trial).copied() else {
            return Ok(!self.lost(trial));
        };
        let row = tx.query_opt(
            "SELECT owner, attempt FROM tune_trials WHERE study = $1 AND trial = $2 FOR UPDATE",
            &[&self.study(), &(trial as i64)],
        )?;
        Ok(
            row.is_some_and(|r| {
                r.get::<_, &str>(0) == self.writer && r.get::<_, i64>(1) == attempt
            }),
        )
    }
}
