//! Golden tests for bad input: each gets one sentence naming the file and the place (JSON path, or
//! line and column), exit code 2, and nothing written.

mod common;
use common::*;
use serde_json::json;

/// Runs `tune` on `spec` text and returns its stderr after checking exit code 2 and that nothing
/// was written beside the spec.
fn refused(dir: &std::path::Path, spec_text: &str) -> String {
    let spec = dir.join("study.json");
    std::fs::write(&spec, spec_text).unwrap();
    let out = run(&spec);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(!dir.join("runs").exists(), "a refused study wrote files");
    assert_eq!(stderr.lines().count(), 1, "one sentence: {stderr}");
    stderr
        .trim_end()
        .replace(&spec.display().to_string(), "SPEC")
        .replace(&dir.display().to_string(), "DIR")
}

fn with(path: &[&str], value: serde_json::Value) -> String {
    let mut spec = tiny_spec(1);
    let mut at = &mut spec;
    for p in &path[..path.len() - 1] {
        at = &mut at[*p];
    }
    if value.is_null() {
        at.as_object_mut().unwrap().remove(path[path.len() - 1]);
    } else {
        at[path[path.len() - 1]] = value;
    }
    serde_json::to_string_pretty(&spec).unwrap()
}

#[test]
fn golden_spec_errors() {
    let cases: Vec<(String, &str)> = vec![
        ("{ \"name\": \"x\", ".into(), "tune: SPEC: line 1, column 15: malformed JSON: EOF while parsing a value"),
        (with(&["colour"], json!("red")), "tune: SPEC: colour: unknown field `colour`, expected one of `name`, `seed`, `data`, `model`, `trainer`, `budget`, `search`, `metric`, `goal`, `objectives`, `constraints`, `early_stopping`, `scheduler`, `keep`, `device`, `storage`, `init`, `tracking`"),
        (with(&["model", "hiden"], json!([4])), "tune: SPEC: model.hiden: unknown field `hiden`, expected one of `hidden`, `optimizer`, `betas`, `eps`, `momentum`, `weight_decay`, `depth`, `activation`, `dropout`, `schedule`, `warmup`, `min_lr_fraction`, `lr_scaling`, `reference_batch_size`, `max_grad_norm`"),
        (with(&["budget", "virtual_epochs"], json!("ten")), "tune: SPEC: budget.virtual_epochs: invalid type: string \"ten\", expected u64"),
        (with(&["search", "space", "learning_rate", "low"], json!(0.5)), "tune: SPEC: search.space.learning_rate: low (0.5) is above high (0.03)"),
        (with(&["search", "space", "learning_rate"], json!({"low": 0, "high": 1, "log": true})), "tune: SPEC: search.space.learning_rate.low: 0 is not valid: learning_rate must be a number above 0"),
        (with(&["search", "space", "batch_size"], json!({"low": -1, "high": 8, "log": true})), "tune: SPEC: search.space.batch_size.low: -1 is not valid: batch_size must be an integer of at least 1"),
        (with(&["search", "space", "batch_size"], json!([8, 0])), "tune: SPEC: search.space.batch_size[1]: 0 is not valid: batch_size must be an integer of at least 1"),
        (with(&["search", "space", "batch_size"], json!([8, 5000])), "tune: SPEC: search.space.batch_size[1]: batch size 5000 is larger than the 1280 training rows"),
        (with(&["search", "space", "batch_size"], json!([8.5])), "tune: SPEC: search.space.batch_size[0]: 8.5 is not an integer"),
        (with(&["search", "space", "dropuot"], json!([0.1])), "tune: SPEC: search.space.dropuot: unknown parameter: use one of batch_size, learning_rate, weight_decay, momentum, hidden_width, depth, activation, optimizer, dropout, schedule, warmup, min_lr_fraction, lr_scaling, max_grad_norm"),
        (with(&["search", "space", "dropout"], json!([0.1, 1])), "tune: SPEC: search.space.dropout[1]: 1 is not valid: dropout must be a number in [0, 1)"),
        (with(&["model", "dropout"], json!(1)), "tune: SPEC: model.dropout: 1 is not a number in [0, 1)"),
        (with(&["search", "space", "activation"], json!(["gelu", "swish"])), "tune: SPEC: search.space.activation[1]: \"swish\" is not valid: activation must be one of \"relu\", \"gelu\", \"tanh\" or \"silu\""),
        (with(&["search", "space", "optimizer"], json!({"low": 0, "high": 1})), "tune: SPEC: search.space.optimizer: {\"high\":1,\"low\":0} is not a list of strings: optimizer takes \"adam\" or \"sgd\""),
        (with(&["model", "schedule"], json!("step")), "tune: SPEC: model.schedule: \"step\" is not a schedule: use \"constant\", \"linear\" or \"cosine\""),
        (with(&["search", "space", "schedule"], json!(["cosine", "cosine"])), "tune: SPEC: search.space.schedule[1]: \"cosine\" appears twice"),
        (with(&["model", "warmup"], json!(1)), "tune: SPEC: model.warmup: 1 is not a number in [0, 1)"),
        (with(&["search", "space", "warmup"], json!({"low": 0, "high": 1})), "tune: SPEC: search.space.warmup.high: 1 is not valid: warmup must be a number in [0, 1)"),
        (with(&["model", "min_lr_fraction"], json!(1.5)), "tune: SPEC: model.min_lr_fraction: 1.5 is not a number in [0, 1]"),
        (with(&["model", "lr_scaling"], json!("cube")), "tune: SPEC: model.lr_scaling: \"cube\" is not an lr_scaling: use \"none\", \"linear\" or \"sqrt\""),
        (with(&["model", "reference_batch_size"], json!(0)), "tune: SPEC: model.reference_batch_size: 0 is not an integer of at least 1"),
        (with(&["model", "max_grad_norm"], json!(0)), "tune: SPEC: model.max_grad_norm: 0 is not a number above 0"),
        (with(&["search", "space", "depth"], json!([2, 0])), "tune: SPEC: search.space.depth[1]: 0 is not valid: depth must be an integer from 1 to 16"),
        (with(&["search", "space", "depth"], json!({"low": 1, "high": 17})), "tune: SPEC: search.space.depth.high: 17 is not valid: depth must be an integer from 1 to 16"),
        (with(&["model", "depth"], json!(0)), "tune: SPEC: model.depth: 0 is not an integer from 1 to 16"),
        (with(&["model", "activation"], json!("swish")), "tune: SPEC: model.activation: \"swish\" is not an activation: use \"relu\", \"gelu\", \"tanh\" or \"silu\""),
        (with(&["model", "depth"], json!(17)), "tune: SPEC: model.depth: 17 is not an integer from 1 to 16"),
        (with(&["search", "space", "learning_rate"], serde_json::Value::Null), "tune: SPEC: search.space.learning_rate: is required"),
        (with(&["search", "method"], json!("grid")), "tune: SPEC: search.space.learning_rate: is a float range: a grid needs grid_points (or give a list)"),
        (with(&["search", "method"], json!("annealing")), "tune: SPEC: search.method: \"annealing\" is not a method: use \"grid\", \"random\", \"bayes\", \"tpe\" or \"auto\""),
        (with(&["budget", "virtual_epochs"], json!(0)), "tune: SPEC: budget.virtual_epochs: must be at least 1"),
        (with(&["budget", "virtual_epochs"], json!(3001)), "tune: SPEC: budget.virtual_epochs: 3001 virtual epochs cannot split a budget of 3000 examples: each needs at least one"),
        (with(&["budget", "stop_point"], json!(2)), "tune: SPEC: budget: give total_examples or stop_point, not both"),
        (with(&["data", "target"], json!("score")), "tune: SPEC: data.target: WINE has no column \"score\" (columns: fixed acidity, volatile acidity, citric acid, residual sugar, chlorides, free sulfur dioxide, total sulfur dioxide, density, pH, sulphates, alcohol, quality)"),
        (with(&["data", "task"], json!("ranking")), "tune: SPEC: data.task: \"ranking\" is not a task: use \"regression\" or \"classification\""),
        (with(&["data", "validation_fraction"], json!(1.0)), "tune: SPEC: data.validation_fraction: 1 is not in (0, 1)"),
        (with(&["metric"], json!("accuracy")), "tune: SPEC: metric: \"accuracy\" is not a metric of a regression task: use \"val_loss\", \"rmse\", \"mae\" or \"r2\""),
        (with(&["goal"], json!("max")), "tune: SPEC: goal: val_loss is better when lower"),
        (with(&["scheduler"], json!({"kind": "hyperband", "reduction_factor": 3.5})), "tune: SPEC: scheduler.reduction_factor: invalid type: floating point `3.5`, expected u32"),
        (with(&["scheduler"], json!({"kind": "pbt", "perturb": "x"})), "tune: SPEC: scheduler.perturb: invalid type: string \"x\", expected a sequence"),
        (with(&["scheduler"], json!({"kind": "asha", "rungs": 3})), "tune: SPEC: scheduler.rungs: unknown field `rungs`, expected one of `reduction_factor`, `min_virtual_epochs`, `mode`"),
        (with(&["scheduler"], json!({"kind": "halving"})), "tune: SPEC: scheduler.kind: unknown variant `halving`, expected one of `asha`, `hyperband`, `median`, `pbt`"),
        (with(&["scheduler"], json!("asha")), "tune: SPEC: scheduler: \"asha\" is not an object: give {\"kind\": \"asha\"} and its settings"),
        (with(&["data", "path"], json!("missing.csv")), "tune: DIR/missing.csv: cannot read: No such file or directory (os error 2)"),
    ];
    let wine = wine().display().to_string();
    for (text, want) in cases {
        let dir = tempdir();
        let got = refused(dir.path(), &text).replace(&wine, "WINE");
        assert_eq!(got, want, "\nspec:\n{text}");
    }
}

/// Writes `csv` beside a spec that reads it, and returns tune's refusal.
fn refused_csv(csv: &str, task: &str) -> String {
    let dir = tempdir();
    std::fs::write(dir.path().join("d.csv"), csv).unwrap();
    let mut spec = tiny_spec(1);
    spec["data"] = json!({ "path": "d.csv", "target": "y", "task": task });
    spec["search"]["space"]["batch_size"] = json!([1]);
    refused(dir.path(), &serde_json::to_string(&spec).unwrap())
}

#[test]
fn golden_csv_errors() {
    let rows: String = (0..20).map(|i| format!("{i},{}\n", i % 2)).collect();
    let cases = [
        ("", "regression", "tune: DIR/d.csv: line 1: the file is empty: expected a header row"),
        ("a,y\n", "regression", "tune: DIR/d.csv: line 2: the file has a header but no data rows"),
        (&*format!("a,y\n{rows}1,2,3\n"), "regression", "tune: DIR/d.csv: line 22: the row has 3 fields but the header has 2"),
        (&*format!("a,y\n{rows}nan,1\n"), "regression", "tune: DIR/d.csv: line 22, column \"a\": \"nan\" is not a finite number"),
        (&*format!("a,y\n{rows}1,-inf\n"), "regression", "tune: DIR/d.csv: line 22, column \"y\": \"-inf\" is not a finite number"),
        (&*format!("a,y\n1,x\n{rows}"), "regression", "tune: DIR/d.csv: line 2, column \"y\": \"x\" is not a number"),
        ("a,y\n1,k\n2,k\n3,k\n4,k\n5,k\n", "classification", "tune: DIR/d.csv: column \"y\": a classification target needs at least two classes, found only \"k\""),
    ];
    for (csv, task, want) in cases {
        assert_eq!(refused_csv(csv, task), want, "\ncsv:\n{csv}");
    }
}
