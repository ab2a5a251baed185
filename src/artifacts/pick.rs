//! A checkpoint named by a user's words: a trial's selected one (`best`), its last one kept, or a
//! virtual epoch's (`tune predict`, `tune export`, a spec's `init`).

use super::{ArtifactStore, Checkpoint};
use crate::error::{Error, Result};

/// Which of a trial's checkpoints: its selected one, its last one kept, or a virtual epoch's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckpointPick {
    Best,
    Last,
    Epoch(u32),
}

impl std::str::FromStr for CheckpointPick {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "best" => Ok(CheckpointPick::Best),
            "last" => Ok(CheckpointPick::Last),
            n => n.parse().map(CheckpointPick::Epoch).map_err(|_| {
                format!("`{s}` is neither `best`, `last` nor a virtual epoch's number")
            }),
        }
    }
}

/// Reads trial `trial`'s checkpoint that `pick` names, its checksum verified (`has_best`: the
/// trial has a selected one).
pub fn read(
    store: &dyn ArtifactStore,
    trial: u64,
    pick: CheckpointPick,
    has_best: bool,
) -> Result<Checkpoint> {
    let kept = store.epochs(trial);
    let none = |what: String| {
        Error::Study(format!(
            "trial {trial} has no {what} (its checkpoints kept: {})",
            match kept.is_empty() {
                true => "none".to_string(),
                false => kept
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            }
        ))
    };
    let read = |epoch: Option<u32>| {
        match epoch {
            Some(k) => store.get(trial, k),
            None => store.best(trial),
        }
        .map_err(|e| missing(store, trial, epoch, e))
    };
    match pick {
        CheckpointPick::Best if has_best => read(None),
        CheckpointPick::Best => Err(none("selected checkpoint".into())),
        CheckpointPick::Last => match kept.last() {
            Some(&k) => read(Some(k)),
            None => Err(none("checkpoint".into())),
        },
        CheckpointPick::Epoch(k) if kept.contains(&k) => read(Some(k)),
        CheckpointPick::Epoch(k) => Err(none(format!(
            "checkpoint of virtual epoch {k} (the spec's \"keep\" says how many are kept)"
        ))),
    }
}

/// A checkpoint the study's records say is there and that cannot be read (gone, or unreadable): a
/// damaged study, in one sentence naming the trial and the file (exit 2).
fn missing(store: &dyn ArtifactStore, trial: u64, epoch: Option<u32>, e: Error) -> Error {
    let Error::Io { err, .. } = &e else {
        return e;
    };
    let which = match epoch {
        Some(k) => format!("checkpoint of virtual epoch {k}"),
        None => "selected checkpoint".into(),
    };
    let what = match err.kind() {
        std::io::ErrorKind::NotFound => "is missing".to_string(),
        _ => format!("cannot be read ({err})"),
    };
    Error::Damaged(format!(
        "trial {trial}'s {which}, {}, {what}: the study is damaged",
        store.name(trial, epoch)
    ))
}
