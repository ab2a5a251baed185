//! SIGTERM and SIGHUP (a Kubernetes eviction, a Slurm preemption, a closed terminal) stop a study
//! as the first Ctrl-C does: the checkpoints being written are finished, the exit code is 128 + the
//! signal's number, and the printed resume command, run by a shell from the same folder, finishes
//! the study to the results of an uninterrupted run.

mod common;
use common::*;
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use tune::storage::journal::replay;

/// Two trials of 40 virtual epochs: long enough that a signal sent once work shows lands mid-study.
fn spec() -> serde_json::Value {
    let mut s = tiny_spec(2);
    s["budget"] = serde_json::json!({ "total_examples": 2000000, "virtual_epochs": 40 });
    s["search"]["space"]["batch_size"] = serde_json::json!([8]);
    s["search"]["trials"] = serde_json::json!(2);
    s
}

/// The leaderboard of `spec()` run without interruption, computed once for all tests.
fn uninterrupted() -> &'static Vec<Vec<String>> {
    static WANT: OnceLock<Vec<Vec<String>>> = OnceLock::new();
    WANT.get_or_init(|| {
        let dir = tempdir();
        ok(run(&write_spec(dir.path(), &spec())));
        columns(&dir.path().join("runs/tiny/leaderboard.csv"), METRICS)
    })
}

/// `tune -q ARGS` started in `cwd`, with its stderr piped.
fn start(cwd: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tune"))
        .current_dir(cwd)
        .args(["-q", "--sync-every", "0.02"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until `child` has journalled work in `study` (or has ended), then sends it `signal`.
fn signal_once_working(child: &mut Child, study: &Path, signal: &str) {
    while work_done(study) == 0 && child.try_wait().unwrap().is_none() {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    kill(child, signal);
}

fn kill(child: &Child, signal: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// Stops a study with `signal`, checks how it stopped, follows the printed resume command with
/// `sh -c` in the same folder, and compares the leaderboard with an uninterrupted run's.
fn stop_and_follow_the_hint(
    signal: &str,
    code: i32,
    out: Option<&str>,
    spec_rel: &str,
    hint: &str,
) {
    let dir = tempdir();
    let spec_path = dir.path().join(spec_rel);
    std::fs::create_dir_all(spec_path.parent().unwrap()).unwrap();
    std::fs::write(&spec_path, serde_json::to_string(&spec()).unwrap()).unwrap();
    let study = match out {
        Some(o) => dir.path().join(o),
        None => spec_path.parent().unwrap().join("runs/tiny"),
    };
    let mut args: Vec<&str> = out.map_or(vec![], |o| vec!["--out", o]);
    args.push(spec_rel);
    let mut child = start(dir.path(), &args);
    signal_once_working(&mut child, &study, signal);
    let stopped = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&stopped.stderr);
    assert_eq!(stopped.status.code(), Some(code), "{err}");
    let said = match signal {
        "INT" => "(Ctrl-C again to quit at once)".to_string(),
        _ => format!("(SIG{signal}; a second signal quits at once)"),
    };
    assert!(
        err.contains(&format!(
            "interrupted: finishing the virtual epochs under way {said}"
        )),
        "{err}"
    );
    let printed = err
        .lines()
        .find_map(|l| l.strip_prefix("interrupted; resume with: "))
        .unwrap_or_else(|| panic!("no resume command in: {err}"));
    assert_eq!(printed, hint);
    assert!(temp_files(&study).is_empty());
    let r = replay(&study.join("journal.jsonl")).unwrap();
    let (h, torn) = (r.history, r.torn);
    assert!(!torn);
    assert!(
        h.trials.values().any(|t| t.curve.len() < 40),
        "the signal landed after the end"
    );

    // `tune` of the hint is the binary under test.
    let bin = Path::new(env!("CARGO_BIN_EXE_tune")).parent().unwrap();
    let path = std::env::join_paths(std::iter::once(bin.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let resumed = ok(Command::new("sh")
        .args(["-c", printed])
        .current_dir(dir.path())
        .env("PATH", path)
        .output()
        .unwrap());
    assert!(String::from_utf8_lossy(&resumed.stdout).contains("study tiny: 2 trials"));
    assert_eq!(
        &columns(&study.join("leaderboard.csv"), METRICS),
        uninterrupted()
    );
}

#[test]
fn sigterm_stops_cleanly_and_the_hint_with_quoted_paths_resumes() {
    stop_and_follow_the_hint(
        "TERM",
        143,
        Some("out dir/it's $here"),
        "spec dir/study.json",
        r"tune --out 'out dir/it'\''s $here' 'spec dir/study.json'",
    );
}

#[test]
fn sighup_stops_cleanly_and_the_hint_resumes() {
    stop_and_follow_the_hint("HUP", 129, None, "study.json", "tune study.json");
}

#[test]
fn sigint_keeps_its_exit_code_and_the_hint_keeps_out() {
    stop_and_follow_the_hint(
        "INT",
        130,
        Some("elsewhere/tiny"),
        "study.json",
        "tune --out elsewhere/tiny study.json",
    );
}

#[test]
fn a_second_signal_exits_at_once() {
    // One virtual epoch of each trial takes long, so that the first signal's stop is still
    // waiting for it when the second arrives.
    let mut s = spec();
    // Seconds a virtual epoch even on a fast machine, however loaded the machine running the test.
    s["budget"] = serde_json::json!({ "total_examples": 200_000_000u64, "virtual_epochs": 2 });
    let dir = tempdir();
    let path = write_spec(dir.path(), &s);
    let mut child = start(dir.path(), &[path.to_str().unwrap()]);
    // A trial's start is journalled at once, after the handlers are installed; from then on its
    // first virtual epoch is under way (a signal before it would find no epoch to finish).
    let journal = dir.path().join("runs/tiny/journal.jsonl");
    while !std::fs::read_to_string(&journal).is_ok_and(|j| j.contains(r#""event":"trial_started""#))
    {
        assert!(child.try_wait().unwrap().is_none(), "tune ended early");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    kill(&child, "TERM");
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("interrupted: finishing") {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            break;
        }
        seen += &line;
    }
    kill(&child, "HUP");
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    seen += &rest;
    assert!(
        seen.contains("(SIGTERM; a second signal quits at once)"),
        "{seen}"
    );
    assert_eq!(status.code(), Some(129), "{seen}");
    assert!(!seen.contains("resume with"), "{seen}");
}

#[test]
fn an_ignored_sighup_stays_ignored() {
    // As under `nohup`: the shell ignores SIGHUP, and `exec` hands that on to tune.
    let dir = tempdir();
    let path = write_spec(dir.path(), &spec());
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#"trap '' HUP; exec "$0" -q --sync-every 0.02 "$1""#)
        .arg(env!("CARGO_BIN_EXE_tune"))
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    signal_once_working(&mut child, &dir.path().join("runs/tiny"), "HUP");
    // Pending together, SIGHUP (1) would be delivered before SIGTERM (15).
    kill(&child, "TERM");
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{err}");
    assert!(err.contains("(SIGTERM; a second signal"), "{err}");
}
