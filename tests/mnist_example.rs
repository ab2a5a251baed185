//! The MNIST example (studies/programs/mnist/main.py, studies/mnist-digits.json): its tune.diff is
//! the diff of today's main.py against the digits version, at most 10 lines changed, and README
//! shows those lines. With an interpreter that has PyTorch in `TUNE_TEST_TORCH_PYTHON`: the digits
//! version (main.py with tune.diff undone) trains on its own, and a shortened study of main.py
//! completes and gives the same leaderboard interrupted and resumed.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The hunks of a unified diff: (first line in the new file, from 1; its lines, each with its
/// tag ' ', '+' or '-').
fn hunks(diff: &str) -> Vec<(usize, Vec<(char, String)>)> {
    let mut out: Vec<(usize, Vec<(char, String)>)> = vec![];
    for line in diff.lines() {
        if line.starts_with("--- ") || line.starts_with("+++ ") {
            continue;
        }
        if let Some(head) = line.strip_prefix("@@ ") {
            // @@ -a,b +c,d @@
            let new = head.split(' ').nth(1).expect("a hunk header");
            let start = new[1..].split(',').next().unwrap().parse().unwrap();
            out.push((start, vec![]));
            continue;
        }
        let tag = line.chars().next().unwrap_or(' ');
        assert!(" +-".contains(tag), "not a diff line: {line:?}");
        let text = line.get(1..).unwrap_or("").to_string();
        out.last_mut()
            .expect("a line before any hunk")
            .1
            .push((tag, text));
    }
    out
}

/// `after` with `diff` undone, checking that its context and added lines are `after`'s.
fn undo(after: &str, diff: &str) -> String {
    let lines: Vec<&str> = after.lines().collect();
    let (mut out, mut at) = (String::new(), 0);
    let mut keep = |line: &str| {
        out.push_str(line);
        out.push('\n');
    };
    for (start, body) in hunks(diff) {
        lines[at..start - 1].iter().for_each(|l| keep(l));
        at = start - 1;
        for (tag, text) in body {
            if tag != '-' {
                assert_eq!(
                    lines[at],
                    text,
                    "tune.diff is not main.py's: line {}",
                    at + 1
                );
                at += 1;
            }
            if tag != '+' {
                keep(&text);
            }
        }
    }
    lines[at..].iter().for_each(|l| keep(l));
    out
}

/// The changed lines of a diff, tagged.
fn changes(diff: &str) -> Vec<(char, String)> {
    hunks(diff)
        .into_iter()
        .flat_map(|(_, body)| body)
        .filter(|(tag, _)| *tag != ' ')
        .collect()
}

/// The digits version: main.py with tune.diff undone.
fn before() -> String {
    undo(
        &read("studies/programs/mnist/main.py"),
        &read("studies/programs/mnist/tune.diff"),
    )
}

#[test]
fn tune_diff_is_main_py_against_the_digits_version_in_at_most_10_lines() {
    let diff = read("studies/programs/mnist/tune.diff");
    let changed = changes(&diff);
    let added = changed.iter().filter(|(t, _)| *t == '+').count();
    let removed = changed.len() - added;
    assert!(added <= 10 && removed <= 10, "+{added} -{removed}");
    assert!(added > 0);
    let before = before();
    let after = read("studies/programs/mnist/main.py");
    // The digits version knows nothing of tune; both keep pytorch/examples' licence.
    assert!(!before.contains("import Trial") && !before.contains("tune_torch"));
    assert!(after.contains("from tune_client import Trial, torch as tune_torch"));
    for v in [&before, &after] {
        assert!(v.contains("Copyright (c) 2017, Pytorch contributors"));
    }
}

#[test]
fn readme_shows_the_lines_tune_diff_changes() {
    let readme = read("README.md");
    let block = readme
        .split("```diff\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("README has a diff block");
    assert_eq!(
        changes(block),
        changes(&read("studies/programs/mnist/tune.diff"))
    );
}

#[test]
fn undo_refuses_a_diff_of_another_file() {
    let diff = "--- a\n+++ b\n@@ -1,2 +1,2 @@\n x\n-y\n+z\n";
    assert_eq!(undo("x\nz\nw\n", diff), "x\ny\nw\n");
    let err = std::panic::catch_unwind(|| undo("x\nq\nw\n", diff)).unwrap_err();
    assert!(err
        .downcast_ref::<String>()
        .unwrap()
        .contains("not main.py's: line 2"));
}

/// The interpreter with PyTorch, or None (said).
fn torch_python() -> Option<PathBuf> {
    let Some(p) = std::env::var_os("TUNE_TEST_TORCH_PYTHON") else {
        eprintln!("TUNE_TEST_TORCH_PYTHON is not set: skipping the MNIST example's run");
        return None;
    };
    Some(PathBuf::from(p))
}

#[test]
fn the_digits_version_trains_on_its_own() {
    let Some(python) = torch_python() else { return };
    let dir = tempdir();
    let script = dir.path().join("digits.py");
    std::fs::write(&script, before()).unwrap();
    let out = Command::new(&python)
        .arg(&script)
        .args(["--epochs", "1", "--data"])
        .arg(digits())
        .env("OMP_NUM_THREADS", "1")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // One epoch on 1437 digits gets most of the 360 test digits right.
    let right: usize = said
        .split("Accuracy: ")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{said}"));
    assert!(right > 180, "{said}");
}

#[test]
fn a_short_mnist_study_completes_and_resumes_exactly() {
    let Some(python) = torch_python() else { return };
    let study = |dir: &Path| {
        let mut spec: serde_json::Value =
            serde_json::from_str(&read("studies/mnist-digits.json")).unwrap();
        let studies = Path::new(ROOT).join("studies");
        spec["trainer"]["command"][0] = python.to_str().unwrap().into();
        spec["trainer"]["cwd"] = studies.to_str().unwrap().into();
        spec["trainer"]["env"] =
            serde_json::json!({ "PYTHONPATH": Path::new(ROOT).join("client") });
        spec["budget"]["total_examples"] = 1200.into();
        spec["search"]["trials"] = 3.into();
        write_spec(dir, &spec)
    };
    let cols = &[
        "status",
        "batch_size",
        "lr",
        "gamma",
        "steps",
        "examples_seen",
        "best_val_loss",
        "final_val_loss",
    ];
    let whole = tempdir();
    ok(run(&study(whole.path())));
    let name = "runs/mnist-digits/leaderboard.csv";
    let want = columns(&whole.path().join(name), cols);
    assert_eq!(want.len(), 3);
    assert!(
        want.iter().all(|r| r[0] == "complete" && r[5] == "1200"),
        "{want:?}"
    );
    let cut = tempdir();
    let spec = study(cut.path());
    stop_after(&spec, 5);
    ok(run(&spec));
    assert_eq!(columns(&cut.path().join(name), cols), want);
}
