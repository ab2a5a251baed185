//! `tune export --format onnx`: the exported model, run by onnxruntime on a file's raw rows (gaps
//! and a level never seen in training among them), gives what `tune predict` gives for them, to
//! 1e-5; and docs/use.md's PyTorch snippet loads `best.safetensors` into `nn.Sequential` and
//! reproduces predict's outputs on prepared inputs. The Python checks are tests/python/*.py.
//!
//! onnxruntime: the interpreter in `TUNE_TEST_ONNX_PYTHON`, else a venv made under
//! target/onnx-venv (python3 -m venv, then pip from PyPI), kept for the next run; skipped with a
//! message when neither can be had. PyTorch is too heavy to install here: that check runs only
//! with an interpreter that has torch and safetensors in `TUNE_TEST_TORCH_PYTHON`.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Runs `python` on a check script; panics with its output when it fails; returns its stdout.
fn check(python: &Path, script: &str, args: &[&Path]) -> String {
    let out = Command::new(python)
        .arg(Path::new(ROOT).join("tests/python").join(script))
        .args(args)
        .output()
        .expect("python runs");
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{script} failed:\n{said}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{said}");
    said
}

/// An interpreter with onnxruntime and numpy, or why there is none. Made once per process (the
/// tests would race to make the same venv).
fn onnx_python() -> Result<PathBuf, String> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON.get_or_init(find_onnx_python).clone()
}

fn find_onnx_python() -> Result<PathBuf, String> {
    venv_python(
        "TUNE_TEST_ONNX_PYTHON",
        "target/onnx-venv",
        &["onnxruntime", "numpy"],
    )
}

/// `file`'s rows, then `extra` rows (gaps, unseen levels), as a new CSV in `dir`.
fn with_rows(dir: &Path, file: &Path, extra: &str) -> PathBuf {
    let path = dir.join("compare.csv");
    let mut text = std::fs::read_to_string(file).unwrap();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    std::fs::write(&path, text + extra).unwrap();
    path
}

/// Runs the study, then `tune predict` on `data` and `tune export`: (predictions, model).
fn predict_and_export(spec: &Path, data: &Path) -> (PathBuf, PathBuf) {
    ok(run(spec));
    let dir = spec.parent().unwrap();
    let (pred, model) = (dir.join("predictions.csv"), dir.join("model.onnx"));
    ok(tune(&[
        "predict".as_ref(),
        spec.as_os_str(),
        "--data".as_ref(),
        data.as_os_str(),
        "--output".as_ref(),
        pred.as_os_str(),
    ]));
    let out = ok(tune(&[
        "export".as_ref(),
        spec.as_os_str(),
        "--format".as_ref(),
        "onnx".as_ref(),
        "--output".as_ref(),
        model.as_os_str(),
    ]));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("as ONNX to"),
        "{out:?}"
    );
    (pred, model)
}

/// A classification study on the penguins: string labels, two categorical columns (one with
/// rare levels grouped as `(other)`, one with a `(missing)` level), gaps in numeric columns.
fn penguins(dir: &Path) -> PathBuf {
    let mut s = tiny_spec(1);
    s["data"] = serde_json::json!({
        "path": Path::new(ROOT).join("studies/data/penguins.csv"),
        "target": "species", "task": "classification",
        "features": ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"],
        // Torgersen's ~40 training rows become (other).
        "min_level_count": 60
    });
    s["search"]["trials"] = serde_json::json!(2);
    s["search"]["space"]["batch_size"] = serde_json::json!([8]);
    write_spec(dir, &s)
}

/// Rows the training file lacks: gaps in every kind of column, a level never seen, a rare one.
const PENGUIN_ROWS: &str = "Adelie,Atlantis,NA,18.1,190,,NA,2008\n\
                            Gentoo,Biscoe,47.5,,,5000,unknown,2009\n\
                            ,Torgersen,39,19,,3700,,2009\n";

#[test]
fn onnx_export_of_a_classifier_predicts_as_predict_does() {
    let dir = tempdir();
    let spec = penguins(dir.path());
    let data = with_rows(
        dir.path(),
        &Path::new(ROOT).join("studies/data/penguins.csv"),
        PENGUIN_ROWS,
    );
    let (pred, model) = predict_and_export(&spec, &data);
    let prep = std::fs::read_to_string(dir.path().join("runs/tiny/preprocessing.json")).unwrap();
    assert!(
        prep.contains("\"Torgersen\"") && prep.contains("(other)"),
        "{prep}"
    );
    match onnx_python() {
        Ok(python) => {
            let said = check(&python, "onnx_check.py", &[&model, &data, &pred]);
            assert!(said.contains("labels differing 0"), "{said}");
        }
        Err(why) => eprintln!("skipping the onnxruntime check: {why}"),
    }
}

#[test]
fn onnx_export_of_a_regression_predicts_as_predict_does() {
    exported_regression_predicts_as_predict_does(None);
}

/// Each activation other than the ReLU (depth 3, trained with dropout, which inference leaves
/// out), written as ONNX operators, reproduces predict to 1e-5.
#[test]
fn onnx_export_of_each_activation_predicts_as_predict_does() {
    for activation in ["gelu", "tanh", "silu"] {
        exported_regression_predicts_as_predict_does(Some(activation));
    }
}

/// A regression on the first rows of wine, with `activation`, depth 3 and dropout 0.2 when given.
fn exported_regression_predicts_as_predict_does(activation: Option<&str>) {
    let dir = tempdir();
    let mut spec = tiny_spec(1);
    if let Some(a) = activation {
        spec["model"]["activation"] = serde_json::json!(a);
        spec["model"]["depth"] = serde_json::json!(3);
        spec["model"]["dropout"] = serde_json::json!(0.2);
    }
    let spec = write_spec(dir.path(), &spec);
    // Wine has no gaps: one at prediction is the column's mean.
    let cut: String = std::fs::read_to_string(wine())
        .unwrap()
        .lines()
        .take(200)
        .map(|l| l.to_string() + "\n")
        .collect();
    std::fs::write(dir.path().join("head.csv"), cut).unwrap();
    let data = with_rows(
        dir.path(),
        &dir.path().join("head.csv"),
        "7.4,0.7,0,1.9,0.076,11,34,0.9978,3.51,0.56,9.4,5\n\
         NA,0.7,,1.9,0.076,11,34,0.9978,3.51,0.56,9.4,5\n",
    );
    let (pred, model) = predict_and_export(&spec, &data);
    match onnx_python() {
        Ok(python) => {
            check(&python, "onnx_check.py", &[&model, &data, &pred]);
            readme_serves(&python, &model, &dir.path().join("head.csv"), dir.path());
        }
        Err(why) => eprintln!("skipping the onnxruntime check: {why}"),
    }
}

/// README's Python block that mentions `word`.
fn readme_python(word: &str) -> String {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    readme
        .split("```python\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .find(|b| b.contains(word))
        .unwrap_or_else(|| panic!("README has no Python block with {word}"))
        .to_string()
}

/// README's onnxruntime snippet, run in `dir` on the wine model `model` and the rows of `data`
/// (whose first three have no gaps): it prints their predictions.
fn readme_serves(python: &Path, model: &Path, data: &Path, dir: &Path) {
    let snippet = readme_python("onnxruntime");
    std::fs::copy(model, dir.join("wine.onnx")).unwrap();
    std::fs::copy(data, dir.join("wine.csv")).unwrap();
    let out = Command::new(python)
        .args(["-c", &snippet])
        .current_dir(dir)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.starts_with("[["),
        "README's snippet: {said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let values: Vec<f64> = said
        .split(|c: char| c == '[' || c == ']' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().unwrap())
        .collect();
    // The first rows' predictions, as tune predict wrote them (the qualities are 3 to 8).
    let (_, rows) = read_csv(&dir.join("predictions.csv"));
    assert_eq!(values.len(), 3, "{said}");
    for (v, r) in values.iter().zip(&rows) {
        let want: f64 = r[0].parse().unwrap();
        assert!((v - want).abs() <= 1e-4 * want.abs(), "{v} vs {want}");
    }
}

#[test]
fn pytorch_snippet_loads_best_safetensors_and_predicts_as_predict_does() {
    let Some(python) = std::env::var_os("TUNE_TEST_TORCH_PYTHON").map(PathBuf::from) else {
        eprintln!(
            "skipping the PyTorch check: TUNE_TEST_TORCH_PYTHON names no interpreter with torch \
             and safetensors"
        );
        return;
    };
    let dir = tempdir();
    let spec = penguins(dir.path());
    let data = with_rows(
        dir.path(),
        &Path::new(ROOT).join("studies/data/penguins.csv"),
        PENGUIN_ROWS,
    );
    let (pred, _) = predict_and_export(&spec, &data);
    // The inputs prepared as predict prepares them, by the library, for the snippet to take.
    let folder = dir.path().join("runs/tiny");
    let prep: tune::data::Preprocessing =
        serde_json::from_slice(&std::fs::read(folder.join("preprocessing.json")).unwrap()).unwrap();
    let rows = tune::data::apply::apply(&prep, &data).unwrap();
    let inputs = dir.path().join("inputs.csv");
    let mut w = csv::Writer::from_path(&inputs).unwrap();
    w.write_record(&prep.inputs).unwrap();
    for r in rows.x.chunks_exact(prep.inputs.len()) {
        w.write_record(r.iter().map(f32::to_string)).unwrap();
    }
    w.flush().unwrap();
    let leaderboard = read_csv(&folder.join("leaderboard.csv"));
    let best = &leaderboard.1[0][leaderboard.0.iter().position(|c| c == "trial").unwrap()];
    let weights = folder.join(format!("trials/{best}/best.safetensors"));
    check(&python, "torch_check.py", &[&weights, &inputs, &pred]);
    // README's snippet, run beside a copy named as it names it.
    let snippet = readme_python("best.safetensors");
    let code = dir.path().join("readme_torch.py");
    std::fs::write(&code, snippet).unwrap();
    let copy = dir.path().join("best.safetensors");
    std::fs::copy(&weights, &copy).unwrap();
    check(&python, "torch_check.py", &[&copy, &inputs, &pred, &code]);
}

#[test]
fn export_refuses_another_format_in_one_sentence() {
    let dir = tempdir();
    let spec = write_spec(dir.path(), &tiny_spec(1));
    let out = tune(&[
        "export".as_ref(),
        spec.as_os_str(),
        "--format".as_ref(),
        "torch".as_ref(),
        "--output".as_ref(),
        dir.path().join("m.pt").as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`torch` is not a format tune exports"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!dir.path().join("m.pt").exists());
}

#[test]
fn docs_show_the_code_the_checks_run() {
    let docs = std::fs::read_to_string(Path::new(ROOT).join("docs/use.md")).unwrap();
    for (script, start) in [
        ("onnx_check.py", "def serve("),
        ("torch_check.py", "def load("),
    ] {
        let text =
            std::fs::read_to_string(Path::new(ROOT).join("tests/python").join(script)).unwrap();
        // The function, up to the blank lines after it.
        let at = text.find(start).unwrap();
        let body = &text[at..at + text[at..].find("\n\n\n").unwrap()];
        assert!(docs.contains(body), "docs/use.md lacks {script}'s {start}…");
    }
}
