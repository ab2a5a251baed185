//! `search.warm_start`: a study that starts from an earlier one's finished trials, with one
//! objective or several.

mod common;
use common::*;

fn params(dir: &std::path::Path, name: &str) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = columns(
        &dir.join(format!("runs/{name}/leaderboard.csv")),
        &["batch_size", "learning_rate"],
    )
    .into_iter()
    .map(|r| (r[0].clone(), r[1].clone()))
    .collect();
    rows.sort();
    rows
}

#[test]
fn a_grid_skips_the_points_an_earlier_study_ran_and_a_warm_gp_is_deterministic() {
    let dir = tempdir();
    let mut first = tiny_spec(1);
    first["name"] = "first".into();
    first["search"] = serde_json::json!({
        "method": "grid", "trials": 3, "parallel": 1,
        "space": { "batch_size": [16, 64], "learning_rate": [0.01, 0.003, 0.001] }
    });
    ok(run(&write_spec(dir.path(), &first)));
    let ran = params(dir.path(), "first");
    assert_eq!(ran.len(), 3);

    let mut rest = first.clone();
    rest["name"] = "rest".into();
    rest["search"]["trials"] = serde_json::Value::Null;
    rest["search"]["warm_start"] = "runs/first".into();
    let spec = dir.path().join("rest.json");
    std::fs::write(&spec, rest.to_string()).unwrap();
    ok(run(&spec));
    let second = params(dir.path(), "rest");
    assert_eq!(second.len(), 3, "the grid's other points only: {second:?}");
    assert!(
        second.iter().all(|p| !ran.contains(p)),
        "{ran:?} {second:?}"
    );

    // A Bayesian study warm-started from the grid: the same trials, run after run.
    let mut bayes = tiny_spec(1);
    bayes["search"] = serde_json::json!({
        "method": "bayes", "trials": 4, "parallel": 1, "startup_trials": 4,
        "space": {
            "batch_size": [16, 64],
            "learning_rate": { "low": 0.001, "high": 0.01, "log": true }
        },
        "warm_start": "runs/first"
    });
    let mut seen = vec![];
    for name in ["bayes-a", "bayes-b"] {
        bayes["name"] = name.into();
        let spec = dir.path().join(format!("{name}.json"));
        std::fs::write(&spec, bayes.to_string()).unwrap();
        ok(run(&spec));
        seen.push(columns(
            &dir.path().join(format!("runs/{name}/leaderboard.csv")),
            METRICS,
        ));
    }
    assert_eq!(seen[0], seen[1]);

    let mut bad = bayes.clone();
    bad["name"] = "bad".into();
    bad["search"]["warm_start"] = "runs/nowhere".into();
    let spec = dir.path().join("bad.json");
    std::fs::write(&spec, bad.to_string()).unwrap();
    let out = run(&spec);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("search.warm_start:") && err.contains("holds no study"),
        "{err}"
    );
    let mut other = bayes.clone();
    other["name"] = "other".into();
    other["metric"] = "rmse".into();
    let spec = dir.path().join("other.json");
    std::fs::write(&spec, other.to_string()).unwrap();
    let err = String::from_utf8_lossy(&run(&spec).stderr).into_owned();
    assert!(
        err.contains("was judged by metric \"val_loss\", this study by \"rmse\""),
        "{err}"
    );
}

/// The parameters of trial `trial` in the study `name`'s leaderboard.
fn trial_params(dir: &std::path::Path, name: &str, trial: u64) -> Vec<String> {
    let board = dir.join(format!("runs/{name}/leaderboard.csv"));
    let cols = ["trial", "batch_size", "learning_rate", "hidden_width"];
    let row = columns(&board, &cols)
        .into_iter()
        .find(|r| r[0] == trial.to_string())
        .unwrap_or_else(|| panic!("{name} has no trial {trial}"));
    row[1..].to_vec()
}

/// Two objectives and a constraint: the warm trials join the samplers' history with every
/// objective's value, so a study warm-started from the first trials of a Bayesian (or TPE)
/// search suggests exactly what that search, run longer with the same seed, suggested next
/// (ParEGO's scalarisation sees all of them as its own); a cold start does not. Other objectives
/// or constraints are refused, and nothing is written.
#[test]
fn with_two_objectives_a_warm_start_goes_on_as_the_earlier_search_would_have() {
    let dir = tempdir();
    for method in ["bayes", "tpe"] {
        let mut spec = serde_json::json!({
            "seed": 5,
            "data": { "path": wine(), "target": "quality", "task": "regression" },
            "budget": { "total_examples": 2000, "virtual_epochs": 2 },
            "objectives": [{ "metric": "val_loss" }, { "metric": "parameters" }],
            "constraints": [{ "metric": "parameters", "max": 3000 }],
            "search": {
                "method": method, "trials": 4, "parallel": 1, "startup_trials": 3,
                "space": {
                    "batch_size": [16, 64],
                    "learning_rate": { "low": 3e-3, "high": 3e-2, "log": true },
                    "hidden_width": { "low": 2, "high": 128, "log": true }
                }
            }
        });
        let go = |name: &str, spec: &mut serde_json::Value| {
            spec["name"] = format!("{method}-{name}").into();
            let path = dir.path().join(format!("{method}-{name}.json"));
            std::fs::write(&path, spec.to_string()).unwrap();
            run(&path)
        };
        ok(go("first", &mut spec));
        let mut full = spec.clone();
        full["search"]["trials"] = 5.into();
        ok(go("full", &mut full));
        let mut cold = spec.clone();
        cold["search"]["trials"] = 1.into();
        ok(go("cold", &mut cold));
        let mut warm = cold.clone();
        warm["search"]["warm_start"] = format!("runs/{method}-first").into();
        ok(go("warm", &mut warm));
        let next = trial_params(dir.path(), &format!("{method}-full"), 4);
        let name = |s: &str| format!("{method}-{s}");
        assert_eq!(trial_params(dir.path(), &name("warm"), 0), next, "{method}");
        assert_ne!(trial_params(dir.path(), &name("cold"), 0), next, "{method}");

        // Other constraints, or one objective, judge trials otherwise.
        let mut other = warm.clone();
        other["constraints"][0]["max"] = 2000.into();
        let mut plain = warm.clone();
        plain.as_object_mut().unwrap().remove("objectives");
        plain.as_object_mut().unwrap().remove("constraints");
        for (label, mut bad) in [("other", other), ("plain", plain)] {
            let out = go(label, &mut bad);
            assert_eq!(out.status.code(), Some(2), "{label}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains("search.warm_start:")
                    && err.contains(
                        "was judged by objectives val_loss (min), parameters (min) under parameters ≤ 3000, this study by objectives"
                    )
                    && err.trim_end().lines().count() == 1,
                "{label}: {err}"
            );
            assert!(
                !dir.path().join("runs").join(name(label)).exists(),
                "{label}"
            );
        }
    }
}
