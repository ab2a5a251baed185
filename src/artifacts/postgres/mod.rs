//! Checkpoints in PostgreSQL, beside a study that [`PgStorage`] keeps there: no shared file system
//! is needed. Records (and the built-in trainer's checkpoints) are `bytea` rows; a program's
//! checkpoint files are streamed in chunks ([`chunks`]) that the record's row names. Writes go
//! through connections of their own that do not wait for the disk at commit
//! (`synchronous_commit = off`): the study's next record, committed with the wait, makes them
//! durable first (PostgreSQL's log is flushed in order), so a record still never names a
//! checkpoint that is not durable. Each write carries its fence (the trial's row must still name
//! this process and its attempt) in the same statement.
//!
//! [`PgStorage`]: crate::storage::postgres::PgStorage

mod chunks;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use postgres::types::ToSql;

use super::{pack, payload, ArtifactStore, Checkpoint, Payload};
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
    /// Programs' checkpoints streamed into PostgreSQL, their payloads' ids by (trial, epoch),
    /// until their record is put.
    staged: Mutex<BTreeMap<(u64, u32), i64>>,
    /// Whether this process stored a program's checkpoint (it looks for leftovers at its end).
    streamed: std::sync::atomic::AtomicBool,
    /// Where programs' checkpoints are taken over to and read back to (the study folder's
    /// `trials/`).
    local: std::path::PathBuf,
}

/// A trial's writes not sent yet.
#[derive(Default)]
struct Pending {
    /// A start from scratch: everything stored before goes.
    clear: bool,
    /// Records by epoch, with the payload each names.
    puts: BTreeMap<i32, (Vec<u8>, Option<i64>)>,
    best: Option<i32>,
    removes: Vec<i32>,
}

/// One statement for a trial's pending writes: `$1` study, `$2` trial, `$3` this process, `$4`
/// its attempt (the fence: no row, nothing written), `$5` epochs to remove, `$6`/`$7`/`$12`
/// epochs, bytes and payloads (null: none) to store, `$8` the selected epoch (-1: unchanged),
/// `$9`/`$10` trials and epochs to remove without a fence, `$11` a start from scratch (all else
/// goes). Returns the fence's rows, and whether these trials have payloads (some may be left
/// unnamed: [`chunks::collect`]).
const FLUSH: &str = "
WITH fence AS (FENCE),
published AS (UPDATE tune_payloads SET published = true
    WHERE id = ANY($12::bigint[]) AND EXISTS (SELECT 1 FROM fence)),
cleared AS (DELETE FROM tune_checkpoints WHERE study = $1 AND trial = $2 AND $11
    AND NOT epoch = ANY($6::int[]) AND EXISTS (SELECT 1 FROM fence)),
unbest AS (DELETE FROM tune_best WHERE study = $1 AND trial = $2 AND $11 AND $8 < 0
    AND EXISTS (SELECT 1 FROM fence)),
gone AS (DELETE FROM tune_checkpoints WHERE study = $1 AND trial = $2 AND epoch = ANY($5::int[])
    AND EXISTS (SELECT 1 FROM fence)),
stale AS (DELETE FROM tune_checkpoints c USING unnest($9::bigint[], $10::int[]) AS s(t, e)
    WHERE c.study = $1 AND c.trial = s.t AND c.epoch = s.e),
put AS (INSERT INTO tune_checkpoints (study, trial, epoch, bytes, payload)
    SELECT $1, $2, x.e, x.b, x.p FROM unnest($6::int[], $7::bytea[], $12::bigint[]) AS x(e, b, p),
        fence
    ON CONFLICT (study, trial, epoch) DO UPDATE SET bytes = EXCLUDED.bytes,
        payload = EXCLUDED.payload RETURNING epoch, bytes, payload),
best AS (INSERT INTO tune_best (study, trial, epoch, bytes, payload)
    SELECT $1, $2, b.epoch, b.bytes, b.payload FROM (
        SELECT epoch, bytes, payload, 0 AS o FROM put WHERE epoch = $8
        UNION ALL SELECT epoch, bytes, payload, 1 FROM tune_checkpoints
            WHERE study = $1 AND trial = $2 AND epoch = $8 AND NOT $11) b, fence
    ORDER BY b.o LIMIT 1
    ON CONFLICT (study, trial) DO UPDATE SET epoch = EXCLUDED.epoch, bytes = EXCLUDED.bytes,
        payload = EXCLUDED.payload)
SELECT (SELECT count(*) FROM fence), EXISTS (SELECT 1 FROM tune_payloads
    WHERE study = $1 AND (trial = $2 OR trial = ANY($9::bigint[])))";

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
            streamed: Default::default(),
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
        if let Some(p) = p.as_ref().filter(|_| self.pg.lost(trial)) {
            self.forget(trial, p.puts.values().filter_map(|(_, id)| *id).collect())?;
        }
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
        let epochs: Vec<i32> = p.puts.keys().copied().collect();
        let (bytes, payloads): (Vec<Vec<u8>>, Vec<Option<i64>>) = p.puts.into_values().unzip();
        let best = p.best.unwrap_or(-1);
        let (st, se): (Vec<i64>, Vec<i32>) = stale.into_iter().unzip();
        let params: [&(dyn ToSql + Sync); 12] = [
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
            &payloads,
        ];
        let row = pg.store(|c| {
            let flush = c.prepared(&sql)?;
            c.query_one(&flush, &params)
        })?;
        let (fence, has_payloads): (i64, bool) = (row.get(0), row.get(1));
        if has_payloads {
            // Those the statement left unnamed (removed, replaced, cleared), and leftovers.
            let trials: Vec<i64> = std::iter::once(t).chain(st).collect();
            chunks::collect(pg, Some(&trials))?;
        }
        if fence == 0 {
            pg.lose(trial);
            self.forget(trial, payloads.into_iter().flatten().collect())?;
        } else if let Some(known) = pg.known.lock().unwrap().get_mut(&(trial, a)) {
            if p.clear {
                known.clear();
            }
            known.retain(|k| !removes.contains(&(*k as i32)));
            known.extend(epochs.iter().map(|&k| k as u32));
        }
        Ok(())
    }

    /// Removes the payloads of a trial this process lost (`ids`, and those streamed for records
    /// not put yet): nothing will name them.
    fn forget(&self, trial: u64, mut ids: Vec<i64>) -> Result<()> {
        self.staged.lock().unwrap().retain(|(n, _), id| {
            let mine = *n == trial;
            if mine {
                ids.push(*id);
            }
            !mine
        });
        chunks::discard(&self.pg, &ids)
    }

    /// Reads a checkpoint by `sql` (its bytes and payload by `$1` study, `$2` trial, `$3` epoch);
    /// a program's checkpoint is streamed under this machine's `trials/<n>/`, its sum checked.
    fn read(&self, sql: &str, trial: u64, epoch: Option<u32>) -> Result<Checkpoint> {
        self.flush(trial)?;
        let pg = &*self.pg;
        let name = self.name(trial, epoch);
        let epoch = epoch.map_or(0, |k| k as i32);
        let row = pg.store(|c| c.query_opt(sql, &[&pg.study(), &(trial as i64), &epoch]))?;
        let Some(row) = row else {
            // As a folder's missing file: what reads it by a record's word calls the study damaged.
            let gone = std::io::Error::new(std::io::ErrorKind::NotFound, "not found");
            return Err(Error::io(std::path::Path::new(&name), gone));
        };
        let (bytes, id): (Vec<u8>, Option<i64>) = (row.get(0), row.get(1));
        // Studies kept before payloads were streamed hold them after the record.
        let (ckpt, packed) = pack::split(&bytes);
        let mut c = Checkpoint::from_bytes(std::path::Path::new(&name), ckpt)?;
        let Some(p) = c.meta.files.clone() else {
            return Ok(c);
        };
        let which = if epoch > 0 {
            format!("ckpt-{epoch:04}")
        } else {
            "best".into()
        };
        let path = self
            .local
            .join(trial.to_string())
            .join(format!("{which}.files"))
            .join(&p.name);
        let got = match (id, packed) {
            (Some(_), _) => match chunks::download(pg, sql, trial, epoch, &bytes, &path)? {
                Some(got) => got,
                None => {
                    return Err(Error::System(format!(
                    "{name}: changed while it was read (another worker wrote it): read it again"
                )))
                }
            },
            (None, Some(mut packed)) => (|| {
                let dir = path.parent().expect("a folder of its own");
                payload::remove(dir)?;
                std::fs::create_dir_all(dir)?;
                pack::unpack(&mut packed, &path)
            })()
            .map_err(|e| Error::io(&path, e))?,
            // Its files were never stored: the resume that needs them says so.
            (None, None) => return Ok(c),
        };
        check(&path, &p, &got)?;
        c.files = Some(path);
        Ok(c)
    }
}

/// Whether what was unpacked at `path` (`got`) is the payload its record names (`want`).
fn check(path: &std::path::Path, want: &Payload, got: &Payload) -> Result<()> {
    if got.crc32 == want.crc32 && got.bytes == want.bytes {
        return Ok(());
    }
    Err(Error::Damaged(format!(
        "{}: checksum mismatch (the program's checkpoint was changed or damaged)",
        path.display()
    )))
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // The last removals retention asked for; left undone, they are redundant rows only.
        let _ = self.flush(u64::MAX);
        if self.streamed.load(std::sync::atomic::Ordering::SeqCst) {
            // What workers that died mid-stream or lost a trial left, in the whole study.
            let _ = chunks::collect(&self.pg, None);
        }
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
        if self.pg.lost(trial) {
            return chunks::discard(&self.pg, &Vec::from_iter(staged));
        }
        if ckpt.meta.files.is_some() && staged.is_none() {
            return Err(Error::System(format!(
                "{}: its program's files were not stored",
                self.name(trial, Some(k as u32))
            )));
        }
        let mut replaced = None;
        self.later(trial, |p| {
            p.removes.retain(|&j| j != k);
            replaced = p.puts.insert(k, (ckpt.to_bytes(), staged));
        });
        chunks::discard(&self.pg, &Vec::from_iter(replaced.and_then(|(_, id)| id)))
    }

    fn get(&self, trial: u64, epoch: u32) -> Result<Checkpoint> {
        self.read(
            "SELECT bytes, payload FROM tune_checkpoints WHERE study = $1 AND trial = $2
             AND epoch = $3",
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
            "SELECT bytes, payload FROM tune_best WHERE study = $1 AND trial = $2 AND $3 >= 0",
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
        // A program's checkpoint streamed but never put, or put and not yet written: dropped.
        let mut dropped = Vec::from_iter(self.staged.lock().unwrap().remove(&(trial, epoch)));
        if self.pg.attempt(trial).is_none() {
            if !self.pg.lost(trial) {
                self.stale.lock().unwrap().push((trial as i64, k));
            }
            return chunks::discard(&self.pg, &dropped);
        }
        self.later(trial, |p| match p.puts.remove(&k) {
            Some((_, id)) => dropped.extend(id),
            None => p.removes.push(k),
        });
        chunks::discard(&self.pg, &dropped)?;
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

    /// Takes the program's checkpoint from its folder (a rename: the program may write its next
    /// one under the same name) and streams it into PostgreSQL, where the record that the trial's
    /// next sync stores names it; nothing of it stays on this machine.
    fn adopt(
        &self,
        trial: u64,
        epoch: u32,
        from: &std::path::Path,
    ) -> Result<(Payload, std::path::PathBuf)> {
        let dir = self
            .local
            .join(trial.to_string())
            .join(format!(".stream-{epoch:04}"));
        let to = dir.join(from.file_name().unwrap_or_default());
        (|| {
            payload::remove(&dir)?;
            std::fs::create_dir_all(&dir)?;
            payload::take_over(from, &to)
        })()
        .map_err(|e| Error::io(&to, e))?;
        let streamed = match self.pg.attempt(trial) {
            Some(a) => chunks::upload(&self.pg, trial, epoch, a, &to),
            // Lost: its record is made, and the trial dropped.
            None => payload::describe(&to)
                .map(|p| (None, p))
                .map_err(|e| Error::io(&to, e)),
        };
        payload::remove(&dir).map_err(|e| Error::io(&dir, e))?;
        let (id, described) = streamed?;
        match id {
            Some(id) => {
                self.streamed
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                let old = self.staged.lock().unwrap().insert((trial, epoch), id);
                chunks::discard(&self.pg, &Vec::from_iter(old))?;
            }
            None => self.pg.lose(trial),
        }
        Ok((described, to))
    }

    fn name(&self, trial: u64, epoch: Option<u32>) -> String {
        match epoch {
            Some(k) => format!("{}: trial {trial}, checkpoint {k}", self.pg.shown()),
            None => format!("{}: trial {trial}, selected checkpoint", self.pg.shown()),
        }
    }
}
