//! `tune predict`: the winner's predictions on the validation rows reproduce its leaderboard
//! score, whatever the order of the file's columns; bad files are refused in one sentence.

mod common;
use common::*;

use std::path::{Path, PathBuf};

/// The penguins data: text labels, two categorical columns, gaps.
fn penguins() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("studies/data/penguins.csv")
}

/// Writes the validation rows of the study in `out` (from its split.json) as a CSV of `data`'s
/// rows, its columns in reverse order and an extra column first, and returns its path.
fn validation_csv(out: &Path, data: &Path, to: &Path) -> PathBuf {
    let split: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("split.json")).unwrap()).unwrap();
    let (header, rows) = read_csv(data);
    let mut w = csv::Writer::from_path(to).unwrap();
    let reversed = |r: &[String]| -> Vec<String> {
        std::iter::once("ignored".to_string())
            .chain(r.iter().rev().cloned())
            .collect()
    };
    w.write_record(reversed(&header)).unwrap();
    for r in split["validation_rows"].as_array().unwrap() {
        w.write_record(reversed(&rows[r.as_u64().unwrap() as usize]))
            .unwrap();
    }
    w.flush().unwrap();
    to.to_path_buf()
}

/// The leaderboard's first row's `column`.
fn best(out: &Path, column: &str) -> (u64, f64) {
    let (h, rows) = read_csv(&out.join("leaderboard.csv"));
    let at = |n: &str| h.iter().position(|c| c == n).unwrap();
    (
        rows[0][at("trial")].parse().unwrap(),
        rows[0][at(column)].parse().unwrap(),
    )
}

fn predict(spec: &Path, args: &[&str]) -> std::process::Output {
    let mut all: Vec<&std::ffi::OsStr> = vec!["predict".as_ref(), spec.as_os_str()];
    all.extend(args.iter().map(std::ffi::OsStr::new));
    tune(&all)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * b.abs().max(1e-12)
}

#[test]
fn predictions_on_the_validation_rows_reproduce_the_best_val_loss_of_a_regression() {
    let dir = tempdir();
    let spec = write_spec(dir.path(), &tiny_spec(2));
    ok(run(&spec));
    let out = dir.path().join("runs/tiny");
    let val = validation_csv(&out, &wine(), &dir.path().join("val.csv"));
    let preds = dir.path().join("preds.csv");
    let p = ok(predict(
        &spec,
        &[
            "--data",
            val.to_str().unwrap(),
            "--output",
            preds.to_str().unwrap(),
        ],
    ));
    assert!(p.stdout.is_empty());
    let (h, rows) = read_csv(&preds);
    assert_eq!(h, ["prediction"]);
    let (_, truth) = read_csv(&val);
    let q = read_csv(&val)
        .0
        .iter()
        .position(|c| c == "quality")
        .unwrap();
    assert_eq!(rows.len(), truth.len());
    let mse: f64 = rows
        .iter()
        .zip(&truth)
        .map(|(p, t)| {
            let d = p[0].parse::<f32>().unwrap() as f64 - t[q].parse::<f32>().unwrap() as f64;
            d * d
        })
        .sum::<f64>()
        / rows.len() as f64;
    let (trial, want) = best(&out, "best_val_loss");
    assert!(close(mse, want), "{mse} vs the leaderboard's {want}");
    let err = String::from_utf8_lossy(&p.stderr);
    assert!(
        err.contains(&format!("trial {trial} at virtual epoch")),
        "{err}"
    );

    // Another trial's last checkpoint: its final val loss; to stdout.
    let (h, lb) = read_csv(&out.join("leaderboard.csv"));
    let at = |n: &str| h.iter().position(|c| c == n).unwrap();
    let other = &lb[lb.len() - 1];
    let p = ok(predict(
        &spec,
        &[
            "--data",
            val.to_str().unwrap(),
            "--trial",
            &other[at("trial")],
            "--checkpoint",
            "last",
        ],
    ));
    let text = String::from_utf8(p.stdout).unwrap();
    let preds: Vec<f64> = text.lines().skip(1).map(|l| l.parse().unwrap()).collect();
    let mse: f64 = preds
        .iter()
        .zip(&truth)
        .map(|(p, t)| (p - t[q].parse::<f32>().unwrap() as f64).powi(2))
        .sum::<f64>()
        / preds.len() as f64;
    let want: f64 = other[at("final_val_loss")].parse().unwrap();
    assert!(close(mse, want), "{mse} vs {want}");
}

#[test]
fn a_classification_with_text_labels_reproduces_its_loss_and_accuracy() {
    let dir = tempdir();
    let spec = serde_json::json!({
        "name": "penguins",
        "seed": 5,
        "data": {
            "path": penguins(), "target": "species", "task": "classification",
            "features": ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]
        },
        "model": { "hidden": [16] },
        "budget": { "stop_point": 10, "virtual_epochs": 5 },
        "search": {
            "method": "random", "trials": 4, "parallel": 2,
            "space": { "batch_size": [8, 32], "learning_rate": { "low": 1e-3, "high": 1e-2, "log": true } }
        }
    });
    let spec = write_spec(dir.path(), &spec);
    ok(run(&spec));
    let out = dir.path().join("runs/penguins");
    let val = validation_csv(&out, &penguins(), &dir.path().join("val.csv"));
    let p = ok(predict(&spec, &["--data", val.to_str().unwrap()]));
    let text = String::from_utf8(p.stdout).unwrap();
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let h: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(h, ["prediction", "p_Adelie", "p_Chinstrap", "p_Gentoo"]);
    let (vh, truth) = read_csv(&val);
    let s = vh.iter().position(|c| c == "species").unwrap();
    let (mut ce, mut right, mut n) = (0.0, 0, 0);
    for (row, t) in r.records().map(Result::unwrap).zip(&truth) {
        let p: Vec<f64> = (1..4).map(|j| row[j].parse().unwrap()).collect();
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        let k = h.iter().position(|c| *c == format!("p_{}", t[s])).unwrap();
        ce -= p[k - 1].ln();
        right += (row[0] == t[s]) as usize;
        n += 1;
    }
    assert_eq!(n, truth.len());
    let (_, want) = best(&out, "best_val_loss");
    let ce = ce / n as f64;
    assert!(close(ce, want), "{ce} vs the leaderboard's {want}");
    let err = String::from_utf8_lossy(&p.stderr);
    let accuracy = right as f64 / n as f64;
    assert!(err.contains(&format!("accuracy {accuracy}")), "{err}");
}

#[test]
fn a_missing_column_or_a_bad_cell_is_refused_in_one_sentence_and_nothing_is_written() {
    let dir = tempdir();
    let spec = write_spec(dir.path(), &tiny_spec(2));
    ok(run(&spec));
    let (header, rows) = read_csv(&wine());
    let write = |name: &str, drop: &[&str], bad: Option<(usize, &str, &str)>| {
        let keep: Vec<usize> = (0..header.len())
            .filter(|&i| !drop.contains(&header[i].as_str()))
            .collect();
        let path = dir.path().join(name);
        let mut w = csv::Writer::from_path(&path).unwrap();
        w.write_record(keep.iter().map(|&i| &header[i])).unwrap();
        for (r, row) in rows.iter().take(20).enumerate() {
            let cell = |i: usize| match bad {
                Some((br, col, text)) if br == r && header[i] == col => text.to_string(),
                _ => row[i].clone(),
            };
            w.write_record(keep.iter().map(|&i| cell(i))).unwrap();
        }
        w.flush().unwrap();
        path
    };
    let preds = dir.path().join("preds.csv");
    let refused = |data: &Path| {
        let out = predict(
            &spec,
            &[
                "--data",
                data.to_str().unwrap(),
                "--output",
                preds.to_str().unwrap(),
            ],
        );
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        assert!(!preds.exists());
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        err
    };
    let missing = write("missing.csv", &["alcohol", "pH"], None);
    let err = refused(&missing);
    assert!(
        err.contains("missing.csv: header: columns the model was trained on are missing: \"pH\", \"alcohol\"")
            || err.contains("\"alcohol\", \"pH\""),
        "{err}"
    );
    // The target may be absent: only the features are needed.
    ok(predict(
        &spec,
        &[
            "--data",
            write("no_target.csv", &["quality"], None).to_str().unwrap(),
        ],
    ));
    let bad = write("bad.csv", &[], Some((4, "pH", "acidic")));
    let err = refused(&bad);
    assert!(
        err.contains("bad.csv: line 6") && err.contains("\"pH\""),
        "{err}"
    );
    assert!(err.contains("acidic"), "{err}");
    // A trial or checkpoint that is not there.
    let p = predict(&spec, &["--data", bad.to_str().unwrap(), "--trial", "99"]);
    assert_eq!(p.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&p.stderr).contains("has no trial 99"));
    let p = predict(
        &spec,
        &["--data", bad.to_str().unwrap(), "--checkpoint", "1"],
    );
    assert_eq!(p.status.code(), Some(2));
    let err = String::from_utf8_lossy(&p.stderr);
    assert!(err.contains("no checkpoint of virtual epoch 1"), "{err}");
}
