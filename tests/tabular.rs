//! Real tabular data: text columns one-hot encoded, gaps filled, rows without a target left out,
//! all of it recorded (preprocessing.json, every checkpoint) and said once; Parquet read as CSV
//! is; the prepared data cached so that `status` reads only the study folder.

mod common;
use common::*;
use std::path::{Path, PathBuf};

use tune::artifacts::Checkpoint;

fn penguins(dir: &Path, file: &str, data: serde_json::Value) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("studies/data")
        .join(file);
    std::fs::copy(&src, dir.join(file)).unwrap();
    let mut s = tiny_spec(1);
    s["data"] = serde_json::json!({
        "path": file, "target": "species", "task": "classification",
        "features": ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]
    });
    for (k, v) in data.as_object().unwrap() {
        s["data"][k] = v.clone();
    }
    s["search"]["trials"] = serde_json::json!(3);
    s["search"]["space"]["batch_size"] = serde_json::json!([8, 32]);
    write_spec(dir, &s)
}

/// The leaderboard without the columns that depend on the machine's speed.
fn stable(study: &Path) -> Vec<Vec<String>> {
    let path = study.parent().unwrap().join("runs/tiny/leaderboard.csv");
    let (head, rows) = read_csv(&path);
    let keep: Vec<usize> = (0..head.len())
        .filter(|&i| !matches!(head[i].as_str(), "rank" | "seconds" | "suggest_ms"))
        .collect();
    rows.iter()
        .map(|r| keep.iter().map(|&i| r[i].clone()).collect())
        .collect()
}

#[test]
fn penguins_train_with_categories_and_gaps_recorded_everywhere() {
    let dir = tempdir();
    let spec = penguins(dir.path(), "penguins.csv", serde_json::json!({}));
    let out = ok(run(&spec));
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(said.matches("one-hot encoded").count(), 1, "{said}");
    assert!(said.contains("island (3 levels)"), "{said}");
    assert!(said.contains("sex (2 levels, and (missing))"), "{said}");
    assert!(said.contains("bill_length_mm (1 in training"), "{said}");

    let folder = dir.path().join("runs/tiny");
    let prep: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("preprocessing.json")).unwrap()).unwrap();
    let inputs: Vec<&str> = prep["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        inputs,
        [
            "island=Biscoe",
            "island=Dream",
            "island=Torgersen",
            "bill_length_mm",
            "bill_length_mm_missing",
            "bill_depth_mm",
            "bill_depth_mm_missing",
            "flipper_length_mm",
            "flipper_length_mm_missing",
            "body_mass_g",
            "body_mass_g_missing",
            "sex=female",
            "sex=male",
            "sex=(missing)"
        ]
    );
    assert_eq!(
        prep["classes"],
        serde_json::json!(["Adelie", "Chinstrap", "Gentoo"])
    );
    assert_eq!(prep["rows"]["file"], 344);
    // Every checkpoint carries the same record.
    let best = Checkpoint::from_bytes(
        &folder.join("b"),
        &std::fs::read(folder.join("trials/0/best.safetensors")).unwrap(),
    )
    .unwrap();
    assert_eq!(best.meta.runner["preprocessing"], prep);
    // Run again: resumed from the cache, nothing to train, nothing said about the data twice.
    let again = ok(run(&spec));
    assert!(
        String::from_utf8_lossy(&again.stderr)
            .matches("one-hot")
            .count()
            <= 1
    );
}

#[test]
fn parquet_and_csv_of_the_same_table_give_the_same_leaderboard() {
    let (a, b) = (tempdir(), tempdir());
    let csv = penguins(a.path(), "penguins.csv", serde_json::json!({}));
    let pq = penguins(b.path(), "penguins.parquet", serde_json::json!({}));
    ok(run(&csv));
    ok(run(&pq));
    assert_eq!(stable(&csv), stable(&pq));
    let prep = |d: &Path| std::fs::read(d.join("runs/tiny/preprocessing.json")).unwrap();
    assert_eq!(prep(a.path()), prep(b.path()));
}

#[test]
fn status_reads_only_the_study_folder() {
    let dir = tempdir();
    let spec = penguins(dir.path(), "penguins.csv", serde_json::json!({}));
    ok(run(&spec));
    std::fs::remove_file(dir.path().join("penguins.csv")).unwrap();
    let out = ok(tune(&["status".as_ref(), spec.as_os_str()]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 of 3 trials started"));
    ok(tune(&["leaderboard".as_ref(), spec.as_os_str()]));
    // A run needs the data file: it is checked against the cache's key.
    let out = run(&spec);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn a_changed_data_file_is_parsed_again_and_refused_on_resume() {
    let dir = tempdir();
    let spec = penguins(dir.path(), "penguins.csv", serde_json::json!({}));
    ok(run(&spec));
    let cache = dir.path().join("runs/tiny/data.cache");
    let before = std::fs::read(&cache).unwrap();
    let file = dir.path().join("penguins.csv");
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replacen("39.1", "39.2", 1);
    std::fs::write(&file, text).unwrap();
    let out = run(&spec);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("data file contents"), "{err}");
    // The refused resume left the study's cache as it was.
    assert_eq!(std::fs::read(&cache).unwrap(), before);
}

/// A generated table: `k` text levels in `c` ("L0".."Lk-1", gaps every 7th row), a number in `a`
/// (gaps every 5th row), a regression target `y` (missing every 11th row).
fn generated(dir: &Path, rows: usize, k: usize) -> PathBuf {
    let mut text = String::from("a,c,y\n");
    for r in 0..rows {
        let a = if r % 5 == 0 {
            "NA".to_string()
        } else {
            format!("{}", r % 13)
        };
        let c = if r % 7 == 0 {
            String::new()
        } else {
            format!("L{}", r % k)
        };
        let y = if r % 11 == 0 {
            "?".to_string()
        } else {
            format!("{}", (r % 13) as f64 * 0.5)
        };
        text += &format!("{a},{c},{y}\n");
    }
    std::fs::write(dir.join("g.csv"), text).unwrap();
    let mut s = tiny_spec(1);
    s["data"] = serde_json::json!({ "path": "g.csv", "target": "y", "task": "regression" });
    s["search"]["trials"] = serde_json::json!(2);
    s["search"]["space"]["batch_size"] = serde_json::json!([8]);
    write_spec(dir, &s)
}

#[test]
fn missing_targets_are_left_out_and_counted_once() {
    let dir = tempdir();
    let spec = generated(dir.path(), 220, 4);
    let out = ok(run(&spec));
    let said =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        said.matches("left out 20 of 220 rows whose target \"y\" is missing")
            .count(),
        1,
        "{said}"
    );
    let prep: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("runs/tiny/preprocessing.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        prep["rows"]["train"].as_u64().unwrap() + prep["rows"]["validation"].as_u64().unwrap(),
        200
    );
    assert_eq!(
        prep["columns"][1]["levels"],
        serde_json::json!(["L0", "L1", "L2", "L3"])
    );
    assert_eq!(prep["columns"][1]["missing_level"], true);
    assert_eq!(prep["columns"][0]["missing_flag"], true);
}

#[test]
fn too_many_levels_are_refused_unless_declared() {
    let dir = tempdir();
    let spec = generated(dir.path(), 300, 150);
    let out = run(&spec);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("column \"c\": the column has more than 100 distinct values")
            && err.contains("drop \"c\" from data.features"),
        "{err}"
    );
    assert!(!dir.path().join("runs").exists());
    let mut s: serde_json::Value = serde_json::from_slice(&std::fs::read(&spec).unwrap()).unwrap();
    s["data"]["categorical"] = serde_json::json!(["c"]);
    s["data"]["min_level_count"] = serde_json::json!(3);
    let spec = write_spec(dir.path(), &s);
    ok(run(&spec));
    let prep: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("runs/tiny/preprocessing.json")).unwrap(),
    )
    .unwrap();
    // 150 levels over about 240 training rows: those seen once or twice share (other).
    let other = prep["columns"][1]["other"].as_array().unwrap().len();
    assert!(other > 0, "{prep}");
    // A changed option is a changed study.
    s["data"]["min_level_count"] = serde_json::json!(2);
    let spec = write_spec(dir.path(), &s);
    let out = run(&spec);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("data"));
}

#[test]
fn refuse_keeps_gaps_errors() {
    let dir = tempdir();
    let spec = penguins(
        dir.path(),
        "penguins.csv",
        serde_json::json!({ "missing": "refuse" }),
    );
    let out = run(&spec);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.ends_with(": line 5, column \"bill_length_mm\": \"NA\" marks a missing value, and data.missing is \"refuse\"\n"),
        "{err}"
    );
    assert!(!dir.path().join("runs").exists());
}
