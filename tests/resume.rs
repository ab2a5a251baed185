//! Exact resume: stop anywhere (clean stop, SIGKILL, torn journal, failed checkpoint write) and the
//! study finishes with the results it would have had.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tune::artifacts::{Checkpoint, Checkpointer};
use tune::storage::journal::replay;
use tune::storage::Status;

/// A one-trial study of 6 virtual epochs, to stop after each.
fn one_trial(keep: usize) -> serde_json::Value {
    let mut s = tiny_spec(1);
    s["budget"] = serde_json::json!({ "total_examples": 1800, "virtual_epochs": 6 });
    s["search"] = serde_json::json!({ "method": "grid", "space": { "batch_size": [24], "learning_rate": [0.01] } });
    s["keep"] = serde_json::json!(keep);
    s
}

fn last_checkpoint(study: &Path, trial: u64) -> Checkpoint {
    let c = Checkpointer::new(study.join("trials").join(trial.to_string()));
    let k = *c.saved().last().expect("a checkpoint");
    Checkpoint::load(&c.path(k)).unwrap()
}

#[test]
fn stopping_after_every_virtual_epoch_resumes_bit_identically() {
    let reference = tempdir();
    ok(run(&write_spec(reference.path(), &one_trial(1))));
    let want = last_checkpoint(&reference.path().join("runs/tiny"), 0);
    assert_eq!(want.meta.virtual_epoch, 6);

    for k in 1..6u64 {
        let dir = tempdir();
        let spec = write_spec(dir.path(), &one_trial(1));
        let out = stop_after(&spec, k);
        assert!(String::from_utf8_lossy(&out.stderr).contains("resume with: tune"));
        let study = dir.path().join("runs/tiny");
        assert_eq!(last_checkpoint(&study, 0).meta.virtual_epoch as u64, k);
        ok(run(&spec));
        let got = last_checkpoint(&study, 0);
        assert_eq!(
            got.weights, want.weights,
            "weights differ after a stop at virtual epoch {k}"
        );
        assert_eq!(
            got.optimizer, want.optimizer,
            "optimizer state differs after a stop at virtual epoch {k}"
        );
        assert_eq!(
            got.meta.curve, want.meta.curve,
            "curve differs after a stop at virtual epoch {k}"
        );
        // The runner's own state: the network's shape and the data stream's position.
        assert_eq!(got.meta.runner, want.meta.runner);
        assert!(got.meta.runner.contains_key("stream_pos"));
        assert_eq!(
            std::fs::read_to_string(study.join("trials/0/curve.csv")).unwrap(),
            std::fs::read_to_string(reference.path().join("runs/tiny/trials/0/curve.csv")).unwrap()
        );
        let best = Checkpoint::load(&study.join("trials/0/best.safetensors")).unwrap();
        let want_best =
            Checkpoint::load(&reference.path().join("runs/tiny/trials/0/best.safetensors"))
                .unwrap();
        assert_eq!(best.weights, want_best.weights);
    }
}

#[test]
fn sigkill_at_random_moments_then_resume_gives_the_same_leaderboard() {
    let mut spec = tiny_spec(2);
    spec["budget"] = serde_json::json!({ "total_examples": 1200000, "virtual_epochs": 12 });
    spec["search"]["space"]["batch_size"] = serde_json::json!([4, 8]);
    spec["search"]["trials"] = serde_json::json!(4);

    let reference = tempdir();
    ok(run(&write_spec(reference.path(), &spec)));
    let want = columns(&reference.path().join("runs/tiny/leaderboard.csv"), METRICS);

    let dir = tempdir();
    let spec_path = write_spec(dir.path(), &spec);
    let study = dir.path().join("runs/tiny");
    let mut done = 0;
    let mut kills = 0;
    // Kills made after the run had journalled something, and how many of them it had.
    let (mut waited, mut advanced) = (0, 0);
    // Deterministic "random" moments, spread from start-up to mid-training.
    let mut x: u64 = 0x2545F4914F6CDD1D;
    for round in 0..40 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let wait = Duration::from_millis(5 + x % 300);
        // Durable in groups of at most 30 ms, so that kills land between commits and within them.
        let mut child = Command::new(env!("CARGO_BIN_EXE_tune"))
            .args(["-q", "--sync-every", "0.03"])
            .arg(&spec_path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(wait);
        // Every other kill waits until this run has journalled work (however slow the machine),
        // then lands a random moment later: those resumes start mid-study.
        let after_progress = round % 2 == 1;
        if after_progress {
            let t = std::time::Instant::now();
            while work_done(&study) <= done
                && child.try_wait().unwrap().is_none()
                && t.elapsed() < Duration::from_secs(30)
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(Duration::from_millis(x % 40));
        }
        let finished = child.try_wait().unwrap().is_some();
        if !finished {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
            waited += after_progress as usize;
        }
        child.wait().unwrap();
        let now = work_done(&study);
        assert!(
            now >= done,
            "completed work went backwards: {done} -> {now}"
        );
        advanced += (after_progress && !finished && now > done) as usize;
        done = now;
        if finished || kills >= 12 {
            break;
        }
    }
    assert!(kills >= 10, "only {kills} kills landed");
    // Work made durable during a run survives its kill, and groups commit while a run trains.
    assert!(waited >= 5, "{waited} kills after progress");
    assert_eq!(advanced, waited, "journalled work lost by a kill");
    ok(run(&spec_path));
    assert_eq!(columns(&study.join("leaderboard.csv"), METRICS), want);
    assert!(temp_files(&study).is_empty(), "{:?}", temp_files(&study));
}

#[test]
fn a_torn_journal_resumes_and_a_damaged_one_names_the_offset() {
    let dir = tempdir();
    let spec = write_spec(dir.path(), &one_trial(1));
    ok(run(&spec));
    let study = dir.path().join("runs/tiny");
    let journal = study.join("journal.jsonl");
    let full = std::fs::read(&journal).unwrap();
    let want = columns(&study.join("leaderboard.csv"), METRICS);
    let last_start = full[..full.len() - 1]
        .iter()
        .rposition(|&b| b == b'\n')
        .unwrap()
        + 1;

    for cut in last_start..full.len() {
        std::fs::write(&journal, &full[..cut]).unwrap();
        ok(run(&spec));
        assert_eq!(
            columns(&study.join("leaderboard.csv"), METRICS),
            want,
            "journal cut at byte {cut}"
        );
        let r = replay(&journal).unwrap();
        let (h, torn) = (r.history, r.torn);
        assert!(!torn);
        assert_eq!(h.trials[&0].status, Status::Complete);
    }

    let mut damaged = full.clone();
    let second = full.iter().position(|&b| b == b'\n').unwrap() + 1;
    damaged[second + 12] ^= 0x20;
    std::fs::write(&journal, &damaged).unwrap();
    let out = run(&spec);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("damaged record at byte offset {second}")),
        "{err}"
    );
    assert!(err.contains("journal.jsonl"), "{err}");
}

#[test]
fn a_checkpoint_write_that_fails_midway_leaves_the_previous_one() {
    let dir = tempdir();
    let spec = write_spec(dir.path(), &one_trial(2));
    let out = tune(&[
        "-q".as_ref(),
        "--stop-after-epochs".as_ref(),
        "2".as_ref(),
        spec.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(130));
    let study = dir.path().join("runs/tiny");
    let ck = Checkpointer::new(study.join("trials/0"));
    let two = Checkpoint::load(&ck.path(2)).unwrap();

    // Write virtual epoch 3 through a writer that fails half way (a full disk).
    let mut three = two.clone();
    three.meta.virtual_epoch = 3;
    let err = ck.write_with(&three, |f, bytes| {
        use std::io::Write;
        f.write_all(&bytes[..bytes.len() / 2])?;
        Err(std::io::Error::other("no space left on device"))
    });
    assert!(err.is_err());
    assert_eq!(ck.saved(), [1, 2], "no partial checkpoint");
    assert!(temp_files(&study).is_empty());
    assert_eq!(
        Checkpoint::load(&ck.path(2)).unwrap(),
        two,
        "the previous checkpoint still loads"
    );

    // The study resumes from it and ends as an uninterrupted one.
    ok(run(&spec));
    let reference = tempdir();
    ok(run(&write_spec(reference.path(), &one_trial(2))));
    assert_eq!(
        columns(&study.join("leaderboard.csv"), METRICS),
        columns(&reference.path().join("runs/tiny/leaderboard.csv"), METRICS)
    );
}

#[test]
fn spec_drift_is_refused_and_more_trials_continue() {
    let dir = tempdir();
    let mut spec = tiny_spec(2);
    let path = write_spec(dir.path(), &spec);
    ok(run(&path));

    let mut changed = spec.clone();
    changed["seed"] = serde_json::json!(4);
    changed["budget"]["virtual_epochs"] = serde_json::json!(5);
    write_spec(dir.path(), &changed);
    let study = dir.path().join("runs/tiny");
    let files = |names: &[&str]| {
        names
            .iter()
            .map(|n| std::fs::read(study.join(n)).unwrap())
            .collect::<Vec<_>>()
    };
    let kept = ["split.json", "journal.jsonl", "leaderboard.csv"];
    let before_refusal = files(&kept);
    let out = run(&path);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        files(&kept) == before_refusal,
        "a refused resume changed the study's files"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the spec changed since this study began (budget, seed)"),
        "{err}"
    );
    assert!(err.contains("--restart"), "{err}");

    // Raising trials continues the study: the first six stay as they were.
    spec["search"]["trials"] = serde_json::json!(8);
    write_spec(dir.path(), &spec);
    let before = columns(&dir.path().join("runs/tiny/leaderboard.csv"), METRICS);
    ok(run(&path));
    let after = columns(&dir.path().join("runs/tiny/leaderboard.csv"), METRICS);
    assert_eq!(after.len(), 8);
    assert_eq!(&after[..6], &before[..]);

    // --restart moves the old study aside and starts over.
    write_spec(dir.path(), &changed);
    ok(tune(&[
        "-q".as_ref(),
        "--restart".as_ref(),
        path.as_os_str(),
    ]));
    let moved = std::fs::read_dir(dir.path().join("runs"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("tiny.old-"))
        .count();
    assert_eq!(moved, 1);
}

#[test]
fn a_second_tune_on_a_running_study_is_refused() {
    let dir = tempdir();
    let mut spec = tiny_spec(1);
    spec["budget"]["total_examples"] = serde_json::json!(2_000_000);
    let path = write_spec(dir.path(), &spec);
    let mut first = Command::new(env!("CARGO_BIN_EXE_tune"))
        .arg("-q")
        .arg(&path)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lock = dir.path().join("runs/tiny/study.lock");
    while !std::fs::read_to_string(&lock).is_ok_and(|s| !s.is_empty()) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = run(&path);
    let _ = first.kill();
    first.wait().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("study is in use by pid {}", first.id())),
        "{err}"
    );
}

#[test]
fn ctrl_c_stops_cleanly_and_resumes() {
    let dir = tempdir();
    let mut spec = tiny_spec(2);
    spec["budget"] = serde_json::json!({ "total_examples": 400000, "virtual_epochs": 40 });
    spec["search"]["space"]["batch_size"] = serde_json::json!([8]);
    spec["search"]["trials"] = serde_json::json!(2);
    let path = write_spec(dir.path(), &spec);
    // Journalled within 20 ms of training, so that the stop lands early in the study.
    let child = Command::new(env!("CARGO_BIN_EXE_tune"))
        .args(["-q", "--sync-every", "0.02"])
        .arg(&path)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let study = dir.path().join("runs/tiny");
    while work_done(&study) == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("resume with: tune"), "{err}");
    assert!(temp_files(&study).is_empty());
    let r = replay(&study.join("journal.jsonl")).unwrap();
    let (h, torn) = (r.history, r.torn);
    assert!(!torn);
    assert!(
        h.trials.values().any(|t| t.status == Status::Running),
        "stopped before the end"
    );
    ok(run(&path));
    let rows = columns(&study.join("leaderboard.csv"), &["status", "examples_seen"]);
    assert!(
        rows.iter().all(|r| r == &["complete", "400000"]),
        "{rows:?}"
    );
}

/// A trial with dropout, GELU and three hidden layers (with a cosine schedule and warm-up),
/// SIGKILLed twice mid-trial once boundaries are durable, resumes to the curve, weights and
/// optimizer state of a run straight through: dropout's masks derive from (seed, trial, step),
/// the rate from the examples seen.
#[test]
fn a_sigkilled_trial_with_dropout_gelu_and_depth_3_resumes_to_the_same_curve_and_weights() {
    let mut spec = tiny_spec(1);
    spec["model"] = serde_json::json!({
        "hidden": [16], "depth": 3, "activation": "gelu", "dropout": 0.2,
        "schedule": "cosine", "warmup": 0.1
    });
    spec["budget"] = serde_json::json!({ "total_examples": 400000, "virtual_epochs": 40 });
    spec["search"] = serde_json::json!({
        "method": "grid", "space": { "batch_size": [8], "learning_rate": [0.003] }
    });
    let reference = tempdir();
    ok(run(&write_spec(reference.path(), &spec)));
    let want = last_checkpoint(&reference.path().join("runs/tiny"), 0);
    assert_eq!(want.meta.virtual_epoch, 40);

    let dir = tempdir();
    let path = write_spec(dir.path(), &spec);
    let study = dir.path().join("runs/tiny");
    let mut kills = 0;
    for _ in 0..2 {
        let before = work_done(&study);
        let mut child = Command::new(env!("CARGO_BIN_EXE_tune"))
            .args(["-q", "--sync-every", "0.02"])
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let t = std::time::Instant::now();
        while work_done(&study) <= before
            && child.try_wait().unwrap().is_none()
            && t.elapsed() < Duration::from_secs(60)
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(15));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
    }
    assert!(kills >= 1, "the trial finished before a kill landed");
    assert!(work_done(&study) < 400000, "killed after the last boundary");
    ok(run(&path));
    let got = last_checkpoint(&study, 0);
    assert_eq!(got.meta.curve, want.meta.curve, "the curve differs");
    assert_eq!(got.weights, want.weights, "the weights differ");
    assert_eq!(got.optimizer, want.optimizer, "the optimizer state differs");
    assert_eq!(got.meta.runner, want.meta.runner);
    assert_eq!(
        std::fs::read_to_string(study.join("trials/0/curve.csv")).unwrap(),
        std::fs::read_to_string(reference.path().join("runs/tiny/trials/0/curve.csv")).unwrap()
    );
}
