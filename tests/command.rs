//! Trials that run a user's program (`"trainer": {"command": …}`): the toy trainer of
//! studies/programs (deterministic, pure Python) under parallelism, SIGKILL and resume, and each
//! way a program can misbehave.

mod common;
mod toy;
use common::*;
use toy::*;

use std::process::Command;
use std::time::Duration;

#[test]
fn a_command_study_gives_the_same_leaderboard_at_parallel_1_and_2() {
    if !python() {
        return;
    }
    let one = tempdir();
    ok(run(&write_spec(one.path(), &toy_spec(6, 1, "p1"))));
    let two = tempdir();
    ok(run(&write_spec(two.path(), &toy_spec(6, 2, "p2"))));
    let want = leaderboard(one.path());
    assert_eq!(leaderboard(two.path()), want);
    // A forking program (started once per worker, forked per trial) gives the same trials.
    let forked = tempdir();
    let mut spec = toy_spec(6, 2, "p2-fork");
    spec["trainer"]["fork"] = true.into();
    ok(run(&write_spec(forked.path(), &spec)));
    assert_eq!(leaderboard(forked.path()), want);
    assert_eq!(want.len(), 6);
    assert!(want.iter().all(|r| r[0] == "complete"), "{want:?}");
    // Both kinds of optimizer drawn, as strings.
    assert!(want.iter().any(|r| r[3] == "sgd") && want.iter().any(|r| r[3] == "momentum"));
    // The selected checkpoint is the program's own file, kept whole; its log holds its reports.
    let trial = one.path().join("runs/toy/trials/0");
    let best: Vec<String> = std::fs::read_dir(trial.join("best.files"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(best.len(), 1, "{best:?}");
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(trial.join("best.files").join(&best[0])).unwrap())
            .unwrap();
    assert!(state["seen"].as_u64().unwrap() >= 400);
    let log = std::fs::read_to_string(trial.join("output.log")).unwrap();
    assert_eq!(log.matches("TUNE {").count(), 5, "{log}");
    assert!(!trial.join("work").exists());
}

#[test]
fn sigkill_at_random_moments_then_resume_gives_the_same_leaderboard_and_leaves_no_process() {
    killed_and_resumed(false);
}

#[test]
fn a_forking_program_killed_and_resumed_likewise() {
    killed_and_resumed(true);
}

fn killed_and_resumed(fork: bool) {
    if !python() {
        return;
    }
    let reference = tempdir();
    let mut spec = toy_spec(6, 2, "ref-kill");
    spec["trainer"]["fork"] = fork.into();
    ok(run(&write_spec(reference.path(), &spec)));
    let want = leaderboard(reference.path());

    let dir = tempdir();
    let marker = format!("kill-{}-{fork}", std::process::id());
    spec["trainer"]["command"][2] = marker.clone().into();
    // Slow steps, and a child of the program's own that must not outlive it either.
    spec["trainer"]["env"] = serde_json::json!({ "TOY_SLEEP": "0.01", "TOY_MODE": "spawn_child" });
    let spec_path = write_spec(dir.path(), &spec);
    let study = dir.path().join("runs/toy");
    let mut kills = 0;
    let mut x: u64 = 0x9E3779B97F4A7C15;
    for _ in 0..30 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut child = Command::new(env!("CARGO_BIN_EXE_tune"))
            .args(["-q", "--sync-every", "0.03"])
            .arg(&spec_path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100 + x % 600));
        let finished = child.try_wait().unwrap().is_some();
        if !finished {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
        let left = gone(&marker);
        assert!(left.is_empty(), "outlived tune: {left:?}");
        if finished || kills >= 8 {
            break;
        }
    }
    assert!(kills >= 5, "only {kills} kills landed");
    let out = ok(run(&spec_path));
    assert!(out.status.success());
    assert_eq!(leaderboard(dir.path()), want);
    assert!(gone(&marker).is_empty());
    assert!(temp_files(&study).is_empty(), "{:?}", temp_files(&study));
}

/// Runs a toy study where `mode` misbehaves in trial 1 only; the study goes on: the leaderboard
/// row of each trial (status, reason).
fn misbehaving(mode: &str, fork: bool) -> Vec<(String, String)> {
    let dir = tempdir();
    let mut spec = toy_spec(3, 1, "bad");
    spec["trainer"]["fork"] = fork.into();
    spec["trainer"]["env"] = serde_json::json!({ "TOY_MODE": mode, "TOY_BAD_TRIALS": "1" });
    if mode == "hang_after" {
        spec["trainer"]["timeout"] = 2.into();
    }
    let out = ok(run(&write_spec(dir.path(), &spec)));
    let (h, rows) = read_csv(&dir.path().join("runs/toy/leaderboard.csv"));
    let at = |n: &str| h.iter().position(|c| c == n).unwrap();
    let mut rows: Vec<(u64, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r[at("trial")].parse().unwrap(),
                r[at("status")].clone(),
                r[at("reason")].clone(),
            )
        })
        .collect();
    rows.sort();
    assert_eq!(rows.len(), 3, "{}", String::from_utf8_lossy(&out.stdout));
    rows.into_iter().map(|(_, s, r)| (s, r)).collect()
}

#[test]
fn each_misbehaving_program_fails_its_own_trial_only() {
    if !python() {
        return;
    }
    for (mode, status, reason) in [
        (
            "crash_after",
            "failed",
            "exited with status 3 after virtual epoch 1 of 5: ValueError: the toy trainer crashed on purpose",
        ),
        ("exit_early", "failed", "exited with status 0 after virtual epoch 1 of 5"),
        ("hang_after", "failed", "no report within 2 s (trainer.timeout) after virtual epoch 1"),
        ("bad_line", "failed", "its report `TUNE {\"examples\": 400, oops` is not a JSON object"),
        (
            "wrong_examples",
            "failed",
            "it reported \"examples\": 401 where virtual epoch 1 ends at 400 examples",
        ),
        ("no_checkpoint", "failed", "its checkpoint \"nowhere.json\" reported at 400 examples is not there"),
        ("string_metric", "failed", "metric \"val_loss\" is \"low\", not a number"),
        ("nan", "failed", "val_loss became NaN at virtual epoch 2"),
    ] {
        // Forking too, for the ways a process ends.
        let forks: &[bool] = match mode {
            "crash_after" | "hang_after" | "exit_early" | "nan" => &[false, true],
            _ => &[false],
        };
        for &fork in forks {
            let rows = misbehaving(mode, fork);
            assert_eq!(rows[0].0, "complete", "{mode} {fork}: {rows:?}");
            assert_eq!(rows[2].0, "complete", "{mode} {fork}: {rows:?}");
            assert_eq!(rows[1].0, status, "{mode} {fork}: {rows:?}");
            assert!(rows[1].1.contains(reason), "{mode} {fork}: {:?}", rows[1].1);
        }
    }
}

#[test]
fn a_forked_trials_own_exit_handlers_run_and_its_files_are_flushed_after_its_last_report() {
    if !python() {
        return;
    }
    let dir = tempdir();
    let marker = format!("atexit-{}", std::process::id());
    let mut spec = toy_spec(2, 1, &marker);
    spec["trainer"]["fork"] = true.into();
    let file = dir.path().join("atexit");
    spec["trainer"]["env"] = serde_json::json!({
        "TOY_MODE": "atexit", "TOY_BAD_TRIALS": "0", "TOY_SLEEP": "0.002",
        "TOY_ATEXIT": file.display().to_string(),
    });
    ok(run(&write_spec(dir.path(), &spec)));
    // Trial 0's process ends (quickly, without the interpreter's teardown) while trial 1 trains.
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "0");
    let open = dir.path().join("atexit.open");
    assert_eq!(std::fs::read_to_string(open).unwrap(), "unflushed");
    let (h, rows) = read_csv(&dir.path().join("runs/toy/leaderboard.csv"));
    let status = h.iter().position(|c| c == "status").unwrap();
    assert!(rows.iter().all(|r| r[status] == "complete"), "{rows:?}");
    assert!(gone(&marker).is_empty());
}

#[test]
fn a_program_that_ignores_sigterm_is_killed_after_the_grace_period() {
    if !python() {
        return;
    }
    let dir = tempdir();
    let marker = format!("term-{}", std::process::id());
    let mut spec = toy_spec(2, 1, &marker);
    spec["early_stopping"] = serde_json::json!({ "patience": 1, "min_delta": 1e9 });
    spec["trainer"]["env"] = serde_json::json!({ "TOY_MODE": "ignore_term" });
    let out = ok(run(&write_spec(dir.path(), &spec)));
    let (h, rows) = read_csv(&dir.path().join("runs/toy/leaderboard.csv"));
    let status = h.iter().position(|c| c == "status").unwrap();
    assert!(
        rows.iter().all(|r| r[status] == "stopped"),
        "{rows:?}\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(gone(&marker).is_empty());
}

#[test]
fn when_the_first_three_trials_fail_before_a_report_the_study_stops_with_their_reasons() {
    if !python() {
        return;
    }
    let dir = tempdir();
    let mut spec = toy_spec(10, 1, "gives-up");
    spec["trainer"]["env"] = serde_json::json!({ "TOY_MODE": "missing_module" });
    let out = run(&write_spec(dir.path(), &spec));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the first 3 trials all failed before their first report"),
        "{err}"
    );
    assert!(
        err.contains("trial 0:") && err.contains("trial 2:"),
        "{err}"
    );
    assert!(err.contains("No module named 'torchh'"), "{err}");
    let h = tune::storage::journal::replay(&dir.path().join("runs/toy/journal.jsonl"))
        .unwrap()
        .history;
    assert_eq!(h.trials.len(), 3, "it burnt through more trials");
}

#[test]
fn command_specs_are_checked_before_anything_runs() {
    let dir = tempdir();
    let cases: Vec<(serde_json::Value, &str)> = vec![
        (
            serde_json::json!({ "command": [] }),
            "trainer.command: is empty",
        ),
        (
            serde_json::json!({ "command": ["no-such-program-here"] }),
            "trainer.command[0]: program \"no-such-program-here\" is not on PATH",
        ),
        (
            serde_json::json!({ "command": ["./missing.py"] }),
            "trainer.command[0]: ./missing.py is not an executable file",
        ),
        (
            serde_json::json!({ "command": ["python3"], "cwd": "nowhere" }),
            "trainer.cwd:",
        ),
        (
            serde_json::json!({ "command": ["python3"], "timeout": 0 }),
            "trainer.timeout: 0 is not a number of seconds above 0",
        ),
        (
            serde_json::json!({ "command": ["python3"], "env": { "TUNE_TRIAL": "3" } }),
            "trainer.env.TUNE_TRIAL: TUNE_ variables are set by tune",
        ),
    ];
    for (trainer, want) in cases {
        let mut spec = toy_spec(2, 1, "spec");
        spec["trainer"] = trainer;
        let out = run(&write_spec(dir.path(), &spec));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(want), "{err}\nwanted: {want}");
        assert!(!dir.path().join("runs").exists(), "{want}: wrote a study");
    }
    let mut spec = toy_spec(2, 1, "spec");
    spec["model"] = serde_json::json!({ "hidden": [8] });
    let err = String::from_utf8_lossy(&run(&write_spec(dir.path(), &spec)).stderr).into_owned();
    assert!(
        err.contains("model: is not allowed with a command trainer"),
        "{err}"
    );
    let mut spec = toy_spec(2, 1, "spec");
    spec["budget"] = serde_json::json!({ "stop_point": 2.0 });
    let err = String::from_utf8_lossy(&run(&write_spec(dir.path(), &spec)).stderr).into_owned();
    assert!(
        err.contains("budget.stop_point: counts passes over the data"),
        "{err}"
    );
    let mut spec = toy_spec(2, 1, "spec");
    spec["metric"] = "bleu".into();
    let err = String::from_utf8_lossy(&run(&write_spec(dir.path(), &spec)).stderr).into_owned();
    assert!(
        err.contains("goal: \"bleu\" is your program's own metric"),
        "{err}"
    );
    let mut spec = toy_spec(2, 1, "spec");
    spec["search"]["space"]["optimizer"] = serde_json::json!(["sgd", 3]);
    let err = String::from_utf8_lossy(&run(&write_spec(dir.path(), &spec)).stderr).into_owned();
    assert!(
        err.contains("search.space.optimizer[1]: 3 is not a string"),
        "{err}"
    );
    assert!(!dir.path().join("runs").exists());
}
