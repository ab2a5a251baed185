//! Tracking (`"tracking"` in the spec, `--mlflow`): against a real `mlflow server` on a local port,
//! a study of 4 trials gives 4 child runs of one parent, each with its parameters and every
//! boundary's metrics at step = examples seen, and an interrupted, resumed and rerun study adds no
//! point twice; each trial's selected checkpoint is an artifact of its run; with several
//! objectives `pareto.csv` is an artifact of the parent and each run is tagged with its front; a
//! server that is not there fails nothing. TensorBoard's files read back with
//! TensorBoard's own reader: scalars at the examples seen, once each, and the HParams sessions.
//!
//! MLflow and TensorBoard come from PyPI: the interpreter in `TUNE_TEST_TRACKING_PYTHON` (which
//! must have both: the test fails otherwise), else a venv made under target/track-venv (as
//! .ci/run does), kept for the next run; the tests that need them skip with a message when
//! neither can be had.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// An interpreter with mlflow and tensorboard, or why there is none; made once per process.
fn python() -> Result<PathBuf, String> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON.get_or_init(find_python).clone()
}

fn find_python() -> Result<PathBuf, String> {
    venv_python(
        "TUNE_TEST_TRACKING_PYTHON",
        "target/track-venv",
        &["mlflow", "tensorboard"],
    )
}

/// Skips the test (returns `None`) with a message when no interpreter can be had.
fn python_or_skip(test: &str) -> Option<PathBuf> {
    match python() {
        Ok(p) => Some(p),
        Err(why) => {
            eprintln!("{test}: skipped: {why}");
            None
        }
    }
}

/// A port nothing listens on (one the system just gave and took back).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An `mlflow server` on a local port with a SQLite store in `dir`, stopped (with its workers)
/// on drop.
struct Server {
    child: Child,
    uri: String,
}

impl Server {
    fn start(python: &Path, dir: &Path) -> Server {
        use std::os::unix::process::CommandExt;
        let port = free_port();
        let log = std::fs::File::create(dir.join("mlflow.log")).unwrap();
        let child = Command::new(python)
            .args([
                "-m",
                "mlflow",
                "server",
                "--host",
                "127.0.0.1",
                "--workers",
                "1",
            ])
            .args(["--port", &port.to_string()])
            .arg("--backend-store-uri")
            .arg(format!("sqlite:///{}", dir.join("mlflow.db").display()))
            .arg("--artifacts-destination")
            .arg(dir.join("artifacts"))
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("mlflow server starts");
        let server = Server {
            child,
            uri: format!("http://127.0.0.1:{port}"),
        };
        // Its start-up imports take long on a busy machine.
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(240),
                "mlflow server did not listen: {}",
                std::fs::read_to_string(dir.join("mlflow.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.wait();
    }
}

/// Runs `script` (tests/python/tracking_read.py) with `args`: its JSON.
fn read_back(python: &Path, args: &[&str]) -> Value {
    let out = Command::new(python)
        .arg(Path::new(ROOT).join("tests/python/tracking_read.py"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A trial as journalled: its (examples seen, val_loss) and its parameters as text.
type Journalled = (Vec<(u64, f64)>, BTreeMap<String, String>);

/// The study's journal, by trial.
fn journalled(study: &Path) -> BTreeMap<u64, Journalled> {
    let h = tune::storage::journal::replay(&study.join("journal.jsonl"))
        .unwrap()
        .history;
    h.trials
        .values()
        .map(|t| {
            let curve = t
                .curve
                .iter()
                .map(|r| (r.examples_seen, r.val_loss))
                .collect();
            let params = t
                .params
                .iter()
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect();
            (t.trial, (curve, params))
        })
        .collect()
}

/// A study of 4 trials, 2 at a time, with `tracking`.
fn study(dir: &Path, tracking: Value) -> PathBuf {
    let mut s = tiny_spec(2);
    s["search"]["trials"] = json!(4);
    s["tracking"] = tracking;
    write_spec(dir, &s)
}

#[test]
fn mlflow_gets_every_boundary_once_through_interruption_and_resume() {
    let Some(python) = python_or_skip("mlflow round trip") else {
        return;
    };
    let dir = tempdir();
    let server = Server::start(&python, dir.path());
    let spec = study(
        dir.path(),
        json!({"experiment": "wine", "log_checkpoint": true}),
    );
    let with_server = |extra: &[&str]| {
        let mut args: Vec<&std::ffi::OsStr> = vec!["-q".as_ref(), "--mlflow".as_ref()];
        args.push(server.uri.as_ref());
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        args.push(spec.as_os_str());
        tune(&args)
    };
    // Interrupted after 6 virtual epochs, resumed to the end, then run again (nothing to train:
    // the whole history is offered to the tracker again).
    let out = with_server(&["--stop-after-epochs", "6"]);
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    ok(with_server(&[]));
    let again = ok(with_server(&[]));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(!stderr.contains("MLflow"), "{stderr}");

    let got = read_back(&python, &["mlflow", &server.uri, "wine"]);
    let parents = got["parents"].as_array().unwrap();
    assert_eq!(parents.len(), 1, "one parent run for the study: {got}");
    let parent = &parents[0];
    assert_eq!(parent["status"], "FINISHED");
    assert_eq!(parent["tags"]["tune.study"], "tiny");
    assert_eq!(parent["artifacts"], json!(["leaderboard.csv"]));
    let study_dir = dir.path().join("runs/tiny");
    let best = &columns(&study_dir.join("leaderboard.csv"), &["rank", "trial"])
        .into_iter()
        .find(|r| r[0] == "1")
        .unwrap()[1];
    assert_eq!(parent["tags"]["tune.best_trial"], best.as_str());

    let want = journalled(&study_dir);
    let trials = got["trials"].as_object().unwrap();
    assert_eq!(trials.len(), 4, "{got}");
    for (trial, (curve, params)) in &want {
        let runs = trials[&trial.to_string()].as_array().unwrap();
        assert_eq!(runs.len(), 1, "trial {trial}: one run: {runs:?}");
        let run = &runs[0];
        assert_eq!(run["parent"], parent["id"]);
        assert_eq!(run["status"], "FINISHED");
        assert_eq!(run["tags"]["tune.status"], "complete");
        assert_eq!(
            run["tags"]["tune.fingerprint"],
            parent["tags"]["tune.fingerprint"]
        );
        for (k, v) in params {
            assert_eq!(run["params"][k], v.as_str(), "trial {trial}: {k}");
        }
        // Every boundary once, at the examples seen, with its value.
        let history: Vec<(u64, f64)> = run["history"]["val_loss"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_u64().unwrap(), p[1].as_f64().unwrap()))
            .collect();
        assert_eq!(&history, curve, "trial {trial}");
        assert_eq!(
            run["history"]["rmse"].as_array().unwrap().len(),
            curve.len()
        );
        // The selected checkpoint, whole.
        let best = study_dir.join(format!("trials/{trial}/best.safetensors"));
        let size = std::fs::metadata(best).unwrap().len();
        assert_eq!(
            run["artifacts"],
            json!([["checkpoint/best.safetensors", size]])
        );
    }
    drop(server);
}

/// Two objectives and a constraint: the parent run gets `pareto.csv` beside the leaderboard (as
/// tags where the experiment's artifacts go where the server does not serve them), and each
/// trial's run the leaderboard's `pareto_rank` and `feasible` as tags.
#[test]
fn mlflow_gets_the_front_of_several_objectives() {
    let Some(python) = python_or_skip("mlflow front") else {
        return;
    };
    let dir = tempdir();
    let server = Server::start(&python, dir.path());
    // An experiment whose artifacts go to a folder only the server's machine writes.
    let local = dir.path().join("local-artifacts");
    let made = Command::new(&python)
        .args(["-c", "import sys, mlflow; mlflow.MlflowClient(sys.argv[1]).create_experiment('local', artifact_location=sys.argv[2])"])
        .arg(&server.uri)
        .arg(format!("file://{}", local.display()))
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    for (name, experiment) in [("served", "mo"), ("local", "local")] {
        let mut s = tiny_spec(2);
        s["name"] = name.into();
        s["model"] = json!({});
        s["objectives"] = json!([{ "metric": "val_loss" }, { "metric": "parameters" }]);
        s["constraints"] = json!([{ "metric": "parameters", "max": 1500 }]);
        s["search"]["trials"] = json!(5);
        s["search"]["space"]["hidden_width"] = json!([4, 16, 64]);
        s["tracking"] = json!({ "mlflow": server.uri, "experiment": experiment });
        let spec = dir.path().join(format!("{name}.json"));
        std::fs::write(&spec, s.to_string()).unwrap();
        ok(run(&spec));
        let study = dir.path().join("runs").join(name);
        let got = read_back(&python, &["mlflow", &server.uri, experiment]);
        let parent = &got["parents"][0];
        let text = |f: &str| std::fs::read_to_string(study.join(f)).unwrap();
        if name == "served" {
            assert_eq!(
                parent["artifacts"],
                json!(["leaderboard.csv", "pareto.csv"])
            );
        } else {
            assert_eq!(parent["artifacts"], json!([]));
            assert_eq!(parent["tags"]["tune.leaderboard"], text("leaderboard.csv"));
            assert_eq!(parent["tags"]["tune.pareto"], text("pareto.csv"));
        }
        let rows = columns(
            &study.join("leaderboard.csv"),
            &["trial", "pareto_rank", "feasible"],
        );
        assert_eq!(rows.len(), 5);
        assert!(
            rows.iter().any(|r| r[1] == "1") && rows.iter().any(|r| r[2] == "false"),
            "{rows:?}"
        );
        for r in rows {
            let tags = &got["trials"][&r[0]][0]["tags"];
            assert_eq!(
                tags["tune.pareto_rank"],
                r[1].as_str(),
                "trial {}: {tags}",
                r[0]
            );
            assert_eq!(
                tags["tune.feasible"],
                r[2].as_str(),
                "trial {}: {tags}",
                r[0]
            );
        }
    }
    drop(server);
}

#[test]
fn a_server_that_is_not_there_fails_nothing() {
    let dir = tempdir();
    let uri = format!("http://127.0.0.1:{}", free_port());
    let spec = study(dir.path(), json!({"mlflow": uri}));
    let out = ok(run(&spec));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let said: Vec<&str> = stderr.lines().filter(|l| l.contains("MLflow")).collect();
    assert_eq!(said.len(), 2, "once down, once given up: {stderr}");
    assert!(said[0].contains("cannot reach the server") && said[0].contains("retrying"));
    assert!(said[1].contains("gave up at the study's end"), "{stderr}");
    assert_eq!(journalled(&dir.path().join("runs/tiny")).len(), 4);
    assert!(dir.path().join("runs/tiny/leaderboard.csv").exists());
}

#[test]
fn tensorboard_reads_scalars_at_the_examples_seen_and_the_hparams() {
    let dir = tempdir();
    let spec = study(dir.path(), json!({"tensorboard": true}));
    // Interrupted, then resumed twice: each process writes files of its own.
    stop_after(&spec, 5);
    ok(run(&spec));
    ok(run(&spec));
    let study_dir = dir.path().join("runs/tiny");
    let want = journalled(&study_dir);
    let Some(python) = python_or_skip("tensorboard round trip") else {
        return;
    };
    let got = read_back(
        &python,
        &[
            "tensorboard",
            study_dir.join("tensorboard").to_str().unwrap(),
        ],
    );
    assert_eq!(got.as_object().unwrap().len(), 4, "{got}");
    for (trial, (curve, params)) in &want {
        let run = &got[format!("trial-{trial}")];
        let scalars: Vec<(u64, f64)> = run["scalars"]["val_loss"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_u64().unwrap(), p[1].as_f64().unwrap()))
            .collect();
        let steps: Vec<u64> = scalars.iter().map(|p| p.0).collect();
        let want_steps: Vec<u64> = curve.iter().map(|p| p.0).collect();
        assert_eq!(steps, want_steps, "trial {trial}: each boundary once");
        for ((_, got), (_, want)) in scalars.iter().zip(curve) {
            assert!((got - want).abs() <= 1e-6 * want.abs(), "trial {trial}");
        }
        for (k, v) in params {
            let hp = &run["hparams"][k];
            let v: f64 = v.parse().unwrap();
            assert!(
                (hp.as_f64().unwrap() - v).abs() <= 1e-12 * v.abs(),
                "{k}: {hp}"
            );
        }
        // api.proto's STATUS_SUCCESS.
        assert_eq!(run["end_status"], 1, "trial {trial}");
    }
}

#[test]
fn tracking_mistakes_are_refused_before_anything_is_written() {
    let dir = tempdir();
    for (tracking, said) in [
        (
            json!({"tensorbord": true}),
            "tracking.tensorbord: unknown field `tensorbord`",
        ),
        (
            json!([true]),
            "tracking: expected an object with named fields, found an array",
        ),
        (
            json!({"mlflow": "https://mlflow.example.com"}),
            "tracking.mlflow: `https://mlflow.example.com`: https is not built in",
        ),
        (
            json!({"experiment": "wine"}),
            "tracking.experiment: applies to MLflow, and no server is named",
        ),
    ] {
        let spec = study(dir.path(), tracking);
        let out = run(&spec);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(said), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(!dir.path().join("runs").exists());
    }
    let spec = study(dir.path(), json!({}));
    let out = tune(&[
        "--mlflow".as_ref(),
        "mlflow:5000".as_ref(),
        spec.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("--mlflow: `mlflow:5000` is not an http:// URI"));
    assert!(!dir.path().join("runs").exists());
}

#[test]
fn a_pbt_members_parameters_are_series_that_follow_its_exploits_through_a_resume() {
    let dir = tempdir();
    let mut s = pbt_spec(1, 6000);
    s["tracking"] = json!({"tensorboard": true});
    let spec = write_spec(dir.path(), &s);
    // Stopped after 9 boundaries (every member paused at the third), then resumed: the resumed
    // process replays the exploits before it goes on.
    stop_after(&spec, 9);
    ok(run(&spec));
    let study_dir = dir.path().join("runs/tiny");
    let h = tune::storage::journal::replay(&study_dir.join("journal.jsonl"))
        .unwrap()
        .history;
    assert!(h.trials.values().any(|t| !t.exploits.is_empty()));
    let Some(python) = python_or_skip("tensorboard pbt series") else {
        return;
    };
    let got = read_back(
        &python,
        &[
            "tensorboard",
            study_dir.join("tensorboard").to_str().unwrap(),
        ],
    );
    let mut changed = 0;
    for t in h.trials.values() {
        let series: Vec<(u64, f64)> = got[format!("trial-{}", t.trial)]["scalars"]
            ["param.learning_rate"]
            .as_array()
            .unwrap_or_else(|| panic!("trial {}: {got}", t.trial))
            .iter()
            .map(|p| (p[0].as_u64().unwrap(), p[1].as_f64().unwrap()))
            .collect();
        let want: Vec<(u64, f64)> = t
            .curve
            .iter()
            .map(|r| {
                (
                    r.examples_seen,
                    t.params_at(r.virtual_epoch)["learning_rate"].as_f64(),
                )
            })
            .collect();
        assert_eq!(
            series.len(),
            want.len(),
            "trial {}: each boundary once",
            t.trial
        );
        for ((gs, gv), (ws, wv)) in series.iter().zip(&want) {
            assert_eq!(gs, ws, "trial {}", t.trial);
            // Scalars are 32-bit floats.
            assert!(
                (gv - wv).abs() <= 1e-6 * wv.abs(),
                "trial {}: {gv} {wv}",
                t.trial
            );
        }
        changed += usize::from(want.windows(2).any(|w| w[0].1 != w[1].1));
    }
    assert!(changed > 0, "no member's learning rate changed");
}
