//! Helpers shared by the integration tests: a tiny study in a temp dir, run with the built binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "common/serving.rs"]
pub mod serving;

pub fn wine() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("studies/data/winequality-red.csv")
}

pub fn digits() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("studies/data/digits.csv")
}

/// The leaderboard columns that must not depend on how a study was run (parallelism, interruptions):
/// everything but `rank` (ties may reorder), `seconds` and `suggest_ms`.
pub const METRICS: &[&str] = &[
    "status",
    "batch_size",
    "learning_rate",
    "steps",
    "examples_seen",
    "best_virtual_epoch",
    "best_val_loss",
    "final_val_loss",
];

/// A fresh folder under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Copies the toy trainer and the client package (`tune_client/`) into `dir`, as a user who keeps
/// the client beside the script.
pub fn copy_toy_program(dir: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(
        root.join("studies/programs/toy_trainer.py"),
        dir.join("toy_trainer.py"),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("tune_client")).unwrap();
    std::fs::copy(
        root.join("client/tune_client/__init__.py"),
        dir.join("tune_client/__init__.py"),
    )
    .unwrap();
}

/// A new temp folder, unique within this test process.
pub fn tempdir() -> TempDir {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let p = std::env::temp_dir().join(format!("tune-test-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    TempDir(p)
}

/// A small regression study on the wine data: 6 random trials, 4 virtual epochs.
pub fn tiny_spec(parallel: usize) -> serde_json::Value {
    serde_json::json!({
        "name": "tiny",
        "seed": 3,
        "data": { "path": wine(), "target": "quality", "task": "regression" },
        "model": { "hidden": [16] },
        "budget": { "total_examples": 3000, "virtual_epochs": 4 },
        "search": {
            "method": "random",
            "trials": 6,
            "parallel": parallel,
            "space": {
                "batch_size": [7, 32, 100],
                "learning_rate": { "low": 1e-3, "high": 3e-2, "log": true }
            }
        }
    })
}

/// Four population-based training members on wine, 6 virtual epochs, exploiting at each.
pub fn pbt_spec(parallel: usize, examples: u64) -> serde_json::Value {
    let mut s = tiny_spec(parallel);
    s["budget"] = serde_json::json!({ "total_examples": examples, "virtual_epochs": 6 });
    s["search"]["trials"] = serde_json::json!(4);
    s["scheduler"] = serde_json::json!({
        "kind": "pbt", "interval_virtual_epochs": 1, "quantile": 0.25,
        "resample_probability": 0.25, "perturb": [0.8, 1.2]
    });
    s
}

/// Writes `spec` as `study.json` in `dir` and returns its path.
pub fn write_spec(dir: &Path, spec: &serde_json::Value) -> PathBuf {
    let p = dir.join("study.json");
    std::fs::write(&p, serde_json::to_string_pretty(spec).unwrap()).unwrap();
    p
}

/// Runs `spec` quietly until `epochs` virtual epochs are done in all, as an interruption does:
/// asserts the exit code of one (130), and returns the output.
pub fn stop_after(spec: &Path, epochs: u64) -> Output {
    let out = tune(&[
        "-q".as_ref(),
        "--stop-after-epochs".as_ref(),
        epochs.to_string().as_ref(),
        spec.as_os_str(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn tune(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tune"))
        .args(args)
        .output()
        .expect("tune runs")
}

pub fn run(spec: &Path) -> Output {
    tune(&["-q".as_ref(), spec.as_os_str()])
}

/// Panics with both streams when the command failed.
pub fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "tune failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The CSV at `path` as a header and rows of strings.
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|x| x.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

/// The leaderboard's columns `names`, by trial number.
pub fn columns(path: &Path, names: &[&str]) -> Vec<Vec<String>> {
    let (h, mut rows) = read_csv(path);
    let idx: Vec<usize> = names
        .iter()
        .map(|n| {
            h.iter()
                .position(|c| c == n)
                .unwrap_or_else(|| panic!("no column {n} in {h:?}"))
        })
        .collect();
    let trial = h.iter().position(|c| c == "trial").unwrap();
    rows.sort_by_key(|r| r[trial].parse::<u64>().unwrap());
    rows.iter()
        .map(|r| idx.iter().map(|&i| r[i].clone()).collect())
        .collect()
}

/// Files whose name ends in `.tmp` anywhere under `dir`.
pub fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(".tmp") {
                out.push(p);
            }
        }
    }
    out
}

/// Examples trained and journalled so far, over all trials.
pub fn work_done(study: &Path) -> u64 {
    let j = study.join("journal.jsonl");
    if !j.exists() {
        return 0;
    }
    let h = tune::storage::journal::replay(&j).unwrap().history;
    h.trials
        .values()
        .map(|t| t.curve.last().map_or(0, |r| r.examples_seen))
        .sum()
}

/// A tmpfs of `kib` KiB at a new folder under `dir`, or None where mounting is not allowed.
pub fn small_tmpfs(dir: &Path, kib: u64) -> Option<PathBuf> {
    let at = dir.join("disk");
    std::fs::create_dir_all(&at).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
        .arg(&at)
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(at)
}

/// Debian's chromium (or another name for it), when installed.
pub fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            let out = Command::new("sh")
                .arg("-c")
                .arg(format!("command -v {name}"))
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        })
}

/// The headless chromium command for `url` with `extra` arguments (the flags this machine needs:
/// no sandbox as root, no background networking on a closed network). `extra` should give a
/// `--virtual-time-budget`: the page's time runs while no request is pending, up to it.
pub fn chromium_command(chrome: &Path, url: &str, extra: &[&str]) -> (Command, TempDir) {
    let profile = tempdir();
    let mut cmd = Command::new(chrome);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(extra)
    .arg(url);
    (cmd, profile)
}

/// Runs headless chromium on `url` (see [`chromium_command`]) to its end, with 3 s of virtual time.
pub fn browse(chrome: &Path, url: &str, extra: &[&str]) -> Output {
    let mut args = vec!["--virtual-time-budget=3000"];
    args.extend(extra);
    let (mut cmd, _profile) = chromium_command(chrome, url, &args);
    cmd.output().expect("chromium runs")
}

/// Runs `tune -q --sync-every 0.02 SPEC` again and again, SIGKILLing each run at a moment within
/// the first quarter of `span_ms` (an uninterrupted run's time), drawn by xorshift from `seed`,
/// until a run finishes or `most` kills landed; returns how many landed.
pub fn kill_at_random_moments(spec: &Path, span_ms: u64, seed: u64, most: usize) -> usize {
    let mut x = seed;
    let mut kills = 0;
    for _ in 0..30 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut child = Command::new(env!("CARGO_BIN_EXE_tune"))
            .args(["-q", "--sync-every", "0.02"])
            .arg(spec)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Each resume has less left to do; start-up, pauses and promotions all get hit.
        std::thread::sleep(std::time::Duration::from_millis(3 + x % (span_ms / 4 + 1)));
        let finished = child.try_wait().unwrap().is_some();
        if !finished {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
        if finished || kills >= most {
            break;
        }
    }
    kills
}

/// Whether `python` can import every one of `packages`.
fn imports(python: &Path, packages: &[&str]) -> bool {
    Command::new(python)
        .args(["-c", &format!("import {}", packages.join(", "))])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// An interpreter that imports `packages` (their PyPI names), or why there is none: the one the
/// environment variable `var` names (set on purpose: a broken one fails the test rather than
/// skipping it), else a venv at `venv` under the project (python3 -m venv, then pip from PyPI),
/// kept for the next run.
pub fn venv_python(var: &str, venv: &str, packages: &[&str]) -> Result<PathBuf, String> {
    let names = packages.join(" and ");
    if let Some(p) = std::env::var_os(var) {
        let p = PathBuf::from(p);
        assert!(
            imports(&p, packages),
            "{var}={} cannot import {names}",
            p.display()
        );
        return Ok(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(venv);
    let python = venv.join("bin/python");
    if imports(&python, packages) {
        return Ok(python);
    }
    let run = |cmd: &mut Command| match cmd.output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(String::from_utf8_lossy(&o.stderr)
            .lines()
            .last()
            .unwrap_or("")
            .to_string()),
        Err(e) => Err(e.to_string()),
    };
    if !python.exists() {
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))
            .map_err(|e| format!("python3 -m venv failed ({e}): install python3-venv"))?;
    }
    let pip = [
        "-m",
        "pip",
        "install",
        "-q",
        "--timeout",
        "30",
        "--retries",
        "1",
    ];
    run(Command::new(&python).args(pip).args(packages))
        .map_err(|e| format!("pip could not install {names} from PyPI ({e})"))?;
    Ok(python)
}

/// Each trial's status, curve length and the decision at its last boundary, as the study's
/// journal tells them.
pub fn decisions(
    study: &Path,
) -> Vec<(
    u64,
    tune::storage::Status,
    usize,
    Option<tune::storage::Decision>,
)> {
    let h = tune::storage::journal::replay(&study.join("journal.jsonl"))
        .unwrap()
        .history;
    h.trials
        .values()
        .map(|t| (t.trial, t.status, t.curve.len(), t.decision.clone()))
        .collect()
}
