//! A storage backend in memory, for tests of the driver: the same contract as the journal file, in
//! microseconds. Clones share their events, so a second driver over a clone is a resume.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use super::{check_fingerprint, claim_in, started, Event, Fingerprint, History, Opened, Storage};
use crate::error::Result;

/// Events in memory; clones share them (a second "process" on the same study).
#[derive(Clone, Default)]
pub struct MemoryStorage {
    events: Arc<Mutex<Vec<Event>>>,
    claimed: BTreeSet<u64>,
    next: u64,
}

impl MemoryStorage {
    /// Every event appended so far, by any clone.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }
}

impl Storage for MemoryStorage {
    fn open(&mut self, name: &str, fingerprint: &Fingerprint) -> Result<Opened> {
        let mut history = History::default();
        let events = self.events();
        for e in &events {
            history.apply(e);
        }
        check_fingerprint(&history, fingerprint)?;
        if history.fingerprint.is_none() {
            let e = Event::StudyCreated {
                name: name.to_string(),
                fingerprint: fingerprint.clone(),
            };
            self.append(std::slice::from_ref(&e))?;
            history.apply(&e);
        }
        (self.claimed, self.next) = started(&history);
        Ok(Opened {
            cursor: self.events.lock().unwrap().len() as u64,
            history,
            warnings: vec![],
        })
    }

    fn claim(&mut self, trial: Option<u64>) -> Result<Option<u64>> {
        Ok(claim_in(&mut self.claimed, &mut self.next, trial))
    }

    fn append(&mut self, events: &[Event]) -> Result<()> {
        self.events.lock().unwrap().extend_from_slice(events);
        Ok(())
    }

    fn read_after(&self, cursor: u64) -> Result<(Vec<Event>, u64)> {
        let all = self.events.lock().unwrap();
        let from = (cursor as usize).min(all.len());
        Ok((all[from..].to_vec(), all.len() as u64))
    }
}
