//! The toy trainer of studies/programs (deterministic, pure Python) as the command-trainer tests
//! run it, and the processes they look for.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use super::common::columns;
use std::process::Command;
use std::time::{Duration, Instant};

/// The columns of a command study's leaderboard that do not depend on how it ran.
pub const COLUMNS: &[&str] = &[
    "status",
    "batch_size",
    "learning_rate",
    "optimizer",
    "steps",
    "examples_seen",
    "best_virtual_epoch",
    "best_val_loss",
    "final_val_loss",
];

pub fn leaderboard(dir: &Path) -> Vec<Vec<String>> {
    columns(&dir.join("runs/toy/leaderboard.csv"), COLUMNS)
}

pub fn toy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("studies/programs/toy_trainer.py")
}

/// Whether python3 runs here; the tests say so and pass when not (`.ci/run` installs it).
pub fn python() -> bool {
    let ok = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("python3 is not installed: skipping the command-trainer test");
    }
    ok
}

/// A toy study of `trials` random trials, 5 virtual epochs; `marker` names its processes.
pub fn toy_spec(trials: usize, parallel: usize, marker: &str) -> serde_json::Value {
    serde_json::json!({
        "name": "toy",
        "seed": 11,
        "trainer": { "command": ["python3", toy(), marker] },
        "budget": { "total_examples": 2000, "virtual_epochs": 5 },
        "search": {
            "method": "random",
            "trials": trials,
            "parallel": parallel,
            "space": {
                "learning_rate": { "low": 0.001, "high": 0.1, "log": true },
                "batch_size": [8, 16, 32],
                "optimizer": ["sgd", "momentum"]
            }
        }
    })
}

/// Processes whose command line holds `marker`.
pub fn processes(marker: &str) -> Vec<String> {
    let mut out = vec![];
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if e.file_name().to_string_lossy().parse::<u32>().is_err() {
            continue;
        }
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(marker) {
            out.push(format!("{}: {cmd}", e.file_name().to_string_lossy()));
        }
    }
    out
}

/// Waits up to 5 s for no process to hold `marker`; the ones still there.
pub fn gone(marker: &str) -> Vec<String> {
    let t = Instant::now();
    loop {
        let p = processes(marker);
        if p.is_empty() || t.elapsed() > Duration::from_secs(5) {
            return p;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What each trial's process was given and when it ran (the toy trainer's TOY_RECORD files).
pub fn records(dir: &Path) -> std::collections::BTreeMap<u64, serde_json::Value> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let n = e
                .path()
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .parse()
                .unwrap();
            (
                n,
                serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap(),
            )
        })
        .collect()
}
