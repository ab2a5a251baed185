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

use super::{payload, ArtifactStore, Checkpoint};
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
    /// Programs' checkpoints taken over and packed, by (trial, epoch), until their record is put.
    staged: Mutex<BTreeMap<(u64, u32), Vec<u8>>>,
    /// Where programs' checkpoints read back are unpacked (the study folder's `trials/`).
    local: std::path::PathBuf,
}

/// A trial's writes not sent yet.
#[derive(Default)]
struct Pending {
    /// A start from scratch: everything stored before goes.
    clear: bool,
    puts: BTreeMap<i32, Vec<u8>>,
    best: Option<i32>,
    removes: Vec<i32>,
}

/// One statement for a trial's pending writes: `$1` study, `$2` trial, `$3` this process, `$4`
/// its attempt (the fence: no row, nothing written), `$5` epochs to remove, `$6`/`$7` epochs and
/// bytes to store, `$8` the selected epoch (-1: unchanged), `$9`/`$10` trials and epochs to
/// remove without a fence, `$11` a start from scratch (all else goes). Returns the fence's rows.
const FLUSH: &str = "
WITH fence AS (FENCE),
cleared AS (DELETE FROM tune_checkpoints WHERE study = $1 AND trial = $2 AND $11
    AND NOT epoch = ANY($6::int[]) AND EXISTS (SELECT 1 FROM fence)),
unbest AS (DELETE FROM tune_best WHERE study = $1 AND trial = $2 AND $11 AND $8 < 0
    AND EXISTS (SELECT 1 FROM fence)),
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
            WHERE study = $1 AND trial = $2 AND epoch = $8 AND NOT $11) b, fence
    ORDER BY b.o LIMIT 1
    ON CONFLICT (study, trial) DO UPDATE SET epoch = EXCLUDED.epoch, bytes = EXCLUDED.bytes)
SELECT count(*) FROM fence";

/// The fence of a trial this process holds: its row, locked against a claim while the statement
/// runs; and of one it never held (the repair of a finished trial's selection): always.
const HELD: &str = "SELECT 1 FROM tune_trials WHERE study = $1 AND trial = $2 AND owner = $3
    AND attempt = $4 FOR UPDATE";
const ANY: &str = "SELECT 1 WHERE $3::text IS NOT NULL AND $4::bigint IS NOT NULL";

impl PgStore {
    /// The checkpoints of the study `pg` opened; programs' checkpoints read back are unpacked
    /// under `local` (a folder of this machine's).
    pub fn new(pg: Arc<Pg>, local: &std::path::Path) -> PgStore {
        PgStore {
            pg,
            pending: Mutex::new(BTreeMap::new()),
            stale: Mutex::new(vec![]),
            staged: Mutex::new(BTreeMap::new()),
            local: local.to_path_buf(),
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
        let removes = if p.clear { vec![] } else { p.removes };
        let (epochs, bytes): (Vec<i32>, Vec<Vec<u8>>) = p.puts.into_iter().unzip();
        let best = p.best.unwrap_or(-1);
        let (st, se): (Vec<i64>, Vec<i32>) = stale.into_iter().unzip();
        let params: [&(dyn ToSql + Sync); 11] = [
            &s,
            &t,
            pg.writer(),
            &a,
            &removes,
            &epochs,
            &bytes,
            &best,
            &st,
            &se,
            &p.clear,
        ];
        let fence: i64 = pg
            .store(|c| {
                let flush = c.prepared(&sql)?;
                c.query_one(&flush, &params)
            })?
            .get(0);
        if fence == 0 {
            pg.lose(trial);
        } else if let Some(known) = pg.known.lock().unwrap().get_mut(&(trial, a)) {
            if p.clear {
                known.clear();
            }
            known.retain(|k| !removes.contains(&(*k as i32)));
            known.extend(epochs.iter().map(|&k| k as u32));
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
        let (ckpt, packed) = payload::split(row.get(0));
        let mut c = Checkpoint::from_bytes(std::path::Path::new(&name), ckpt)?;
        if let (Some(p), Some(packed)) = (&c.meta.files, packed) {
            // A program's checkpoint: a file or folder again, on this machine, its sum checked.
            let which = if epoch > 0 {
                format!("ckpt-{epoch:04}")
            } else {
                "best".into()
            };
            let dir = self
                .local
                .join(trial.to_string())
                .join(format!("{which}.files"));
            let path = dir.join(&p.name);
            (|| {
                payload::remove(&dir)?;
                std::fs::create_dir_all(&dir)?;
                payload::unpack(packed, &path)
            })()
            .map_err(|e| Error::io(&path, e))?;
            payload::verify(&path, p).map_err(Error::Study)?;
            c.files = Some(path);
        }
        Ok(c)
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
        // With the first write: a statement saved a trial.
        self.later(trial, |p| {
            *p = Pending {
                clear: true,
                ..Pending::default()
            }
        });
        Ok(())
    }

    fn exists(&self, trial: u64) -> bool {
        !self.epochs(trial).is_empty()
    }

    fn put(&self, trial: u64, ckpt: &Checkpoint) -> Result<()> {
        let k = ckpt.meta.virtual_epoch as i32;
        let staged = self.staged.lock().unwrap().remove(&(trial, k as u32));
        let bytes = match staged {
            Some(packed) => payload::join(ckpt.to_bytes(), &packed),
            None => ckpt.to_bytes(),
        };
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
        // What waits for the trial is counted as stored (a failure to write it shows at the next
        // sync); other trials' removals wait for the next write.
        let t = trial as i64;
        let waits = self.pending.lock().unwrap().contains_key(&trial)
            || self.stale.lock().unwrap().iter().any(|(s, _)| *s == t);
        if waits {
            let _ = self.flush(trial);
        }
        let attempt = self.pg.attempt(trial);
        if let Some(known) =
            attempt.and_then(|a| self.pg.known.lock().unwrap().get(&(trial, a)).cloned())
        {
            return known.into_iter().collect();
        }
        let pg = &*self.pg;
        pg.store(|c| {
            c.query(
                "SELECT epoch FROM tune_checkpoints WHERE study = $1 AND trial = $2 ORDER BY epoch",
                &[&pg.study(), &(trial as i64)],
            )
        })
        .map(|rows| {
            let epochs: Vec<u32> = rows.iter().map(|r| r.get::<_, i32>(0) as u32).collect();
            if let Some(a) = attempt {
                let set = epochs.iter().copied().collect();
                pg.known.lock().unwrap().insert((trial, a), set);
            }
            epochs
        })
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
        if let Some(a) = self.pg.attempt(trial) {
            if let Some(known) = self.pg.known.lock().unwrap().get_mut(&(trial, a)) {
                known.remove(&epoch);
            }
        }
        Ok(())
    }

    fn clean(&self, _trial: u64) -> Result<()> {
        // Statements leave nothing half written.
        Ok(())
    }

    fn sync(&self, trial: u64) -> Result<()> {
        self.flush(trial)
    }

    /// Packs the program's checkpoint (it goes into PostgreSQL with its record, at the trial's
    /// next sync) and takes it from the program's folder.
    fn adopt(
        &self,
        trial: u64,
        epoch: u32,
        from: &std::path::Path,
    ) -> Result<(super::Payload, std::path::PathBuf)> {
        let described = payload::describe(from).map_err(|e| Error::io(from, e))?;
        let packed = payload::pack(from).map_err(|e| Error::io(from, e))?;
        self.staged.lock().unwrap().insert((trial, epoch), packed);
        payload::remove(from).map_err(|e| Error::io(from, e))?;
        Ok((described, from.to_path_buf()))
    }

    fn name(&self, trial: u64, epoch: Option<u32>) -> String {
        match epoch {
            Some(k) => format!("{}: trial {trial}, checkpoint {k}", self.pg.shown()),
            None => format!("{}: trial {trial}, selected checkpoint", self.pg.shown()),
        }
    }
}
