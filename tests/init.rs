//! `init`: a study whose trials start from an earlier study's checkpoint (fine-tuning).

mod common;
use common::*;

use std::path::Path;

/// The tiny study as "parent", run in `dir`; returns its leaderboard's best trial and val loss.
fn parent(dir: &Path) -> (u64, f64) {
    let mut spec = tiny_spec(2);
    spec["name"] = "parent".into();
    std::fs::write(dir.join("parent.json"), spec.to_string()).unwrap();
    ok(run(&dir.join("parent.json")));
    let (h, rows) = read_csv(&dir.join("runs/parent/leaderboard.csv"));
    let at = |n: &str| h.iter().position(|c| c == n).unwrap();
    (
        rows[0][at("trial")].parse().unwrap(),
        rows[0][at("best_val_loss")].parse().unwrap(),
    )
}

/// A child of the tiny study starting from runs/parent, as `name.json` in `dir`.
fn child(dir: &Path, name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> std::path::PathBuf {
    let mut spec = tiny_spec(2);
    spec["name"] = name.into();
    spec["search"]["trials"] = 2.into();
    spec["init"] = serde_json::json!({ "from": "runs/parent" });
    edit(&mut spec);
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, spec.to_string()).unwrap();
    path
}

fn refused(spec: &Path) -> String {
    let out = run(spec);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    err
}

#[test]
fn a_fine_tuned_study_starts_at_its_checkpoints_validation_loss_on_the_parents_data() {
    let dir = tempdir();
    let (best, loss) = parent(dir.path());
    let spec = child(dir.path(), "child", |_| {});
    let out = ok(run(&spec));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains(&format!("init: every trial starts from trial {best} of ")),
        "{said}"
    );
    let init: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("runs/child/init.json")).unwrap())
            .unwrap();
    assert_eq!(init["trial"], best);
    let start = init["val_loss"].as_f64().unwrap();
    assert!(
        (start - loss).abs() <= 1e-9 * loss,
        "starts at {start}, the parent's checkpoint scored {loss}"
    );
    // Its trials trained from there: each one's curve is recorded, and the inputs were prepared
    // with the parent's preprocessing (the same means), not one fitted again.
    let prep = |s: &str| -> serde_json::Value {
        let p = dir.path().join(format!("runs/{s}/preprocessing.json"));
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    };
    assert_eq!(prep("child")["columns"], prep("parent")["columns"]);
    let rows = columns(
        &dir.path().join("runs/child/leaderboard.csv"),
        &["status", "best_val_loss"],
    );
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r[0] == "complete"), "{rows:?}");

    // Run again: the same study, nothing to do. Keeping the optimizer's state is another study.
    ok(run(&spec));
    let keep = child(dir.path(), "child", |s| {
        s["init"]["optimizer"] = "keep".into();
    });
    let err = refused(&keep);
    assert!(
        err.contains("the spec changed") && err.contains("init"),
        "{err}"
    );
}

#[test]
fn fine_tuning_on_fresh_rows_keeps_the_parents_preparation() {
    let dir = tempdir();
    parent(dir.path());
    // The last 600 rows of the wine data, columns shuffled: fresh data.
    let (header, rows) = read_csv(&wine());
    let order: Vec<usize> = (0..header.len()).rev().collect();
    let fresh = dir.path().join("fresh.csv");
    let mut w = csv::Writer::from_path(&fresh).unwrap();
    w.write_record(order.iter().map(|&i| &header[i])).unwrap();
    for r in &rows[rows.len() - 600..] {
        w.write_record(order.iter().map(|&i| &r[i])).unwrap();
    }
    w.flush().unwrap();
    let spec = child(dir.path(), "fresh", |s| {
        s["data"]["path"] = fresh.to_str().unwrap().into();
        s["init"]["optimizer"] = "keep".into();
        s["init"]["checkpoint"] = "last".into();
    });
    let out = ok(run(&spec));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("validation rows"), "{said}");
    let p: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("runs/fresh/preprocessing.json")).unwrap(),
    )
    .unwrap();
    let q: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("runs/parent/preprocessing.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(p["columns"], q["columns"]);
    assert_eq!(p["rows"]["file"], 600);
}

/// A GELU parent of depth 3: its child takes the activation and the layers from the checkpoint
/// (its start scores as the parent's best), and refuses another activation or depth.
#[test]
fn a_fine_tuned_study_takes_the_checkpoints_activation_and_depth() {
    let dir = tempdir();
    let mut spec = tiny_spec(2);
    spec["name"] = "parent".into();
    spec["model"]["activation"] = "gelu".into();
    spec["model"]["depth"] = 3.into();
    std::fs::write(dir.path().join("parent.json"), spec.to_string()).unwrap();
    ok(run(&dir.path().join("parent.json")));
    let best = columns(
        &dir.path().join("runs/parent/leaderboard.csv"),
        &["best_val_loss"],
    )
    .iter()
    .map(|r| r[0].parse::<f64>().unwrap())
    .fold(f64::INFINITY, f64::min);
    // The checkpoint's shape: model.hidden ([16]) left out.
    let no_hidden = |s: &mut serde_json::Value| s["model"] = serde_json::json!({});
    ok(run(&child(dir.path(), "child", no_hidden)));
    let init: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("runs/child/init.json")).unwrap())
            .unwrap();
    let start = init["val_loss"].as_f64().unwrap();
    assert!((start - best).abs() <= 1e-9 * best, "{start} vs {best}");
    let err = refused(&child(dir.path(), "a", |s| {
        no_hidden(s);
        s["model"]["activation"] = "tanh".into();
    }));
    assert!(
        err.contains("model.activation: \"tanh\" is not the checkpoint's \"gelu\""),
        "{err}"
    );
    let err = refused(&child(dir.path(), "b", |s| {
        no_hidden(s);
        s["model"]["depth"] = 2.into();
    }));
    assert!(
        err.contains("model.depth: 2 is not the checkpoint's 3"),
        "{err}"
    );
}

#[test]
fn another_shape_or_missing_columns_are_refused_in_one_sentence() {
    let dir = tempdir();
    parent(dir.path());
    let err = refused(&child(dir.path(), "a", |s| {
        s["model"]["hidden"] = serde_json::json!([32, 32]);
    }));
    assert!(
        err.contains("model.hidden: [32, 32] is not the checkpoint's [16]"),
        "{err}"
    );
    let err = refused(&child(dir.path(), "b", |s| {
        s["search"]["space"]["hidden_width"] = serde_json::json!([8, 16]);
    }));
    assert!(
        err.contains("search.space.hidden_width: changes the network's shape"),
        "{err}"
    );
    let err = refused(&child(dir.path(), "c", |s| {
        s["model"]["optimizer"] = "sgd".into();
        s["init"]["optimizer"] = "keep".into();
    }));
    assert!(err.contains("init.optimizer"), "{err}");
    let err = refused(&child(dir.path(), "g", |s| {
        s["search"]["space"]["optimizer"] = serde_json::json!(["adam", "sgd"]);
        s["init"]["optimizer"] = "keep".into();
    }));
    assert!(
        err.contains("search.space.optimizer: picks the optimizer, and init.optimizer \"keep\""),
        "{err}"
    );
    let err = refused(&child(dir.path(), "h", |s| {
        s["search"]["space"]["activation"] = serde_json::json!(["gelu"]);
    }));
    assert!(
        err.contains("search.space.activation: changes the network's shape"),
        "{err}"
    );
    let err = refused(&child(dir.path(), "d", |s| {
        s["init"]["from"] = "runs/nothing".into();
    }));
    assert!(
        err.contains("init.from") && err.contains("no study"),
        "{err}"
    );
    let err = refused(&child(dir.path(), "e", |s| {
        s["init"]["trial"] = 99.into();
    }));
    assert!(
        err.contains("init.trial") && err.contains("no trial 99"),
        "{err}"
    );
    // Data without a column the checkpoint takes.
    let (header, rows) = read_csv(&wine());
    let keep: Vec<usize> = (0..header.len()).filter(|&i| header[i] != "pH").collect();
    let less = dir.path().join("less.csv");
    let mut w = csv::Writer::from_path(&less).unwrap();
    w.write_record(keep.iter().map(|&i| &header[i])).unwrap();
    for r in &rows[..200] {
        w.write_record(keep.iter().map(|&i| &r[i])).unwrap();
    }
    w.flush().unwrap();
    let err = refused(&child(dir.path(), "f", |s| {
        s["data"]["path"] = less.to_str().unwrap().into();
    }));
    assert!(
        err.contains("less.csv: header: a column the model was trained on is missing: \"pH\""),
        "{err}"
    );
    for name in ["a", "b", "c", "d", "e", "f", "g", "h"] {
        assert!(!dir.path().join("runs").join(name).exists(), "{name}");
    }
}
