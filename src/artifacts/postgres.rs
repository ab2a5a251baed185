//! Checkpoints in PostgreSQL, beside a study that [`PgStorage`] keeps there: no shared file system
//! is needed. Writes go through a connection of their own that does not wait for the disk at
//! commit (`synchronous_commit = off`): the study's next record, committed with the wait, makes
//! them durable first (PostgreSQL's log is flushed in order), so a record still never names a
//! checkpoint that is not durable. Each write carries its fence (the trial's row must still name
//! this process and its attempt) in the same statement.
//!
//! [`PgStorage`]: crate::storage::postgres::PgStorage

use std::sync::Arc;

use postgres::types::ToSql;

use super::{ArtifactStore, Checkpoint};
use crate::error::{Error, Result};
use crate::storage::postgres::Pg;

/// Checkpoints in PostgreSQL, beside the study's events: no shared file system is needed. Every
/// write is fenced like the events (see [`Pg::fence`]): a worker that lost a trial's lease writes
/// none of its checkpoints.
pub struct PgStore {
    pg: Arc<Pg>,
}

impl PgStore {
    /// The checkpoints of the study `pg` opened.
    pub fn new(pg: Arc<Pg>) -> PgStore {
        PgStore { pg }
    }

    /// Runs `write` for `trial` when this process may write for it: `write` is one statement
    /// with the parameters `$1` study, `$2` trial, `$3` this process and `$4` its attempt, its rows
    /// selected `FROM fence` (the trial's row, locked against a claim while it runs), and
    /// `extra` from `$5` on. Nothing written: the trial was lost.
    fn fenced(&self, trial: u64, write: &str, extra: &[&(dyn ToSql + Sync)]) -> Result<()> {
        let pg = &*self.pg;
        let Some(attempt) = pg.attempt(trial) else {
            if pg.lost(trial) {
                return Ok(());
            }
            // A trial this process never held: the repair of a finished trial's selection.
            let sql = format!("WITH fence AS (SELECT 1 WHERE $3::text IS NOT NULL AND $4::bigint IS NOT NULL) {write}");
            let mut params: Vec<&(dyn ToSql + Sync)> = vec![];
            let (s, t, none) = (pg.study(), trial as i64, 0i64);
            params.extend([&s as &(dyn ToSql + Sync), &t, pg.writer(), &none]);
            params.extend_from_slice(extra);
            return pg.store(|c| c.execute(&sql, &params)).map(|_| ());
        };
        let sql = format!(
            "WITH fence AS (SELECT 1 FROM tune_trials WHERE study = $1 AND trial = $2
                 AND owner = $3 AND attempt = $4 FOR UPDATE) {write}"
        );
        let (s, t) = (pg.study(), trial as i64);
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&s, &t, pg.writer(), &attempt];
        params.extend_from_slice(extra);
        let fence = "SELECT count(*) FROM tune_trials WHERE study = $1 AND trial = $2 AND owner = $3 AND attempt = $4";
        let held = pg.store(|c| {
            let written = c.execute(&sql, &params)?;
            // A statement that writes nothing when the fence holds (a delete of nothing) tells
            // nothing: the fence is asked then.
            if written > 0 {
                return Ok(true);
            }
            Ok(c.query_one(fence, &params[..4])?.get::<_, i64>(0) > 0)
        })?;
        if !held {
            pg.lose(trial);
        }
        Ok(())
    }

    fn read(&self, sql: &str, trial: u64, epoch: Option<u32>) -> Result<Checkpoint> {
        let pg = &*self.pg;
        let name = self.name(trial, epoch);
        let epoch = epoch.map_or(0, |k| k as i32);
        let row = pg.store(|c| c.query_opt(sql, &[&pg.study(), &(trial as i64), &epoch]))?;
        let Some(row) = row else {
            return Err(Error::Study(format!("{name}: not found")));
        };
        Checkpoint::from_bytes(std::path::Path::new(&name), row.get(0))
    }
}

impl ArtifactStore for PgStore {
    fn begin(&self, trial: u64) -> Result<()> {
        self.fenced(
            trial,
            "DELETE FROM tune_checkpoints WHERE study = $1 AND trial = $2 AND EXISTS (SELECT 1 FROM fence)",
            &[],
        )?;
        self.fenced(
            trial,
            "DELETE FROM tune_best WHERE study = $1 AND trial = $2 AND EXISTS (SELECT 1 FROM fence)",
            &[],
        )
    }

    fn exists(&self, trial: u64) -> bool {
        !self.epochs(trial).is_empty()
    }

    fn put(&self, trial: u64, ckpt: &Checkpoint) -> Result<()> {
        let bytes = ckpt.to_bytes();
        let k = ckpt.meta.virtual_epoch as i32;
        self.fenced(
            trial,
            "INSERT INTO tune_checkpoints (study, trial, epoch, bytes) SELECT $1, $2, $5, $6 FROM fence
             ON CONFLICT (study, trial, epoch) DO UPDATE SET bytes = EXCLUDED.bytes",
            &[&k, &bytes],
        )
    }

    fn get(&self, trial: u64, epoch: u32) -> Result<Checkpoint> {
        self.read(
            "SELECT bytes FROM tune_checkpoints WHERE study = $1 AND trial = $2 AND epoch = $3",
            trial,
            Some(epoch),
        )
    }

    fn set_best(&self, trial: u64, epoch: u32) -> Result<()> {
        let k = epoch as i32;
        self.fenced(
            trial,
            "INSERT INTO tune_best (study, trial, epoch, bytes)
             SELECT study, trial, epoch, bytes FROM tune_checkpoints
             WHERE study = $1 AND trial = $2 AND epoch = $5 AND EXISTS (SELECT 1 FROM fence)
             ON CONFLICT (study, trial) DO UPDATE SET epoch = EXCLUDED.epoch, bytes = EXCLUDED.bytes",
            &[&k],
        )
    }

    fn best(&self, trial: u64) -> Result<Checkpoint> {
        self.read(
            "SELECT bytes FROM tune_best WHERE study = $1 AND trial = $2 AND $3 >= 0",
            trial,
            None,
        )
    }

    fn epochs(&self, trial: u64) -> Vec<u32> {
        let pg = &*self.pg;
        pg.store(|c| {
            c.query(
                "SELECT epoch FROM tune_checkpoints WHERE study = $1 AND trial = $2 ORDER BY epoch",
                &[&pg.study(), &(trial as i64)],
            )
        })
        .map(|rows| rows.iter().map(|r| r.get::<_, i32>(0) as u32).collect())
        .unwrap_or_default()
    }

    fn remove(&self, trial: u64, epoch: u32) -> Result<()> {
        let k = epoch as i32;
        self.fenced(
            trial,
            "DELETE FROM tune_checkpoints WHERE study = $1 AND trial = $2 AND epoch = $5
             AND EXISTS (SELECT 1 FROM fence)",
            &[&k],
        )
    }

    fn clean(&self, _trial: u64) -> Result<()> {
        // Transactions leave nothing half written.
        Ok(())
    }

    fn sync(&self, _trial: u64) -> Result<()> {
        // Each write was a committed transaction.
        Ok(())
    }

    fn name(&self, trial: u64, epoch: Option<u32>) -> String {
        match epoch {
            Some(k) => format!("{}: trial {trial}, checkpoint {k}", self.pg.shown()),
            None => format!("{}: trial {trial}, selected checkpoint", self.pg.shown()),
        }
    }
}
