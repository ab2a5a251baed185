//! Data that trains in f32: a number beyond f32's range is refused as a data error naming the file,
//! the line and the column, before anything is written; a spread as wide as f32's range trains to
//! finite weights; a target so large that the loss overflows fails its trials, never "completes"
//! them with NaN weights.

mod common;
use common::*;
use std::path::{Path, PathBuf};

use tune::artifacts::Checkpoint;

/// A regression data set of 60 rows: features `a` and `b`, target `y`; `cell(row, column)` may
/// replace a value (row 0 is the first data row, on line 2).
fn data(dir: &Path, cell: impl Fn(usize, &str) -> Option<String>) -> PathBuf {
    let mut text = String::from("a,b,y\n");
    for r in 0..60 {
        let row: Vec<String> = [
            ("a", format!("{}", r % 7)),
            ("b", format!("{}", (r * r) % 11)),
            ("y", format!("{}", r % 5)),
        ]
        .into_iter()
        .map(|(c, v)| cell(r, c).unwrap_or(v))
        .collect();
        text += &(row.join(",") + "\n");
    }
    let p = dir.join("data.csv");
    std::fs::write(&p, text).unwrap();
    p
}

/// A small study on `data.csv` beside it.
fn spec(dir: &Path) -> PathBuf {
    let mut s = tiny_spec(1);
    s["data"] = serde_json::json!({ "path": "data.csv", "target": "y", "task": "regression" });
    s["search"]["trials"] = serde_json::json!(3);
    s["search"]["space"]["batch_size"] = serde_json::json!([4, 16]);
    write_spec(dir, &s)
}

/// Runs the study over data with `cell` replaced and returns its stderr, after checking that it
/// was refused (exit 2) in one line and wrote nothing.
fn refused(cell: impl Fn(usize, &str) -> Option<String>) -> String {
    let dir = tempdir();
    let file = data(dir.path(), cell);
    let out = run(&spec(dir.path()));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("tune: {}: ", file.display())),
        "{err}"
    );
    assert!(!dir.path().join("runs").exists(), "a refused study wrote");
    err
}

fn at(row: usize, col: &'static str, v: &'static str) -> impl Fn(usize, &str) -> Option<String> {
    move |r, c| (r == row && c == col).then(|| v.to_string())
}

const BEYOND_F32: &str =
    "is outside the range of the 32-bit floats that training uses (at most 3.4028235e38 in size)";

#[test]
fn a_feature_column_of_plus_minus_1e300_is_refused_at_its_first_row() {
    let err =
        refused(|r, c| (c == "a").then(|| if r % 2 == 0 { "1e300" } else { "-1e300" }.to_string()));
    assert!(
        err.ends_with(&format!(": line 2, column \"a\": \"1e300\" {BEYOND_F32}\n")),
        "{err}"
    );
}

#[test]
fn one_cell_beyond_f32_is_refused_with_its_line_and_column() {
    // 1e999 is beyond f64 too: out of range all the same, not an infinity.
    for (v, row) in [("1e39", 10), ("-1e39", 33), ("3.5e38", 59), ("1e999", 50)] {
        let err = refused(at(row, "b", v));
        assert!(
            err.ends_with(&format!(
                ": line {}, column \"b\": \"{v}\" {BEYOND_F32}\n",
                row + 2
            )),
            "{err}"
        );
    }
}

#[test]
fn a_target_beyond_f32_is_refused() {
    let err = refused(at(4, "y", "1e300"));
    assert!(
        err.ends_with(&format!(": line 6, column \"y\": \"1e300\" {BEYOND_F32}\n")),
        "{err}"
    );
}

#[test]
fn infinities_and_nan_are_refused_with_their_line_and_column() {
    // "NaN" itself is a gap (data.missing_values' default): tests/missing.rs.
    for v in ["inf", "-inf", "nan", "infinity"] {
        let err = refused(at(6, "a", v));
        assert!(
            err.ends_with(&format!(
                ": line 8, column \"a\": \"{v}\" is not a finite number\n"
            )),
            "{err}"
        );
    }
}

#[test]
fn lines_are_right_in_a_crlf_file() {
    let dir = tempdir();
    let file = data(dir.path(), at(20, "b", "1e39"));
    let crlf = std::fs::read_to_string(&file)
        .unwrap()
        .replace('\n', "\r\n");
    std::fs::write(&file, crlf).unwrap();
    let out = run(&spec(dir.path()));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(": line 22, column \"b\": \"1e39\""), "{err}");
}

/// Every tensor of every finished trial's best checkpoint, finite.
fn finished_weights_are_finite(study: &Path) -> usize {
    let (h, rows) = read_csv(&study.join("leaderboard.csv"));
    let (trial, status) = (
        h.iter().position(|c| c == "trial").unwrap(),
        h.iter().position(|c| c == "status").unwrap(),
    );
    let mut complete = 0;
    for r in rows.iter().filter(|r| r[status] == "complete") {
        complete += 1;
        let best = study
            .join("trials")
            .join(&r[trial])
            .join("best.safetensors");
        let ck = Checkpoint::load(&best).unwrap();
        for t in &ck.weights {
            assert!(
                t.data.iter().all(|v| v.is_finite()),
                "{}: {} holds non-finite weights",
                best.display(),
                t.name
            );
        }
    }
    complete
}

#[test]
fn a_spread_as_wide_as_f32_trains_to_finite_weights() {
    let dir = tempdir();
    data(dir.path(), |r, c| {
        (c == "a").then(|| if r % 2 == 0 { "-3e38" } else { "3e38" }.to_string())
    });
    ok(run(&spec(dir.path())));
    assert_eq!(
        finished_weights_are_finite(&dir.path().join("runs/tiny")),
        3
    );
}

#[test]
fn a_target_whose_loss_overflows_fails_its_trials_without_nan_weights() {
    let dir = tempdir();
    data(dir.path(), |r, c| {
        (c == "y").then(|| format!("{}e30", r % 5 + 1))
    });
    ok(run(&spec(dir.path())));
    let study = dir.path().join("runs/tiny");
    let rows = columns(&study.join("leaderboard.csv"), &["status"]);
    assert_eq!(rows.len(), 3);
    // Whatever each trial's fate, a "complete" one has finite weights.
    finished_weights_are_finite(&study);
}
