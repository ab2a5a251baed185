//! A study is never stranded: a full disk at any moment (a file-size limit at every size, the
//! process killed by SIGXFSZ or seeing EFBIG; a small tmpfs where the machine allows mounting one),
//! damaged checkpoints, a damaged or missing best, a deleted journal line, a second writer. Each
//! crash point is resumed without the fault and compared with the uninterrupted study: every
//! leaderboard metric, every curve, every selected checkpoint's weights.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tune::artifacts::{Checkpoint, Checkpointer};

/// Issue 15's example: 6 random trials of 10 virtual epochs on the wine data, one at a time.
fn disk_spec() -> serde_json::Value {
    serde_json::json!({
        "name": "e", "seed": 9,
        "data": { "path": wine(), "target": "quality", "task": "regression" },
        "model": { "hidden": [8] },
        "budget": { "stop_point": 20, "virtual_epochs": 10 },
        "search": { "method": "random", "trials": 6, "parallel": 1,
            "space": { "batch_size": [32, 64], "learning_rate": { "low": 1e-3, "high": 3e-2, "log": true } } }
    })
}

/// What must not depend on how a study was interrupted: the leaderboard's metric columns, each
/// trial's curve, and the weights and optimizer state of each trial's selected checkpoint.
#[derive(Debug, PartialEq)]
struct Results {
    leaderboard: Vec<Vec<String>>,
    curves: Vec<String>,
    best: Vec<Checkpoint>,
}

fn results(study: &Path) -> Results {
    let leaderboard = columns(&study.join("leaderboard.csv"), METRICS);
    let (mut curves, mut best) = (vec![], vec![]);
    for n in 0..leaderboard.len() {
        let dir = study.join("trials").join(n.to_string());
        curves.push(std::fs::read_to_string(dir.join("curve.csv")).unwrap_or_default());
        let mut c = Checkpoint::load(&dir.join("best.safetensors"))
            .unwrap_or_else(|e| panic!("trial {n}: {e}"));
        // Training seconds differ run to run; everything else must not.
        c.meta.seconds = 0.0;
        best.push(c);
    }
    Results {
        leaderboard,
        curves,
        best,
    }
}

/// Runs `tune -q --sync-every S SPEC` under `ulimit -f KIB`, the process killed by SIGXFSZ at the
/// limit, or with SIGXFSZ ignored so that the write fails with EFBIG instead.
fn limited(spec: &Path, kib: u64, killed: bool, sync_every: &str) -> Output {
    let trap = if killed { "" } else { "trap '' XFSZ; " };
    Command::new("bash")
        .arg("-c")
        .arg(format!("ulimit -f {kib}; {trap}exec \"$@\""))
        .arg("_")
        .arg(env!("CARGO_BIN_EXE_tune"))
        .args(["-q", "--sync-every", sync_every])
        .arg(spec)
        .output()
        .unwrap()
}

/// Counts of a fault campaign.
#[derive(Default)]
struct Tally {
    tried: usize,
    identical: usize,
    stranded: Vec<String>,
    differ: Vec<String>,
}

impl Tally {
    /// Resumes the study of `spec` without the fault and compares it with `want`.
    fn resume(&mut self, what: String, spec: &Path, study: &Path, want: &Results) {
        self.tried += 1;
        let out = run(spec);
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            self.stranded.push(format!("{what}: {err}"));
            return;
        }
        if !temp_files(study).is_empty() {
            self.differ.push(format!("{what}: temp files left"));
        }
        if &results(study) == want {
            self.identical += 1;
        } else {
            self.differ.push(what);
        }
    }

    fn check(&self, name: &str) {
        println!(
            "{name}: {} crash points tried, {} studies resumed identical, {} stranded, {} silent differences",
            self.tried,
            self.identical,
            self.stranded.len(),
            self.differ.len()
        );
        assert!(self.stranded.is_empty(), "stranded: {:#?}", self.stranded);
        assert!(self.differ.is_empty(), "differ: {:#?}", self.differ);
        assert_eq!(self.identical, self.tried);
    }
}

fn reference(spec: &serde_json::Value) -> (TempDir, Results) {
    let dir = tempdir();
    ok(run(&write_spec(dir.path(), spec)));
    let r = results(&dir.path().join("runs").join(spec["name"].as_str().unwrap()));
    (dir, r)
}

#[test]
fn a_file_size_limit_at_every_size_resumes_to_the_uninterrupted_results() {
    let (_r, want) = reference(&disk_spec());
    let mut tally = Tally::default();
    let mut faulted = 0;
    // The journal ends near 16 KiB: every limit up to past it, each both ways.
    for kib in 1..=18u64 {
        for killed in [true, false] {
            let dir = tempdir();
            let spec = write_spec(dir.path(), &disk_spec());
            let sync = if kib % 2 == 0 { "0" } else { "1" };
            let out = limited(&spec, kib, killed, sync);
            if out.status.success() {
                continue;
            }
            faulted += 1;
            let what = format!("ulimit -f {kib}, killed {killed}, --sync-every {sync}");
            tally.resume(what, &spec, &dir.path().join("runs/e"), &want);
        }
    }
    assert!(faulted >= 30, "only {faulted} runs hit the limit");
    tally.check("file-size limits");
}

fn unmount(at: &Path) {
    let _ = Command::new("umount").arg(at).status();
}

#[test]
fn a_full_tmpfs_at_many_sizes_resumes_once_grown() {
    let (_r, want) = reference(&disk_spec());
    let mut tally = Tally::default();
    for kib in (24..=120u64).step_by(8) {
        let dir = tempdir();
        let Some(disk) = small_tmpfs(dir.path(), kib) else {
            println!("skipped: this machine does not allow mounting a tmpfs");
            return;
        };
        // One trial at a time, and two: two persisters fill the disk at once.
        let mut spec = disk_spec();
        spec["search"]["parallel"] = (1 + (kib / 8) % 2).into();
        let spec = write_spec(&disk, &spec);
        let full = run(&spec);
        if !full.status.success() {
            // Grow the disk, then resume.
            let grown = Command::new("mount")
                .args(["-o", "remount,size=4m"])
                .arg(&disk)
                .status()
                .unwrap();
            assert!(grown.success());
            let what = format!("tmpfs of {kib} KiB");
            tally.resume(what, &spec, &disk.join("runs/e"), &want);
        }
        unmount(&disk);
    }
    assert!(
        tally.tried >= 5,
        "only {} sizes filled the disk",
        tally.tried
    );
    tally.check("full tmpfs");
}

/// A one-trial study of 6 virtual epochs keeping 3 checkpoints.
fn one_trial() -> serde_json::Value {
    let mut s = tiny_spec(1);
    s["budget"] = serde_json::json!({ "total_examples": 1800, "virtual_epochs": 6 });
    s["search"] = serde_json::json!({ "method": "grid", "space": { "batch_size": [24], "learning_rate": [0.01] } });
    s["keep"] = serde_json::json!(3);
    s
}

/// [`one_trial`] stopped after `k` virtual epochs.
fn stopped_after(k: u64) -> (TempDir, PathBuf) {
    let dir = tempdir();
    let spec = write_spec(dir.path(), &one_trial());
    let out = tune(&[
        "-q".as_ref(),
        "--sync-every".as_ref(),
        "0".as_ref(),
        "--stop-after-epochs".as_ref(),
        k.to_string().as_ref(),
        spec.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(130));
    (dir, spec)
}

fn flip(path: &Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    let at = at % b.len();
    b[at] ^= 0x10;
    std::fs::write(path, b).unwrap();
}

#[test]
fn a_damaged_checkpoint_of_a_running_trial_is_passed_over_with_a_warning() {
    let (_r, want) = reference(&one_trial());
    let mut tally = Tally::default();
    // Bytes in the header's length, its JSON (shapes, metadata), and the tensors.
    for at in [
        3usize,
        40,
        300,
        900,
        2000,
        4000,
        9000,
        20_000,
        usize::MAX / 2,
    ] {
        let (dir, spec) = stopped_after(4);
        let study = dir.path().join("runs/tiny");
        let ck = Checkpointer::new(study.join("trials/0"));
        let newest = ck.path(4);
        flip(&newest, at);
        assert_eq!(ck.saved(), [2, 3, 4]);
        let before = std::fs::read(&newest).unwrap();
        let out = ok(run(&spec));
        let err = String::from_utf8_lossy(&out.stderr);
        let j = std::fs::read_to_string(study.join("journal.jsonl")).unwrap();
        assert!(
            err.contains(&newest.display().to_string()) && err.contains("warning"),
            "byte {at}: no warning naming the file: {err}\n{}\n{j}",
            String::from_utf8_lossy(&before)
        );
        // Resumed already: what the resume left must equal the uninterrupted study.
        tally.tried += 1;
        if results(&study) == want {
            tally.identical += 1;
        } else {
            tally.differ.push(format!("bit flipped at byte {at}"));
        }
    }
    tally.check("damaged checkpoints");
}

#[test]
fn every_checkpoint_of_a_trial_damaged_means_it_starts_over_and_the_others_go_on() {
    let (_r, want) = reference(&disk_spec());
    let dir = tempdir();
    let spec = write_spec(dir.path(), &disk_spec());
    let out = tune(&[
        "-q".as_ref(),
        "--stop-after-epochs".as_ref(),
        "25".as_ref(),
        spec.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(130));
    let study = dir.path().join("runs/e");
    let trial = Checkpointer::new(study.join("trials/2"));
    assert!(!trial.saved().is_empty());
    for k in trial.saved() {
        std::fs::remove_file(trial.path(k)).unwrap();
    }
    let out = ok(run(&spec));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("it starts over"), "{err}");
    assert_eq!(results(&study), want);
}

#[test]
fn a_damaged_best_is_reported_by_status_and_repaired_from_its_copy() {
    let dir = tempdir();
    let spec = write_spec(dir.path(), &disk_spec());
    ok(run(&spec));
    let study = dir.path().join("runs/e");
    let want = results(&study);
    let status = || {
        let out = ok(tune(&["status".as_ref(), spec.as_os_str()]));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(!status().contains("damaged"), "{}", status());

    // Every trial keeps its last checkpoint: where the best is the last, it is a second link.
    let mut repairable = None;
    let mut lost = None;
    for n in 0..6 {
        let c = Checkpointer::new(study.join(format!("trials/{n}")));
        let best = Checkpoint::load(&c.best_path()).unwrap().meta.virtual_epoch;
        if c.saved() == [best] {
            repairable.get_or_insert(n);
        } else {
            lost.get_or_insert(n);
        }
    }
    let (fix, gone) = (repairable.expect("a trial whose best is its last"), lost);
    std::fs::remove_file(study.join(format!("trials/{fix}/best.safetensors"))).unwrap();
    let s = status();
    assert!(
        s.contains(&format!("damaged: trial {fix}:"))
            && s.contains("which the next `tune` run links"),
        "{s}"
    );
    if let Some(g) = gone {
        // A byte of the last tensor: the file still parses, only the checksum can tell.
        let best = study.join(format!("trials/{g}/best.safetensors"));
        flip(&best, std::fs::metadata(&best).unwrap().len() as usize - 7);
        let s = status();
        assert!(
            s.contains(&format!("damaged: trial {g}:")) && s.contains("checksum mismatch"),
            "{s}"
        );
        assert!(s.contains("no intact copy"), "{s}");
    }
    // The run repairs what it can and stops on nothing.
    let out = ok(run(&spec));
    assert!(String::from_utf8_lossy(&out.stderr).contains("linked again"));
    assert!(!status().contains(&format!("damaged: trial {fix}:")));
    let got = results_lenient(&study);
    assert_eq!(got.leaderboard, want.leaderboard);
    assert_eq!(got.curves, want.curves);
}

/// [`results`] without the selected checkpoints (some are damaged on purpose).
fn results_lenient(study: &Path) -> Results {
    Results {
        leaderboard: columns(&study.join("leaderboard.csv"), METRICS),
        curves: (0..6)
            .map(|n| std::fs::read_to_string(study.join(format!("trials/{n}/curve.csv"))).unwrap())
            .collect(),
        best: vec![],
    }
}

#[test]
fn a_deleted_journal_line_is_refused_with_its_place() {
    let dir = tempdir();
    let spec = write_spec(dir.path(), &disk_spec());
    ok(run(&spec));
    let journal = dir.path().join("runs/e/journal.jsonl");
    let text = std::fs::read_to_string(&journal).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let at: usize = lines[..5].iter().map(|l| l.len() + 1).sum();
    let kept: String = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 5)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    std::fs::write(&journal, kept).unwrap();
    let before = std::fs::read(&journal).unwrap();
    for args in [vec![], vec!["status"], vec!["leaderboard"]] {
        let mut a: Vec<&std::ffi::OsStr> = args.iter().map(|s| s.as_ref()).collect();
        a.push(spec.as_os_str());
        let out = tune(&a);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("record 5 is missing at byte offset {at}")),
            "{args:?}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    assert_eq!(
        std::fs::read(&journal).unwrap(),
        before,
        "a refused run wrote"
    );
}

#[test]
fn no_second_writer_gets_in_restart_and_a_deleted_lock_file_included() {
    let dir = tempdir();
    let mut s = disk_spec();
    s["budget"] = serde_json::json!({ "total_examples": 50_000_000, "virtual_epochs": 1000 });
    let spec = write_spec(dir.path(), &s);
    let study = dir.path().join("runs/e");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tune"))
        .args(["-q", "--sync-every", "0"])
        .arg(&spec)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let journal = study.join("journal.jsonl");
    let t0 = std::time::Instant::now();
    while std::fs::read_to_string(&journal).map_or(0, |t| t.lines().count()) < 3 {
        assert!(t0.elapsed().as_secs() < 60, "the study did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let refused = |args: &[&str], why: &str| {
        let mut a: Vec<&std::ffi::OsStr> = args.iter().map(|s| s.as_ref()).collect();
        a.push(spec.as_os_str());
        let out = tune(&a);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(why), "{err}\nwanted: {why}");
    };
    let holder = format!("study is in use by pid {}", child.id());
    refused(&["-q", "--restart"], &holder);
    assert!(journal.exists(), "--restart moved a live study");
    // Without its pid file the holder is still found (the lock is on the folder), and not named.
    std::fs::remove_file(study.join("study.lock")).unwrap();
    refused(&["-q"], "study is in use by another process");
    child.kill().unwrap();
    child.wait().unwrap();
    // The study the first process left resumes; its journal was never refused as damaged.
    assert!(tune::storage::journal::replay(&journal).is_ok());
    let siblings = std::fs::read_dir(dir.path().join("runs")).unwrap().count();
    assert_eq!(siblings, 1, "nothing was moved aside");
}

#[test]
fn a_limit_on_threads_is_one_sentence_and_the_study_resumes() {
    // RLIMIT_NPROC does not bind root: run as `nobody` where this test runs as root.
    let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    if !root || Command::new("su").arg("--help").output().is_err() {
        println!("skipped: needs root and su to run as another user");
        return;
    }
    let dir = tempdir();
    let bin = dir.path().join("tune");
    std::fs::copy(env!("CARGO_BIN_EXE_tune"), &bin).unwrap();
    let mut spec = disk_spec();
    spec["data"]["path"] = "wine.csv".into();
    spec["search"]["parallel"] = 2.into();
    std::fs::copy(wine(), dir.path().join("wine.csv")).unwrap();
    let spec = write_spec(dir.path(), &spec);
    let all = Command::new("chmod")
        .args(["-R", "a+rwX"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(all.success());
    let script = "ulimit -u 4; exec \"$0\" -q \"$1\"";
    let out = Command::new("su")
        .args(["nobody", "-s", "/bin/bash", "-c", script])
        .arg(&bin)
        .arg(&spec)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("cannot start") && err.contains("ulimit -u"),
        "{err}"
    );
    ok(run(&spec));
}
