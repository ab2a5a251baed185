//! Hostile specs (issue 15, items 5 and 6): sizes past what the machine can hold and JSON that
//! serde alone would read loosely. Each is refused before anything is written, with exit code 2
//! and one sentence naming the spec file and the JSON path (or line and column).

mod common;
use common::*;
use serde_json::{json, Value};

/// Runs `tune` on `text` and returns its one line of stderr, the spec's path replaced by SPEC,
/// after checking exit code 2 and that nothing was written beside the spec.
fn refused(text: &str) -> String {
    let dir = tempdir();
    let spec = dir.path().join("study.json");
    std::fs::write(&spec, text).unwrap();
    let out = run(&spec);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(2),
        "stderr: {stderr}\nspec:\n{text}"
    );
    assert!(
        !dir.path().join("runs").exists(),
        "a refused study wrote files"
    );
    assert_eq!(stderr.lines().count(), 1, "one sentence: {stderr}");
    stderr
        .trim_end()
        .replace(&spec.display().to_string(), "SPEC")
}

/// `tiny_spec` with the value at `path` set to `value`.
fn with(path: &[&str], value: Value) -> String {
    let mut spec = tiny_spec(1);
    let (last, parents) = path.split_last().unwrap();
    let mut at = &mut spec;
    for p in parents {
        at = &mut at[*p];
    }
    at[*last] = value;
    serde_json::to_string_pretty(&spec).unwrap()
}

/// `tiny_spec` as a grid over `space`, capped at `trials` when given.
fn grid(space: Value, trials: Option<u64>) -> String {
    let mut spec = tiny_spec(1);
    spec["search"]["method"] = json!("grid");
    spec["search"]["space"] = space;
    match trials {
        Some(t) => spec["search"]["trials"] = json!(t),
        None => {
            spec["search"].as_object_mut().unwrap().remove("trials");
        }
    }
    serde_json::to_string_pretty(&spec).unwrap()
}

fn compact() -> String {
    serde_json::to_string(&tiny_spec(1)).unwrap()
}

#[test]
fn text_after_the_spec_is_refused_with_its_line_and_column() {
    let want = "tune: SPEC: line 2, column 1: malformed JSON: trailing characters after the spec";
    assert_eq!(refused(&format!("{}\nthe end", compact())), want);
    assert_eq!(refused(&format!("{}\n{}", compact(), compact())), want);
}

#[test]
fn duplicate_keys_are_refused_with_their_path() {
    let text = compact();
    let in_space = text.replace(
        "\"batch_size\":[7,32,100]",
        "\"batch_size\":[7,32,100],\"batch_size\":[8]",
    );
    assert_eq!(
        refused(&in_space),
        "tune: SPEC: search.space: duplicate key \"batch_size\""
    );
    let in_range = text.replace("\"low\":0.001", "\"low\":0.001,\"low\":0.002");
    assert_ne!(in_range, text);
    assert_eq!(
        refused(&in_range),
        "tune: SPEC: search.space.learning_rate: duplicate key \"low\""
    );
    let top = format!("{{\"name\":\"other\",{}", &text[1..]);
    assert_eq!(
        refused(&top),
        "tune: SPEC: (top level): duplicate key \"name\""
    );
}

#[test]
fn an_array_in_place_of_an_object_is_refused_with_its_path() {
    let want = |path: &str| {
        format!("tune: SPEC: {path}: expected an object with named fields, found an array")
    };
    // The spec's fields by position, as serde's derived structs would otherwise read them.
    let spec = tiny_spec(1);
    let positional = json!([
        "tiny",
        3,
        spec["data"],
        spec["model"],
        spec["budget"],
        spec["search"]
    ]);
    assert_eq!(refused(&positional.to_string()), want("(top level)"));
    let data = json!([wine(), "quality", "regression"]);
    assert_eq!(refused(&with(&["data"], data)), want("data"));
    assert_eq!(refused(&with(&["model"], json!([[16]]))), want("model"));
    assert_eq!(
        refused(&with(&["budget"], json!([3000, null, 4]))),
        want("budget")
    );
    assert_eq!(
        refused(&with(&["early_stopping"], json!([3, 0.0]))),
        want("early_stopping")
    );
    assert_eq!(
        refused(&with(&["search", "space"], json!([[7, 32]]))),
        want("search.space")
    );
}

#[test]
fn a_byte_order_mark_is_accepted() {
    let dir = tempdir();
    let spec = dir.path().join("study.json");
    let mut spec_json = tiny_spec(1);
    spec_json["search"]["trials"] = json!(1);
    let text = format!(
        "\u{feff}{}",
        serde_json::to_string_pretty(&spec_json).unwrap()
    );
    std::fs::write(&spec, text).unwrap();
    ok(run(&spec));
    let rows = columns(&dir.path().join("runs/tiny/leaderboard.csv"), &["status"]);
    assert_eq!(rows, [["complete"]]);
}

#[test]
fn a_model_too_large_for_memory_is_refused_before_anything_is_written() {
    let got = refused(&with(&["model", "hidden"], json!([1_000_000_000u64])));
    assert!(
        got.starts_with("tune: SPEC: model.hidden: the largest model has 13000000001 parameters and needs about "),
        "{got}"
    );
    assert!(got.contains(" GB to train, more than the "), "{got}");
    // A searched width: the largest in the space counts.
    let mut spec = tiny_spec(1);
    spec["search"]["space"]["hidden_width"] = json!({"low": 1, "high": 1e12});
    let got = refused(&serde_json::to_string(&spec).unwrap());
    assert!(
        got.starts_with("tune: SPEC: search.space.hidden_width: the largest model has 13000000000001 parameters"),
        "{got}"
    );
    // Widths whose product overflows a u64.
    let got = refused(&with(&["model", "hidden"], json!([u64::MAX, u64::MAX])));
    assert!(
        got.starts_with("tune: SPEC: model.hidden: the largest model has "),
        "{got}"
    );
}

#[test]
fn grid_points_past_the_limit_are_refused() {
    let space = |g: Value| json!({"batch_size": [32], "learning_rate": {"low": 1e-3, "high": 1e-2, "grid_points": g}});
    assert_eq!(
        refused(&grid(space(json!(1_000_000_000_000_000_000u64)), None)),
        "tune: SPEC: search.space.learning_rate.grid_points: 1e18 grid points is more than the 1000000 a range may give"
    );
    assert_eq!(
        refused(&grid(space(json!(1e18)), Some(3))),
        "tune: SPEC: search.space.learning_rate.grid_points: 1e18 grid points is more than the 1000000 a range may give"
    );
}

#[test]
fn a_grid_larger_than_a_study_is_refused_unless_capped() {
    let space = json!({
        "batch_size": {"low": 1, "high": 1280},
        "hidden_width": {"low": 1, "high": 9999},
        "learning_rate": [0.01]
    });
    assert_eq!(
        refused(&grid(space, None)),
        "tune: SPEC: search.space: the grid has 12798720 points, more than the 1000000 trials a study may run: give search.trials to run its first ones, or fewer values"
    );
}

/// Batch 1..1280 × width 1..9999 capped at two trials: only those two points are computed, and
/// they are the grid's first two, as when the whole grid was built.
#[test]
fn a_huge_grid_capped_at_two_trials_runs_its_first_two_points() {
    let dir = tempdir();
    let mut spec: Value = serde_json::from_str(&grid(
        json!({
            "batch_size": {"low": 1, "high": 1280},
            "hidden_width": {"low": 1, "high": 9999},
            "learning_rate": [0.01]
        }),
        Some(2),
    ))
    .unwrap();
    spec["budget"] = json!({"total_examples": 8, "virtual_epochs": 2});
    let file = write_spec(dir.path(), &spec);
    ok(run(&file));
    let rows = columns(
        &dir.path().join("runs/tiny/leaderboard.csv"),
        &["status", "batch_size", "hidden_width"],
    );
    assert_eq!(rows, [["complete", "1", "1"], ["complete", "1", "2"]]);
}

#[test]
fn trials_are_bounded() {
    assert_eq!(
        refused(&with(&["search", "trials"], json!(1_000_000_000_000u64))),
        "tune: SPEC: search.trials: 1000000000000 is more than the 1000000 trials a random search may run"
    );
    let mut spec = tiny_spec(1);
    spec["search"]["method"] = json!("bayes");
    spec["search"]["startup_trials"] = json!(1_000_000_000_000u64);
    assert_eq!(
        refused(&serde_json::to_string(&spec).unwrap()),
        "tune: SPEC: search.startup_trials: 1000000000000 is more than the 10000 trials a Bayesian search may have"
    );
    assert_eq!(
        refused(&with(&["search", "parallel"], json!(u64::MAX))),
        "tune: SPEC: search.parallel: 18446744073709551615 is more than the 1024 trials that may run at once"
    );
}

#[test]
fn budgets_cannot_overflow() {
    assert_eq!(
        refused(&with(&["budget"], json!({"stop_point": 1e300}))),
        "tune: SPEC: budget.stop_point: 1e300 × 1280 training rows is more than the 9007199254740992 examples a trial may train on"
    );
    assert_eq!(
        refused(&with(&["budget", "total_examples"], json!(u64::MAX))),
        "tune: SPEC: budget.total_examples: 18446744073709551615 is more than the 9007199254740992 examples a trial may train on"
    );
    assert_eq!(
        refused(&with(&["budget", "virtual_epochs"], json!(1u64 << 32))),
        "tune: SPEC: budget.virtual_epochs: 4294967296 is more than the 1000000 virtual epochs a trial may have"
    );
}

#[test]
fn floats_that_train_in_f32_are_checked_in_f32() {
    let space = |lr: Value, extra: (&str, Value)| {
        let mut s = json!({"batch_size": [32], "learning_rate": lr});
        s[extra.0] = extra.1;
        s
    };
    let cases = [
        (
            with(&["search", "space"], space(json!([1e39]), ("momentum", json!([0.5])))),
            "search.space.learning_rate[0]: 1e39 is too large for f32, in which training computes (at most 3.4e38)",
        ),
        (
            with(&["search", "space"], space(json!({"low": 1e-300, "high": 1e-2, "log": true}), ("momentum", json!([0.5])))),
            "search.space.learning_rate.low: 1e-300 is too small for f32, in which training computes: it would be 0",
        ),
        (
            with(&["search", "space"], space(json!([0.01]), ("momentum", json!({"low": 0, "high": 0.9999999999})))),
            "search.space.momentum.high: 0.9999999999 is 1 in f32, in which training computes: it must stay below 1",
        ),
        (
            with(&["model", "betas"], json!([0.9, 0.99999999999])),
            "model.betas[1]: 0.99999999999 is 1 in f32, in which training computes: it must stay below 1",
        ),
        (
            with(&["model", "eps"], json!(1e-50)),
            "model.eps: 1e-50 is too small for f32, in which training computes: it would be 0",
        ),
        (
            with(&["model", "weight_decay"], json!(1e39)),
            "model.weight_decay: 1e39 is too large for f32, in which training computes (at most 3.4e38)",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(refused(&text), format!("tune: SPEC: {want}"), "\n{text}");
    }
}

#[test]
fn control_characters_stay_on_one_line() {
    assert_eq!(
        refused(&with(&["data", "task"], json!("a\nb"))),
        "tune: SPEC: data.task: \"a\\nb\" is not a task: use \"regression\" or \"classification\""
    );
}
