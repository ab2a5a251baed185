//! Conditional parameters with a program of the user's: an inactive parameter never reaches the
//! program (`TUNE_PARAMS`), is blank in the leaderboard, and a grid runs each active combination
//! once, whatever the method.

mod common;
#[path = "toy/mod.rs"]
mod toy;

use common::{ok, read_csv, run, tempdir, write_spec};
use std::collections::BTreeSet;
use std::path::Path;
use toy::python;

/// Prints the parameters it was given, then reports a loss of them at every boundary.
const PROGRAM: &str = r#"
import json, os
p = json.loads(os.environ["TUNE_PARAMS"])
print("PARAMS " + json.dumps(p, sort_keys=True), flush=True)
d = os.environ["TUNE_CHECKPOINT_DIR"]
for e in json.loads(os.environ["TUNE_BOUNDARIES"]):
    name = "c%d" % e
    open(os.path.join(d, name), "w").write("x")
    loss = p["lr"] + (abs(p["momentum"] - 0.9) if "momentum" in p else p["beta"])
    print("TUNE " + json.dumps({"examples": e, "checkpoint": name, "val_loss": loss}), flush=True)
"#;

fn spec(dir: &Path, method: &str, trials: usize) -> serde_json::Value {
    std::fs::write(dir.join("train.py"), PROGRAM).unwrap();
    serde_json::json!({
        "name": "cond",
        "seed": 5,
        "trainer": { "command": ["python3", dir.join("train.py")] },
        "budget": { "total_examples": 300, "virtual_epochs": 3 },
        "search": {
            "method": method,
            "trials": trials,
            "parallel": 2,
            "space": {
                "optimizer": ["sgd", "adam"],
                "momentum": { "values": [0.0, 0.9], "when": { "optimizer": "sgd" } },
                "beta": { "low": 0.5, "high": 0.99, "grid_points": 2, "when": { "optimizer": ["adam"] } },
                "lr": [0.1, 0.01]
            }
        }
    })
}

/// Each trial's parameters as its program printed them.
fn given(dir: &Path, trials: usize) -> Vec<serde_json::Map<String, serde_json::Value>> {
    (0..trials)
        .map(|t| {
            let log = dir.join(format!("runs/cond/trials/{t}/output.log"));
            let log = std::fs::read_to_string(&log).unwrap();
            let line = log.lines().find_map(|l| l.strip_prefix("PARAMS ")).unwrap();
            serde_json::from_str(line).unwrap()
        })
        .collect()
}

fn check_active(p: &serde_json::Map<String, serde_json::Value>) {
    let sgd = p["optimizer"] == "sgd";
    assert_eq!(p.contains_key("momentum"), sgd, "{p:?}");
    assert_eq!(p.contains_key("beta"), !sgd, "{p:?}");
    assert_eq!(p.len(), 3, "{p:?}");
}

#[test]
fn a_grid_runs_each_active_combination_once_and_programs_get_active_parameters_only() {
    if !python() {
        return;
    }
    let dir = tempdir();
    // sgd: 2 momenta × 2 rates; adam: 2 betas × 2 rates. Asking for more trials gets the grid.
    ok(run(&write_spec(dir.path(), &spec(dir.path(), "grid", 8))));
    let params = given(dir.path(), 8);
    params.iter().for_each(check_active);
    let distinct: BTreeSet<String> = params.iter().map(|p| format!("{p:?}")).collect();
    assert_eq!(distinct.len(), 8, "{params:?}");
    // The leaderboard: blank where a parameter was inactive.
    let (header, rows) = read_csv(&dir.path().join("runs/cond/leaderboard.csv"));
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    let (opt, mom, beta) = (col("optimizer"), col("momentum"), col("beta"));
    assert_eq!(rows.len(), 8);
    for r in &rows {
        let sgd = r[opt] == "sgd";
        assert_eq!(r[mom].is_empty(), !sgd, "{r:?}");
        assert_eq!(r[beta].is_empty(), sgd, "{r:?}");
    }
    // The best: sgd, momentum 0.9, rate 0.01.
    assert_eq!((&*rows[0][opt], &*rows[0][mom]), ("sgd", "0.9"), "{rows:?}");
    // The report: the categorical's slice is labelled with its levels; an inactive parameter's
    // trials have no mark on its slice.
    let html = std::fs::read_to_string(dir.path().join("runs/cond/report.html")).unwrap();
    let slice = |name: &str| {
        let at = html.find(&format!("id=\"slice-{name}\"")).unwrap();
        html[at..at + html[at..].find("</svg>").unwrap()].to_string()
    };
    let optimizer = slice("optimizer");
    assert!(
        optimizer.contains(">sgd</text>") && optimizer.contains(">adam</text>"),
        "{optimizer}"
    );
    assert_eq!(slice("momentum").matches("data-missing=\"1\"").count(), 4);
}

#[test]
fn random_search_and_tpe_draw_active_parameters_only() {
    if !python() {
        return;
    }
    for method in ["random", "tpe", "bayes"] {
        let dir = tempdir();
        ok(run(&write_spec(dir.path(), &spec(dir.path(), method, 12))));
        let params = given(dir.path(), 12);
        params.iter().for_each(check_active);
        assert!(
            params.iter().any(|p| p["optimizer"] == "adam"),
            "{method}: {params:?}"
        );
        assert!(
            params.iter().any(|p| p["optimizer"] == "sgd"),
            "{method}: {params:?}"
        );
    }
}

#[test]
fn a_bad_condition_is_one_sentence_with_its_path_and_nothing_is_written() {
    let dir = tempdir();
    let mut s = spec(dir.path(), "random", 4);
    s["search"]["space"]["momentum"]["when"] = serde_json::json!({ "optimizer": "sgdd" });
    let out = run(&write_spec(dir.path(), &s));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("search.space.momentum.when.optimizer")
            && err.contains("\"sgdd\" is not a value of optimizer: use sgd, adam"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!dir.path().join("runs").exists());
}

#[test]
fn the_built_in_trainer_takes_momentum_for_sgd_only() {
    let dir = tempdir();
    let mut spec = common::tiny_spec(2);
    spec["search"]["method"] = "grid".into();
    spec["search"]["trials"] = 10.into();
    spec["search"]["space"] = serde_json::json!({
        "batch_size": [32],
        "learning_rate": [0.01],
        "optimizer": ["adam", "sgd"],
        "momentum": { "values": [0.5, 0.9], "when": { "optimizer": "sgd" } }
    });
    ok(run(&write_spec(dir.path(), &spec)));
    let (header, rows) = read_csv(&dir.path().join("runs/tiny/leaderboard.csv"));
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    let mut got: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r[col("optimizer")].clone(), r[col("momentum")].clone()))
        .collect();
    got.sort();
    let want = [("adam", ""), ("sgd", "0.5"), ("sgd", "0.9")];
    assert_eq!(got, want.map(|(a, b)| (a.to_string(), b.to_string())));
    // Two sgd trials that differ by their momentum alone train differently.
    let loss = |m: &str| {
        let r = rows.iter().find(|r| r[col("momentum")] == m).unwrap();
        r[col("best_val_loss")].clone()
    };
    assert_ne!(loss("0.5"), loss("0.9"));
}
