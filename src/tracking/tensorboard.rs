//! TensorBoard: event files under the study folder's `tensorboard/trial-N/`, one run per trial,
//! its scalars at the examples seen (so that trials of any batch size share one axis) and its
//! parameters through the HParams plugin (a session per trial). Each process appends to event
//! files of its own; a trial's folder is read first, so that a resume writes only the steps after
//! those already there and the trial's session once.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::tfrecord::{fields, record, records, Field, Message};
use super::{Failure, Param, Point, Tracker};

const START_TAG: &str = "_hparams_/session_start_info";
const END_TAG: &str = "_hparams_/session_end_info";

/// The TensorBoard tracker of a study.
pub struct TensorBoard {
    dir: PathBuf,
    trials: BTreeMap<u64, Trial>,
    /// This process's event files' name (the same in each trial's folder).
    file_name: String,
}

/// What a trial's folder holds, and this process's file in it.
struct Trial {
    last_step: Option<u64>,
    /// The HParams tags already written (its session's start and end).
    tags: BTreeSet<String>,
    file: Option<File>,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl TensorBoard {
    /// Writes under `dir` (the study folder's `tensorboard/`).
    pub fn new(dir: &Path) -> TensorBoard {
        TensorBoard {
            dir: dir.to_path_buf(),
            trials: BTreeMap::new(),
            // TensorBoard reads a folder's files in the order of their names: the time first.
            file_name: format!(
                "events.out.tfevents.{:010}.tune.{}",
                now() as u64,
                std::process::id()
            ),
        }
    }

    /// The trial's state, its folder read the first time.
    fn trial(&mut self, trial: u64) -> &mut Trial {
        let dir = self.dir.join(format!("trial-{trial}"));
        self.trials
            .entry(trial)
            .or_insert_with(|| read_folder(&dir))
    }

    /// Appends `events` to the trial's file of this process, made with its version record first.
    fn write(&mut self, trial: u64, events: &[Vec<u8>]) -> Result<(), Failure> {
        let dir = self.dir.join(format!("trial-{trial}"));
        let path = dir.join(&self.file_name);
        let t = self.trial(trial);
        let failed = |e: std::io::Error| Failure::Refused(format!("{}: {e}", path.display()));
        if t.file.is_none() {
            std::fs::create_dir_all(&dir).map_err(failed)?;
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(failed)?;
            let version = Message::default()
                .double(1, now())
                .bytes(3, b"brain.Event:2")
                .into_bytes();
            f.write_all(&record(&version)).map_err(failed)?;
            t.file = Some(f);
        }
        let bytes: Vec<u8> = events.iter().flat_map(|e| record(e)).collect();
        let f = t.file.as_mut().expect("opened above");
        f.write_all(&bytes).map_err(failed)?;
        Ok(())
    }
}

/// What the event files of a trial's folder hold: the last step of its scalars and the HParams
/// tags; nothing when it has none yet.
fn read_folder(dir: &Path) -> Trial {
    let mut t = Trial {
        last_step: None,
        tags: BTreeSet::new(),
        file: None,
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return t;
    };
    for e in entries.flatten() {
        if !e.file_name().to_string_lossy().contains("tfevents") {
            continue;
        }
        let Ok(bytes) = std::fs::read(e.path()) else {
            continue;
        };
        for event in records(&bytes) {
            let mut step = None;
            let mut tags = vec![];
            for f in fields(event) {
                match f {
                    Field::Int(2, s) => step = Some(s),
                    Field::Bytes(5, summary) => tags.extend(summary_tags(summary)),
                    _ => {}
                }
            }
            for tag in tags {
                if tag.starts_with("_hparams_/") {
                    t.tags.insert(tag);
                } else if let Some(s) = step {
                    t.last_step = t.last_step.max(Some(s));
                }
            }
        }
    }
    t
}

/// The tags of a `Summary`'s values.
fn summary_tags(summary: &[u8]) -> Vec<String> {
    fields(summary)
        .into_iter()
        .filter_map(|f| match f {
            Field::Bytes(1, value) => fields(value).into_iter().find_map(|g| match g {
                Field::Bytes(1, tag) => Some(String::from_utf8_lossy(tag).into_owned()),
                _ => None,
            }),
            _ => None,
        })
        .collect()
}

/// An event at `step` holding one summary value.
fn event(step: u64, value: Message) -> Vec<u8> {
    Message::default()
        .double(1, now())
        .int(2, step)
        .message(5, Message::default().message(1, value))
        .into_bytes()
}

/// A summary value of the HParams plugin: `data` is the `HParamsPluginData` field (3: the
/// session's start, 4: its end) and its message; an empty float tensor as its value, as the
/// plugin's own writer leaves.
fn hparams_value(tag: &str, field: u32, data: Message) -> Message {
    let content = Message::default()
        .int(1, 0)
        .message(field, data)
        .into_bytes();
    let plugin = Message::default().bytes(1, b"hparams").bytes(2, &content);
    // TensorProto: dtype DT_FLOAT (1), shape [0].
    let tensor = Message::default()
        .int(1, 1)
        .message(2, Message::default().message(2, Message::default()));
    Message::default()
        .bytes(1, tag.as_bytes())
        .message(9, Message::default().message(1, plugin))
        .message(8, tensor)
}

impl Tracker for TensorBoard {
    fn name(&self) -> String {
        format!("TensorBoard files in {}", self.dir.display())
    }

    fn trial_started(&mut self, trial: u64, params: &[(String, Param)]) -> Result<(), Failure> {
        if self.trial(trial).tags.contains(START_TAG) {
            return Ok(());
        }
        // SessionStartInfo: hparams (a map of google.protobuf.Value), start_time_secs.
        let mut start = Message::default();
        for (name, p) in params {
            let value = match p {
                Param::Num(x) => Message::default().double(2, *x),
                Param::Text(s) => Message::default().bytes(3, s.as_bytes()),
            };
            let entry = Message::default()
                .bytes(1, name.as_bytes())
                .message(2, value);
            start = start.message(1, entry);
        }
        let start = start.double(5, now());
        self.write(trial, &[event(0, hparams_value(START_TAG, 3, start))])?;
        self.trial(trial).tags.insert(START_TAG.into());
        Ok(())
    }

    fn boundaries(&mut self, trial: u64, points: &[Point]) -> Result<(), Failure> {
        let last = self.trial(trial).last_step;
        let new: Vec<&Point> = points
            .iter()
            .filter(|p| last.is_none_or(|l| p.step > l))
            .collect();
        let Some(newest) = new.last().map(|p| p.step) else {
            return Ok(());
        };
        let events: Vec<Vec<u8>> = new
            .iter()
            .flat_map(|p| {
                p.values.iter().map(|(tag, v)| {
                    let value = Message::default()
                        .bytes(1, tag.as_bytes())
                        .float(2, *v as f32);
                    event(p.step, value)
                })
            })
            .collect();
        self.write(trial, &events)?;
        self.trial(trial).last_step = Some(newest);
        Ok(())
    }

    fn status(
        &mut self,
        trial: u64,
        status: &str,
        _reason: Option<&str>,
        _checkpoint: Option<&Path>,
    ) -> Result<(), Failure> {
        // api.proto's Status: SUCCESS 1, FAILURE 2; a paused or promoted trial has not ended.
        let code = match status {
            "running" | "paused" => return Ok(()),
            "failed" => 2,
            _ => 1,
        };
        if self.trial(trial).tags.contains(END_TAG) {
            return Ok(());
        }
        let end = Message::default().int(1, code).double(2, now());
        let step = self.trial(trial).last_step.unwrap_or(0);
        self.write(trial, &[event(step, hparams_value(END_TAG, 4, end))])?;
        self.trial(trial).tags.insert(END_TAG.into());
        Ok(())
    }

    fn study_ended(
        &mut self,
        _best: Option<u64>,
        _leaderboard: &Path,
        _front: Option<&super::Front>,
    ) -> Result<(), Failure> {
        for t in self.trials.values_mut() {
            if let Some(f) = &t.file {
                let _ = f.sync_data();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(step: u64, loss: f64) -> Point {
        Point {
            step,
            values: vec![("val_loss".into(), loss)],
        }
    }

    #[test]
    fn a_resume_adds_only_new_steps_and_one_session() {
        let tmp = crate::testutil::TempDir::new();
        let dir = tmp.path().join("tensorboard");
        let params = [("lr".to_string(), Param::Num(0.1))];
        let mut tb = TensorBoard::new(&dir);
        tb.trial_started(3, &params).unwrap();
        tb.boundaries(3, &[point(10, 1.0), point(20, 0.5)]).unwrap();
        drop(tb);
        // Another process (another file name), told the whole trial again.
        let mut tb = TensorBoard::new(&dir);
        tb.file_name.push_str(".2");
        tb.trial_started(3, &params).unwrap();
        tb.boundaries(3, &[point(10, 1.0), point(20, 0.5), point(30, 0.25)])
            .unwrap();
        tb.status(3, "complete", None, None).unwrap();
        let t = read_folder(&dir.join("trial-3"));
        assert_eq!(t.last_step, Some(30));
        assert_eq!(t.tags, BTreeSet::from([START_TAG.into(), END_TAG.into()]));
        let steps: Vec<u64> = std::fs::read_dir(dir.join("trial-3"))
            .unwrap()
            .flat_map(|e| {
                let bytes = std::fs::read(e.unwrap().path()).unwrap();
                records(&bytes)
                    .into_iter()
                    .flat_map(|r| {
                        let f = fields(r);
                        let scalar = f.iter().any(|f| match f {
                            Field::Bytes(5, s) => summary_tags(s) == ["val_loss"],
                            _ => false,
                        });
                        f.into_iter().filter_map(move |f| match f {
                            Field::Int(2, s) if scalar => Some(s),
                            _ => None,
                        })
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut sorted = steps.clone();
        sorted.sort();
        assert_eq!(sorted, [10, 20, 30]);
    }
}
