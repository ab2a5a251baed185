//! The journal file: the first backend of [`Storage`]. One JSON line per event with a sequence
//! number and a CRC-32 inside, appended in groups (each fsynced; resume takes a group whole or not at
//! all), replayed to resume. A torn last group is cut off with a warning; damage before the end, or
//! a missing line, is refused with its byte offset. The study lock is an OS lock on the study
//! folder, released when the process dies.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::{check_fingerprint, claim_in, started, Event, Fingerprint, History, Opened, Storage};
use crate::durable::sync_dir;
use crate::error::{Error, Result};

/// The open journal, appending.
pub struct Journal {
    path: PathBuf,
    file: File,
    /// The sequence number of the next record.
    seq: u64,
}

/// One journal line: the event's JSON object with a sequence number first and a CRC-32 last,
/// `{"seq":7,"event":"epoch_done",...,"crc":"1a2b3c4d"}`, so that `jq` and pandas read it. The CRC
/// covers every byte before `,"crc"`. The last record of each append carries `"commit":true`: an
/// append is a group that resume takes whole or not at all.
fn encode(seq: u64, e: &Event, commit: bool) -> String {
    let json = serde_json::to_string(e).expect("events serialise");
    let flag = if commit { "\"commit\":true," } else { "" };
    let body = format!("{{\"seq\":{seq},{flag}{}", &json[1..json.len() - 1]);
    let crc = crc32fast::hash(body.as_bytes());
    format!("{body},\"crc\":\"{crc:08x}\"}}\n")
}

/// A decoded line: its sequence number (none in journals of earlier builds), whether it ends an
/// append, and the event.
struct Line {
    seq: Option<u64>,
    commit: bool,
    event: Event,
}

fn decode(line: &[u8]) -> Option<Line> {
    let line = std::str::from_utf8(line).ok()?;
    const TAIL: usize = r#","crc":"12345678"}"#.len();
    if line.starts_with('{') {
        let (body, tail) = line.split_at(line.len().checked_sub(TAIL)?);
        let hex = tail.strip_prefix(r#","crc":""#)?.strip_suffix(r#""}"#)?;
        if hex.len() != 8 || u32::from_str_radix(hex, 16).ok()? != crc32fast::hash(body.as_bytes())
        {
            return None;
        }
        let mut v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line).ok()?;
        let seq = v.remove("seq")?.as_u64()?;
        let commit = v.remove("commit").is_some_and(|c| c == true);
        v.remove("crc");
        let event = serde_json::from_value(serde_json::Value::Object(v)).ok()?;
        return Some(Line {
            seq: Some(seq),
            commit,
            event,
        });
    }
    // Journals of earlier builds: `<crc hex> <json>`, each line a group of its own.
    let (crc, json) = line.split_once(' ')?;
    if crc.len() != 8 || u32::from_str_radix(crc, 16).ok()? != crc32fast::hash(json.as_bytes()) {
        return None;
    }
    Some(Line {
        seq: None,
        commit: true,
        event: serde_json::from_str(json).ok()?,
    })
}

/// What replaying a journal gives.
#[derive(Clone, Debug)]
pub struct Replayed {
    pub history: History,
    /// The length of the journal's intact prefix: whole appends, each ending in a committed record.
    pub len: u64,
    /// Records in that prefix: the sequence number of the next one.
    pub records: u64,
    /// Whether bytes after the intact prefix were cut off (a crash mid-append).
    pub torn: bool,
}

/// Replays the journal at `path` (see [`scan`]).
pub fn replay(path: &Path) -> Result<Replayed> {
    let (events, len, torn) = scan(path)?;
    let mut history = History::default();
    for e in &events {
        history.apply(e);
    }
    Ok(Replayed {
        history,
        len,
        records: events.len() as u64,
        torn,
    })
}

/// Reads the journal at `path`: the events of its intact prefix, the prefix's length, and whether
/// a torn last append (a crash mid-write: a damaged last line, or records after the last commit)
/// follows it. Damage before it, or a missing record (a gap in the sequence numbers), is an error
/// naming the byte offset.
fn scan(path: &Path) -> Result<(Vec<Event>, u64, bool)> {
    scan_from(path, 0, 0)
}

/// The events appended to the journal at `path` after its first `len` bytes, which hold `records`
/// records (whole appends: a length and count that [`replay`] or an earlier call gave), and the
/// length of the intact prefix after them: for a reader that follows a running study (`tune
/// serve`). An append under way is left for the next call.
pub fn read_more(path: &Path, len: u64, records: u64) -> Result<(Vec<Event>, u64)> {
    let (events, len, _) = scan_from(path, len, records)?;
    Ok((events, len))
}

/// [`scan`] of the bytes after the first `start`, which hold `first` records.
fn scan_from(path: &Path, start: u64, first: u64) -> Result<(Vec<Event>, u64, bool)> {
    let mut buf = vec![];
    File::open(path)
        .and_then(|mut f| {
            f.seek(SeekFrom::Start(start))?;
            f.read_to_end(&mut buf)
        })
        .map_err(|e| Error::io(path, e))?;
    let mut events = vec![];
    let mut group: Vec<Event> = vec![];
    let (mut offset, mut committed) = (0usize, 0usize);
    let damaged = |offset: usize, what: &str| {
        let offset = start + offset as u64;
        Error::Study(format!(
            "{}: {what} at byte offset {offset}: the journal was changed or corrupted; move the study folder aside or run with --restart",
            path.display()
        ))
    };
    while offset < buf.len() {
        let rest = &buf[offset..];
        let line_end = rest.iter().position(|&b| b == b'\n');
        let Some((n, line)) = line_end.and_then(|n| Some((n, decode(&rest[..n])?))) else {
            // Only the last line may be damaged: a crash can tear an append, nothing else.
            if line_end.is_none_or(|n| offset + n + 1 == buf.len()) {
                break;
            }
            return Err(damaged(offset, "damaged record"));
        };
        let seq = first + (events.len() + group.len()) as u64;
        if line.seq.is_some_and(|s| s != seq) {
            return Err(damaged(offset, &format!("record {seq} is missing")));
        }
        group.push(line.event);
        offset += n + 1;
        if line.commit {
            events.append(&mut group);
            committed = offset;
        }
    }
    Ok((events, start + committed as u64, committed < buf.len()))
}

/// The journal file of a study folder as a [`Storage`]: locked for this process from
/// [`JournalStorage::lock`] on.
pub struct JournalStorage {
    dir: PathBuf,
    path: PathBuf,
    journal: Option<Journal>,
    claimed: BTreeSet<u64>,
    next: u64,
    _lock: StudyLock,
}

/// The journal's name in the study folder.
pub const FILE: &str = "journal.jsonl";

impl JournalStorage {
    /// The journal of the study folder `dir` (which must exist), locked for this process.
    pub fn lock(dir: &Path) -> Result<JournalStorage> {
        Ok(JournalStorage {
            dir: dir.to_path_buf(),
            path: dir.join(FILE),
            journal: None,
            claimed: BTreeSet::new(),
            next: 0,
            _lock: StudyLock::acquire(dir)?,
        })
    }

    /// The history of the study folder `dir` as its journal tells it, changing nothing and taking
    /// no lock (for `status`, `leaderboard` and `report`, also while the study runs). `None` when
    /// no study has run there.
    pub fn read(dir: &Path) -> Result<Option<History>> {
        let path = dir.join(FILE);
        if !path.exists() {
            return Ok(None);
        }
        Ok(Some(replay(&path)?.history))
    }
}

impl Storage for JournalStorage {
    fn open(&mut self, name: &str, fingerprint: &Fingerprint) -> Result<Opened> {
        let mut warnings = vec![];
        let (mut history, journal) = if self.path.exists() {
            let r = replay(&self.path)?;
            // Checked before the torn tail is cut: a refused resume writes nothing.
            check_fingerprint(&r.history, fingerprint)?;
            if r.torn {
                warnings.push(format!("{}: cut off a torn last append (a crash mid-write); what it recorded is recovered from the checkpoints or trained again", self.path.display()));
            }
            (r.history, Journal::open(&self.path, r.len, r.records)?)
        } else {
            (History::default(), Journal::open(&self.path, 0, 0)?)
        };
        let mut journal = journal;
        // A new study, or one whose first record was torn.
        if history.fingerprint.is_none() {
            let e = Event::StudyCreated {
                name: name.to_string(),
                fingerprint: fingerprint.clone(),
            };
            journal.append(&e)?;
            history.apply(&e);
            // The journal's name in the study folder.
            sync_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        }
        (self.claimed, self.next) = started(&history);
        let cursor = journal.seq;
        self.journal = Some(journal);
        Ok(Opened {
            history,
            cursor,
            warnings,
        })
    }

    fn claim(&mut self, trial: Option<u64>) -> Result<Option<u64>> {
        Ok(claim_in(&mut self.claimed, &mut self.next, trial))
    }

    fn append(&mut self, events: &[Event]) -> Result<()> {
        self.journal
            .as_mut()
            .expect("the driver opens the storage before it appends")
            .append_all(events)
    }

    fn read_after(&self, cursor: u64) -> Result<(Vec<Event>, u64)> {
        let (events, _, _) = scan(&self.path)?;
        let from = (cursor as usize).min(events.len());
        Ok((events[from..].to_vec(), events.len() as u64))
    }
}

impl Journal {
    /// Opens the journal for appending, first cutting it to its intact prefix of `len` bytes
    /// holding `records` records.
    pub fn open(path: &Path, len: u64, records: u64) -> Result<Journal> {
        // Append mode: every write lands at the end, whatever else has the file open.
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        // Cut a torn tail, durably; a new journal is made durable by its first record.
        if file.metadata().map_err(|e| Error::io(path, e))?.len() != len {
            file.set_len(len).map_err(|e| Error::io(path, e))?;
            file.sync_all().map_err(|e| Error::io(path, e))?;
        }
        Ok(Journal {
            path: path.to_path_buf(),
            file,
            seq: records,
        })
    }

    /// Appends one event and makes it durable before returning.
    pub fn append(&mut self, e: &Event) -> Result<()> {
        self.append_all(std::slice::from_ref(e))
    }

    /// Appends events in order with one write, as one group (resume takes all of them or none),
    /// and makes them durable (one fdatasync) before returning.
    pub fn append_all(&mut self, events: &[Event]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let last = events.len() - 1;
        let lines: String = events
            .iter()
            .enumerate()
            .map(|(i, e)| encode(self.seq + i as u64, e, i == last))
            .collect();
        self.file
            .write_all(lines.as_bytes())
            .map_err(|err| Error::io(&self.path, err))?;
        self.file
            .sync_data()
            .map_err(|err| Error::io(&self.path, err))?;
        self.seq += events.len() as u64;
        Ok(())
    }
}

pub use super::lock::StudyLock;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::curve::CurveRow;
    use crate::space::{Params, Value};
    use crate::storage::Status;
    use std::collections::BTreeMap;
    use std::fs;

    fn events() -> Vec<Event> {
        let params: Params = [("batch_size".to_string(), Value::Int(32))].into();
        vec![
            Event::StudyCreated {
                name: "s".into(),
                fingerprint: BTreeMap::new(),
            },
            Event::TrialStarted {
                trial: 0,
                params,
                suggest_ms: None,
            },
            Event::EpochDone {
                trial: 0,
                row: CurveRow {
                    virtual_epoch: 1,
                    examples_seen: 10,
                    steps: 1,
                    train_loss: f64::NAN,
                    val_loss: f64::INFINITY,
                    metric: 0.5,
                    learning_rate: None,
                    reported: Default::default(),
                },
                seconds: 1.0,
                decision: None,
            },
            Event::TrialEnded {
                trial: 0,
                status: Status::Failed,
                reason: Some("loss became NaN".into()),
                seconds: 1.5,
            },
        ]
    }

    fn write(dir: &Path) -> (PathBuf, Vec<u64>) {
        let p = dir.join("journal.jsonl");
        let mut j = Journal::open(&p, 0, 0).unwrap();
        let mut ends = vec![];
        for e in events() {
            j.append(&e).unwrap();
            ends.push(fs::metadata(&p).unwrap().len());
        }
        (p, ends)
    }

    #[test]
    fn nan_survives_the_journal() {
        let dir = crate::testutil::TempDir::new();
        let (p, _) = write(dir.path());
        let Replayed {
            history: h, torn, ..
        } = replay(&p).unwrap();
        assert!(!torn);
        let row = &h.trials[&0].curve[0];
        assert!(row.train_loss.is_nan());
        assert_eq!(row.val_loss, f64::INFINITY);
        assert_eq!(h.trials[&0].status, Status::Failed);
    }

    /// A reader following the journal gets each append once, whole: an append still being
    /// written (cut anywhere) is left for its next read.
    #[test]
    fn read_more_follows_whole_appends() {
        let dir = crate::testutil::TempDir::new();
        let (p, ends) = write(dir.path());
        let full = fs::read(&p).unwrap();
        let first = ends[1] as usize;
        for cut in first..full.len() {
            fs::write(&p, &full[..cut]).unwrap();
            let (events, len) = read_more(&p, ends[0], 1).unwrap();
            let whole = ends.iter().filter(|&&e| e as usize <= cut).count() - 1;
            assert_eq!(events.len(), whole, "cut at {cut}");
            assert_eq!(len, ends[whole], "cut at {cut}");
            let (more, end) = read_more(&p, len, 1 + whole as u64).unwrap();
            assert_eq!((more.len(), end), (0, len), "cut at {cut}");
        }
        fs::write(&p, &full).unwrap();
        let (got, _) = read_more(&p, ends[0], 1).unwrap();
        let json = |es: &[Event]| serde_json::to_string(es).unwrap();
        assert_eq!(json(&got), json(&events()[1..]));
        // A wrong count of records before is a gap, refused.
        assert!(read_more(&p, ends[0], 5).is_err());
    }

    #[test]
    fn a_torn_last_record_is_cut_at_every_offset() {
        let dir = crate::testutil::TempDir::new();
        let (p, ends) = write(dir.path());
        let full = fs::read(&p).unwrap();
        let start = ends[ends.len() - 2] as usize;
        for cut in start..full.len() {
            fs::write(&p, &full[..cut]).unwrap();
            let r = replay(&p).unwrap();
            let (h, len, torn) = (r.history, r.len, r.torn);
            assert_eq!(len as usize, start, "cut at {cut}");
            assert_eq!(torn, cut > start);
            assert_eq!(h.trials[&0].status, Status::Running, "cut at {cut}");
            // Reopening cuts the torn tail and appends after the intact prefix.
            let mut j = Journal::open(&p, len, r.records).unwrap();
            j.append(&events()[3]).unwrap();
            assert_eq!(
                replay(&p).unwrap().history.trials[&0].status,
                Status::Failed
            );
        }
    }

    #[test]
    fn damage_before_the_end_names_the_offset() {
        let dir = crate::testutil::TempDir::new();
        let (p, ends) = write(dir.path());
        let mut buf = fs::read(&p).unwrap();
        let at = ends[0] as usize + 20;
        buf[at] ^= 0x01;
        fs::write(&p, &buf).unwrap();
        let err = replay(&p).unwrap_err().to_string();
        assert!(err.contains(&format!("byte offset {}", ends[0])), "{err}");
    }

    #[test]
    fn a_group_is_taken_whole_or_not_at_all() {
        let dir = crate::testutil::TempDir::new();
        let p = dir.path().join("journal.jsonl");
        let mut j = Journal::open(&p, 0, 0).unwrap();
        let ev = events();
        j.append_all(&ev[..2]).unwrap();
        let first = fs::metadata(&p).unwrap().len();
        j.append_all(&ev[2..]).unwrap();
        let full = fs::read(&p).unwrap();
        // Cut anywhere inside the second group, even between its two whole lines: the group is gone.
        for cut in first as usize..full.len() {
            fs::write(&p, &full[..cut]).unwrap();
            let r = replay(&p).unwrap();
            assert_eq!((r.len, r.records), (first, 2), "cut at {cut}");
            assert_eq!(r.torn, cut > first as usize);
            assert!(r.history.trials[&0].curve.is_empty(), "cut at {cut}");
        }
    }

    #[test]
    fn a_deleted_line_is_detected() {
        let dir = crate::testutil::TempDir::new();
        let (p, ends) = write(dir.path());
        let full = fs::read(&p).unwrap();
        let mut gap = full[..ends[0] as usize].to_vec();
        gap.extend_from_slice(&full[ends[1] as usize..]);
        fs::write(&p, &gap).unwrap();
        let err = replay(&p).unwrap_err().to_string();
        assert!(
            err.contains(&format!("record 1 is missing at byte offset {}", ends[0])),
            "{err}"
        );
    }

    #[test]
    fn every_line_is_plain_json_with_its_checksum_inside() {
        let dir = crate::testutil::TempDir::new();
        let (p, _) = write(dir.path());
        let text = fs::read_to_string(&p).unwrap();
        for (i, line) in text.lines().enumerate() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["seq"], i as u64);
            assert_eq!(v["crc"].as_str().unwrap().len(), 8);
            assert!(v["event"].is_string());
        }
    }

    #[test]
    fn journals_of_earlier_builds_still_replay_and_grow() {
        let dir = crate::testutil::TempDir::new();
        let p = dir.path().join("journal.jsonl");
        let old: String = events()[..3]
            .iter()
            .map(|e| {
                let json = serde_json::to_string(e).unwrap();
                format!("{:08x} {json}\n", crc32fast::hash(json.as_bytes()))
            })
            .collect();
        fs::write(&p, &old).unwrap();
        let r = replay(&p).unwrap();
        assert_eq!((r.records, r.torn), (3, false));
        let mut j = Journal::open(&p, r.len, r.records).unwrap();
        j.append(&events()[3]).unwrap();
        let r = replay(&p).unwrap();
        assert_eq!(r.records, 4);
        assert_eq!(r.history.trials[&0].status, Status::Failed);
    }
}
