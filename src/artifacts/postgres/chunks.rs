//! A program's checkpoint (a file or a folder) in PostgreSQL, streamed: its packed stream
//! ([`pack`](super::super::pack)) cut into chunks of [`CHUNK`] bytes, rows of `tune_chunks` under a
//! row of `tune_payloads`, written by one `COPY ... FROM STDIN (FORMAT binary)` and read back by one
//! query whose rows come as they are consumed; in memory only a few pieces at a time, whatever the
//! checkpoint's size (a `bytea` holds at most 1 GB; the chunks have no limit but the disk's).
//!
//! A payload's life: written in one transaction with its row (fenced: the trial's row must name
//! this process and its attempt; a rolled-back stream leaves nothing), unpublished, named by no
//! record; published by the statement that stores the record naming it (fenced again); then kept
//! while a checkpoint row or the selected row names it (foreign keys make sure of it). [`collect`]
//! removes what nothing will name: published payloads no row names any more, and unpublished ones
//! whose writer no longer holds the trial (it lost its lease, or died mid-stream).

use std::io::{self, Read, Write};
use std::path::Path;

use postgres::error::SqlState;
use postgres::fallible_iterator::FallibleIterator;

use super::super::pack::{self, Packer};
use super::super::Payload;
use crate::error::{Error, Result};
use crate::storage::postgres::Pg;

/// A chunk's bytes. Neither the write (one `COPY`) nor the read (one query) makes a round trip per
/// chunk, so the size only sets what the server and a reader hold at a time: measured at 1, 4 and
/// 16 MiB (docs/benchmarks.md), 1 MiB wrote and read as fast as 4 and faster than 16, with the
/// least memory.
pub const CHUNK: u64 = 1 << 20;

/// What a stream is read and sent by.
const PIECE: usize = 1 << 20;

/// A payload's row, only while this process holds the trial (the fence, without a lock: a stream
/// may take minutes, and the lease's renewal must not wait for it).
const PAYLOAD: &str = "INSERT INTO tune_payloads (study, trial, epoch, writer, attempt, size)
    SELECT $1, $2, $3, $4, $5, $6 FROM tune_trials
    WHERE study = $1 AND trial = $2 AND owner = $4 AND attempt = $5 AND state = 'running'
    RETURNING id";

/// Removes what nothing names or will name, of trials `$2` (all the study's when null); a payload
/// still being written (its row locked) is left to its writer.
const COLLECT: &str = "DELETE FROM tune_payloads WHERE id IN (
    SELECT p.id FROM tune_payloads p WHERE p.study = $1 AND ($2::bigint[] IS NULL OR p.trial = ANY($2))
    AND CASE WHEN p.published THEN
        NOT EXISTS (SELECT 1 FROM tune_checkpoints c
            WHERE c.study = p.study AND c.trial = p.trial AND c.payload = p.id)
        AND NOT EXISTS (SELECT 1 FROM tune_best b
            WHERE b.study = p.study AND b.trial = p.trial AND b.payload = p.id)
    ELSE NOT EXISTS (SELECT 1 FROM tune_trials t WHERE t.study = p.study AND t.trial = p.trial
        AND t.state = 'running' AND t.owner = p.writer AND t.attempt = p.attempt) END
    FOR UPDATE SKIP LOCKED)";

/// Streams the payload at `path` into PostgreSQL as trial `trial`'s (attempt `attempt`) of
/// virtual epoch `epoch`: its row's id and its record; no id when this process no longer holds
/// the trial (nothing written).
pub fn upload(
    pg: &Pg,
    trial: u64,
    epoch: u32,
    attempt: i64,
    path: &Path,
) -> Result<(Option<i64>, Payload)> {
    let r = pg.payloads(|c| {
        let mut packer = match Packer::open(path) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        let mut tx = c.transaction()?;
        let size = packer.len() as i64;
        let (s, t, k) = (pg.study(), trial as i64, epoch as i32);
        let row = tx.query_opt(PAYLOAD, &[&s, &t, &k, pg.writer(), &attempt, &size])?;
        let Some(row) = row else {
            // Lost: the record is still made (the caller drops the trial), nothing is stored.
            drop(tx);
            return Ok(packer_record(packer).map(|p| (None, p)));
        };
        let id: i64 = row.get(0);
        let mut w =
            tx.copy_in("COPY tune_chunks (payload, seq, bytes) FROM STDIN (FORMAT binary)")?;
        match send(&mut w, id, &mut packer) {
            Ok(()) => {}
            Err(Failed::Read(e)) => return Ok(Err(e)),
            Err(Failed::Server(e)) => return Err(e),
        }
        w.finish()?;
        // Its end checked (no file grew) before it is kept.
        let record = match packer.finish() {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        tx.commit()?;
        Ok(Ok((Some(id), record)))
    })?;
    r.map_err(|e| Error::io(path, e))
}

/// The record of a payload not stored: its stream read to its end.
fn packer_record(mut packer: Packer) -> io::Result<Payload> {
    io::copy(&mut packer, &mut io::sink())?;
    packer.finish()
}

/// Why a stream stopped: the payload could not be read, or the server failed.
enum Failed {
    Read(io::Error),
    Server(postgres::Error),
}

/// Writes the stream of `packer` as rows (`id`, seq, chunk) in COPY's binary format.
fn send(w: &mut impl Write, id: i64, packer: &mut Packer) -> std::result::Result<(), Failed> {
    let server = |e: io::Error| match e.into_inner().map(|e| e.downcast::<postgres::Error>()) {
        Some(Ok(e)) => Failed::Server(*e),
        Some(Err(e)) => Failed::Read(io::Error::other(e)),
        None => Failed::Read(io::Error::other("the stream to PostgreSQL failed")),
    };
    let mut head = Vec::with_capacity(32);
    head.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    head.extend_from_slice(&[0u8; 8]);
    w.write_all(&head).map_err(server)?;
    let mut buf = vec![0u8; PIECE];
    let mut left = packer.len();
    let mut seq = 0i32;
    while left > 0 {
        let n = left.min(CHUNK);
        head.clear();
        head.extend_from_slice(&3i16.to_be_bytes());
        head.extend_from_slice(&8i32.to_be_bytes());
        head.extend_from_slice(&id.to_be_bytes());
        head.extend_from_slice(&4i32.to_be_bytes());
        head.extend_from_slice(&seq.to_be_bytes());
        head.extend_from_slice(&(n as i32).to_be_bytes());
        w.write_all(&head).map_err(server)?;
        let mut chunk_left = n;
        while chunk_left > 0 {
            let want = (chunk_left as usize).min(PIECE);
            let got = packer.read(&mut buf[..want]).map_err(Failed::Read)?;
            if got == 0 {
                return Err(Failed::Read(io::Error::other(
                    "the checkpoint shrank while it was read",
                )));
            }
            w.write_all(&buf[..got]).map_err(server)?;
            chunk_left -= got as u64;
        }
        left -= n;
        seq += 1;
    }
    w.write_all(&(-1i16).to_be_bytes()).map_err(server)
}

/// Streams the payload of a checkpoint whose record was read as `want` to `to` (its parent made
/// afresh), in one snapshot with its record (a payload that another process replaced meanwhile is
/// still read whole): the record of what it unpacked; `None` when the record is no longer `want`.
/// `record` selects (bytes, payload) by `$1` study, `$2` trial, `$3` epoch.
pub fn download(
    pg: &Pg,
    record: &str,
    trial: u64,
    epoch: i32,
    want: &[u8],
    to: &Path,
) -> Result<Option<Payload>> {
    let r = pg.payloads(|c| {
        let mut tx = c
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let row = tx.query_opt(record, &[&pg.study(), &(trial as i64), &epoch])?;
        let Some(id) = row
            .filter(|r| r.get::<_, &[u8]>(0) == want)
            .and_then(|r| r.get::<_, Option<i64>>(1))
        else {
            return Ok(Ok(None));
        };
        let size: i64 = tx
            .query_one("SELECT size FROM tune_payloads WHERE id = $1", &[&id])?
            .get(0);
        let rows = tx.query_raw(
            "SELECT seq, bytes FROM tune_chunks WHERE payload = $1 ORDER BY seq",
            [&id],
        )?;
        let mut chunks = Chunks {
            rows,
            row: None,
            at: 0,
            seq: 0,
            read: 0,
            done: false,
            failed: None,
        };
        let unpacked = unpack_all(&mut chunks, to, size as u64);
        if let Some(e) = chunks.failed.take() {
            return Err(e);
        }
        drop(chunks);
        tx.commit()?;
        Ok(unpacked.map(Some))
    })?;
    r.map_err(|e| Error::io(to, e))
}

/// Unpacks the whole of `from` (exactly `size` bytes) to `to`, its parent made afresh.
fn unpack_all(from: &mut Chunks, to: &Path, size: u64) -> io::Result<Payload> {
    if let Some(dir) = to.parent() {
        super::super::payload::remove(dir)?;
        std::fs::create_dir_all(dir)?;
    }
    let got = pack::unpack(from, to)?;
    if from.read(&mut [0u8])? != 0 || from.read != size {
        return Err(io::Error::other(
            "a packed checkpoint is damaged (its length differs)",
        ));
    }
    Ok(got)
}

/// The chunks of a payload as one stream, checked to come in order.
struct Chunks<'a> {
    rows: postgres::RowIter<'a>,
    row: Option<postgres::Row>,
    at: usize,
    seq: i32,
    read: u64,
    /// Whether the last row came (the rows are not asked for again: that is an error).
    done: bool,
    /// The server's failure, kept whole so that a lost connection is retried.
    failed: Option<postgres::Error>,
}

impl Read for Chunks<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(row) = &self.row {
                let b: &[u8] = row.get(1);
                if self.at < b.len() {
                    let n = buf.len().min(b.len() - self.at);
                    buf[..n].copy_from_slice(&b[self.at..self.at + n]);
                    self.at += n;
                    self.read += n as u64;
                    return Ok(n);
                }
            }
            self.row = None;
            if self.done {
                return Ok(0);
            }
            match self.rows.next() {
                Ok(None) => {
                    self.done = true;
                    return Ok(0);
                }
                Ok(Some(r)) => {
                    if r.get::<_, i32>(0) != self.seq {
                        return Err(io::Error::other("a packed checkpoint lacks a chunk"));
                    }
                    self.seq += 1;
                    self.at = 0;
                    self.row = Some(r);
                }
                Err(e) => {
                    let said = io::Error::other(e.to_string());
                    self.failed = Some(e);
                    return Err(said);
                }
            }
        }
    }
}

/// Removes the payloads nothing names or will name, of `trials` (`None`: the whole study's).
pub fn collect(pg: &Pg, trials: Option<&[i64]>) -> Result<()> {
    let trials: Option<Vec<i64>> = trials.map(|t| t.to_vec());
    pg.store(|c| {
        let collect = c.prepared(COLLECT)?;
        match c.execute(&collect, &[&pg.study(), &trials]) {
            // A record came to name one while it was removed: it stays (the foreign key).
            Err(e) if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) => Ok(0),
            r => r,
        }
    })
    .map(|_| ())
}

/// Removes payloads this process wrote and that no record will name (their checkpoint was dropped
/// unwritten, or the trial was lost); published ones are left to [`collect`].
pub fn discard(pg: &Pg, ids: &[i64]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    pg.store(|c| {
        c.execute(
            "DELETE FROM tune_payloads WHERE id = ANY($1) AND NOT published",
            &[&ids],
        )
    })
    .map(|_| ())
}
