//! The storage seam: where a study's events live. A backend opens or creates a study under its
//! fingerprint, claims trial numbers atomically (no two processes start the same trial), appends
//! events in durable groups and reads them back after a cursor. Everything else (the history, the
//! sampler's view, resume decisions) is a pure replay of the events, whatever stored them.
//!
//! Backends: [`journal::JournalStorage`], a checksummed file in the study folder (one process,
//! an OS lock); [`postgres::PgStorage`], a study shared by workers on many machines (leases,
//! fencing); [`memory::MemoryStorage`], for tests. A new backend is a new file here that
//! implements [`Storage`]; the driver does not change (see docs/design.md).

use std::collections::BTreeMap;

use crate::error::{Error, Result};

pub mod events;
pub mod journal;
mod lock;
pub mod memory;
pub mod postgres;

pub use events::{Decision, Event, Exploit, History, Status, TrialRecord};

/// Every spec field that changes results, by name: a study resumes only under the same one.
pub type Fingerprint = BTreeMap<String, serde_json::Value>;

/// A study as a backend opened it.
#[derive(Clone, Debug, Default)]
pub struct Opened {
    /// Every event so far, replayed.
    pub history: History,
    /// Events read: the cursor of [`Storage::read_after`] for what comes next.
    pub cursor: u64,
    /// One sentence for each thing the backend put right on opening (a torn last append cut off).
    pub warnings: Vec<String>,
}

/// What the driver needs from where a study's events are kept.
pub trait Storage: Send {
    /// Opens the study, creating it (its first event, `study_created` with `fingerprint`) when it
    /// has none yet. A study created under another fingerprint is refused with
    /// [`Error::SpecChanged`] before anything is written.
    fn open(&mut self, name: &str, fingerprint: &Fingerprint) -> Result<Opened>;

    /// Claims trial number `trial` for this process, or with `None` the next number no process
    /// has claimed; `None` back when `trial` is taken. Claimed numbers are never handed out again.
    fn claim(&mut self, trial: Option<u64>) -> Result<Option<u64>>;

    /// Appends `events` in order as one group: after a crash, all of them are there or none, and
    /// all of them are durable when this returns.
    fn append(&mut self, events: &[Event]) -> Result<()>;

    /// The events after the first `cursor`, and the cursor after them. A [`Storage::shared`] one
    /// leaves out the events this process appended (the driver has them).
    fn read_after(&self, cursor: u64) -> Result<(Vec<Event>, u64)>;

    /// Whether other processes work on the study at the same time (and the driver follows their
    /// events with [`Storage::read_after`]). The methods below matter only then: for a storage
    /// one process holds, every resume is granted and no trial is lost.
    fn shared(&self) -> bool {
        false
    }

    /// Claims an interrupted trial to resume it: `false` when another process holds its lease.
    fn resume(&mut self, _trial: u64) -> Result<bool> {
        Ok(true)
    }

    /// The running trials other processes hold, and those of them whose lease ran out.
    fn orphans(&mut self) -> Result<Orphans> {
        Ok(Orphans::default())
    }

    /// Whether this process lost its lease on `trial` (another took it over): it writes nothing
    /// more for it, and drops it.
    fn lost(&self, _trial: u64) -> bool {
        false
    }

    /// Takes (`true`) or releases the study's suggestion lock: adaptive suggestions are made one
    /// at a time across processes, each seeing the trials the others started (constant liar).
    fn suggesting(&mut self, _lock: bool) -> Result<()> {
        Ok(())
    }

    /// Appends `events`, a group that promotes a paused trial (after its exploit, population-based
    /// training), as one group that claims the trial for this process: `false`, and nothing of
    /// the trial written, when another process promoted it first or wrote of it after event
    /// `seen` of [`Storage::read_after`] (the history the promotion was decided from). A storage
    /// one process holds always grants it.
    fn promote(&mut self, events: &[Event], seen: u64) -> Result<bool> {
        let _ = seen;
        self.append(events)?;
        Ok(true)
    }

    /// The whole history as stored, when other processes wrote to it.
    fn reread(&self) -> Result<Option<History>> {
        Ok(None)
    }
}

/// Running trials of a shared study held by other processes.
#[derive(Clone, Debug, Default)]
pub struct Orphans {
    /// Those whose lease ran out (their worker died, froze or lost the network), in order.
    pub expired: Vec<u64>,
    /// How many there are, expired or not.
    pub elsewhere: usize,
}

/// Keys added to the fingerprint after studies were made without them, with the value their
/// absence means (what every build before them did, as JSON): a study made before a key was added
/// resumes when the value is still that one.
const ADDED_LATER: &[(&str, &str)] = &[
    ("data split", r#""fisher-yates-rand-0.8-chacha8""#),
    ("scheduler", "null"),
];

/// Keys that a shared study's fingerprint holds since they were added (`driver::fingerprint::
/// shared`): a study made before records none of them, and accepts any value.
pub const RECORDED_LATER: &[&str] = &["search.trials", "keep", "data.test_trials"];

/// Keys that [`check_fingerprint`] leaves to the driver: the program's files (`code`), whose
/// change a resume may accept (`--allow-code-change`, src/driver/code.rs), and which a study made
/// before they were recorded lacks.
pub const CHECKED_APART: &[&str] = &["code"];

/// Refuses `new` when the study was created under another fingerprint, naming what changed.
pub fn check_fingerprint(history: &History, new: &Fingerprint) -> Result<()> {
    let Some(old) = &history.fingerprint else {
        return Ok(());
    };
    let changed: Vec<String> = new
        .keys()
        .filter(|k| old.contains_key(*k) || !RECORDED_LATER.contains(&k.as_str()))
        .filter(|k| !CHECKED_APART.contains(&k.as_str()))
        .filter(|k| {
            let implied = ADDED_LATER
                .iter()
                .find(|(key, _)| key == k)
                .and_then(|(_, v)| serde_json::from_str::<serde_json::Value>(v).ok());
            old.get(*k).or(implied.as_ref()) != new.get(*k)
        })
        .cloned()
        .collect();
    if changed.is_empty() {
        Ok(())
    } else {
        Err(Error::SpecChanged(changed))
    }
}

/// Each of `keys` with the study's value and `new`'s when both are short (`search.trials (10 in
/// the study, 14 here)`), else its name alone: what differs, for a message.
pub fn differences(study: Option<&Fingerprint>, new: &Fingerprint, keys: &[String]) -> String {
    let short = |v: Option<&serde_json::Value>| {
        v.map(|v| v.to_string())
            .filter(|t| t.chars().count() <= 24 && !t.contains(['\n', '\r']))
    };
    keys.iter()
        .map(|k| {
            let there = short(study.and_then(|f| f.get(k)));
            match (there, short(new.get(k))) {
                (Some(a), Some(b)) => format!("{k} ({a} in the study, {b} here)"),
                _ => k.clone(),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The numbers already started in `history`, and the next number after them.
fn started(history: &History) -> (std::collections::BTreeSet<u64>, u64) {
    let claimed: std::collections::BTreeSet<u64> = history.trials.keys().copied().collect();
    let next = claimed.last().map_or(0, |n| n + 1);
    (claimed, next)
}

/// [`Storage::claim`] over the numbers claimed so far and the next free one.
fn claim_in(
    claimed: &mut std::collections::BTreeSet<u64>,
    next: &mut u64,
    trial: Option<u64>,
) -> Option<u64> {
    match trial {
        Some(n) => claimed.insert(n).then_some(n),
        None => {
            while claimed.contains(next) {
                *next += 1;
            }
            claimed.insert(*next);
            Some(*next)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created(fingerprint: &Fingerprint) -> History {
        let mut h = History::default();
        h.apply(&Event::StudyCreated {
            name: "s".into(),
            fingerprint: fingerprint.clone(),
        });
        h
    }

    fn print(pairs: &[(&str, serde_json::Value)]) -> Fingerprint {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn a_shared_key_is_compared_once_recorded() {
        let old = print(&[("seed", 1.into()), ("search.trials", 10.into())]);
        let more = print(&[("seed", 1.into()), ("search.trials", 14.into())]);
        match check_fingerprint(&created(&old), &more) {
            Err(Error::SpecChanged(keys)) => assert_eq!(keys, ["search.trials"]),
            other => panic!("{other:?}"),
        }
        assert!(check_fingerprint(&created(&old), &old).is_ok());
        // A study made before the key was recorded accepts any value; other keys still count.
        let before = print(&[("seed", 1.into())]);
        assert!(check_fingerprint(&created(&before), &more).is_ok());
        let seed = print(&[("seed", 2.into()), ("keep", 3.into())]);
        match check_fingerprint(&created(&before), &seed) {
            Err(Error::SpecChanged(keys)) => assert_eq!(keys, ["seed"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn differences_show_short_values_only() {
        let long = serde_json::json!({ "hidden": [64, 64, 64, 64, 64, 64] });
        let old = print(&[("search.trials", 10.into()), ("model", long.clone())]);
        let new = print(&[("search.trials", 14.into()), ("model", 1.into())]);
        let keys = ["model".to_string(), "search.trials".to_string()];
        assert_eq!(
            differences(Some(&old), &new, &keys),
            "model, search.trials (10 in the study, 14 here)"
        );
        assert_eq!(differences(None, &new, &keys), "model, search.trials");
    }
}
