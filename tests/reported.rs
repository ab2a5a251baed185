//! Every number a user's program reports reaches its trial's `curve.csv`, the leaderboard (at the
//! selected checkpoint) and the report, and can be the study's metric; `train_loss` and `steps` are
//! optional, blank where not reported; the overhead line says only what tune measured.

mod common;
mod toy;
use common::*;
use toy::*;

use std::path::Path;

/// A trial's `curve.csv` as a header and rows.
fn curve(study: &Path, trial: u64) -> (Vec<String>, Vec<Vec<String>>) {
    read_csv(&study.join(format!("trials/{trial}/curve.csv")))
}

/// Column `name` of `rows` under `header`.
fn column(header: &[String], rows: &[Vec<String>], name: &str) -> Vec<String> {
    let i = header.iter().position(|h| h == name).unwrap();
    rows.iter().map(|r| r[i].clone()).collect()
}

fn num(s: &str) -> f64 {
    s.parse()
        .unwrap_or_else(|e| panic!("{s:?} is not a number: {e}"))
}

#[test]
fn a_programs_own_numbers_are_columns_and_train_loss_and_steps_may_be_absent() {
    if !python() {
        return;
    }
    let dir = tempdir();
    let mut spec = toy_spec(3, 1, "own-numbers");
    // Trial 0 reports val_loss, mae and max_error only; the others val_loss, train_loss, steps.
    spec["trainer"]["env"] =
        serde_json::json!({ "TOY_MODE": "own_metrics", "TOY_BAD_TRIALS": "0" });
    let out = ok(run(&write_spec(dir.path(), &spec)));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let overhead = stdout
        .lines()
        .find(|l| l.starts_with("overhead: "))
        .unwrap();
    assert!(
        overhead.contains("outside the trials' programs (checkpoint hand-off"),
        "{overhead}"
    );
    assert!(
        !overhead.contains("validation") && !overhead.contains("batch assembly"),
        "{overhead}"
    );
    let study = dir.path().join("runs/toy");

    // Each name once; the numbers it did not report blank, not NaN or 0.
    let (h, rows) = curve(&study, 0);
    let want = [
        "virtual_epoch",
        "examples_seen",
        "steps",
        "train_loss",
        "val_loss",
        "mae",
        "max_error",
    ];
    assert_eq!(h, want);
    assert_eq!(rows.len(), 5);
    assert!(
        rows.iter().all(|r| r[2].is_empty() && r[3].is_empty()),
        "{rows:?}"
    );
    for r in &rows {
        // The mean absolute error ≤ the root of the mean square ≤ the largest error.
        let (val, mae, max) = (num(&r[4]), num(&r[5]), num(&r[6]));
        assert!(0.0 < mae && mae <= val.sqrt() && val.sqrt() <= max, "{r:?}");
    }
    // A trial that reported none of them has none of their columns, and its steps.
    let (h1, rows1) = curve(&study, 1);
    assert_eq!(h1, want[..5]);
    let steps: Vec<u64> = column(&h1, &rows1, "steps")
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert!(
        steps[0] > 0 && steps.windows(2).all(|w| w[0] < w[1]),
        "{steps:?}"
    );

    // The leaderboard: one column per name the programs reported, at the selected checkpoint.
    let (lh, _) = read_csv(&study.join("leaderboard.csv"));
    assert_eq!(
        lh[lh.len() - 3..],
        ["best_mae", "best_max_error", "best_train_loss"]
    );
    assert_eq!(
        lh.iter().filter(|h| h.as_str() == "best_val_loss").count(),
        1
    );
    let names = [
        "steps",
        "best_virtual_epoch",
        "best_mae",
        "best_max_error",
        "best_train_loss",
    ];
    let board = columns(&study.join("leaderboard.csv"), &names);
    let k: usize = board[0][1].parse().unwrap();
    assert_eq!(board[0][0], "", "{board:?}");
    assert_eq!(board[0][2], rows[k - 1][5]);
    assert_eq!(board[0][3], rows[k - 1][6]);
    assert_eq!(board[0][4], "");
    let k1: usize = board[1][1].parse().unwrap();
    assert_eq!(board[1][0], rows1[4][2]);
    assert_eq!((board[1][2].as_str(), board[1][3].as_str()), ("", ""));
    assert_eq!(board[1][4], rows1[k1 - 1][3]);
    assert!(num(&board[1][4]) > 0.0);

    // `tune leaderboard` shows them; the report draws them.
    let spec_path = dir.path().join("study.json");
    let shown = ok(tune(&["leaderboard".as_ref(), spec_path.as_os_str()]));
    let shown = String::from_utf8_lossy(&shown.stdout).into_owned();
    assert!(shown.contains("best_max_error"), "{shown}");
    let html = std::fs::read_to_string(study.join("report.html")).unwrap();
    for id in ["reported-mae", "reported-max_error", "reported-train_loss"] {
        assert!(html.contains(&format!("id=\"{id}\"")), "no plot {id}");
    }
    assert!(!html.contains("id=\"reported-steps\""));
}

#[test]
fn a_programs_own_number_can_be_the_metric() {
    if !python() {
        return;
    }
    let dir = tempdir();
    let mut spec = toy_spec(2, 2, "own-metric");
    spec["metric"] = "max_error".into();
    spec["trainer"]["env"] = serde_json::json!({ "TOY_MODE": "own_metrics" });
    ok(run(&write_spec(dir.path(), &spec)));
    let study = dir.path().join("runs/toy");
    let names = [
        "best_virtual_epoch",
        "best_max_error",
        "best_mae",
        "best_val_loss",
    ];
    let board = columns(&study.join("leaderboard.csv"), &names);
    let (lh, _) = read_csv(&study.join("leaderboard.csv"));
    assert_eq!(
        lh.iter().filter(|h| h.contains("max_error")).count(),
        2,
        "{lh:?}"
    );
    for (trial, b) in board.iter().enumerate() {
        let (h, rows) = curve(&study, trial as u64);
        assert_eq!(
            h,
            [
                "virtual_epoch",
                "examples_seen",
                "steps",
                "train_loss",
                "val_loss",
                "max_error",
                "mae"
            ]
        );
        // The selected checkpoint is the row of the least max_error, the earliest of equals.
        let errors: Vec<f64> = column(&h, &rows, "max_error")
            .iter()
            .map(|s| num(s))
            .collect();
        let least = errors.iter().cloned().fold(f64::INFINITY, f64::min);
        let k = errors.iter().position(|&e| e == least).unwrap() + 1;
        assert_eq!(b[0], k.to_string(), "{b:?} {errors:?}");
        assert_eq!(num(&b[1]), least);
        assert_eq!(b[2], rows[k - 1][6]);
        assert_eq!(b[3], rows[k - 1][4]);
    }
}
