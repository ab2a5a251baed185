//! The Python client as a package: `pip install` of `client/` (and of `git+file://…#subdirectory=
//! client`) into a fresh venv gives `tune_client`, and a study whose program imports it from there
//! only (tests/python/client_trainer.py, batches from `tune_client.stream`) completes, and gives
//! the same leaderboard interrupted and resumed. Also the client's own unit tests: the stream's
//! pure logic always (client/tests/test_stream.py, test_schedule.py), the PyTorch helpers with the interpreter in
//! `TUNE_TEST_TORCH_PYTHON` (client/tests/test_torch.py; PyTorch is too heavy to install here).
//!
//! pip builds the package offline (`--no-build-isolation --no-index`) where the venv's setuptools
//! can make a wheel on its own (70.1 and later, or with `wheel`); else it fetches setuptools from
//! PyPI, and the test is skipped, saying so, when PyPI cannot be reached. No venv (Debian's
//! python3 without python3-venv) skips it too.

mod common;
mod toy;
use common::*;
use toy::python;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A new venv at `dir/venv`: its python, or None (said) when python3 cannot make one.
fn venv(dir: &Path) -> Option<PathBuf> {
    let at = dir.join("venv");
    let out = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&at)
        .output()
        .expect("python3 runs");
    if !out.status.success() {
        eprintln!(
            "python3 -m venv failed (install python3-venv): skipping the client package test\n{}",
            text(&out)
        );
        return None;
    }
    Some(at.join("bin/python"))
}

/// The client's package files (pyproject.toml, README.md, tune_client/*.py) copied to
/// `dir/client`, so that pip's build leaves nothing in the repository.
fn client_copy(dir: &Path) -> PathBuf {
    let from = Path::new(ROOT).join("client");
    let to = dir.join("client");
    std::fs::create_dir_all(to.join("tune_client")).unwrap();
    for f in ["pyproject.toml", "README.md"] {
        std::fs::copy(from.join(f), to.join(f)).unwrap();
    }
    for e in std::fs::read_dir(from.join("tune_client")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "py") {
            std::fs::copy(&p, to.join("tune_client").join(p.file_name().unwrap())).unwrap();
        }
    }
    to
}

/// Whether `python`'s setuptools builds a wheel without anything from PyPI.
fn builds_offline(python: &Path) -> bool {
    let probe = "import setuptools, sys\n\
                 v = tuple(int(x) for x in setuptools.__version__.split('.')[:2])\n\
                 try:\n    import wheel\nexcept ImportError:\n    wheel = None\n\
                 sys.exit(0 if v >= (70, 1) or (v >= (61, 0) and wheel) else 1)";
    Command::new(python)
        .args(["-c", probe])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `pip install TARGET` into `python`'s venv; false (said) when PyPI was needed and out of reach.
fn pip_install(python: &Path, target: &str) -> bool {
    let mut cmd = Command::new(python);
    cmd.args(["-m", "pip", "install", "-q"]);
    let offline = builds_offline(python);
    if offline {
        cmd.args(["--no-build-isolation", "--no-index"]);
    }
    let out = cmd.arg(target).output().expect("pip runs");
    let said = text(&out);
    if !out.status.success()
        && !offline
        && said.contains("No matching distribution found for setuptools")
    {
        eprintln!(
            "pip could not fetch setuptools from PyPI: skipping the client package test\n{said}"
        );
        return false;
    }
    assert!(out.status.success(), "pip install {target} failed:\n{said}");
    true
}

/// Where `python` imports tune_client from, run in `cwd`.
fn imported_from(python: &Path, cwd: &Path) -> String {
    let out = Command::new(python)
        .args(["-c", "import tune_client.stream as s; print(s.__file__)"])
        .current_dir(cwd)
        .env_remove("PYTHONPATH")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A study of the client trainer run by `python`, in `dir`.
fn study(dir: &Path, python: &Path) -> PathBuf {
    let program = dir.join("train.py");
    std::fs::copy(
        Path::new(ROOT).join("tests/python/client_trainer.py"),
        &program,
    )
    .unwrap();
    write_spec(
        dir,
        &serde_json::json!({
            "name": "pkg",
            "seed": 5,
            "trainer": { "command": [python, "-u", "train.py"] },
            // 30 rows a pass; boundaries at 63, 125, 188, 250: all mid-pass.
            "budget": { "total_examples": 250, "virtual_epochs": 4 },
            "search": {
                "method": "random",
                "trials": 6,
                "parallel": 2,
                "space": {
                    "learning_rate": { "low": 0.01, "high": 0.3, "log": true },
                    "batch_size": [4, 7, 16]
                }
            }
        }),
    )
}

#[test]
fn an_installed_client_runs_a_study_that_resumes_exactly() {
    if !python() {
        return;
    }
    let dir = tempdir();
    let Some(py) = venv(dir.path()) else { return };
    let client = client_copy(dir.path());
    if !pip_install(&py, client.to_str().unwrap()) {
        return;
    }
    let from = imported_from(&py, dir.path());
    assert!(from.contains("site-packages"), "{from}");

    let whole = dir.path().join("whole");
    std::fs::create_dir_all(&whole).unwrap();
    ok(run(&study(&whole, &py)));
    let want = columns(&whole.join("runs/pkg/leaderboard.csv"), METRICS);
    assert_eq!(want.len(), 6);
    for r in &want {
        assert_eq!(r[0], "complete", "{want:?}");
        assert_eq!(r[4], "250");
        // Batches the program trained: each virtual epoch's examples over the batch size, the
        // last one cut at its boundary.
        let batch: u64 = r[1].parse().unwrap();
        let steps: u64 = [63u64, 62, 63, 62].iter().map(|n| n.div_ceil(batch)).sum();
        assert_eq!(r[3], steps.to_string(), "{r:?}");
    }
    // A fit that learnt: the line's loss fell well below where it began (about 11).
    assert!(
        want.iter().any(|r| r[6].parse::<f64>().unwrap() < 0.5),
        "{want:?}"
    );

    // Interrupted after 5 and then 9 virtual epochs of the 24, resumed: each trial resumed at a
    // boundary sees the batches it would have seen.
    let cut = dir.path().join("cut");
    std::fs::create_dir_all(&cut).unwrap();
    let spec = study(&cut, &py);
    for epochs in ["5", "4"] {
        let out = tune(&[
            "-q".as_ref(),
            "--stop-after-epochs".as_ref(),
            epochs.as_ref(),
            spec.as_os_str(),
        ]);
        assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    }
    ok(run(&spec));
    assert_eq!(
        columns(&cut.join("runs/pkg/leaderboard.csv"), METRICS),
        want
    );
}

#[test]
fn pip_installs_the_client_from_a_git_url_with_its_subdirectory() {
    if !python() {
        return;
    }
    let git = |dir: &Path, args: &[&str]| {
        Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(dir)
            .output()
    };
    let dir = tempdir();
    if git(dir.path(), &["--version"]).is_err() {
        eprintln!("git is not installed: skipping the git+file install test");
        return;
    }
    // A repository holding the client as this one does, in client/.
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    client_copy(&repo);
    for args in [
        &["init", "-q"][..],
        &["add", "."],
        &["commit", "-q", "-m", "client"],
    ] {
        let out = git(&repo, args).unwrap();
        assert!(out.status.success(), "git {args:?}: {}", text(&out));
    }
    let Some(py) = venv(dir.path()) else { return };
    let url = format!("git+file://{}#subdirectory=client", repo.display());
    if !pip_install(&py, &url) {
        return;
    }
    // Removed from where it was built: what imports is the installed copy.
    std::fs::remove_dir_all(&repo).unwrap();
    let from = imported_from(&py, dir.path());
    assert!(
        from.contains("site-packages") && from.ends_with("stream.py"),
        "{from}"
    );
}

/// Runs a client test script with `python`; its unittest summary.
fn unit_tests(python: &Path, script: &str) -> String {
    let out = Command::new(python)
        .arg(Path::new(ROOT).join("client/tests").join(script))
        .env_remove("PYTHONPATH")
        .output()
        .expect("python runs");
    let said = text(&out);
    assert!(out.status.success(), "{script} failed:\n{said}");
    said
}

#[test]
fn the_stream_unit_tests_pass() {
    if !python() {
        return;
    }
    let said = unit_tests(Path::new("python3"), "test_stream.py");
    let ran: usize = said
        .split("Ran ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no unittest summary:\n{said}"));
    assert!(ran >= 15 && said.contains("\nOK"), "{said}");
}

/// The client's schedule gives the rates of the points the built-in trainer's schedule is tested
/// against (client/tests/schedule_points.json, read by src/runner/mlp/schedule.rs's tests too).
#[test]
fn the_schedule_unit_tests_pass() {
    if !python() {
        return;
    }
    let said = unit_tests(Path::new("python3"), "test_schedule.py");
    assert!(
        said.contains("Ran 6 tests") && said.contains("\nOK"),
        "{said}"
    );
}

#[test]
fn the_torch_helpers_unit_tests_pass_where_torch_is() {
    let Some(python) = std::env::var_os("TUNE_TEST_TORCH_PYTHON") else {
        eprintln!("TUNE_TEST_TORCH_PYTHON is not set: skipping tune_client.torch's tests");
        return;
    };
    let said = unit_tests(Path::new(&python), "test_torch.py");
    // Set on purpose: an interpreter without torch fails rather than skipping them all.
    assert!(!said.contains("skipped"), "{said}");
}
