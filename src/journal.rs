//! The study's append-only journal: one JSON line per event, each with a CRC-32 and fsynced, replayed
//! to resume. A torn last line is cut off with a warning; damage before the end is refused with its
//! byte offset. Also the study lock: an OS file lock, released when the process dies.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::checkpoint::CurveRow;
use crate::error::{Error, Result};
use crate::space::Params;

/// Floats that may be NaN or infinite, which JSON cannot hold: written as strings, read back exactly.
pub mod float {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_str(&v.to_string())
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum F {
            N(f64),
            S(String),
        }
        match F::deserialize(d)? {
            F::N(v) => Ok(v),
            F::S(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// How a trial ended (Optuna's words, with `stopped` for early stopping).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Running,
    Complete,
    Stopped,
    Failed,
}

impl Status {
    /// The word in the leaderboard.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Complete => "complete",
            Status::Stopped => "stopped",
            Status::Failed => "failed",
        }
    }
}

/// One journal event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The study began; `fingerprint` holds every spec field that changes results.
    StudyCreated {
        name: String,
        fingerprint: BTreeMap<String, serde_json::Value>,
    },
    /// A trial was given its parameters.
    TrialStarted {
        trial: u64,
        params: Params,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        suggest_ms: Option<f64>,
    },
    /// A virtual epoch ended and its checkpoint is on disk.
    EpochDone {
        trial: u64,
        row: CurveRow,
        seconds: f64,
    },
    /// A trial ended.
    TrialEnded {
        trial: u64,
        status: Status,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        seconds: f64,
    },
}

/// A trial as the journal tells it.
#[derive(Clone, Debug, PartialEq)]
pub struct TrialRecord {
    pub trial: u64,
    pub params: Params,
    pub status: Status,
    pub reason: Option<String>,
    pub curve: Vec<CurveRow>,
    pub seconds: f64,
    pub suggest_ms: Option<f64>,
}

/// What replaying a journal gives.
#[derive(Clone, Debug, Default)]
pub struct History {
    pub fingerprint: Option<BTreeMap<String, serde_json::Value>>,
    pub trials: BTreeMap<u64, TrialRecord>,
}

impl History {
    /// Applies one event.
    pub fn apply(&mut self, e: &Event) {
        match e {
            Event::StudyCreated { fingerprint, .. } => self.fingerprint = Some(fingerprint.clone()),
            Event::TrialStarted {
                trial,
                params,
                suggest_ms,
            } => {
                self.trials.insert(
                    *trial,
                    TrialRecord {
                        trial: *trial,
                        params: params.clone(),
                        status: Status::Running,
                        reason: None,
                        curve: vec![],
                        seconds: 0.0,
                        suggest_ms: *suggest_ms,
                    },
                );
            }
            Event::EpochDone {
                trial,
                row,
                seconds,
            } => {
                if let Some(t) = self.trials.get_mut(trial) {
                    t.curve.retain(|r| r.virtual_epoch < row.virtual_epoch);
                    t.curve.push(row.clone());
                    t.seconds = *seconds;
                }
            }
            Event::TrialEnded {
                trial,
                status,
                reason,
                seconds,
            } => {
                if let Some(t) = self.trials.get_mut(trial) {
                    t.status = *status;
                    t.reason = reason.clone();
                    t.seconds = *seconds;
                }
            }
        }
    }
}

/// The open journal, appending.
pub struct Journal {
    path: PathBuf,
    file: File,
}

fn encode(e: &Event) -> String {
    let json = serde_json::to_string(e).expect("events serialise");
    format!("{:08x} {json}\n", crc32fast::hash(json.as_bytes()))
}

/// Replays the journal at `path`: the history, and the length of its intact prefix. A torn last
/// line (a crash mid-append) is reported in `torn`; damage before it is an error naming the offset.
pub fn replay(path: &Path) -> Result<(History, u64, bool)> {
    let buf = fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut h = History::default();
    let mut offset = 0usize;
    while offset < buf.len() {
        let rest = &buf[offset..];
        let line_end = rest.iter().position(|&b| b == b'\n');
        let parsed = line_end.and_then(|n| decode(&rest[..n]));
        match (parsed, line_end) {
            (Some(e), Some(n)) => {
                h.apply(&e);
                offset += n + 1;
            }
            (None, n) => {
                // Only the last line may be damaged: a crash can tear an append, nothing else.
                let is_last = n.is_none_or(|n| offset + n + 1 == buf.len());
                if is_last {
                    return Ok((h, offset as u64, true));
                }
                return Err(Error::Study(format!(
                    "{}: damaged record at byte offset {offset}: the journal was changed or corrupted; move the study folder aside or run with --restart",
                    path.display()
                )));
            }
            (Some(_), None) => unreachable!(),
        }
    }
    Ok((h, offset as u64, false))
}

fn decode(line: &[u8]) -> Option<Event> {
    let line = std::str::from_utf8(line).ok()?;
    let (crc, json) = line.split_once(' ')?;
    if u32::from_str_radix(crc, 16).ok()? != crc32fast::hash(json.as_bytes()) || crc.len() != 8 {
        return None;
    }
    serde_json::from_str(json).ok()
}

impl Journal {
    /// Opens the journal for appending, first cutting it to its intact prefix of `len` bytes.
    pub fn open(path: &Path, len: u64) -> Result<Journal> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        // Cut a torn tail, durably; a new journal is made durable by its first record.
        if file.metadata().map_err(|e| Error::io(path, e))?.len() != len {
            file.set_len(len).map_err(|e| Error::io(path, e))?;
            file.sync_all().map_err(|e| Error::io(path, e))?;
        }
        let mut j = Journal {
            path: path.to_path_buf(),
            file,
        };
        use std::io::Seek;
        j.file
            .seek(std::io::SeekFrom::End(0))
            .map_err(|e| Error::io(path, e))?;
        Ok(j)
    }

    /// Appends one event and makes it durable before returning.
    pub fn append(&mut self, e: &Event) -> Result<()> {
        self.append_all(std::slice::from_ref(e))
    }

    /// Appends events in order with one write, and makes them durable (one fdatasync) before
    /// returning.
    pub fn append_all(&mut self, events: &[Event]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let lines: String = events.iter().map(encode).collect();
        self.file
            .write_all(lines.as_bytes())
            .map_err(|err| Error::io(&self.path, err))?;
        self.file
            .sync_data()
            .map_err(|err| Error::io(&self.path, err))
    }
}

/// The study lock: held while this process runs the study; the OS releases it if the process dies.
pub struct StudyLock {
    _file: File,
}

impl StudyLock {
    /// Takes the lock of the study folder `dir`, or says which process holds it.
    pub fn acquire(dir: &Path) -> Result<StudyLock> {
        let path = dir.join("study.lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {
                file.set_len(0).map_err(|e| Error::io(&path, e))?;
                let _ = write!(file, "{}", std::process::id());
                Ok(StudyLock { _file: file })
            }
            Err(_) => {
                let pid = fs::read_to_string(&path).unwrap_or_default();
                Err(Error::Study(format!(
                    "{}: study is in use by pid {}",
                    dir.display(),
                    pid.trim()
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::Value;

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
                },
                seconds: 1.0,
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
        let mut j = Journal::open(&p, 0).unwrap();
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
        let (h, _, torn) = replay(&p).unwrap();
        assert!(!torn);
        let row = &h.trials[&0].curve[0];
        assert!(row.train_loss.is_nan());
        assert_eq!(row.val_loss, f64::INFINITY);
        assert_eq!(h.trials[&0].status, Status::Failed);
    }

    #[test]
    fn a_torn_last_record_is_cut_at_every_offset() {
        let dir = crate::testutil::TempDir::new();
        let (p, ends) = write(dir.path());
        let full = fs::read(&p).unwrap();
        let start = ends[ends.len() - 2] as usize;
        for cut in start..full.len() {
            fs::write(&p, &full[..cut]).unwrap();
            let (h, len, torn) = replay(&p).unwrap();
            assert_eq!(len as usize, start, "cut at {cut}");
            assert_eq!(torn, cut > start);
            assert_eq!(h.trials[&0].status, Status::Running, "cut at {cut}");
            // Reopening cuts the torn tail and appends after the intact prefix.
            let mut j = Journal::open(&p, len).unwrap();
            j.append(&events()[3]).unwrap();
            assert_eq!(replay(&p).unwrap().0.trials[&0].status, Status::Failed);
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
    fn a_second_lock_names_the_holder() {
        let dir = crate::testutil::TempDir::new();
        let _held = StudyLock::acquire(dir.path()).unwrap();
        let err = StudyLock::acquire(dir.path()).err().unwrap().to_string();
        assert!(
            err.contains(&format!("study is in use by pid {}", std::process::id())),
            "{err}"
        );
    }
}
