//! What a user's program reports or prints stays inside its trial: hostile checkpoint paths (out of
//! the folder, links, FIFOs, `.`/`..`), huge lines, descendants in sessions of their own, a full
//! disk; and a fuzz of misbehaving trials, killed and resumed, that must leave everything outside
//! the finished trials' folders as it was.

mod common;
mod toy;
use common::*;
use toy::*;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Every file under `dir` (links as links) with its bytes, for a before/after comparison.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(d: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let t = e.file_type().unwrap();
            if t.is_dir() {
                walk(&e.path(), out);
            } else if t.is_symlink() {
                let to = std::fs::read_link(e.path()).unwrap();
                out.insert(e.path(), to.display().to_string().into_bytes());
            } else {
                out.insert(e.path(), std::fs::read(e.path()).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, &mut out);
    out
}

/// A folder beside the study that no trial may touch, with a file and a subfolder.
fn sentinel(dir: &Path) -> PathBuf {
    let s = dir.join("sentinel");
    std::fs::create_dir_all(s.join("inner")).unwrap();
    std::fs::write(s.join("keep.txt"), b"keep me").unwrap();
    std::fs::write(s.join("inner/also.txt"), b"and me").unwrap();
    s
}

/// The (status, reason) of each trial of the toy study in `dir`, by trial.
fn rows(dir: &Path) -> Vec<(String, String)> {
    study_rows(&dir.join("runs/toy"))
}

/// The (status, reason) of each trial of the study folder `study`, by trial.
fn study_rows(study: &Path) -> Vec<(String, String)> {
    let (h, rows) = read_csv(&study.join("leaderboard.csv"));
    let at = |n: &str| h.iter().position(|c| c == n).unwrap();
    let mut rows: Vec<(u64, String, String)> = rows
        .iter()
        .map(|r| {
            let trial = r[at("trial")].parse().unwrap();
            (trial, r[at("status")].clone(), r[at("reason")].clone())
        })
        .collect();
    rows.sort();
    rows.into_iter().map(|(_, s, r)| (s, r)).collect()
}

/// Runs a 3-trial toy study in a fresh folder whose trial 1 runs `mode` with `env`: (its folder,
/// the run's output).
fn with_bad_trial(mode: &str, env: &[(&str, String)]) -> (TempDir, std::process::Output) {
    let dir = tempdir();
    let mut spec = toy_spec(3, 1, "hostile");
    let mut e = serde_json::json!({ "TOY_MODE": mode, "TOY_BAD_TRIALS": "1" });
    for (k, v) in env {
        e[k] = v.clone().into();
    }
    spec["trainer"]["env"] = e;
    let path = write_spec(dir.path(), &spec);
    let out = run(&path);
    (dir, out)
}

#[test]
fn a_reported_checkpoint_never_moves_or_deletes_anything_outside_its_folder() {
    if !python() {
        return;
    }
    let probe = tempdir();
    let outside = sentinel(probe.path());
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "report_as",
            "../../../journal.jsonl".into(),
            "leaves the trial's checkpoint folder",
        ),
        (
            "report_as",
            "../output.log".into(),
            "leaves the trial's checkpoint folder",
        ),
        (
            "report_as",
            "../../../../toy.json".into(),
            "leaves the trial's checkpoint folder",
        ),
        (
            "report_as",
            "{dir}/../../0".into(),
            "leaves the trial's checkpoint folder",
        ),
        (
            "report_as",
            outside.display().to_string(),
            "is outside the trial's checkpoint folder",
        ),
        (
            "report_as",
            "/".into(),
            "is outside the trial's checkpoint folder",
        ),
        (
            "report_as",
            ".".into(),
            "names the checkpoint folder itself",
        ),
        (
            "report_as",
            "{dir}".into(),
            "names the checkpoint folder itself",
        ),
        (
            "report_as",
            "..".into(),
            "leaves the trial's checkpoint folder",
        ),
        ("link_out", String::new(), "is a symbolic link"),
        ("dangling", String::new(), "is a symbolic link"),
        ("folder_with_link", String::new(), "holds a symbolic link"),
        ("fifo", String::new(), "is a FIFO"),
    ];
    for (mode, path, why) in cases {
        let env = [
            ("TOY_REPORT", path.clone()),
            ("TOY_TARGET", outside.display().to_string()),
        ];
        let dir = tempdir();
        let near = sentinel(dir.path());
        let before = (snapshot(&near), snapshot(&outside));
        // The study folder sits beside the sentinel; the spec is there too.
        let mut spec = toy_spec(3, 1, "hostile");
        spec["trainer"]["env"] = serde_json::json!({ "TOY_MODE": mode, "TOY_BAD_TRIALS": "1" });
        for (k, v) in &env {
            spec["trainer"]["env"][k] = v.clone().into();
        }
        let spec_path = write_spec(dir.path(), &spec);
        let spec_bytes = std::fs::read(&spec_path).unwrap();
        let out = run(&spec_path);
        let what = format!("{mode} {path}");
        assert!(
            out.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r = rows(dir.path());
        assert_eq!(r.len(), 3, "{what}: {r:?}");
        assert_eq!(
            (r[0].0.as_str(), r[2].0.as_str()),
            ("complete", "complete"),
            "{what}"
        );
        assert_eq!(r[1].0, "failed", "{what}: {r:?}");
        assert!(r[1].1.contains(why), "{what}: {:?}", r[1].1);
        assert!(!r[1].1.contains('\n'));
        assert_eq!((snapshot(&near), snapshot(&outside)), before, "{what}");
        assert_eq!(std::fs::read(&spec_path).unwrap(), spec_bytes, "{what}");
        // The journal is whole: the study reads back as 3 trials done.
        let status = tune(&["status".as_ref(), spec_path.as_os_str()]);
        let said = String::from_utf8_lossy(&status.stdout);
        assert!(
            status.status.success() && said.contains('3'),
            "{what}: {said}"
        );
        let log = dir.path().join("runs/toy/trials/0/output.log");
        assert!(log.exists(), "{what}: trial 0's log went");
    }
}

#[test]
fn huge_lines_are_cut_and_a_reason_is_one_short_line() {
    if !python() {
        return;
    }
    let (dir, out) = with_bad_trial("huge_report", &[]);
    ok(out);
    let r = rows(dir.path());
    assert_eq!(r[1].0, "failed", "{r:?}");
    assert!(r[1].1.contains("report line longer than 64 KiB"), "{r:?}");
    // Stdout without a newline for 64 MiB: cut in the log, the trial goes on.
    let (dir, out) = with_bad_trial("huge_stdout", &[("TOY_MEGABYTES", "64".into())]);
    ok(out);
    assert!(rows(dir.path()).iter().all(|r| r.0 == "complete"));
    let log = dir.path().join("runs/toy/trials/1/output.log");
    let size = std::fs::metadata(&log).unwrap().len();
    assert!(size < 2 << 20, "the log holds {size} bytes");
    assert!(std::fs::read_to_string(&log)
        .unwrap()
        .contains("[tune: line cut at 65536 bytes]"));
    // A failure's stderr of many lines and a 100,000-character one: one line, cut.
    let (dir, out) = with_bad_trial("multiline_error", &[]);
    ok(out);
    let r = rows(dir.path());
    assert_eq!(r[1].0, "failed", "{r:?}");
    assert!(r[1].1.contains("exited with status 4"), "{r:?}");
    assert!(
        !r[1].1.contains('\n') && r[1].1.chars().count() <= 601,
        "{}",
        r[1].1.len()
    );
    let journal = std::fs::metadata(dir.path().join("runs/toy/journal.jsonl")).unwrap();
    assert!(
        journal.len() < 64 << 10,
        "journal of {} bytes",
        journal.len()
    );
}

#[test]
fn a_grandchild_in_a_session_of_its_own_ends_with_its_trial() {
    if !python() {
        return;
    }
    for fork in [false, true] {
        for mode in ["setsid_child", "spawn_child"] {
            let marker = format!("setsid-{mode}-{fork}-{}", std::process::id());
            let dir = tempdir();
            // Trial 0 leaves its grandchild; trial 1 trains slowly: the grandchild is gone
            // before the study ends, with its trial.
            let mut spec = toy_spec(2, 1, &marker);
            spec["trainer"]["fork"] = fork.into();
            spec["trainer"]["env"] = serde_json::json!({ "TOY_MODE": mode, "TOY_BAD_TRIALS": "0", "TOY_SLEEP": "0.004" });
            let mut child = Command::new(env!("CARGO_BIN_EXE_tune"))
                .args(["-q"])
                .arg(write_spec(dir.path(), &spec))
                .spawn()
                .unwrap();
            let trial1 = dir.path().join("runs/toy/trials/1/output.log");
            let mut during = None;
            while child.try_wait().unwrap().is_none() {
                if during.is_none()
                    && std::fs::read_to_string(&trial1).is_ok_and(|l| l.contains("TUNE {"))
                {
                    during = Some(gone(&marker));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            assert!(child.wait().unwrap().success());
            let during = during.expect("trial 1 reported nothing");
            assert!(
                during.is_empty(),
                "{mode} fork={fork}: outlived its trial: {during:?}"
            );
            let left = gone(&marker);
            assert!(
                left.is_empty(),
                "{mode} fork={fork}: outlived the study: {left:?}"
            );
        }
    }
}

#[test]
fn a_program_that_finds_the_disk_full_is_interrupted_and_resumes_exactly() {
    if !python() {
        return;
    }
    let reference = tempdir();
    ok(run(&write_spec(
        reference.path(),
        &toy_spec(3, 1, "full-ref"),
    )));
    let want = leaderboard(reference.path());
    for parallel in [1, 2] {
        let dir = tempdir();
        let mut spec = toy_spec(3, parallel, "full");
        let once = dir.path().join("once");
        spec["trainer"]["env"] = serde_json::json!({
            "TOY_MODE": "enospc", "TOY_BAD_TRIALS": "1", "TOY_ONCE": once.display().to_string(),
        });
        let path = write_spec(dir.path(), &spec);
        let out = run(&path);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("the file system is full (trial 1"), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        // Not failed: the trial resumes from its checkpoint and the study ends as if never stopped.
        ok(run(&path));
        assert_eq!(leaderboard(dir.path()), want, "parallel {parallel}");
    }
}

/// `tune -q SPEC` started, its stderr piped.
fn spawn_quiet(spec: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_tune"))
        .args(["-q"])
        .arg(spec)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// The misbehaviours of the fuzz trainer (tests/python/hostile_trainer.py).
const MISBEHAVIOURS: usize = 18;

#[test]
fn a_fuzz_of_misbehaving_trials_killed_and_resumed_leaves_everything_else_alone() {
    if !python() {
        return;
    }
    let dir = tempdir();
    let marker = format!("fuzz-{}", std::process::id());
    let near = sentinel(dir.path());
    let data = dir.path().join("data.csv");
    std::fs::write(&data, "x,y\n1,2\n3,4\n").unwrap();
    let program = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/hostile_trainer.py");
    let spec = serde_json::json!({
        "name": "fuzz",
        "seed": 5,
        "trainer": {
            "command": ["python3", program, marker.clone()],
            "timeout": 3,
            "env": {
                "FUZZ_SENTINEL": near.display().to_string(),
                "FUZZ_DATA": data.display().to_string(),
                "FUZZ_STATE": dir.path().join("fuzz-state").display().to_string(),
                "FUZZ_KINDS": MISBEHAVIOURS.to_string(),
            }
        },
        "budget": { "total_examples": 600, "virtual_epochs": 3 },
        "search": {
            "method": "random", "trials": 64, "parallel": 2,
            "space": { "learning_rate": { "low": 0.001, "high": 0.1, "log": true } }
        }
    });
    std::fs::create_dir_all(dir.path().join("fuzz-state")).unwrap();
    let spec_path = write_spec(dir.path(), &spec);
    let before = (
        std::fs::read(&spec_path).unwrap(),
        std::fs::read(&data).unwrap(),
        snapshot(&near),
    );
    let study = dir.path().join("runs/fuzz");
    // SIGKILLs at a few moments, then runs until the study is done (a full disk stops it once).
    let mut finished_files: BTreeMap<PathBuf, Vec<u8>> = BTreeMap::new();
    let mut done = false;
    let (mut kills, mut runs) = (0, 0);
    for round in 0..12u64 {
        let mut child = spawn_quiet(&spec_path);
        runs += 1;
        if round < 3 {
            std::thread::sleep(Duration::from_millis(1500 + 700 * round));
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap();
                kills += 1;
            }
        }
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            gone(&marker).is_empty(),
            "round {round}: outlived tune: {:?}",
            gone(&marker)
        );
        // What a finished trial kept does not change afterwards.
        for (p, bytes) in &finished_files {
            assert_eq!(
                std::fs::read(p).ok().as_ref(),
                Some(bytes),
                "{}",
                p.display()
            );
        }
        finished_files = finished_trial_files(&study);
        if out.status.success() {
            done = true;
            break;
        }
        assert!(
            round < 3 || err.contains("the file system is full"),
            "round {round}: {err}"
        );
    }
    assert!(done, "the fuzz study never finished");
    assert_eq!(std::fs::read(&spec_path).unwrap(), before.0);
    assert_eq!(std::fs::read(&data).unwrap(), before.1);
    assert_eq!(snapshot(&near), before.2);
    let r = study_rows(&study);
    assert_eq!(r.len(), 64, "{r:?}");
    assert!(r.iter().any(|r| r.0 == "complete") && r.iter().any(|r| r.0 == "failed"));
    for (status, reason) in &r {
        assert!(
            !reason.contains('\n') && reason.chars().count() <= 601,
            "{status}: {reason}"
        );
    }
    let status = ok(tune(&["status".as_ref(), spec_path.as_os_str()]));
    assert!(String::from_utf8_lossy(&status.stdout).contains("64"));
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for (status, reason) in &r {
        let head: String = reason.chars().take(60).collect();
        *reasons.entry(format!("{status}: {head}")).or_default() += 1;
    }
    println!("fuzz: {kills} kills, {runs} runs; {reasons:#?}");
    assert!(kills >= 2, "only {kills} kills landed");
    assert!(
        reasons.len() >= 10,
        "too few distinct outcomes: {reasons:#?}"
    );
}

/// The files of the trials that ended, by path, with their bytes.
fn finished_trial_files(study: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let Ok(h) = tune::storage::journal::replay(&study.join("journal.jsonl")) else {
        return BTreeMap::new();
    };
    let mut out = BTreeMap::new();
    for (n, t) in &h.history.trials {
        if t.status.ended() {
            let dir = study.join("trials").join(n.to_string());
            if dir.exists() {
                out.extend(
                    snapshot(&dir)
                        .into_iter()
                        .filter(|(p, _)| !p.ends_with("output.log")),
                );
            }
        }
    }
    out
}

#[test]
fn a_command_study_on_a_full_tmpfs_at_many_sizes_resumes_identical_once_grown() {
    if !python() {
        return;
    }
    let padded = |parallel| {
        let mut s = toy_spec(4, parallel, "tmpfs");
        s["trainer"]["env"] = serde_json::json!({ "TOY_PAD": "30000" });
        s
    };
    let reference = tempdir();
    ok(run(&write_spec(reference.path(), &padded(1))));
    let want = leaderboard(reference.path());
    let (mut filled, mut same, mut stranded, mut failed) = (0, 0, 0, 0);
    for kib in (40..=640u64).step_by(40) {
        let dir = tempdir();
        let Some(disk) = small_tmpfs(dir.path(), kib) else {
            println!("skipped: this machine does not allow mounting a tmpfs");
            return;
        };
        let spec = write_spec(&disk, &padded(1 + (kib / 40) as usize % 2));
        let full = run(&spec);
        if !full.status.success() {
            filled += 1;
            let err = String::from_utf8_lossy(&full.stderr);
            assert_eq!(err.trim().lines().count(), 1, "{kib} KiB: {err}");
            println!("{kib} KiB: {}", err.trim());
            let grown = Command::new("mount")
                .args(["-o", "remount,size=8m"])
                .arg(&disk)
                .status()
                .unwrap();
            assert!(grown.success());
            let again = run(&spec);
            if !again.status.success() {
                stranded += 1;
                println!(
                    "{kib} KiB: stranded: {}",
                    String::from_utf8_lossy(&again.stderr)
                );
            } else {
                let got = columns(&disk.join("runs/toy/leaderboard.csv"), COLUMNS);
                failed += got.iter().filter(|r| r[0] != "complete").count();
                if got == want {
                    same += 1;
                } else {
                    println!("{kib} KiB: differs: {got:?}");
                }
            }
        }
        let _ = Command::new("umount").arg(&disk).status();
    }
    println!(
        "command trainer, full tmpfs: {filled} sizes filled the disk, {same} resumed identical, \
         {stranded} stranded, {failed} trials failed"
    );
    assert!(filled >= 5, "only {filled} sizes filled the disk");
    assert_eq!((same, stranded, failed), (filled, 0, 0));
}

#[test]
fn sigterm_stops_the_study_at_once_whatever_the_program_is_doing() {
    if !python() {
        return;
    }
    for (mode, env) in [
        ("hang_after", serde_json::json!({})),
        (
            "huge_stdout",
            serde_json::json!({ "TOY_MEGABYTES": "100000" }),
        ),
        ("fifo", serde_json::json!({ "TOY_SLEEP": "0.02" })),
    ] {
        let dir = tempdir();
        let marker = format!("term-{mode}-{}", std::process::id());
        let mut spec = toy_spec(2, 1, &marker);
        spec["trainer"]["env"] = env;
        spec["trainer"]["env"]["TOY_MODE"] = mode.into();
        let spec_path = write_spec(dir.path(), &spec);
        let mut child = spawn_quiet(&spec_path);
        // Once the program is in the state (its first report made, or its output flowing).
        let log = dir.path().join("runs/toy/trials/0/output.log");
        let t = std::time::Instant::now();
        while std::fs::metadata(&log).map_or(0, |m| m.len()) == 0 {
            if t.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                panic!("{mode}: the trial never started");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(300));
        // SAFETY: a signal to the child this test started.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let t = std::time::Instant::now();
        let status = child.wait().unwrap();
        let took = t.elapsed();
        // Well under the 5 s grace a program that ignores SIGTERM gets: nothing blocked.
        assert!(took < Duration::from_secs(3), "{mode}: {took:?}");
        assert!(
            status.code().is_some_and(|c| c == 143 || c == 0),
            "{mode}: {status:?}"
        );
        assert!(gone(&marker).is_empty(), "{mode}: {:?}", gone(&marker));
    }
}
