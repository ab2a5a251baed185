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
    reproduces_the_leaderboard(&tiny_spec(2));
}

/// A searched depth (with a fixed one in `model` for the others) reaches predict through the
/// checkpoint: its layers are the trial's.
#[test]
fn a_searched_depth_reproduces_the_leaderboard() {
    let mut spec = tiny_spec(2);
    spec["model"]["depth"] = serde_json::json!(2);
    spec["search"]["space"]["depth"] = serde_json::json!([1, 3]);
    spec["search"]["trials"] = serde_json::json!(4);
    reproduces_the_leaderboard(&spec);
}

/// Issue 32's parameters searched (depth, activation, dropout, the optimizer) under a cosine
/// schedule with warm-up, clipping and sqrt scaling: predict has no dropout, and the trial's
/// activation and layers come from its checkpoint.
#[test]
fn the_searched_architecture_dropout_and_schedule_reproduce_the_leaderboard() {
    let mut spec = tiny_spec(2);
    spec["model"] = serde_json::json!({
        "hidden": [16], "schedule": "cosine", "warmup": 0.1, "lr_scaling": "sqrt",
        "max_grad_norm": 1.0
    });
    let space = &mut spec["search"]["space"];
    space["depth"] = serde_json::json!([1, 3]);
    space["activation"] = serde_json::json!(["gelu", "silu", "tanh"]);
    space["dropout"] = serde_json::json!({ "low": 0.0, "high": 0.3 });
    space["optimizer"] = serde_json::json!(["adam", "sgd"]);
    spec["search"]["trials"] = serde_json::json!(5);
    reproduces_the_leaderboard(&spec);
}

/// Runs `spec`; predict on the validation rows gives the leaderboard's best and final losses.
fn reproduces_the_leaderboard(spec: &serde_json::Value) {
    let dir = tempdir();
    let spec = write_spec(dir.path(), spec);
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

/// A penguins study scored by `metric`, run in `dir`; its spec.
fn penguins_study(dir: &Path, metric: &str) -> PathBuf {
    let spec = serde_json::json!({
        "name": "penguins",
        "seed": 5,
        "metric": metric,
        "data": {
            "path": penguins(), "target": "species", "task": "classification",
            "features": ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]
        },
        "model": { "hidden": [16] },
        "budget": { "stop_point": 5, "virtual_epochs": 2 },
        "search": {
            "method": "random", "trials": 2, "parallel": 2,
            "space": { "batch_size": [8, 32], "learning_rate": { "low": 1e-3, "high": 1e-2, "log": true } }
        }
    });
    let spec = write_spec(dir, &spec);
    ok(run(&spec));
    spec
}

/// The validation rows of the study in `out` with `label(i)` (when it gives one) as the
/// species of row `i`; the file's path.
fn relabelled(out: &Path, to: &Path, label: impl Fn(usize) -> Option<String>) -> PathBuf {
    let val = validation_csv(out, &penguins(), to);
    let (h, mut rows) = read_csv(&val);
    let s = h.iter().position(|c| c == "species").unwrap();
    for (i, r) in rows.iter_mut().enumerate() {
        if let Some(l) = label(i) {
            r[s] = l;
        }
    }
    let mut w = csv::Writer::from_path(&val).unwrap();
    w.write_record(&h).unwrap();
    for r in &rows {
        w.write_record(r).unwrap();
    }
    w.flush().unwrap();
    val
}

#[test]
fn labels_the_study_never_saw_are_counted_as_wrong_never_dropped() {
    let dir = tempdir();
    let spec = penguins_study(dir.path(), "accuracy");
    let out = dir.path().join("runs/penguins");
    let long = "Aptenodytes forsteri, the emperor penguin of the Antarctic";
    // Every third row an unknown label (two of them), one row's label missing.
    let val = relabelled(&out, &dir.path().join("val.csv"), |i| match i % 3 {
        _ if i == 1 => Some(String::new()),
        0 if i % 2 == 0 => Some("Emperor".into()),
        0 => Some(long.into()),
        _ => None,
    });
    let p = ok(predict(&spec, &["--data", val.to_str().unwrap()]));
    let (vh, truth) = read_csv(&val);
    let s = vh.iter().position(|c| c == "species").unwrap();
    let text = String::from_utf8(p.stdout).unwrap();
    let preds: Vec<String> = csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap()[0].to_string())
        .collect();
    assert_eq!(preds.len(), truth.len(), "a prediction for every row");
    let labelled: Vec<usize> = (0..truth.len())
        .filter(|&i| !truth[i][s].is_empty())
        .collect();
    let unknown = (0..truth.len()).filter(|i| i % 3 == 0).count();
    let right = labelled
        .iter()
        .filter(|&&i| preds[i] == truth[i][s])
        .count();
    let err = String::from_utf8_lossy(&p.stderr);
    let accuracy = right as f64 / labelled.len() as f64;
    for want in [
        format!("on the {} rows of", labelled.len()),
        format!("accuracy {accuracy} ({unknown} rows have a label the study never saw"),
        "(\"Emperor\", \"Aptenodytes forsteri, the emperor pengui…\")".into(),
        "counted as wrong".into(),
        format!(
            "on the {} rows with a label it knows",
            labelled.len() - unknown
        ),
    ] {
        assert!(err.contains(&want), "{want} not in {err}");
    }

    // Every label unknown: accuracy 0, said so.
    let all = relabelled(&out, &dir.path().join("all.csv"), |_| {
        Some("Emperor".into())
    });
    let p = ok(predict(&spec, &["--data", all.to_str().unwrap()]));
    let err = String::from_utf8_lossy(&p.stderr);
    assert!(
        err.contains(&format!("none of the {} rows of", truth.len()))
            && err.contains("(\"Emperor\"): accuracy 0, every one counted as wrong"),
        "{err}"
    );
    assert_eq!(
        String::from_utf8(p.stdout).unwrap().lines().count(),
        truth.len() + 1
    );
}

#[test]
fn a_metric_that_needs_probabilities_scores_the_known_labels_and_says_how_many_it_left() {
    let dir = tempdir();
    let spec = penguins_study(dir.path(), "f1");
    let out = dir.path().join("runs/penguins");
    let val = relabelled(&out, &dir.path().join("val.csv"), |i| {
        (i < 7).then(|| format!("New{}", i % 6))
    });
    let p = ok(predict(&spec, &["--data", val.to_str().unwrap()]));
    let err = String::from_utf8_lossy(&p.stderr);
    let n = read_csv(&val).1.len();
    for want in [
        format!("on the {} of the {n} rows of", n - 7),
        "with a label the study knows: loss ".into(),
        "7 rows have a label the study never saw (\"New0\", \"New1\", \"New2\", \"New3\", \"New4\", and 1 more): not scored".into(),
    ] {
        assert!(err.contains(&want), "{want} not in {err}");
    }
}
