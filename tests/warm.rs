//! `search.warm_start`: a study that starts from an earlier one's finished trials.

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
