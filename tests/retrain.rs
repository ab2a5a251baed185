//! `tune retrain`: a trial's parameters on other data, with the same budget in examples.

mod common;
use common::*;

use std::path::Path;

/// The first `n` rows of the wine data, without column `drop`, as `name` in `dir`.
fn rows(dir: &Path, name: &str, n: usize, drop: &str) -> std::path::PathBuf {
    let (header, rows) = read_csv(&wine());
    let keep: Vec<usize> = (0..header.len()).filter(|&i| header[i] != drop).collect();
    let path = dir.join(name);
    let mut w = csv::Writer::from_path(&path).unwrap();
    w.write_record(keep.iter().map(|&i| &header[i])).unwrap();
    for r in &rows[..n] {
        w.write_record(keep.iter().map(|&i| &r[i])).unwrap();
    }
    w.flush().unwrap();
    path
}

fn retrain(spec: &Path, data: &Path, more: &[&str]) -> std::process::Output {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "retrain".as_ref(),
        spec.as_os_str(),
        "--data".as_ref(),
        data.as_os_str(),
        "-q".as_ref(),
    ];
    args.extend(more.iter().map(std::ffi::OsStr::new));
    tune(&args)
}

#[test]
fn a_retrained_trial_has_its_parameters_and_budget_on_the_new_data() {
    let dir = tempdir();
    let spec = write_spec(dir.path(), &tiny_spec(2));
    ok(run(&spec));
    let lb = dir.path().join("runs/tiny/leaderboard.csv");
    let (h, board) = read_csv(&lb);
    let at = |n: &str| h.iter().position(|c| c == n).unwrap();
    let best = &board[0];
    let small = rows(dir.path(), "small.csv", 500, "");
    let out = ok(retrain(&spec, &small, &[]));
    let said = String::from_utf8(out.stdout).unwrap();
    let folder = dir.path().join(format!(
        "runs/tiny/retrain/trial-{}-small",
        best[at("trial")]
    ));
    let (nh, new) = read_csv(&folder.join("leaderboard.csv"));
    let nat = |n: &str| nh.iter().position(|c| c == n).unwrap();
    assert_eq!(new.len(), 1);
    for col in ["batch_size", "learning_rate", "examples_seen", "status"] {
        assert_eq!(new[0][nat(col)], best[at(col)], "{col}");
    }
    // 3000 examples on 400 training rows: more passes than the study's, the same examples.
    assert_eq!(new[0][nat("examples_seen")], "3000");
    assert_ne!(new[0][nat("best_val_loss")], best[at("best_val_loss")]);
    // Both curves, a row per virtual epoch, and the page that plots them.
    let table: Vec<&str> = said
        .lines()
        .skip_while(|l| !l.starts_with("epoch"))
        .skip(1)
        .take_while(|l| !l.starts_with('('))
        .collect();
    assert_eq!(table.len(), 4, "{said}");
    for (k, line) in table.iter().enumerate() {
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cells.len(), 6, "{line}");
        assert_eq!(cells[0], (k + 1).to_string());
        assert_eq!(cells[1], (750 * (k + 1)).to_string());
    }
    let page = std::fs::read_to_string(folder.join("retrain.html")).unwrap();
    assert_eq!(page.matches("<polyline class=\"old\"").count(), 2);
    assert_eq!(page.matches("<polyline class=\"new\"").count(), 2);
    // Run again: the retraining is a study of its own, which resumes (here: nothing left).
    let again = ok(retrain(&spec, &small, &[]));
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing left to train"));
    // Another trial by number; the original study is untouched.
    let last = &board[board.len() - 1][at("trial")];
    ok(retrain(&spec, &small, &["--trial", last]));
    assert!(dir
        .path()
        .join(format!("runs/tiny/retrain/trial-{last}-small"))
        .exists());
    assert_eq!(read_csv(&lb).1, board);
}

#[test]
fn an_interrupted_retraining_resumes_to_the_same_curve() {
    let dir = tempdir();
    let spec = write_spec(dir.path(), &tiny_spec(2));
    ok(run(&spec));
    let small = rows(dir.path(), "small.csv", 600, "");
    // The same study in another folder (--out), retrained there without interruption.
    let other = dir.path().join("other");
    ok(tune(&[
        "-q".as_ref(),
        spec.as_os_str(),
        "--out".as_ref(),
        other.as_os_str(),
    ]));
    ok(retrain(&spec, &small, &["--out", other.to_str().unwrap()]));
    let cut = retrain(&spec, &small, &["--stop-after-epochs", "2"]);
    assert_eq!(cut.status.code(), Some(130), "{cut:?}");
    let err = String::from_utf8_lossy(&cut.stderr);
    assert!(err.contains("resume with: tune retrain"), "{err}");
    ok(retrain(&spec, &small, &[]));
    let curve = |root: &Path| {
        let d = std::fs::read_dir(root.join("retrain"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        columns(&d.path().join("leaderboard.csv"), METRICS)
    };
    assert_eq!(curve(&dir.path().join("runs/tiny")), curve(&other));
}

#[test]
fn data_without_the_studys_columns_is_refused_in_one_sentence() {
    let dir = tempdir();
    let spec = write_spec(dir.path(), &tiny_spec(2));
    ok(run(&spec));
    let less = rows(dir.path(), "less.csv", 300, "alcohol");
    let out = retrain(&spec, &less, &[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("alcohol"), "{err}");
    assert!(!dir.path().join("runs/tiny/retrain").exists());
}

/// A trial of labels (activation, schedule) and dropout is retrained with them: its curve's
/// `learning_rate` column is the original's (the same schedule over the same examples).
#[test]
fn a_retrained_trial_keeps_its_labels_dropout_and_schedule() {
    let dir = tempdir();
    let mut spec = tiny_spec(2);
    spec["model"]["warmup"] = serde_json::json!(0.5);
    let space = &mut spec["search"]["space"];
    space["activation"] = serde_json::json!(["gelu", "tanh"]);
    space["schedule"] = serde_json::json!(["cosine", "linear"]);
    space["dropout"] = serde_json::json!([0.1]);
    let spec = write_spec(dir.path(), &spec);
    ok(run(&spec));
    let (h, board) = read_csv(&dir.path().join("runs/tiny/leaderboard.csv"));
    let at = |n: &str| h.iter().position(|c| c == n).unwrap();
    let best = &board[0];
    let small = rows(dir.path(), "small.csv", 500, "");
    ok(retrain(&spec, &small, &[]));
    let folder = dir.path().join(format!(
        "runs/tiny/retrain/trial-{}-small",
        best[at("trial")]
    ));
    let (nh, new) = read_csv(&folder.join("leaderboard.csv"));
    let nat = |n: &str| nh.iter().position(|c| c == n).unwrap();
    for col in ["activation", "schedule", "dropout", "batch_size"] {
        assert_eq!(new[0][nat(col)], best[at(col)], "{col}");
    }
    let rates = |curve: &Path| {
        let (ch, rows) = read_csv(curve);
        let i = ch.iter().position(|c| c == "learning_rate").unwrap();
        rows.iter().map(|r| r[i].clone()).collect::<Vec<_>>()
    };
    let trial = &best[at("trial")];
    let want = rates(
        &dir.path()
            .join("runs/tiny/trials")
            .join(trial)
            .join("curve.csv"),
    );
    let got = rates(&folder.join("trials/0/curve.csv"));
    assert_eq!(got, want);
    // The first boundary (750 of 3000 examples) is half-way through the warm-up.
    let lr: f64 = best[at("learning_rate")].parse().unwrap();
    let first: f64 = want[0].parse().unwrap();
    assert!((first / (lr / 2.0) - 1.0).abs() < 1e-9, "{first} {lr}");
}
