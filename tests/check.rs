//! `tune check` from outside: the pre-flight check trains each distinct model of the space on one
//! batch and says whether it memorised it, or why not (learning rates that diverge, too little
//! capacity, the data), in seconds, writing nothing.

mod common;
use common::*;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

/// `tune check spec`: its exit code and stdout (stderr must be empty unless it is refused).
fn check(spec: &Path) -> (Option<i32>, String) {
    let out: Output = tune(&["check".as_ref(), spec.as_os_str()]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(stderr.is_empty(), "stderr: {stderr}\nstdout: {stdout}");
    (out.status.code(), stdout)
}

/// A spec in `dir` on `data` (a CSV path) with `hidden` layers and a space of `space`.
fn spec(
    dir: &Path,
    data: &Path,
    target: &str,
    task: &str,
    hidden: &[usize],
    space: serde_json::Value,
) -> std::path::PathBuf {
    write_spec(
        dir,
        &serde_json::json!({
            "name": "check",
            "seed": 1,
            "data": { "path": data, "target": target, "task": task },
            "model": { "hidden": hidden },
            "budget": { "stop_point": 10, "virtual_epochs": 5 },
            "search": { "method": "random", "trials": 4, "space": space }
        }),
    )
}

/// Everything under `dir`, by name.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn the_quick_study_memorises_its_batch() {
    let quick = Path::new(env!("CARGO_MANIFEST_DIR")).join("studies/quick.json");
    let (code, out) = check(&quick);
    assert_eq!(code, Some(0), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with(
            "checking 1 model × 3 learning rates on one batch (the first 32 training rows)"
        ),
        "{out}"
    );
    assert!(
        lines[1].starts_with("  hidden [32, 32], adam: memorised in "),
        "{out}"
    );
    assert!(
        lines[2].starts_with("every model memorises the batch"),
        "{out}"
    );
}

#[test]
fn each_distinct_model_gets_a_line_and_nothing_is_written() {
    let dir = tempdir();
    let s = spec(
        dir.path(),
        &digits(),
        "digit",
        "classification",
        &[64],
        serde_json::json!({
            "batch_size": [16, 64],
            "hidden_width": [1, 128],
            "weight_decay": { "low": 0.0, "high": 0.01 },
            "learning_rate": [0.001, 0.01]
        }),
    );
    let t0 = Instant::now();
    let (code, out) = check(&s);
    assert!(t0.elapsed() < Duration::from_secs(30), "{:?}", t0.elapsed());
    // Two widths × two weight decays; the batch size makes no other model.
    assert!(
        out.starts_with("checking 4 models × 2 learning rates"),
        "{out}"
    );
    for model in [
        "hidden [1], adam, weight_decay 0:",
        "hidden [1], adam, weight_decay 0.01:",
        "hidden [128], adam, weight_decay 0:",
        "hidden [128], adam, weight_decay 0.01:",
    ] {
        assert_eq!(
            out.lines()
                .filter(|l| l.starts_with(&format!("  {model}")))
                .count(),
            1,
            "{model}\n{out}"
        );
    }
    // Width 1 cannot tell 10 classes apart: the wide ones memorise, the narrow ones do not.
    assert_eq!(code, Some(1), "{out}");
    let last = out.lines().last().unwrap();
    assert!(
        last.starts_with("2 of 4 models cannot memorise the batch (hidden [1], adam, weight_decay 0; hidden [1], adam, weight_decay 0.01)"),
        "{out}"
    );
    assert!(last.contains("too little capacity"), "{out}");
    assert_eq!(listing(dir.path()), ["study.json"]);
}

#[test]
fn learning_rates_that_all_diverge_are_named() {
    let dir = tempdir();
    let s = spec(
        dir.path(),
        &wine(),
        "quality",
        "regression",
        &[32, 32],
        serde_json::json!({ "batch_size": [32], "learning_rate": [10, 100] }),
    );
    let (code, out) = check(&s);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("hidden [32, 32], adam: cannot memorise: the loss diverges at every learning rate (10: "),
        "{out}"
    );
    assert!(
        out.trim_end().ends_with(
            "no model memorises the batch (1 tried): every learning rate of the space diverges (10, 100): try smaller ones"
        ),
        "{out}"
    );
}

#[test]
fn a_smaller_learning_rate_that_memorises_passes_and_the_diverging_one_is_named() {
    let dir = tempdir();
    let s = spec(
        dir.path(),
        &wine(),
        "quality",
        "regression",
        &[32, 32],
        serde_json::json!({ "batch_size": [32], "learning_rate": [0.01, 100] }),
    );
    let (code, out) = check(&s);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("memorised in "), "{out}");
    assert!(out.contains("; diverges at learning rate 100"), "{out}");
}

#[test]
fn one_hidden_unit_cannot_memorise_ten_classes() {
    let dir = tempdir();
    let s = spec(
        dir.path(),
        &digits(),
        "digit",
        "classification",
        &[1],
        serde_json::json!({ "batch_size": [32], "learning_rate": [0.0003, 0.001, 0.003, 0.01] }),
    );
    let (code, out) = check(&s);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("  hidden [1], adam: cannot memorise: the loss plateaus ("),
        "{out}"
    );
    assert!(out.contains("the model lacks the capacity"), "{out}");
    assert!(
        out.trim_end().ends_with(
            "no model memorises the batch (1 tried): the loss plateaus: too little capacity (try wider or more hidden layers)"
        ),
        "{out}"
    );
}

/// The wine data's first `rows` rows, each cell as `set(column, row, cell)` makes it.
fn wine_with(
    dir: &Path,
    rows: usize,
    set: impl Fn(&str, usize, &str) -> String,
) -> std::path::PathBuf {
    let text = std::fs::read_to_string(wine()).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let mut out = header.join(",") + "\n";
    for (r, line) in lines.take(rows).enumerate() {
        let cells: Vec<String> = line
            .split(',')
            .zip(&header)
            .map(|(cell, col)| set(col.trim_matches('"'), r, cell))
            .collect();
        out += &(cells.join(",") + "\n");
    }
    let p = dir.join("data.csv");
    std::fs::write(&p, out).unwrap();
    p
}

#[test]
fn a_constant_target_is_a_data_problem() {
    let dir = tempdir();
    let data = wine_with(dir.path(), 200, |col, _, cell| match col {
        "quality" => "5".into(),
        _ => cell.into(),
    });
    let s = spec(
        dir.path(),
        &data,
        "quality",
        "regression",
        &[16],
        serde_json::json!({ "batch_size": [32], "learning_rate": [0.01] }),
    );
    let (code, out) = check(&s);
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(
        out.trim_end(),
        "no model can memorise the batch: a data problem: the target \"quality\" is 5 in every training row: there is nothing to learn"
    );
    assert_eq!(listing(dir.path()), ["data.csv", "study.json"]);
}

#[test]
fn identical_inputs_are_a_data_problem() {
    let dir = tempdir();
    let data = wine_with(dir.path(), 200, |col, r, _| match col {
        "quality" => ((r % 4) + 3).to_string(),
        _ => "1.5".into(),
    });
    let s = spec(
        dir.path(),
        &data,
        "quality",
        "regression",
        &[16],
        serde_json::json!({ "batch_size": [32], "learning_rate": [0.01] }),
    );
    let (code, out) = check(&s);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("a data problem: every training row has the same inputs"),
        "{out}"
    );
}

#[test]
fn bad_input_exits_2() {
    let dir = tempdir();
    let out = tune(&["check".as_ref(), dir.path().join("none.json").as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    let out = tune(&["check".as_ref()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("tune: no study spec given"), "{err}");
    // A mistyped `check` is pointed at it.
    let out = tune(&["chekc".as_ref(), "x.json".as_ref()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim_end(),
        "tune: unknown command `chekc`: did you mean `check`?"
    );
}

/// A conditional space, and momentum beside Adam: a model per optimizer and momentum where it
/// changes SGD, none twice.
#[test]
fn a_parameter_that_changes_nothing_makes_no_other_model() {
    let dir = tempdir();
    let digits_spec = |space| {
        spec(
            dir.path(),
            &digits(),
            "digit",
            "classification",
            &[16],
            space,
        )
    };
    let s = digits_spec(serde_json::json!({
        "batch_size": [32],
        "learning_rate": [0.01],
        "optimizer": ["adam", "sgd"],
        "momentum": { "values": [0.5, 0.9], "when": { "optimizer": "sgd" } },
        "weight_decay": { "values": [0.0, 0.001], "when": { "optimizer": "adam" } }
    }));
    let (_, out) = check(&s);
    assert!(
        out.starts_with("checking 4 models × 1 learning rate"),
        "{out}"
    );
    for model in [
        "hidden [16], adam, weight_decay 0:",
        "hidden [16], adam, weight_decay 0.001:",
        "hidden [16], sgd, momentum 0.5:",
        "hidden [16], sgd, momentum 0.9:",
    ] {
        assert_eq!(out.matches(model).count(), 1, "{model}\n{out}");
    }
    // Unconditional momentum beside a searched optimizer: Adam once.
    let s = digits_spec(serde_json::json!({
        "batch_size": [32],
        "learning_rate": [0.01],
        "optimizer": ["adam", "sgd"],
        "momentum": [0.5, 0.9]
    }));
    let (_, out) = check(&s);
    assert!(
        out.starts_with("checking 3 models × 1 learning rate"),
        "{out}"
    );
}
