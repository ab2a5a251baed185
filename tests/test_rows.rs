//! `data.test_fraction`: rows held out of training and selection, on which the selected
//! checkpoints of the top trials are scored once at the end (`test_<metric>` columns).

mod common;
use common::*;
use std::path::Path;

/// The tiny wine study, ranked by MAE, with a fifth of the rows held out as test rows.
fn held_out_spec() -> serde_json::Value {
    let mut spec = tiny_spec(1);
    spec["data"]["test_fraction"] = 0.2.into();
    spec["metric"] = "mae".into();
    spec
}

/// The leaderboard's (trial, best_mae, test_mae, test_loss), best first.
fn test_columns(leaderboard: &Path) -> Vec<(String, String, String, String)> {
    let (h, rows) = read_csv(leaderboard);
    let at = |n: &str| {
        h.iter()
            .position(|c| c == n)
            .unwrap_or_else(|| panic!("no {n} in {h:?}"))
    };
    let idx = [at("trial"), at("best_mae"), at("test_mae"), at("test_loss")];
    rows.iter()
        .map(|r| {
            (
                r[idx[0]].clone(),
                r[idx[1]].clone(),
                r[idx[2]].clone(),
                r[idx[3]].clone(),
            )
        })
        .collect()
}

#[test]
fn the_top_trials_are_scored_once_on_the_test_rows() {
    let dir = tempdir();
    let spec = write_spec(dir.path(), &held_out_spec());
    ok(run(&spec));
    let study = dir.path().join("runs/tiny");
    let board = study.join("leaderboard.csv");
    let got = test_columns(&board);
    assert_eq!(got.len(), 6);
    // The first five (the default data.test_trials) are scored; the sixth is not.
    for (trial, best, test, loss) in &got[..5] {
        let (best, test, loss): (f64, f64, f64) = (
            best.parse().unwrap(),
            test.parse().unwrap(),
            loss.parse().unwrap(),
        );
        assert!(
            test.is_finite() && loss.is_finite() && test > 0.0,
            "trial {trial}"
        );
        assert_ne!(
            test, best,
            "trial {trial}: the test score is not the validation score"
        );
    }
    assert_eq!((got[5].2.as_str(), got[5].3.as_str()), ("", ""));
    let split: serde_json::Value =
        serde_json::from_slice(&std::fs::read(study.join("split.json")).unwrap()).unwrap();
    assert_eq!(split["test_rows"].as_array().unwrap().len(), 319);

    // Made again, the same, from the checkpoints, when the scores' file is lost.
    std::fs::remove_file(study.join("test_scores.json")).unwrap();
    let again = dir.path().join("again.csv");
    ok(tune(&[
        "leaderboard".as_ref(),
        spec.as_os_str(),
        "--csv".as_ref(),
        again.as_os_str(),
    ]));
    assert_eq!(test_columns(&again), got);
    assert!(study.join("test_scores.json").exists());
    let table = ok(tune(&["leaderboard".as_ref(), spec.as_os_str()]));
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table
            .lines()
            .next()
            .unwrap()
            .contains("test_mae  test_loss"),
        "{table}"
    );
}

#[test]
fn an_interrupted_study_resumed_scores_the_same() {
    let straight = tempdir();
    let spec = write_spec(straight.path(), &held_out_spec());
    ok(run(&spec));
    let want = test_columns(&straight.path().join("runs/tiny/leaderboard.csv"));

    let dir = tempdir();
    let spec = write_spec(dir.path(), &held_out_spec());
    stop_after(&spec, 9);
    // Scored in between: the trials finished so far, some of which the rest may overtake.
    ok(tune(&["leaderboard".as_ref(), spec.as_os_str()]));
    assert!(dir.path().join("runs/tiny/test_scores.json").exists());
    ok(run(&spec));
    assert_eq!(
        test_columns(&dir.path().join("runs/tiny/leaderboard.csv")),
        want
    );
}

#[test]
fn without_test_rows_the_leaderboard_is_as_it_was() {
    let dir = tempdir();
    let spec = write_spec(dir.path(), &tiny_spec(1));
    ok(run(&spec));
    let study = dir.path().join("runs/tiny");
    let (h, _) = read_csv(&study.join("leaderboard.csv"));
    assert!(h.iter().all(|c| !c.starts_with("test_")), "{h:?}");
    assert_eq!(
        h[h.len() - 4..],
        ["final_val_loss", "seconds", "reason", "suggest_ms"]
    );
    assert!(!study.join("test_scores.json").exists());
    let split = std::fs::read_to_string(study.join("split.json")).unwrap();
    assert!(!split.contains("test_rows"));
}

/// Runs `tune` on `spec` and returns its one line of stderr after checking exit code 2 and that
/// nothing was written.
fn refused(spec: serde_json::Value) -> String {
    let dir = tempdir();
    let file = write_spec(dir.path(), &spec);
    let out = run(&file);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        !dir.path().join("runs").exists(),
        "a refused study wrote files"
    );
    assert_eq!(stderr.lines().count(), 1, "one sentence: {stderr}");
    stderr
        .trim_end()
        .replace(&file.display().to_string(), "SPEC")
}

#[test]
fn bad_test_fractions_are_refused_in_one_sentence() {
    let with = |field: &str, v: serde_json::Value, vf: Option<f64>| {
        let mut s = tiny_spec(1);
        s["data"][field] = v;
        if let Some(vf) = vf {
            s["data"]["validation_fraction"] = vf.into();
        }
        refused(s)
    };
    let cases = [
        (
            with("test_fraction", 1.0.into(), None),
            "data.test_fraction: 1 is not in [0, 1)",
        ),
        (
            with("test_fraction", (-0.1).into(), None),
            "data.test_fraction: -0.1 is not in [0, 1)",
        ),
        (
            with("test_fraction", 0.5.into(), Some(0.5)),
            "data.test_fraction: 0.5 with a validation fraction of 0.5 leaves no rows for \
             training: their sum must be below 1",
        ),
        (
            with("test_fraction", 0.0005.into(), None),
            "data.test_fraction: 0.0005 of 1599 rows leaves no row for test: give it at least one",
        ),
        (
            with("test_trials", 0.into(), None),
            "data.test_trials: 0 trials scores none: use 1 or more",
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got, format!("tune: SPEC: {want}"));
    }
    let mut s = tiny_spec(1);
    s["data"]["test_fraction"] = 0.1.into();
    s.as_object_mut().unwrap().remove("model");
    s["trainer"] = serde_json::json!({ "command": ["python3", "train.py"] });
    assert_eq!(
        refused(s),
        "tune: SPEC: data.test_fraction: is not supported with a command trainer: its program \
         is given training and validation rows only"
    );
}
