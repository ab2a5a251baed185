//! A program's trials on GPUs in any build (a fake `nvidia-smi` lists them), its threads fixed by
//! the spec so that results do not depend on `parallel`, and the variables tune sets refused in
//! `trainer.env`.

mod common;
mod toy;
use common::*;
use toy::*;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// A folder holding a fake `nvidia-smi` that lists `n` GPUs.
fn fake_nvidia_smi(dir: &Path, n: usize) -> std::path::PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let lines: String = (0..n)
        .map(|i| format!("echo 'GPU {i}: NVIDIA H100 80GB HBM3 (UUID: GPU-{i:08x}-fake)'\n"))
        .collect();
    let path = bin.join("nvidia-smi");
    std::fs::write(&path, format!("#!/bin/sh\n{lines}")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// Runs `tune ARGS` with the fake GPUs in `bin` first on `PATH` and no `CUDA_VISIBLE_DEVICES`.
fn tune_with_gpus(bin: &Path, args: &[&std::ffi::OsStr]) -> std::process::Output {
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new(env!("CARGO_BIN_EXE_tune"))
        .args(args)
        .env("PATH", path)
        .env_remove("CUDA_VISIBLE_DEVICES")
        .output()
        .unwrap()
}

/// The most intervals `(start, end)` of `runs` that overlap at one moment.
fn most_at_once(runs: &[(f64, f64)]) -> usize {
    runs.iter()
        .map(|&(s, _)| runs.iter().filter(|&&(a, b)| a <= s && s < b).count())
        .max()
        .unwrap_or(0)
}

#[test]
fn two_gpus_shared_by_two_trials_each_run_four_trials_each_seeing_its_own() {
    if !python() {
        return;
    }
    let dir = tempdir();
    let bin = fake_nvidia_smi(dir.path(), 2);
    let record = dir.path().join("record");
    std::fs::create_dir_all(&record).unwrap();
    let mut spec = toy_spec(8, 1, "gpus");
    spec["search"].as_object_mut().unwrap().remove("parallel");
    spec["device"] = "cuda".into();
    spec["trainer"]["trials_per_gpu"] = 2.into();
    spec["trainer"]["env"] = serde_json::json!({
        "TOY_SLEEP": "0.01", "TOY_RECORD": record.display().to_string(),
    });
    let spec_path = write_spec(dir.path(), &spec);
    let out = tune_with_gpus(&bin, &["-q".as_ref(), spec_path.as_os_str()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rec = records(&record);
    assert_eq!(rec.len(), 8);
    let mut by_gpu: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    let mut all = vec![];
    for r in rec.values() {
        assert_eq!(r["TUNE_DEVICE"], "cuda:0", "{r}");
        let gpu = r["CUDA_VISIBLE_DEVICES"].as_str().unwrap().to_string();
        assert!(
            gpu == "0" || gpu == "1",
            "each sees one GPU of its own: {r}"
        );
        let run = (r["start"].as_f64().unwrap(), r["end"].as_f64().unwrap());
        by_gpu.entry(gpu).or_default().push(run);
        all.push(run);
    }
    assert_eq!(by_gpu.len(), 2, "{by_gpu:?}");
    assert_eq!(most_at_once(&all), 4, "four trials at once: {all:?}");
    for (gpu, runs) in &by_gpu {
        assert_eq!(most_at_once(runs), 2, "GPU {gpu}: {runs:?}");
    }
}

#[test]
fn gpus_that_are_not_there_are_refused_before_anything_is_written() {
    if !python() {
        return;
    }
    let dir = tempdir();
    let bin = fake_nvidia_smi(dir.path(), 2);
    let none = tempdir();
    let empty_bin = fake_nvidia_smi(none.path(), 0);
    let cases: Vec<(serde_json::Value, &Path, &str)> = vec![
        (serde_json::json!({ "device": "cuda:2" }), &bin, "device: GPU 2 is not there: this machine has 2 (0 to 1)"),
        (serde_json::json!({ "trainer": { "gpus": [0, 5] } }), &bin, "trainer.gpus[1]: GPU 5 is not there"),
        (serde_json::json!({ "trainer": { "gpus": [1, 1] } }), &bin, "trainer.gpus[1]: GPU 1 is named twice"),
        (serde_json::json!({ "device": "cuda" }), &empty_bin, "no GPU was found here"),
        (
            serde_json::json!({ "device": "cuda", "trainer": { "gpus_per_trial": 3 } }),
            &bin,
            "trainer.gpus_per_trial: 3 is more than the 2 GPUs",
        ),
        (
            serde_json::json!({ "device": "cuda", "search": { "parallel": 3 } }),
            &bin,
            "search.parallel: 3 trials at once is more than the GPUs hold (2",
        ),
        (
            serde_json::json!({ "trainer": { "env": { "CUDA_VISIBLE_DEVICES": "1" } } }),
            &bin,
            "trainer.env.CUDA_VISIBLE_DEVICES: is set by tune for each trial, from device or trainer.gpus",
        ),
        (
            serde_json::json!({ "trainer": { "env": { "OMP_NUM_THREADS": "4" } } }),
            &bin,
            "trainer.env.OMP_NUM_THREADS: is set by tune for each trial, from trainer.threads",
        ),
        (serde_json::json!({ "trainer": { "threads": 0 } }), &bin, "trainer.threads: 0 is not a count"),
        (serde_json::json!({ "trainer": { "exit_grace": -1 } }), &bin, "trainer.exit_grace: -1 is not"),
    ];
    for (change, path_bin, want) in cases {
        let mut spec = toy_spec(2, 1, "refused");
        spec["search"].as_object_mut().unwrap().remove("parallel");
        for (k, v) in change.as_object().unwrap() {
            match (k.as_str(), v) {
                ("trainer" | "search", serde_json::Value::Object(o)) => {
                    for (k2, v2) in o {
                        spec[k][k2] = v2.clone();
                    }
                }
                _ => spec[k] = v.clone(),
            }
        }
        let spec_path = write_spec(dir.path(), &spec);
        let out = tune_with_gpus(path_bin, &["-q".as_ref(), spec_path.as_os_str()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{want}: {err}");
        assert!(err.contains(want), "{err}\nwanted: {want}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(!dir.path().join("runs").exists(), "{want}: wrote a study");
    }
}

#[test]
fn a_program_whose_results_depend_on_its_threads_gives_one_study_at_any_parallelism() {
    if !python() {
        return;
    }
    let mut boards = vec![];
    for (parallel, cores) in [(1, "4"), (2, "4"), (3, "2")] {
        let dir = tempdir();
        let record = dir.path().join("record");
        std::fs::create_dir_all(&record).unwrap();
        let mut spec = toy_spec(4, parallel, "threads");
        spec["trainer"]["env"] = serde_json::json!({
            "TOY_MODE": "threads_matter", "TOY_RECORD": record.display().to_string(),
        });
        let spec_path = write_spec(dir.path(), &spec);
        ok(tune(&[
            "-q".as_ref(),
            "--cores".as_ref(),
            cores.as_ref(),
            spec_path.as_os_str(),
        ]));
        for r in records(&record).values() {
            assert_eq!(
                (r["TUNE_THREADS"].as_str(), r["OMP_NUM_THREADS"].as_str()),
                (Some("1"), Some("1"))
            );
            assert!(r["TUNE_SEED32"].as_str().unwrap().parse::<u64>().unwrap() < 1 << 32);
        }
        boards.push(leaderboard(dir.path()));
    }
    assert_eq!(boards[0], boards[1]);
    assert_eq!(boards[0], boards[2]);
    // trainer.threads is part of the study: 2 threads give other results.
    let dir = tempdir();
    let mut spec = toy_spec(4, 1, "threads2");
    spec["trainer"]["threads"] = 2.into();
    spec["trainer"]["env"] = serde_json::json!({ "TOY_MODE": "threads_matter" });
    ok(run(&write_spec(dir.path(), &spec)));
    assert_ne!(leaderboard(dir.path()), boards[0]);
}

#[test]
fn tune_check_runs_a_program_to_its_second_boundary_and_checks_that_it_resumes_exactly() {
    if !python() {
        return;
    }
    let dir = tempdir();
    for (mode, code, said) in [
        ("", 0, "resume: exact: resumed from the checkpoint at 400 examples"),
        ("inexact_resume", 1, "resume: NOT EXACT: resumed from the checkpoint at 400 examples, at 800 it reported train_loss"),
        ("wrong_examples", 1, "protocol: FAILED: it reported \"examples\": 401 where virtual epoch 1 ends at 400 examples"),
        ("no_checkpoint", 1, "protocol: FAILED: its checkpoint \"nowhere.json\" reported at 400 examples is not there"),
        ("crash_after", 1, "protocol: FAILED: the program exited with status 3 before its report at 800"),
        ("report_as", 1, "protocol: FAILED: its checkpoint \"../../x\" reported at 400 examples leaves the trial's checkpoint folder"),
    ] {
        let mut spec = toy_spec(3, 1, "check");
        spec["trainer"]["env"] = serde_json::json!({ "TOY_MODE": mode, "TOY_REPORT": "../../x" });
        let spec_path = write_spec(dir.path(), &spec);
        let out = tune(&["check".as_ref(), spec_path.as_os_str()]);
        let said_out = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(code), "{mode}: {said_out}{}", String::from_utf8_lossy(&out.stderr));
        assert!(said_out.contains(said), "{mode}: {said_out}\nwanted: {said}");
        if code == 0 {
            assert!(said_out.contains("protocol: ok: reports at 400 and 800 examples"), "{said_out}");
        }
        assert!(!dir.path().join("runs").exists(), "{mode}: tune check wrote a study");
    }
}

#[test]
fn tune_predict_runs_the_programs_predict_command_with_the_selected_checkpoint() {
    if !python() {
        return;
    }
    let dir = tempdir();
    let predictor = Path::new(env!("CARGO_MANIFEST_DIR")).join("studies/programs/toy_predict.py");
    let mut spec = toy_spec(3, 1, "predict");
    spec["trainer"]["predict"] = serde_json::json!(["python3", predictor]);
    let spec_path = write_spec(dir.path(), &spec);
    ok(run(&spec_path));
    let data = dir.path().join("new.csv");
    std::fs::write(&data, "x1,x2\n1,0\n0,1\n0.5,-2\n").unwrap();
    let args = |extra: &[&std::ffi::OsStr]| {
        let mut a: Vec<&std::ffi::OsStr> = vec![
            "predict".as_ref(),
            spec_path.as_os_str(),
            "--data".as_ref(),
            data.as_os_str(),
        ];
        a.extend_from_slice(extra);
        tune(&a)
    };
    let out = ok(args(&[]));
    let csv = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "{csv}");
    assert_eq!(lines[0], "prediction");
    // The selected checkpoint of the best trial: its weights give those numbers.
    let (h, rows) = read_csv(&dir.path().join("runs/toy/leaderboard.csv"));
    let best = &rows[0][h.iter().position(|c| c == "trial").unwrap()];
    let files = dir
        .path()
        .join(format!("runs/toy/trials/{best}/best.files"));
    let file = std::fs::read_dir(&files)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    let w: Vec<f64> = state["w"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    for (line, (x1, x2)) in lines[1..].iter().zip([(1.0, 0.0), (0.0, 1.0), (0.5, -2.0)]) {
        let got: f64 = line.parse().unwrap();
        assert!(
            (got - (w[0] * x1 + w[1] * x2 + w[2])).abs() < 1e-9,
            "{line}"
        );
    }
    assert!(String::from_utf8_lossy(&out.stderr).contains("3 predictions by trainer.predict"));
    // To a file; and a predictor that drops a row is refused, nothing written.
    let to = dir.path().join("p.csv");
    ok(args(&["--output".as_ref(), to.as_os_str()]));
    assert_eq!(std::fs::read_to_string(&to).unwrap(), csv);
    // A predictor that drops a row (told by tune's environment, which it inherits) is refused.
    let bad = dir.path().join("bad.csv");
    let out = Command::new(env!("CARGO_BIN_EXE_tune"))
        .args([
            "predict".as_ref(),
            spec_path.as_os_str(),
            "--data".as_ref(),
            data.as_os_str(),
        ])
        .args(["--output".as_ref(), bad.as_os_str()])
        .env("TOY_PREDICT_DROP", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // The program's fault, not the input's: exit 1.
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("trainer.predict wrote 2 predictions for the 3 rows of"),
        "{err}"
    );
    assert!(!bad.exists());
    // Without trainer.predict: one sentence saying what to add.
    let mut plain = toy_spec(3, 1, "predict");
    plain["trainer"].as_object_mut().unwrap().remove("predict");
    let spec_path = write_spec(dir.path(), &plain);
    let out = tune(&[
        "predict".as_ref(),
        spec_path.as_os_str(),
        "--data".as_ref(),
        data.as_os_str(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("has no \"predict\" command"), "{err}");
}
