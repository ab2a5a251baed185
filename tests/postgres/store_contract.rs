//! One contract for every artifact store, run against each, as the storage contract
//! (`contract.rs`) is: the study folder's store and PostgreSQL's (skipped with a message when no
//! server is there). A new store (an object store, say) is one more arm in `stores`.
//!
//! What the trait promises (src/artifacts/mod.rs), each through the trait alone, a trial's place
//! begun first as the driver begins it (or a resume finds it): a put is read
//! back whole, its checksum verified, by this process and, once synced, by another; an epoch put
//! again is replaced; the selected checkpoint survives the removal of its epoch; `begin` empties
//! what an earlier start left; `clean` never removes what a record names; a checkpoint that is not
//! there is `NotFound`, named as `name` names it; a program's file or folder is taken over, streamed
//! and given back byte for byte, however large.

use std::collections::BTreeMap;
use std::io;

use tune::artifacts::pick::{self, CheckpointPick};
use tune::artifacts::{
    payload, ArtifactStore, Checkpoint, CheckpointMeta, FolderStore, HostTensor, Keep,
    OptimizerState, PgStore, Retention,
};
use tune::curve::CurveRow;
use tune::space::{Params, Value};
use tune::storage::postgres::PgStorage;
use tune::storage::Storage;
use tune::Error;

use super::*;

/// The trials a case may write: held by this process where the store fences its writes.
const TRIALS: [u64; 2] = [0, 1];

/// A store under test, on a study of its own.
struct Case {
    name: &'static str,
    store: Box<dyn ArtifactStore>,
    /// The same study's store as another process opens it to read (`tune status`, `predict`).
    reader: Box<dyn Fn() -> Box<dyn ArtifactStore>>,
    /// Flips a bit of a stored checkpoint's bytes, as a damaged disk would.
    damage: Box<dyn Fn(u64, u32)>,
    /// Flips a bit of the last byte of a stored checkpoint's program files.
    damage_files: Box<dyn Fn(u64, u32)>,
    /// What holds the trials' leases while the test runs.
    _holds: Option<PgStorage>,
}

/// Every store, each on a study of its own under `dir`.
fn stores(test: &str, dir: &Path) -> Vec<Case> {
    let folder = dir.join(test).join("folder");
    std::fs::create_dir_all(&folder).unwrap();
    let (read_folder, damaged_folder, files_folder) =
        (folder.clone(), folder.clone(), folder.clone());
    let mut cases = vec![Case {
        name: "folder",
        store: Box::new(FolderStore::new(&folder)),
        reader: Box::new(move || Box::new(FolderStore::new(&read_folder))),
        damage: Box::new(move |trial, epoch| {
            let path = FolderStore::new(&damaged_folder).trial(trial).path(epoch);
            let mut bytes = std::fs::read(&path).unwrap();
            let at = bytes.len() - 5;
            bytes[at] ^= 1;
            std::fs::write(&path, bytes).unwrap();
        }),
        damage_files: Box::new(move |trial, epoch| {
            let dir = FolderStore::new(&files_folder)
                .trial(trial)
                .files_path(epoch);
            let at = tree_paths(&dir)
                .into_iter()
                .find(|p| std::fs::metadata(p).unwrap().len() > 0)
                .unwrap();
            let mut bytes = std::fs::read(&at).unwrap();
            *bytes.last_mut().unwrap() ^= 1;
            std::fs::write(&at, bytes).unwrap();
        }),
        _holds: None,
    }];
    if let Some(url) = database(&format!("store_{test}")) {
        let mut storage = PgStorage::connect(&url, false).unwrap();
        storage.open("study", &BTreeMap::new()).unwrap();
        for t in TRIALS {
            assert_eq!(
                storage.claim(Some(t)).unwrap(),
                Some(t),
                "trial {t} claimed"
            );
        }
        let local = dir.join(test).join("pg-local");
        let read_local = dir.join(test).join("pg-reader");
        let (read_url, damaged_url, files_url) = (url.clone(), url.clone(), url.clone());
        cases.push(Case {
            name: "postgres",
            store: Box::new(PgStore::new(storage.pg(), &local)),
            reader: Box::new(move || {
                let (_, pg) = PgStorage::read(&read_url, "study").unwrap().unwrap();
                Box::new(PgStore::new(pg, &read_local))
            }),
            damage: Box::new(move |trial, epoch| {
                client(&damaged_url)
                    .execute(
                        "UPDATE tune_checkpoints
                         SET bytes = set_byte(bytes, length(bytes) - 5,
                             get_byte(bytes, length(bytes) - 5) # 1)
                         WHERE trial = $1 AND epoch = $2",
                        &[&(trial as i64), &(epoch as i32)],
                    )
                    .unwrap();
            }),
            damage_files: Box::new(move |trial, epoch| {
                client(&files_url)
                    .execute(
                        "UPDATE tune_chunks k
                         SET bytes = set_byte(k.bytes, length(k.bytes) - 1,
                             get_byte(k.bytes, length(k.bytes) - 1) # 1)
                         FROM tune_checkpoints c
                         WHERE c.trial = $1 AND c.epoch = $2 AND k.payload = c.payload
                         AND k.seq = (SELECT max(seq) FROM tune_chunks WHERE payload = c.payload)",
                        &[&(trial as i64), &(epoch as i32)],
                    )
                    .unwrap();
            }),
            _holds: Some(storage),
        });
    }
    cases
}

/// The files under `dir`, at any depth.
fn tree_paths(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        match p.is_dir() {
            true => out.extend(tree_paths(&p)),
            false => out.push(p),
        }
    }
    out
}

fn params() -> Params {
    BTreeMap::from([("learning_rate".to_string(), Value::Float(0.01))])
}

fn row(k: u32) -> CurveRow {
    CurveRow {
        virtual_epoch: k,
        examples_seen: 100 * k as u64,
        steps: 10 * k as u64,
        train_loss: 1.0 / k as f64,
        val_loss: 0.5 / k as f64,
        metric: 0.25 / k as f64,
        learning_rate: None,
        reported: BTreeMap::new(),
    }
}

fn meta(trial: u64, k: u32) -> CheckpointMeta {
    let mut meta = CheckpointMeta::fresh(trial, &params());
    meta.virtual_epoch = k;
    meta.examples_seen = 100 * k as u64;
    meta.steps = 10 * k as u64;
    meta.seconds = 0.5 * k as f64;
    meta.curve = (1..=k).map(row).collect();
    meta
}

/// The built-in trainer's kind of checkpoint: `n` weights whose values depend on `seed`, and
/// Adam's moments of them.
fn ckpt(trial: u64, k: u32, seed: f32, n: usize) -> Checkpoint {
    let tensor = |scale: f32| HostTensor {
        name: "layers.0.weight".into(),
        shape: vec![2, n / 2],
        data: (0..n).map(|i| seed + scale * i as f32).collect(),
    };
    let mut meta = meta(trial, k);
    meta.runner
        .insert("layer_sizes".into(), serde_json::json!([2, n / 2]));
    Checkpoint {
        meta,
        weights: vec![tensor(0.5)],
        optimizer: OptimizerState {
            t: 10 * k as i32,
            m: vec![tensor(0.25)],
            v: vec![tensor(0.125)],
        },
        files: None,
    }
}

/// Whether `r` is the error of a checkpoint that is not there, naming it as `name` does.
fn not_found(r: Result<Checkpoint, Error>, name: &str) -> Result<(), String> {
    let e = match r {
        Ok(c) => return Err(format!("found virtual epoch {}", c.meta.virtual_epoch)),
        Err(e) => e,
    };
    let said = e.to_string();
    match &e {
        Error::Io { err, .. } if err.kind() == io::ErrorKind::NotFound && said.contains(name) => {
            Ok(())
        }
        _ => Err(format!("{e:?}, not NotFound naming {name:?}")),
    }
}

#[test]
fn every_store_gives_back_what_it_put_and_another_reader_sees_it_once_synced() {
    let _serial = one_at_a_time();
    let dir = tempdir();
    for case in stores("put", dir.path()) {
        let (name, s) = (case.name, &case.store);
        assert!(!s.exists(0), "{name}: a place before any write");
        let put: Vec<Checkpoint> = [3, 1, 2].map(|k| ckpt(0, k, k as f32, 8)).into();
        s.begin(0).unwrap();
        for c in &put {
            s.put(0, c).unwrap();
        }
        s.sync(0).unwrap();
        assert!(s.exists(0), "{name}");
        assert_eq!(s.epochs(0), [1, 2, 3], "{name}: epochs in order");
        let reader = (case.reader)();
        for c in &put {
            let k = c.meta.virtual_epoch;
            assert_eq!(&s.get(0, k).unwrap(), c, "{name}: epoch {k}");
            assert_eq!(
                &reader.get(0, k).unwrap(),
                c,
                "{name}: epoch {k}, read elsewhere"
            );
        }
        assert_eq!(reader.epochs(0), [1, 2, 3], "{name}: epochs read elsewhere");
        assert!(s.epochs(1).is_empty() && !s.exists(1), "{name}: trial 1");
        let names: std::collections::BTreeSet<String> = [(0, Some(1)), (0, Some(2)), (0, None)]
            .into_iter()
            .chain([(1, Some(1)), (1, None)])
            .map(|(t, k)| s.name(t, k))
            .collect();
        assert_eq!(names.len(), 5, "{name}: a name for each: {names:?}");
    }
}

#[test]
fn every_store_replaces_an_epoch_put_again() {
    let _serial = one_at_a_time();
    let dir = tempdir();
    for case in stores("again", dir.path()) {
        let (name, s) = (case.name, &case.store);
        s.begin(0).unwrap();
        s.put(0, &ckpt(0, 1, 1.0, 8)).unwrap();
        s.sync(0).unwrap();
        let newer = ckpt(0, 1, 7.0, 8);
        s.put(0, &newer).unwrap();
        s.sync(0).unwrap();
        // Twice before a sync, and the same one twice.
        s.put(0, &ckpt(0, 2, 1.0, 8)).unwrap();
        let second = ckpt(0, 2, 9.0, 8);
        s.put(0, &second).unwrap();
        s.put(0, &second).unwrap();
        s.sync(0).unwrap();
        assert_eq!(s.epochs(0), [1, 2], "{name}: each epoch once");
        let reader = (case.reader)();
        for store in [s, &reader] {
            assert_eq!(store.get(0, 1).unwrap(), newer, "{name}");
            assert_eq!(store.get(0, 2).unwrap(), second, "{name}");
            assert_eq!(store.epochs(0), [1, 2], "{name}");
        }
    }
}

#[test]
fn every_store_keeps_the_selected_checkpoint_through_retention() {
    let _serial = one_at_a_time();
    let dir = tempdir();
    for case in stores("best", dir.path()) {
        let (name, s) = (case.name, &case.store);
        let all: Vec<Checkpoint> = (1..=5).map(|k| ckpt(0, k, k as f32, 8)).collect();
        s.begin(0).unwrap();
        for c in &all {
            s.put(0, c).unwrap();
        }
        s.set_best(0, 2).unwrap();
        s.sync(0).unwrap();
        assert_eq!(s.best(0).unwrap(), all[1], "{name}");
        // The persister's retention: the last two and the best.
        let keep = Retention(vec![Keep::Last(2), Keep::Best]);
        let gone = keep.to_delete(&s.epochs(0), 5, Some(2));
        assert_eq!(gone, [1, 3], "{name}");
        for k in gone {
            s.remove(0, k).unwrap();
        }
        s.sync(0).unwrap();
        let reader = (case.reader)();
        for store in [s, &reader] {
            assert_eq!(store.epochs(0), [2, 4, 5], "{name}");
            not_found(store.get(0, 3), &store.name(0, Some(3))).unwrap();
            assert_eq!(store.best(0).unwrap(), all[1], "{name}");
        }
        // The selected epoch itself removed: the selection survives through its own copy.
        s.remove(0, 2).unwrap();
        s.remove(0, 2).unwrap();
        s.sync(0).unwrap();
        assert_eq!(s.epochs(0), [4, 5], "{name}");
        assert_eq!(
            s.best(0).unwrap(),
            all[1],
            "{name}: best after its epoch went"
        );
        assert_eq!((case.reader)().best(0).unwrap(), all[1], "{name}");
        s.set_best(0, 5).unwrap();
        s.sync(0).unwrap();
        assert_eq!(s.best(0).unwrap(), all[4], "{name}: moved on");
        assert_eq!((case.reader)().best(0).unwrap(), all[4], "{name}");
    }
}

#[test]
fn every_store_says_a_missing_checkpoint_is_not_found_and_names_it() {
    let _serial = one_at_a_time();
    let dir = tempdir();
    for case in stores("missing", dir.path()) {
        let (name, s) = (case.name, &case.store);
        for store in [s, &(case.reader)()] {
            not_found(store.get(1, 7), &store.name(1, Some(7)))
                .unwrap_or_else(|e| panic!("{name}: never stored: {e}"));
            not_found(store.best(1), &store.name(1, None))
                .unwrap_or_else(|e| panic!("{name}: never selected: {e}"));
            assert!(store.epochs(1).is_empty(), "{name}");
        }
        s.begin(1).unwrap();
        s.put(1, &ckpt(1, 1, 0.0, 8)).unwrap();
        s.sync(1).unwrap();
        s.remove(1, 4).unwrap(); // never stored: nothing to do
        not_found(s.best(1), &s.name(1, None)).unwrap_or_else(|e| panic!("{name}: {e}"));
        // A selection the records name and that is not there: a damaged study, in one sentence.
        match pick::read(&**s, 1, CheckpointPick::Best, true) {
            Err(Error::Damaged(m)) => assert!(m.contains("is missing"), "{name}: {m}"),
            Err(e) => panic!("{name}: {e:?}"),
            Ok(_) => panic!("{name}: a selection found"),
        }
    }
}

#[test]
fn every_store_verifies_a_checkpoints_sum_when_it_reads_it() {
    let _serial = one_at_a_time();
    let dir = tempdir();
    for case in stores("damaged", dir.path()) {
        let (name, s) = (case.name, &case.store);
        s.begin(0).unwrap();
        s.put(0, &ckpt(0, 1, 1.0, 8)).unwrap();
        s.put(0, &ckpt(0, 2, 2.0, 8)).unwrap();
        s.sync(0).unwrap();
        (case.damage)(0, 1);
        for store in [s, &(case.reader)()] {
            match store.get(0, 1) {
                Err(Error::Damaged(m)) => assert!(m.contains("checksum mismatch"), "{name}: {m}"),
                r => panic!("{name}: a flipped bit read as {r:?}"),
            }
            assert_eq!(store.get(0, 2).unwrap(), ckpt(0, 2, 2.0, 8), "{name}");
        }
        // A program's files: their sum is checked as they are read back.
        let out = dir.path().join("damaged").join(name);
        program_output(&out.join("ckpt"), 5000, true, 6);
        adopt_and_put(&**s, &out.join("ckpt"), 3);
        s.sync(0).unwrap();
        (case.damage_files)(0, 3);
        for store in [s, &(case.reader)()] {
            match store.get(0, 3) {
                Err(Error::Damaged(m)) => assert!(m.contains("checksum mismatch"), "{name}: {m}"),
                r => panic!("{name}: a program's file with a flipped bit read as {r:?}"),
            }
        }
    }
}

#[test]
fn every_store_begin_empties_what_an_earlier_start_left_and_clean_keeps_what_records_name() {
    let _serial = one_at_a_time();
    let dir = tempdir();
    for case in stores("begin", dir.path()) {
        let (name, s) = (case.name, &case.store);
        for t in TRIALS {
            s.begin(t).unwrap();
            s.put(t, &ckpt(t, 1, 1.0, 8)).unwrap();
            s.put(t, &ckpt(t, 2, 2.0, 8)).unwrap();
            s.set_best(t, 2).unwrap();
            s.sync(t).unwrap();
        }
        s.clean(1).unwrap();
        assert_eq!(s.epochs(1), [1, 2], "{name}: clean removed a stored one");
        assert_eq!(
            s.best(1).unwrap(),
            ckpt(1, 2, 2.0, 8),
            "{name}: after clean"
        );
        s.begin(0).unwrap();
        s.sync(0).unwrap();
        let reader = (case.reader)();
        for store in [s, &reader] {
            assert!(store.epochs(0).is_empty(), "{name}: {:?}", store.epochs(0));
            not_found(store.get(0, 1), &store.name(0, Some(1)))
                .unwrap_or_else(|e| panic!("{name}: after begin: {e}"));
            not_found(store.best(0), &store.name(0, None))
                .unwrap_or_else(|e| panic!("{name}: the earlier start's best: {e}"));
            assert_eq!(store.epochs(1), [1, 2], "{name}: another trial's");
            assert_eq!(store.best(1).unwrap(), ckpt(1, 2, 2.0, 8), "{name}");
        }
        let fresh = ckpt(0, 1, 5.0, 8);
        s.put(0, &fresh).unwrap();
        s.set_best(0, 1).unwrap();
        s.sync(0).unwrap();
        assert_eq!(s.epochs(0), [1], "{name}");
        assert_eq!(s.best(0).unwrap(), fresh, "{name}");
        assert_eq!((case.reader)().get(0, 1).unwrap(), fresh, "{name}");
    }
}

/// Bytes that do not repeat within a chunk (nor compress), from `seed`.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Every file under `root` (itself when it is a file) by relative path, with its bytes.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(dir: &Path, rel: &str, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let rel = format!("{rel}/{}", e.file_name().to_string_lossy());
            if e.file_type().unwrap().is_dir() {
                out.insert(format!("{rel}/"), vec![]);
                walk(&e.path(), &rel, out);
            } else {
                out.insert(rel, std::fs::read(e.path()).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    match root.is_dir() {
        true => walk(root, "", &mut out),
        false => {
            out.insert(String::new(), std::fs::read(root).unwrap());
        }
    }
    out
}

/// A program's checkpoint written at `at`: a lone file of `big` bytes, or a folder with a file of
/// `big` bytes, an empty file and a nested folder.
fn program_output(at: &Path, big: usize, folder: bool, seed: u64) {
    let _ = payload::remove(at);
    if !folder {
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::fs::write(at, noise(big, seed)).unwrap();
        return;
    }
    std::fs::create_dir_all(at.join("optimizer/state")).unwrap();
    std::fs::write(at.join("model.bin"), noise(big, seed)).unwrap();
    std::fs::write(at.join("empty"), b"").unwrap();
    std::fs::write(at.join("optimizer/state/adam.json"), b"{\"t\": 3}").unwrap();
}

/// Has `s` take over the program's output at `at` as trial 0's checkpoint `k` and store its
/// record: the record, and the files as they were.
fn adopt_and_put(
    s: &dyn ArtifactStore,
    at: &Path,
    k: u32,
) -> (Checkpoint, BTreeMap<String, Vec<u8>>) {
    let wrote = tree(at);
    let (files, _) = s.adopt(0, k, at).unwrap();
    assert!(!at.exists(), "taken over, not copied");
    assert_eq!(files.name, at.file_name().unwrap().to_string_lossy());
    let mut meta = meta(0, k);
    meta.files = Some(files);
    let record = Checkpoint {
        meta,
        weights: vec![],
        optimizer: OptimizerState::default(),
        files: None,
    };
    s.put(0, &record).unwrap();
    (record, wrote)
}

/// Whether `got` is `want` with its program's files as `wrote` holds them.
fn same_program_checkpoint(
    got: Checkpoint,
    want: &Checkpoint,
    wrote: &BTreeMap<String, Vec<u8>>,
) -> Result<(), String> {
    if got.meta != want.meta || !got.weights.is_empty() {
        return Err(format!("another record: {:?}", got.meta));
    }
    let at = got.files.ok_or("no files")?;
    let back = tree(&at);
    match &back == wrote {
        true => Ok(()),
        false => Err(format!(
            "{} holds other files: {:?}",
            at.display(),
            back.iter().map(|(p, b)| (p, b.len())).collect::<Vec<_>>()
        )),
    }
}

#[test]
fn every_store_keeps_a_programs_file_or_folder_byte_for_byte_beyond_its_epoch() {
    let _serial = one_at_a_time();
    let dir = tempdir();
    let big = (3 << 20) + 12345; // four chunks in PostgreSQL
    for case in stores("program", dir.path()) {
        let (name, s) = (case.name, &case.store);
        let out = dir.path().join("program").join(name);
        s.begin(0).unwrap();
        program_output(&out.join("model.pt"), big, false, 1);
        let (file, file_bytes) = adopt_and_put(&**s, &out.join("model.pt"), 1);
        program_output(&out.join("ckpt"), big, true, 2);
        let (folder, folder_bytes) = adopt_and_put(&**s, &out.join("ckpt"), 2);
        s.set_best(0, 1).unwrap();
        s.sync(0).unwrap();
        for (label, store) in [("this process", s), ("another", &(case.reader)())] {
            let check = |got, want, wrote| {
                same_program_checkpoint(got, want, wrote)
                    .unwrap_or_else(|e| panic!("{name}, {label}: {e}"))
            };
            check(store.get(0, 1).unwrap(), &file, &file_bytes);
            check(store.get(0, 2).unwrap(), &folder, &folder_bytes);
            check(store.best(0).unwrap(), &file, &file_bytes);
        }
        // Its epoch removed, the selected one's files stay.
        s.remove(0, 1).unwrap();
        s.sync(0).unwrap();
        assert_eq!(s.epochs(0), [2], "{name}");
        for store in [s, &(case.reader)()] {
            same_program_checkpoint(store.best(0).unwrap(), &file, &file_bytes)
                .unwrap_or_else(|e| panic!("{name}: best after its epoch went: {e}"));
        }
    }
}

#[test]
fn every_store_takes_the_last_of_a_programs_files_taken_over_twice_and_refuses_files_never_taken() {
    let _serial = one_at_a_time();
    let dir = tempdir();
    for case in stores("retaken", dir.path()) {
        let (name, s) = (case.name, &case.store);
        let out = dir.path().join("retaken").join(name);
        s.begin(0).unwrap();
        // An earlier run's checkpoint of the same epoch, then this run's.
        program_output(&out.join("ckpt"), 1000, true, 3);
        s.adopt(0, 1, &out.join("ckpt")).unwrap();
        program_output(&out.join("ckpt"), 2000, true, 4);
        let (record, wrote) = adopt_and_put(&**s, &out.join("ckpt"), 1);
        s.sync(0).unwrap();
        for store in [s, &(case.reader)()] {
            same_program_checkpoint(store.get(0, 1).unwrap(), &record, &wrote)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let mut never = meta(0, 2);
        never.files = Some(record.meta.files.clone().unwrap());
        let orphan = Checkpoint {
            meta: never,
            weights: vec![],
            optimizer: OptimizerState::default(),
            files: None,
        };
        let refused = s.put(0, &orphan).and_then(|()| s.sync(0));
        assert!(
            refused.is_err(),
            "{name}: a record naming files never taken"
        );
        s.sync(0).unwrap();
        assert_eq!(s.epochs(0), [1], "{name}: nothing stored for it");
    }
}

#[test]
fn every_store_round_trips_a_large_checkpoint_and_a_large_programs_file() {
    let _serial = one_at_a_time();
    let dir = tempdir();
    // 3 × 12 MiB of tensors; a program's file of 40 chunks in PostgreSQL.
    let (floats, bytes) = (3 << 20, (40 << 20) + 1);
    for case in stores("large", dir.path()) {
        let (name, s) = (case.name, &case.store);
        let out = dir.path().join("large").join(name);
        let built_in = ckpt(0, 1, 0.5, floats);
        s.begin(0).unwrap();
        s.put(0, &built_in).unwrap();
        program_output(&out.join("weights.bin"), bytes, false, 5);
        let (program, wrote) = adopt_and_put(&**s, &out.join("weights.bin"), 2);
        s.set_best(0, 2).unwrap();
        s.sync(0).unwrap();
        let reader = (case.reader)();
        assert!(
            reader.get(0, 1).unwrap() == built_in,
            "{name}: the large one"
        );
        same_program_checkpoint(reader.best(0).unwrap(), &program, &wrote)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}
