//! A study shared by worker processes through a real PostgreSQL: `TUNE_TEST_PG` (a URL whose user
//! may create databases; .ci/run starts a throwaway cluster and sets it), or else a throwaway
//! cluster that `benches/pg/throwaway.sh` starts under the temp dir. Without either (no PostgreSQL
//! installed), each test says so and passes. Each test works in a database of its own.

mod common;
#[path = "postgres/contract.rs"]
mod contract;
#[path = "postgres/from_pg.rs"]
mod from_pg;
#[path = "postgres/payloads.rs"]
mod payloads;
#[path = "postgres/pbt.rs"]
mod pbt;
#[path = "postgres/serve.rs"]
mod serve;
#[path = "postgres/shared.rs"]
mod shared;
#[path = "postgres/store_contract.rs"]
mod store_contract;
mod toy;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The lease of the workers under test: short, so that a takeover happens within the test.
const LEASE: &str = "1.5";

/// The server's URL, or `None` (with a message) when there is no PostgreSQL to test against.
fn server() -> Option<String> {
    static URL: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    URL.get_or_init(start_server).clone()
}

fn start_server() -> Option<String> {
    if let Ok(url) = std::env::var("TUNE_TEST_PG") {
        return Some(url);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/pg/throwaway.sh");
    let dir = std::env::temp_dir().join("tune-test-pg");
    let out = Command::new("bash").arg(&script).arg(&dir).output().ok()?;
    if out.status.success() {
        return Some(String::from_utf8_lossy(&out.stdout).trim().to_string());
    }
    eprintln!(
        "skipped: no PostgreSQL to test against (set TUNE_TEST_PG, or install PostgreSQL's server): {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    None
}

/// One test at a time: one of them restarts the server under the others.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// A fresh database on the server, for one test: its URL.
fn database(test: &str) -> Option<String> {
    let url = server()?;
    let mut c = postgres::Client::connect(&url, postgres::NoTls)
        .unwrap_or_else(|e| panic!("cannot connect to the test server {url}: {e}"));
    let name = format!("tune_{test}_{}", std::process::id());
    c.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .unwrap();
    c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    let (base, _) = url.rsplit_once('/').unwrap();
    Some(format!("{base}/{name}"))
}

/// How many times trial `trial` was claimed (its attempt: 2 after one takeover).
fn attempts(db: &mut postgres::Client, trial: i64) -> i64 {
    db.query_one(
        "SELECT attempt FROM tune_trials WHERE trial = $1",
        &[&trial],
    )
    .unwrap()
    .get(0)
}

/// The columns of a program's leaderboard that do not depend on how it ran.
const PROGRAM_COLUMNS: &[&str] = &[
    "status",
    "batch_size",
    "examples_seen",
    "best_virtual_epoch",
    "best_val_loss",
    "final_val_loss",
];

fn client(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).unwrap()
}

/// A random study whose trials take long enough to be interrupted in the middle: 10 virtual epochs.
fn spec(dir: &Path, trials: usize) -> PathBuf {
    let mut s = tiny_spec(1);
    s["model"]["hidden"] = serde_json::json!([48, 48]);
    s["budget"] = serde_json::json!({ "total_examples": 200000, "virtual_epochs": 10 });
    s["search"]["trials"] = serde_json::json!(trials);
    s["search"]["space"]["batch_size"] = serde_json::json!([8, 16]);
    write_spec(dir, &s)
}

/// `tune COMMAND spec --storage url --out dir/out` as a child, with a short lease.
fn start(command: &str, spec: &Path, url: &str, out: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tune"))
        .args([
            command,
            "-q",
            "--sync-every",
            "0",
            "--cores",
            "1",
            "--storage",
            url,
        ])
        .arg("--out")
        .arg(out)
        .arg(spec)
        .env("TUNE_LEASE_SECONDS", LEASE)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: Child) -> std::process::Output {
    ok(child.wait_with_output().unwrap())
}

/// The metric columns of a local run of `spec` (the journal in a folder).
fn local(spec: &Path, dir: &Path) -> Vec<Vec<String>> {
    let out = dir.join("local");
    ok(tune(&[
        "-q".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        spec.as_os_str(),
    ]));
    columns(&out.join("leaderboard.csv"), METRICS)
}

/// Waits until the process `pid` holds a running trial with at least one virtual epoch recorded,
/// and returns it; `None` when the study ended first.
fn mid_trial(db: &mut postgres::Client, pid: u32) -> Option<i64> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(120) {
        let row = db
            .query_opt(
                "SELECT t.trial FROM tune_trials t WHERE t.state = 'running' AND t.owner LIKE $1
                 AND EXISTS (SELECT 1 FROM tune_events e WHERE e.study = t.study
                     AND e.trial = t.trial AND e.body LIKE '{\"event\":\"epoch_done\"%')",
                &[&format!("%:{pid}:%")],
            )
            .ok()
            .flatten();
        if let Some(r) = row {
            return Some(r.get(0));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

/// A client of `url` once the first worker opened the study there.
fn opened(url: &str) -> postgres::Client {
    loop {
        if let Ok(mut c) = postgres::Client::connect(url, postgres::NoTls) {
            if c.query_opt("SELECT 1 FROM tune_studies", &[])
                .is_ok_and(|r| r.is_some())
            {
                return c;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Events recorded twice: a trial started or ended twice, or a virtual epoch of a trial recorded
/// twice.
fn duplicates(db: &mut postgres::Client) -> Vec<String> {
    let mut seen = std::collections::BTreeMap::new();
    for r in db.query("SELECT body FROM tune_events", &[]).unwrap() {
        let v: serde_json::Value = serde_json::from_str(r.get(0)).unwrap();
        let key = match v["event"].as_str().unwrap() {
            "epoch_done" => format!("{} epoch {}", v["trial"], v["row"]["virtual_epoch"]),
            "trial_started" | "trial_ended" => format!("{} {}", v["trial"], v["event"]),
            _ => continue,
        };
        *seen.entry(key).or_insert(0) += 1;
    }
    seen.into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(k, n)| format!("{k}: {n} times"))
        .collect()
}

#[test]
fn three_workers_one_killed_mid_trial_give_the_local_leaderboard() {
    let _serial = one_at_a_time();
    let Some(url) = database("kill") else { return };
    let dir = tempdir();
    let spec = spec(dir.path(), 6);
    let expected = local(&spec, dir.path());
    let first = start("run", &spec, &url, &dir.path().join("w0"));
    let mut db = opened(&url);
    let mut victim = start("worker", &spec, &url, &dir.path().join("w1"));
    let third = start("worker", &spec, &url, &dir.path().join("w2"));
    let trial = mid_trial(&mut db, victim.id()).expect("the victim held a trial mid-way");
    victim.kill().unwrap(); // SIGKILL
    victim.wait().unwrap();
    finish(first);
    finish(third);
    for w in ["w0", "w2"] {
        let board = dir.path().join(w).join("leaderboard.csv");
        assert_eq!(columns(&board, METRICS), expected, "{w}");
    }
    let attempts: i64 = db
        .query_one(
            "SELECT attempt FROM tune_trials WHERE trial = $1",
            &[&trial],
        )
        .unwrap()
        .get(0);
    assert_eq!(attempts, 2, "trial {trial} was taken over once");
    assert_eq!(duplicates(&mut db), Vec::<String>::new());
    // `leaderboard` and `status` read the study from PostgreSQL.
    let board = ok(tune(&[
        "leaderboard".as_ref(),
        "--storage".as_ref(),
        url.as_ref(),
        spec.as_os_str(),
    ]));
    assert!(String::from_utf8_lossy(&board.stdout).contains("complete"));
    ok(tune(&[
        "status".as_ref(),
        "--storage".as_ref(),
        url.as_ref(),
        spec.as_os_str(),
    ]));
    let elsewhere = dir.path().join("elsewhere");
    ok(tune(&[
        "report".as_ref(),
        "--storage".as_ref(),
        url.as_ref(),
        "--out".as_ref(),
        elsewhere.as_os_str(),
        spec.as_os_str(),
    ]));
    assert!(elsewhere.join("report.html").exists());
}

#[test]
fn a_worker_stopped_past_its_lease_is_taken_over_and_writes_nothing_after() {
    let _serial = one_at_a_time();
    let Some(url) = database("stop") else { return };
    let dir = tempdir();
    let spec = spec(dir.path(), 2);
    let expected = local(&spec, dir.path());
    let frozen = start("run", &spec, &url, &dir.path().join("a"));
    let mut db = client(&url);
    let trial = mid_trial(&mut db, frozen.id()).expect("the first worker held a trial mid-way");
    let pid = frozen.id().to_string();
    assert!(Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .unwrap()
        .success());
    // The other worker finishes its own trial, then takes the frozen one's over once its lease ran
    // out, and ends the study.
    let other = finish(start("worker", &spec, &url, &dir.path().join("b")));
    let took: i64 = db
        .query_one(
            "SELECT attempt FROM tune_trials WHERE trial = $1",
            &[&trial],
        )
        .unwrap()
        .get(0);
    assert_eq!(took, 2, "{}", String::from_utf8_lossy(&other.stderr));
    let before: i64 = db
        .query_one("SELECT count(*) FROM tune_events", &[])
        .unwrap()
        .get(0);
    let ckpts: i64 = db
        .query_one("SELECT count(*) FROM tune_checkpoints", &[])
        .unwrap()
        .get(0);
    assert!(Command::new("kill")
        .args(["-CONT", &pid])
        .status()
        .unwrap()
        .success());
    let resumed = finish(frozen);
    let after: i64 = db
        .query_one("SELECT count(*) FROM tune_events", &[])
        .unwrap()
        .get(0);
    let ckpts_after: i64 = db
        .query_one("SELECT count(*) FROM tune_checkpoints", &[])
        .unwrap()
        .get(0);
    assert_eq!(
        (after, ckpts_after),
        (before, ckpts),
        "the frozen worker wrote after the takeover"
    );
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(stderr.contains("another worker took it over"), "{stderr}");
    assert_eq!(duplicates(&mut db), Vec::<String>::new());
    for w in ["a", "b"] {
        let board = dir.path().join(w).join("leaderboard.csv");
        assert_eq!(columns(&board, METRICS), expected, "{w}");
    }
}

#[test]
fn postgresql_restarted_mid_study_loses_and_duplicates_nothing() {
    let _serial = one_at_a_time();
    let Some(url) = database("restart") else {
        return;
    };
    let mut db = client(&url);
    let data: String = db
        .query_one("SELECT current_setting('data_directory')", &[])
        .unwrap()
        .get(0);
    let Some(pg_ctl) = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin/pg_ctl"))
        .find(|p| p.exists())
    else {
        eprintln!("skipped: no pg_ctl on this machine to restart the test server with");
        return;
    };
    if !Path::new(&data).exists() {
        eprintln!("skipped: the test server's data directory {data} is not on this machine");
        return;
    }
    let dir = tempdir();
    let spec = spec(dir.path(), 6);
    let expected = local(&spec, dir.path());
    let a = start("run", &spec, &url, &dir.path().join("a"));
    mid_trial(&mut db, a.id()).expect("a trial under way");
    let b = start("worker", &spec, &url, &dir.path().join("b"));
    mid_trial(&mut db, b.id()).expect("the second worker under way too");
    drop(db);
    // As the cluster's owner when run as root (PostgreSQL refuses to run as root).
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    let mut restart = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&pg_ctl);
        c
    } else {
        Command::new(&pg_ctl)
    };
    let status = restart
        .args(["restart", "-w", "-m", "fast", "-D", &data])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "pg_ctl restart failed");
    finish(a);
    finish(b);
    let mut db = client(&url);
    assert_eq!(duplicates(&mut db), Vec::<String>::new());
    for w in ["a", "b"] {
        let board = dir.path().join(w).join("leaderboard.csv");
        assert_eq!(columns(&board, METRICS), expected, "{w}");
    }
}

#[test]
fn bad_urls_unreachable_servers_and_other_specs_are_refused_in_one_sentence() {
    let _serial = one_at_a_time();
    let dir = tempdir();
    let spec = write_spec(dir.path(), &tiny_spec(1));
    let refused = |args: &[&str]| {
        let mut all: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
        all.push(spec.as_os_str());
        let out = tune(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        assert_eq!(err.lines().count(), 1, "{err}");
        err
    };
    let err = refused(&["--storage", "mysql://u:secret@h/db"]);
    assert!(
        err.contains("is not a PostgreSQL URL") && !err.contains("secret"),
        "{err}"
    );
    // Port 1: nothing listens there.
    let err = refused(&["--storage", "postgresql://u:secret@127.0.0.1:1/db"]);
    assert!(
        err.contains("cannot connect to PostgreSQL") && !err.contains("secret"),
        "{err}"
    );
    let err = refused(&["worker"]);
    assert!(err.contains("needs --storage"), "{err}");
    let mut asha = tiny_spec(1);
    asha["scheduler"] = serde_json::json!({ "kind": "asha", "mode": "promote" });
    write_spec(dir.path(), &asha);
    let err = refused(&["--storage", "postgresql://u@127.0.0.1:1/db"]);
    assert!(
        err.contains("scheduler.mode: \"promote\" is not shared"),
        "{err}"
    );
    write_spec(dir.path(), &tiny_spec(1));
    assert!(!dir.path().join("runs").exists(), "nothing written");

    let Some(url) = database("refuse") else {
        return;
    };
    let err = refused(&["worker", "--storage", &url]);
    assert!(err.contains("no study named \"tiny\""), "{err}");
    ok(tune(&[
        "-q".as_ref(),
        "--storage".as_ref(),
        url.as_ref(),
        spec.as_os_str(),
    ]));
    let mut other = tiny_spec(1);
    other["seed"] = serde_json::json!(4);
    write_spec(dir.path(), &other);
    let err = refused(&["worker", "--storage", &url]);
    assert!(err.contains("seed (3 in the study, 4 here)"), "{err}");
}
