//! Checkpoints in PostgreSQL, beside a study that [`PgStorage`] keeps there: no shared file system
//! is needed. Writes go through a connection of their own that does not wait for the disk at
//! commit (`synchronous_commit = off`): the study's next record, committed with the wait, makes
//! them durable first (PostgreSQL's log is flushed in order), so a record still never names a
//! checkpoint that is not durable. Each write carries its fence (the trial's row must still name
//! this process and its attempt) in the same statement.
//!
//! [`PgStorage`]: crate::storage::postgres::PgStorage

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use postgres::types::ToSql;

use super::{ArtifactStore, Checkpoint};
use crate::error::{Error, Result};
use crate::storage::postgres::Pg;

/// Checkpoints in PostgreSQL, beside the study's events: no shared file system is needed. Every
/// write is fenced like the events (see [`Pg::fence`]): a worker that lost a trial's lease writes
/// none of its checkpoints. Puts, the selection and removals wait in memory until the trial's
/// [`ArtifactStore::sync`] (or a read) writes them in one statement.
pub struct PgStore {
    pg: Arc<Pg>,
    pending: Mutex<BTreeMap<u64, Pending>>,
    /// Removals for trials this process no longer holds (retention after a trial's end), done
    /// with the next write.
    stale: Mutex<Vec<(i64, i32)>>,
}

/// A trial's writes not sent yet.
#[derive(Default)]
struct Pending {
    puts: BTreeMap<i32, Vec<u8>>,
    best: Option<i32>,
    removes: Vec<i32>,
}

/// One statement for a trial's pending writes: `$1` study, `$2` trial, `$3` this process, `$4`
/// its attempt (the fence: no row, nothing written), `$5` epochs to remove, `$6`/`$7` epochs and
/// bytes to store, `$8` the selected epoch (-1: unchanged), `$9`/`$10` trials and epochs to
/// remove without a fence. Returns the fence's rows.
const FLUSH: &str = "
WITH fence AS (FENCE),
gone AS (DELETE FROM tune_checkpoints WHERE study = $1 AND trial = $2 AND epoch = ANY($5::int[])
    AND EXISTS (SELECT 1 FROM fence)),
stale AS (DELETE FROM tune_checkpoints c USING unnest($9::bigint[], $10::int[]) AS s(t, e)
    WHERE c.study = $1 AND c.trial = s.t AND c.epoch = s.e),
put AS (INSERT INTO tune_checkpoints (study, trial, epoch, bytes)
    SELECT $1, $2, x.e, x.b FROM unnest($6::int[], $7::bytea[]) AS x(e, b), fence
    ON CONFLICT (study, trial, epoch) DO UPDATE SET bytes = EXCLUDED.bytes RETURNING epoch, bytes),
best AS (INSERT INTO tune_best (study, trial, epoch, bytes)
    SELECT $1, $2, b.epoch, b.bytes FROM (
        SELECT epoch, bytes, 0 AS o FROM put WHERE epoch = $8
        UNION ALL SELECT epoch, bytes, 1 FROM tune_checkpoints
            WHERE study = $1 AND trial = $2 AND epoch = $8) b, fence
    ORDER BY b.o LIMIT 1
    ON CONFLICT (study, trial) DO UPDATE SET epoch = EXCLUDED.epoch, bytes = EXCLUDED.bytes)
SELECT count(*) FROM fence";

/// The fence of a trial this process holds: its row, locked against a claim while the statement
/// runs; and of one it never held (the repair of a finished trial's selection): always.
const HELD: &str = "SELECT 1 FROM tune_trials WHERE study = $1 AND trial = $2 AND owner = $3
    AND attempt = $4 FOR UPDATE";
const ANY: &str = "SELECT 1 WHERE $3::text IS NOT NULL AND $4::bigint IS NOT NULL";

impl PgStore {
    /// The checkpoints of the study `pg` opened.
    pub fn new(pg: Arc<Pg>) -> PgStore {
        PgStore {
            pg,
            pending: Mutex::new(BTreeMap::new()),
            stale: Mutex::new(vec![]),
        }
    }

    /// Changes what waits for `trial`, unless this process lost it.
    fn later(&self, trial: u64, change: impl FnOnce(&mut Pending)) {
        if !self.pg.lost(trial) {
            change(self.pending.lock().unwrap().entry(trial).or_default());
        }
    }

    /// Writes what waits for `trial` (and the stale removals) in one statement.
    fn flush(&self, trial: u64) -> Result<()> {
        let p = self.pending.lock().unwrap().remove(&trial);
        let stale = std::mem::take(&mut *self.stale.lock().unwrap());
        let Some(p) = p.filter(|_| !self.pg.lost(trial)) else {
            if stale.is_empty() {
                return Ok(());
            }
            // Only removals of trials no longer held: under the never-held fence.
            return self.write(u64::MAX, None, Pending::default(), stale);
        };
        let attempt = self.pg.attempt(trial);
        self.write(trial, attempt, p, stale)
    }

    fn write(
        &self,
        trial: u64,
        attempt: Option<i64>,
        p: Pending,
        stale: Vec<(i64, i32)>,
    ) -> Result<()> {
        let pg = &*self.pg;
        let sql = FLUSH.replace("FENCE", if attempt.is_some() { HELD } else { ANY });
        let (s, t, a) = (pg.study(), trial as i64, attempt.unwrap_or(0));
        let (epochs, bytes): (Vec<i32>, Vec<Vec<u8>>) = p.puts.into_iter().unzip();
        let best = p.best.unwrap_or(-1);
        let (st, se): (Vec<i64>, Vec<i32>) = stale.into_iter().unzip();
        let params: [&(dyn ToSql + Sync); 10] = [
            &s,
            &t,
            pg.writer(),
            &a,
            &p.removes,
            &epochs,
            &bytes,
            &best,
            &st,
            &se,
        ];
        let fence: i64 = pg.store(|c| c.query_one(&sql, &params))?.get(0);
        if fence == 0 {
            pg.lose(trial);
        }
        Ok(())
    }

    fn read(&self, sql: &str, trial: u64, epoch: Option<u32>) -> Result<Checkpoint> {
        self.flush(trial)?;
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

impl Drop for PgStore {
    fn drop(&mut self) {
        // The last removals retention asked for; left undone, they are redundant rows only.
        let _ = self.flush(u64::MAX);
    }
}

impl ArtifactStore for PgStore {
    fn begin(&self, trial: u64) -> Result<()> {
        // At once, in a statement of its own: what a later put stores must not be emptied.
        self.pending.lock().unwrap().remove(&trial);
        let pg = &*self.pg;
        let Some(a) = pg.attempt(trial) else {
            return Ok(());
        };
        let sql = format!(
            "WITH fence AS ({HELD}),
             ckpts AS (DELETE FROM tune_checkpoints WHERE study = $1 AND trial = $2
                 AND EXISTS (SELECT 1 FROM fence))
             DELETE FROM tune_best WHERE study = $1 AND trial = $2 AND EXISTS (SELECT 1 FROM fence)"
        );
        let (s, t) = (pg.study(), trial as i64);
        pg.store(|c| c.execute(&sql, &[&s, &t, pg.writer(), &a]))?;
        Ok(())
    }

    fn exists(&self, trial: u64) -> bool {
        !self.epochs(trial).is_empty()
    }

    fn put(&self, trial: u64, ckpt: &Checkpoint) -> Result<()> {
        let bytes = ckpt.to_bytes();
        let k = ckpt.meta.virtual_epoch as i32;
        self.later(trial, |p| {
            p.removes.retain(|&j| j != k);
            p.puts.insert(k, bytes);
        });
        Ok(())
    }

    fn get(&self, trial: u64, epoch: u32) -> Result<Checkpoint> {
        self.read(
            "SELECT bytes FROM tune_checkpoints WHERE study = $1 AND trial = $2 AND epoch = $3",
            trial,
            Some(epoch),
        )
    }

    fn set_best(&self, trial: u64, epoch: u32) -> Result<()> {
        self.later(trial, |p| p.best = Some(epoch as i32));
        Ok(())
    }

    fn best(&self, trial: u64) -> Result<Checkpoint> {
        self.read(
            "SELECT bytes FROM tune_best WHERE study = $1 AND trial = $2 AND $3 >= 0",
            trial,
            None,
        )
    }

    fn epochs(&self, trial: u64) -> Vec<u32> {
        // What waits is counted as stored (a failure to write it shows at the next sync).
        let _ = self.flush(trial);
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
        if self.pg.attempt(trial).is_none() {
            if !self.pg.lost(trial) {
                self.stale.lock().unwrap().push((trial as i64, k));
            }
            return Ok(());
        }
        self.later(trial, |p| {
            if p.puts.remove(&k).is_none() {
                p.removes.push(k);
            }
        });
        Ok(())
    }

    fn clean(&self, _trial: u64) -> Result<()> {
        // Statements leave nothing half written.
        Ok(())
    }

    fn sync(&self, trial: u64) -> Result<()> {
        self.flush(trial)
    }

    fn name(&self, trial: u64, epoch: Option<u32>) -> String {
        match epoch {
            Some(k) => format!("{}: trial {trial}, checkpoint {k}", self.pg.shown()),
            None => format!("{}: trial {trial}, selected checkpoint", self.pg.shown()),
        }
    }
}
