//! The command line from outside: a closed stdout, mistyped and future commands, bad option values,
//! `--restart`'s folder names, the word for an interruption, `tune status` while a study runs, and
//! studies selected by the metrics beyond the loss (F1, R²).

mod common;
use common::*;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `tune` with `args` (strings), in `dir`.
fn tune_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tune"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("tune runs")
}

/// The stderr of a refused command: exit code 2, one line.
fn refused(out: Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "one sentence: {err}");
    err.trim_end().to_string()
}

/// [`tiny_spec`] with fewer, shorter trials.
fn small_spec(dir: &Path) -> std::path::PathBuf {
    let mut spec = tiny_spec(1);
    spec["search"]["trials"] = serde_json::json!(3);
    spec["budget"] = serde_json::json!({ "total_examples": 600, "virtual_epochs": 2 });
    write_spec(dir, &spec)
}

#[test]
fn a_closed_stdout_ends_quietly_with_0() {
    let dir = tempdir();
    let spec = small_spec(dir.path());
    let spec = spec.to_str().unwrap();
    // The reader is gone before anything is printed: every write to stdout fails with EPIPE.
    for args in [
        vec!["-q", spec],
        vec!["leaderboard", spec],
        vec!["status", spec],
        vec!["report", spec],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tune"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(err.is_empty(), "{args:?}: {err}");
    }
    assert!(dir.path().join("runs/tiny/leaderboard.csv").exists());
}

#[test]
fn a_mistyped_command_is_named_with_the_closest_one() {
    let dir = tempdir();
    let spec = small_spec(dir.path());
    let spec = spec.to_str().unwrap();
    for (typed, meant) in [
        ("stauts", "status"),
        ("repot", "report"),
        ("leaderbord", "leaderboard"),
        ("rnu", "run"),
    ] {
        assert_eq!(
            refused(tune_in(dir.path(), &[typed, spec])),
            format!("tune: unknown command `{typed}`: did you mean `{meant}`?")
        );
    }
    // Options before it are skipped, with their values.
    assert_eq!(
        refused(tune_in(dir.path(), &["-q", "--out", "o", "stauts"])),
        "tune: unknown command `stauts`: did you mean `status`?"
    );
    assert_eq!(
        refused(tune_in(dir.path(), &["frobnicate", spec])),
        "tune: unknown command `frobnicate`, and no file of that name: the commands are run, worker, status, report, leaderboard, check, predict, export, retrain, serve and replay, and `tune STUDY.json` runs a study"
    );
    // A word that names a file is a spec, as before (this one is not JSON).
    std::fs::write(dir.path().join("stauts"), "not json").unwrap();
    let err = refused(tune_in(dir.path(), &["stauts"]));
    assert!(err.starts_with("tune: stauts: line 1, column "), "{err}");
    // A second spec, which clap would call a subcommand.
    assert_eq!(
        refused(tune_in(dir.path(), &[spec, "other.json"])),
        "tune: `other.json` is one argument too many: a study is run from one spec, `tune STUDY.json`"
    );
    // A path is read as one.
    let err = refused(tune_in(dir.path(), &["nothere.json"]));
    assert!(err.starts_with("tune: nothere.json: cannot read"), "{err}");
    assert!(!dir.path().join("runs").exists());
}

#[test]
fn a_bad_option_value_is_blamed_on_the_option() {
    let dir = tempdir();
    let spec = small_spec(dir.path());
    let spec = spec.to_str().unwrap();
    for (args, said) in [
        (&["--parallel", "0"][..], "--parallel: must be at least 1"),
        (
            &["--parallel", "two"],
            "--parallel: `two` is not a whole number",
        ),
        (
            &["--parallel", "5000"],
            "--parallel: 5000 is more than the 1024 trials that may run at once",
        ),
        (&["--cores", "0"], "--cores: must be at least 1"),
        (&["--cores", "2000"], "--cores: 2000 is more than 1024"),
        (&["--cores=-1"], "--cores: `-1` is not a whole number"),
        (
            &["--device", "gpu"],
            "--device: \"gpu\" is not a device: use \"cpu\", \"cuda\" or \"cuda:N\"",
        ),
        (
            &["--stop-after-epochs", "99999999999999999999999"],
            "--stop-after-epochs: 99999999999999999999999 is too large",
        ),
        (
            &["--sync-every", "soon"],
            "--sync-every: `soon` is not a number of seconds",
        ),
    ] {
        let mut all = vec!["-q"];
        all.extend(args);
        all.push(spec);
        assert_eq!(refused(tune_in(dir.path(), &all)), format!("tune: {said}"));
        // The same after `run`.
        all.insert(0, "run");
        assert_eq!(refused(tune_in(dir.path(), &all)), format!("tune: {said}"));
    }
    assert!(
        !dir.path().join("runs").exists(),
        "a refused run wrote files"
    );
    // The spec's own value is still blamed on the spec.
    let mut s = tiny_spec(1);
    s["search"]["parallel"] = serde_json::json!(0);
    let path = write_spec(dir.path(), &s);
    assert_eq!(
        refused(run(&path)),
        format!(
            "tune: {}: search.parallel: must be at least 1",
            path.display()
        )
    );
}

#[test]
fn restart_moves_the_old_study_to_the_first_free_number() {
    let dir = tempdir();
    let spec = small_spec(dir.path());
    let runs = dir.path().join("runs");
    ok(run(&spec));
    let restart = || {
        ok(tune(&[
            "-q".as_ref(),
            "--restart".as_ref(),
            spec.as_os_str(),
        ]))
    };
    let err = String::from_utf8_lossy(&restart().stderr).into_owned();
    let old1 = runs.join("tiny.old-1");
    assert_eq!(
        err.trim_end(),
        format!("moved the old study aside to {}", old1.display())
    );
    assert!(old1.join("journal.jsonl").exists() && runs.join("tiny/journal.jsonl").exists());
    // A number taken (even by a dangling link) is skipped.
    std::os::unix::fs::symlink("nowhere", runs.join("tiny.old-2")).unwrap();
    let err = String::from_utf8_lossy(&restart().stderr).into_owned();
    assert!(
        err.contains(&format!("aside to {}", runs.join("tiny.old-3").display())),
        "{err}"
    );
    let mut names: Vec<String> = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["tiny", "tiny.old-1", "tiny.old-2", "tiny.old-3"]);
}

#[test]
fn an_interruption_says_interrupted_not_stopped() {
    let dir = tempdir();
    let spec = small_spec(dir.path());
    let out = tune(&[
        "-q".as_ref(),
        "--stop-after-epochs".as_ref(),
        "1".as_ref(),
        spec.as_os_str(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert_eq!(
        err.trim_end(),
        format!("interrupted; resume with: tune {}", spec.display())
    );
}

/// The counts of `tune status`'s first line: (started, complete, stopped early, failed, running
/// or interrupted).
fn counts(first_line: &str) -> Option<[usize; 5]> {
    let nums: Vec<usize> = first_line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    let running = first_line.contains(" running or interrupted");
    (nums.len() == 6 && running).then(|| [nums[0], nums[2], nums[3], nums[4], nums[5]])
}

/// Runs the study `path` in the background with `args` and polls `tune status` (checking that its
/// counts agree with its trial lines) until it shows a trial running: that text, or `None` when
/// the study ended first. The study is killed then.
fn status_while_running(path: &Path, args: &[&str]) -> Option<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tune"))
        .arg("-q")
        .args(args)
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let seen = loop {
        if child.try_wait().unwrap().is_some() {
            break None;
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "the study hangs"
        );
        let out = tune(&["status".as_ref(), path.as_os_str()]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            let first = text.lines().next().unwrap_or_default();
            let c = counts(first).unwrap_or_else(|| panic!("{text}"));
            // The trial lines say the same as the counts.
            let listed = text
                .lines()
                .filter(|l| l.starts_with("  trial ") && l.contains(" running "))
                .count();
            assert_eq!(c[4], listed, "{text}");
            assert_eq!(c[0], c[1] + c[2] + c[3] + c[4], "{text}");
            assert!(c[4] <= 2, "at most `parallel` at once: {text}");
            if c[4] >= 1 {
                break Some(text);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = child.kill();
    child.wait().unwrap();
    seen
}

#[test]
fn status_counts_the_trials_that_run_while_the_study_runs() {
    let dir = tempdir();
    let mut spec = tiny_spec(2);
    spec["search"]["trials"] = serde_json::json!(4);
    spec["budget"] = serde_json::json!({ "total_examples": 400_000, "virtual_epochs": 40 });
    let path = write_spec(dir.path(), &spec);
    let seen = status_while_running(&path, &["--sync-every", "0"]).expect("no trial ran");
    assert!(
        seen.starts_with("study tiny: ") && seen.contains(" running or interrupted\n"),
        "{seen}"
    );
}

#[test]
fn status_counts_a_running_trial_shorter_than_sync_every() {
    // Each trial takes well under the default `--sync-every` of 1 s: its start is journalled at
    // once all the same (before, start, epochs and end were one append at its end, and `tune
    // status` showed no trial running while two ran).
    let dir = tempdir();
    let mut spec = tiny_spec(2);
    spec["search"]["trials"] = serde_json::json!(40);
    spec["budget"] = serde_json::json!({ "total_examples": 30_000, "virtual_epochs": 10 });
    let path = write_spec(dir.path(), &spec);
    assert!(
        status_while_running(&path, &[]).is_some(),
        "never saw a trial running"
    );
}

#[test]
fn an_f1_study_selects_and_ranks_by_macro_f1() {
    let dir = tempdir();
    let spec = serde_json::json!({
        "name": "f1",
        "seed": 2,
        "data": { "path": digits(), "target": "digit", "task": "classification" },
        "model": { "hidden": [32] },
        "budget": { "total_examples": 6000, "virtual_epochs": 4 },
        "search": { "method": "grid", "space": { "batch_size": [32], "learning_rate": [0.0001, 0.003, 0.03] } },
        "metric": "f1"
    });
    let path = write_spec(dir.path(), &spec);
    ok(run(&path));
    let study = dir.path().join("runs/f1");
    let (header, rows) = read_csv(&study.join("leaderboard.csv"));
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (trial, best, last, epoch) = (
        col("trial"),
        col("best_f1"),
        col("final_f1"),
        col("best_virtual_epoch"),
    );
    assert_eq!(rows.len(), 3);
    let mut previous = f64::INFINITY;
    for r in &rows {
        let f1: f64 = r[best].parse().unwrap();
        assert!((0.0..=1.0).contains(&f1), "{r:?}");
        assert!(f1 <= previous, "higher F1 ranks first: {rows:?}");
        previous = f1;
        let (ch, curve) = read_csv(&study.join("trials").join(&r[trial]).join("curve.csv"));
        // The study's metric after the five columns every curve has; the rate last.
        assert_eq!(
            (ch[5].as_str(), ch.last().unwrap().as_str()),
            ("f1", "learning_rate")
        );
        let values: Vec<f64> = curve.iter().map(|c| c[5].parse().unwrap()).collect();
        // The selected checkpoint is the first with the highest F1.
        let top = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let first_top = values.iter().position(|&v| v == top).unwrap() + 1;
        assert_eq!(r[epoch], first_top.to_string(), "{r:?} {values:?}");
        assert_eq!(f1, top);
        assert_eq!(r[last].parse::<f64>().unwrap(), *values.last().unwrap());
    }
    let sane = rows
        .iter()
        .find(|r| r[col("learning_rate")] == "0.003")
        .unwrap();
    assert!(sane[best].parse::<f64>().unwrap() > 0.8, "{sane:?}");

    // AUC is for two classes: refused for the ten digits, in one sentence.
    let mut auc = spec.clone();
    auc["metric"] = serde_json::json!("auc");
    let path = write_spec(dir.path(), &auc);
    assert_eq!(
        refused(run(&path)),
        format!("tune: {}: metric: \"auc\" is for two classes and the data has 10: use \"f1\", \"accuracy\", \"log_loss\" or \"val_loss\"", path.display())
    );
}

#[test]
fn an_r2_study_ranks_the_highest_first() {
    let dir = tempdir();
    let mut spec = tiny_spec(1);
    spec["metric"] = serde_json::json!("r2");
    spec["search"]["trials"] = serde_json::json!(4);
    ok(run(&write_spec(dir.path(), &spec)));
    let study = dir.path().join("runs/tiny");
    let rows = columns(&study.join("leaderboard.csv"), &["rank", "best_r2"]);
    let mut by_rank: Vec<(usize, f64)> = rows
        .iter()
        .map(|r| (r[0].parse().unwrap(), r[1].parse().unwrap()))
        .collect();
    by_rank.sort_by_key(|r| r.0);
    assert!(by_rank.windows(2).all(|w| w[0].1 >= w[1].1), "{by_rank:?}");
    assert!(by_rank.iter().all(|r| r.1 <= 1.0), "{by_rank:?}");
    let (ch, _) = read_csv(&study.join("trials/0/curve.csv"));
    assert_eq!(ch[5], "r2");
}
