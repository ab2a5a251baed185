//! One contract for every storage backend, run against each, as Optuna parametrises its storage
//! tests: the journal in a study folder, memory, and PostgreSQL (skipped with a message when no
//! server is there). A new backend is one more arm in `backends`.

use std::collections::BTreeMap;

use tune::curve::CurveRow;
use tune::storage::journal::JournalStorage;
use tune::storage::memory::MemoryStorage;
use tune::storage::postgres::PgStorage;
use tune::storage::{Event, Fingerprint, Status, Storage};
use tune::Error;

use super::*;

/// A backend under test: a new study's storage, and a way to open the same study again (another
/// process, or a resume), once the first is dropped.
struct Case {
    name: &'static str,
    first: Box<dyn Storage>,
    again: Box<dyn Fn() -> Box<dyn Storage>>,
}

/// Every backend, each on a study of its own; `_dir` keeps the journal's folder.
fn backends(test: &str, dir: &Path) -> Vec<Case> {
    let folder = dir.join(test);
    std::fs::create_dir_all(&folder).unwrap();
    let memory = MemoryStorage::default();
    let shared = memory.clone();
    let again_folder = folder.clone();
    let mut cases = vec![
        Case {
            name: "journal",
            first: Box::new(JournalStorage::lock(&folder).unwrap()),
            again: Box::new(move || Box::new(JournalStorage::lock(&again_folder).unwrap())),
        },
        Case {
            name: "memory",
            first: Box::new(memory),
            again: Box::new(move || Box::new(shared.clone())),
        },
    ];
    if let Some(url) = database(&format!("contract_{test}")) {
        let again_url = url.clone();
        cases.push(Case {
            name: "postgres",
            first: Box::new(PgStorage::connect(&url, false).unwrap()),
            again: Box::new(move || Box::new(PgStorage::connect(&again_url, false).unwrap())),
        });
    }
    cases
}

fn print(seed: i64) -> Fingerprint {
    BTreeMap::from([
        ("seed".to_string(), serde_json::json!(seed)),
        ("metric".to_string(), serde_json::json!("val_loss")),
    ])
}

fn row(k: u32, loss: f64) -> CurveRow {
    CurveRow {
        virtual_epoch: k,
        examples_seen: 100 * k as u64,
        steps: 10 * k as u64,
        train_loss: loss * 1.5,
        val_loss: loss,
        metric: loss.sqrt(),
        learning_rate: None,
        reported: BTreeMap::new(),
    }
}

#[test]
fn every_storage_creates_a_study_once_and_refuses_another_fingerprint_writing_nothing() {
    let _serial = one_at_a_time();
    let dir = tempdir();
    for mut case in backends("create", dir.path()) {
        let name = case.name;
        let opened = case.first.open("study", &print(1)).unwrap();
        assert_eq!(opened.history.fingerprint, Some(print(1)), "{name}");
        drop(case.first);
        let mut again = (case.again)();
        let opened = again.open("study", &print(1)).unwrap();
        assert_eq!(opened.history.fingerprint, Some(print(1)), "{name}");
        let (events, _) = again.read_after(0).unwrap();
        let created = events
            .iter()
            .filter(|e| matches!(e, Event::StudyCreated { .. }))
            .count();
        assert!(created <= 1, "{name}: created {created} times");
        drop(again);
        let mut other = (case.again)();
        match other.open("study", &print(2)) {
            Err(Error::SpecChanged(keys)) => assert_eq!(keys, ["seed"], "{name}"),
            Err(e) => panic!("{name}: {e}"),
            Ok(_) => panic!("{name}: another fingerprint was accepted"),
        }
        drop(other);
        let mut last = (case.again)();
        assert_eq!(
            last.open("study", &print(1)).unwrap().history.fingerprint,
            Some(print(1)),
            "{name}: the refusal wrote something"
        );
    }
}

#[test]
fn every_storage_replays_what_was_appended_and_never_hands_out_a_started_trial_again() {
    let _serial = one_at_a_time();
    let dir = tempdir();
    for mut case in backends("replay", dir.path()) {
        let name = case.name;
        let s = &mut case.first;
        s.open("study", &print(1)).unwrap();
        let a = s.claim(None).unwrap().expect("a trial");
        let b = s.claim(None).unwrap().expect("another");
        assert_ne!(a, b, "{name}");
        assert_eq!(
            s.claim(Some(b)).unwrap(),
            None,
            "{name}: {b} handed out twice"
        );
        let params =
            BTreeMap::from([("learning_rate".to_string(), tune::space::Value::Float(0.01))]);
        s.append(&[
            Event::TrialStarted {
                trial: a,
                params: params.clone(),
                suggest_ms: None,
            },
            Event::EpochDone {
                trial: a,
                row: row(1, 0.25),
                seconds: 1.5,
                decision: None,
            },
        ])
        .unwrap();
        s.append(&[Event::TrialEnded {
            trial: a,
            status: Status::Complete,
            reason: None,
            seconds: 2.0,
        }])
        .unwrap();
        drop(case.first);
        let mut again = (case.again)();
        let history = again.open("study", &print(1)).unwrap().history;
        let t = &history.trials[&a];
        assert_eq!(t.status, Status::Complete, "{name}");
        assert_eq!(t.params, params, "{name}");
        assert_eq!(t.curve, vec![row(1, 0.25)], "{name}: replayed bit for bit");
        for _ in 0..3 {
            let n = again.claim(None).unwrap().expect("a trial");
            assert_ne!(n, a, "{name}: the started trial {a} handed out again");
        }
    }
}

/// Trial `a` at virtual epoch `k`, paused there (`EpochDone` deciding the pause, then its end).
fn paused_at(a: u64, k: u32) -> [Event; 2] {
    [
        Event::EpochDone {
            trial: a,
            row: row(k, 1.0 / k as f64),
            seconds: k as f64,
            decision: Some(tune::storage::Decision::Pause),
        },
        Event::TrialEnded {
            trial: a,
            status: Status::Paused,
            reason: None,
            seconds: k as f64,
        },
    ]
}

/// Trial `a`'s exploit of itself at `k` and its promotion: a group for `Storage::promote`.
fn promotion(a: u64, k: u32) -> [Event; 2] {
    let params = |lr: f64| BTreeMap::from([("lr".to_string(), tune::space::Value::Float(lr))]);
    [
        Event::TrialExploited {
            trial: a,
            virtual_epoch: k,
            source: a,
            old: params(0.1),
            new: params(0.1 * k as f64),
        },
        Event::TrialPromoted { trial: a },
    ]
}

#[test]
fn every_storage_grants_a_promotion_and_a_shared_one_once_and_only_on_what_was_read() {
    let _serial = one_at_a_time();
    let dir = tempdir();
    for mut case in backends("promote", dir.path()) {
        let name = case.name;
        let s = &mut case.first;
        s.open("study", &print(1)).unwrap();
        let a = s.claim(None).unwrap().expect("a trial");
        let started = Event::TrialStarted {
            trial: a,
            params: BTreeMap::new(),
            suggest_ms: None,
        };
        s.append(&[started]).unwrap();
        s.append(&paused_at(a, 1)).unwrap();
        let (_, seen) = s.read_after(0).unwrap();
        if !s.shared() {
            assert!(s.promote(&promotion(a, 1), seen).unwrap(), "{name}");
            let (events, _) = s.read_after(0).unwrap();
            assert!(events.ends_with(&promotion(a, 1)), "{name}");
            continue;
        }
        // Another worker promotes it first, trains it to its next pause: this one's promotion,
        // decided on what it read before, is refused; once it read that, it is granted.
        let mut other = (case.again)();
        other.open("study", &print(1)).unwrap();
        let (_, theirs) = other.read_after(0).unwrap();
        assert!(other.promote(&promotion(a, 1), theirs).unwrap(), "{name}");
        assert!(!s.promote(&promotion(a, 1), seen).unwrap(), "{name}");
        other.append(&paused_at(a, 2)).unwrap();
        assert!(!s.promote(&promotion(a, 1), seen).unwrap(), "{name}");
        let (_, seen) = s.read_after(seen).unwrap();
        assert!(s.promote(&promotion(a, 2), seen).unwrap(), "{name}");
        let history = other.reread().unwrap().unwrap();
        let t = &history.trials[&a];
        let at: Vec<u32> = t.exploits.iter().map(|x| x.virtual_epoch).collect();
        assert_eq!(at, [1, 2], "{name}: each exploit once");
        assert_eq!(t.status, Status::Running, "{name}");
    }
}
