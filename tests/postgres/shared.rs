//! What a shared study refuses, and what it never shows: passwords in any form of connection
//! string, a worker whose spec differs from the study's (its trial count included); and a
//! program's study on two machines that share nothing but the database.

use std::path::Path;
use std::process::Output;

use super::*;

/// `tune ARGS SPEC` with `env` set, as text: exit code, stdout and stderr together.
fn tune_env(args: &[&str], spec: &Path, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_tune"))
        .args(args)
        .arg(spec)
        .envs(env.iter().copied())
        .env("TUNE_LEASE_SECONDS", LEASE)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

/// Refused with exit 2 in one line (stderr), which is returned.
fn refused(args: &[&str], spec: &Path, env: &[(&str, &str)]) -> String {
    let (code, text) = tune_env(args, spec, env);
    assert_eq!(code, Some(2), "{args:?}: {text}");
    let text = text.trim().to_string();
    assert_eq!(text.lines().count(), 1, "{args:?}: {text}");
    text
}

/// `url` (the test server's) as libpq's `key=value` words, with `password` (quoted) added: the
/// throwaway server trusts local connections, so any password connects.
fn key_value(url: &str, password: &str) -> String {
    let config: postgres::Config = url.parse().unwrap();
    let host = match &config.get_hosts()[0] {
        postgres::config::Host::Tcp(h) => h.clone(),
        postgres::config::Host::Unix(p) => p.display().to_string(),
    };
    format!(
        "host={host} port={} password='{}' user={} dbname={}",
        config.get_ports()[0],
        password.replace('\'', "\\'"),
        config.get_user().unwrap(),
        config.get_dbname().unwrap()
    )
}

/// Asserts that no part of `secret` longer than two characters is in `text`.
fn hidden(text: &str, secret: &str) {
    for part in secret.split([' ', '\'']).filter(|p| p.len() > 2) {
        assert!(!text.contains(part), "{part:?} shown: {text}");
    }
}

#[test]
fn no_form_of_connection_string_shows_its_password() {
    let _serial = one_at_a_time();
    let dir = tempdir();
    let spec = write_spec(dir.path(), &tiny_spec(1));
    // Nothing listens on port 1: the refusal names the server, never the password.
    for (storage, secret) in [
        (
            "host=127.0.0.1 port=1 user=u password=hunter22 dbname=d",
            "hunter22",
        ),
        (
            "host=127.0.0.1 port=1 password='hun ter22' user=u",
            "hun ter22",
        ),
        (
            "password = 'it\\'s-mine' host=127.0.0.1 port=1",
            "it\\'s-mine",
        ),
        ("postgresql://u@127.0.0.1:1/d?password=hunter22", "hunter22"),
        (
            "postgresql://u:hunter22@127.0.0.1:1/d?sslmode=disable",
            "hunter22",
        ),
    ] {
        for (args, env) in [
            (vec!["-q", "--storage", storage], vec![]),
            (vec!["worker", "-q", "--storage", storage], vec![]),
            (vec!["status", "--storage", storage], vec![]),
            (vec!["-q"], vec![("TUNE_STORAGE", storage)]),
        ] {
            let err = refused(&args, &spec, &env);
            assert!(err.contains("cannot connect to PostgreSQL"), "{err}");
            hidden(&err, secret);
        }
    }
    // Not a connection string at all: refused, the password cut off.
    for storage in ["host=h password='hunter22", "junk host=h password=hunter22"] {
        let err = refused(&["--storage", storage], &spec, &[]);
        assert!(err.contains("is not a PostgreSQL URL"), "{err}");
        hidden(&err, "hunter22");
    }
    assert!(!dir.path().join("runs").exists(), "nothing written");
}

#[test]
fn a_key_value_study_runs_and_never_shows_its_password() {
    let _serial = one_at_a_time();
    let Some(url) = database("keyvalue") else {
        return;
    };
    let dir = tempdir();
    let mut s = tiny_spec(1);
    s["search"]["trials"] = 2.into();
    let spec = write_spec(dir.path(), &s);
    let secret = "s3cr3t w0rd!";
    let storage = key_value(&url, secret);
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    // Interrupted: the resume command names the server, its password hidden.
    let (code, text) = tune_env(
        &[
            "--stop-after-epochs",
            "1",
            "--storage",
            &storage,
            "--out",
            out,
        ],
        &spec,
        &[],
    );
    assert_eq!(code, Some(130), "{text}");
    assert!(
        text.contains("resume with: tune") && text.contains("password=***"),
        "{text}"
    );
    hidden(&text, secret);
    let (code, text) = tune_env(&["--storage", &storage, "--out", out], &spec, &[]);
    assert_eq!(code, Some(0), "{text}");
    hidden(&text, secret);
    for command in ["status", "leaderboard", "report"] {
        let (code, text) = tune_env(
            &[command, "--out", out],
            &spec,
            &[("TUNE_STORAGE", &storage)],
        );
        assert_eq!(code, Some(0), "{command}: {text}");
        hidden(&text, secret);
    }
    assert!(Path::new(out).join("report.html").exists());
    for file in ["report.html", "leaderboard.csv"] {
        hidden(
            &std::fs::read_to_string(Path::new(out).join(file)).unwrap(),
            secret,
        );
    }
    // No study of that name: the refusal names the server without the password.
    let mut other = s.clone();
    other["name"] = "other".into();
    let spec = write_spec(dir.path(), &other);
    let err = refused(&["worker", "--storage", &storage], &spec, &[]);
    assert!(err.contains("no study named \"other\""), "{err}");
    hidden(&err, secret);
}

/// The study's events and trial rows: what a refused worker must leave as they were.
fn counts(db: &mut postgres::Client) -> (i64, i64) {
    let mut n = |sql: &str| db.query_one(sql, &[]).unwrap().get::<_, i64>(0);
    (
        n("SELECT count(*) FROM tune_events"),
        n("SELECT count(*) FROM tune_trials"),
    )
}

#[test]
fn a_worker_cannot_change_the_trial_count_or_any_other_field() {
    let _serial = one_at_a_time();
    let Some(url) = database("fields") else {
        return;
    };
    let dir = tempdir();
    let mut s = tiny_spec(1);
    s["search"]["trials"] = 2.into();
    let spec = write_spec(dir.path(), &s);
    let out = dir.path().join("w0");
    ok(tune(&[
        "-q".as_ref(),
        "--storage".as_ref(),
        url.as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        spec.as_os_str(),
    ]));
    let mut db = client(&url);
    let before = counts(&mut db);
    assert_eq!(before.1, 2);
    let changed = |key: &str, value: serde_json::Value| {
        let mut other = s.clone();
        match key.split_once('.') {
            Some((a, b)) => other[a][b] = value,
            None => other[key] = value,
        }
        other
    };
    for (other, differs) in [
        (
            changed("search.trials", 4.into()),
            "search.trials (2 in the study, 4 here)",
        ),
        (
            changed("search.trials", 1.into()),
            "search.trials (2 in the study, 1 here)",
        ),
        (changed("keep", 3.into()), "keep (1 in the study, 3 here)"),
        (changed("seed", 4.into()), "seed (3 in the study, 4 here)"),
        (changed("model.hidden", serde_json::json!([8])), "model"),
    ] {
        let spec = write_spec(dir.path(), &other);
        for command in ["worker", "run"] {
            let w = dir.path().join("w1");
            let args = [
                command,
                "-q",
                "--storage",
                &url,
                "--out",
                w.to_str().unwrap(),
            ];
            let err = refused(&args, &spec, &[]);
            assert!(
                err.contains(differs)
                    && err.contains("this spec differs from the study \"tiny\" in PostgreSQL")
                    && err.contains("give the spec another \"name\""),
                "{command}: {err}"
            );
            assert!(!err.contains("run with --restart"), "{err}");
            assert_eq!(counts(&mut db), before, "{command} {differs}: it wrote");
        }
    }
    // What each worker may choose for itself: its parallelism and device.
    let mut own = s.clone();
    own["search"]["parallel"] = 2.into();
    own["device"] = "cpu".into();
    let spec = write_spec(dir.path(), &own);
    let (code, text) = tune_env(&["worker", "-q", "--storage", &url], &spec, &[]);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(counts(&mut db), before, "a finished study grew");
    let status = ok(tune(&[
        "status".as_ref(),
        "--storage".as_ref(),
        url.as_ref(),
        spec.as_os_str(),
    ]));
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(
        !status.contains("of 4") && !status.contains("of 1 "),
        "{status}"
    );
}

#[test]
fn two_workers_with_only_the_database_finish_a_program_study_as_a_local_one() {
    let _serial = one_at_a_time();
    if !Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!("python3 is not installed: the program study is skipped");
        return;
    }
    let Some(url) = database("programs") else {
        return;
    };
    let dir = tempdir();
    // 6 trials of 4 virtual epochs, slow enough for a worker to be killed mid-trial; a trial
    // checkpoints a file, or (TOY_MODE folder_checkpoint, trials 1 and 4) a folder.
    let program = Path::new(env!("CARGO_MANIFEST_DIR")).join("studies/programs/toy_trainer.py");
    let spec = write_spec(
        dir.path(),
        &serde_json::json!({
            "name": "toys",
            "seed": 3,
            "trainer": {
                "command": ["python3", program, "tune-test-pg-programs"],
                "env": { "TOY_SLEEP": "0.004", "TOY_MODE": "folder_checkpoint", "TOY_BAD_TRIALS": "1,4" }
            },
            "budget": { "total_examples": 1600, "virtual_epochs": 4 },
            "search": { "method": "random", "trials": 6, "space": {
                "batch_size": [8, 16], "learning_rate": { "low": 0.001, "high": 0.05, "log": true } } }
        }),
    );
    let local = dir.path().join("local");
    ok(tune(&[
        "-q".as_ref(),
        "--out".as_ref(),
        local.as_os_str(),
        spec.as_os_str(),
    ]));
    let expected = columns(&local.join("leaderboard.csv"), PROGRAM_COLUMNS);
    assert_eq!(expected.len(), 6);
    // Two machines: two study folders, nothing shared but the database.
    let first = start("run", &spec, &url, &dir.path().join("m0"));
    let mut db = opened(&url);
    let mut victim = start("worker", &spec, &url, &dir.path().join("m1"));
    let taken = mid_trial(&mut db, victim.id()).expect("the second machine held a trial mid-way");
    victim.kill().unwrap(); // SIGKILL: its trial resumes on the other machine, from PostgreSQL
    victim.wait().unwrap();
    finish(first);
    let board = dir.path().join("m0/leaderboard.csv");
    assert_eq!(columns(&board, PROGRAM_COLUMNS), expected);
    assert_eq!(
        attempts(&mut db, taken),
        2,
        "trial {taken} was taken over once"
    );
    // The programs' checkpoints are in PostgreSQL, each selected one naming its payload, and no
    // payload is left that nothing names (the killed worker's streams included).
    let named: i64 = db
        .query_one(
            "SELECT count(*) FROM tune_best b JOIN tune_payloads p ON p.id = b.payload",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        named, 6,
        "each trial's selected checkpoint names its program's files"
    );
    let unnamed: i64 = db
        .query_one(
            "SELECT count(*) FROM tune_payloads p
             WHERE NOT EXISTS (SELECT 1 FROM tune_checkpoints c WHERE c.payload = p.id)
             AND NOT EXISTS (SELECT 1 FROM tune_best b WHERE b.payload = p.id)",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(unnamed, 0, "payloads nothing names are removed");
}

/// A shared study checks a program's files as a local one does: a worker whose script differs is
/// refused naming it, writing nothing; `--allow-code-change` journals the change in PostgreSQL.
#[test]
fn a_worker_whose_script_changed_is_refused_unless_allowed() {
    let _serial = one_at_a_time();
    let Some(url) = database("code") else {
        return;
    };
    let dir = tempdir();
    copy_toy_program(dir.path());
    let spec = write_spec(
        dir.path(),
        &serde_json::json!({
            "name": "toy", "seed": 5,
            "trainer": { "command": ["python3", "toy_trainer.py"] },
            "budget": { "total_examples": 1000, "virtual_epochs": 3 },
            "search": { "method": "random", "trials": 3, "parallel": 1,
                        "space": { "learning_rate": [0.01, 0.02], "batch_size": [8],
                                   "optimizer": ["sgd"] } }
        }),
    );
    let artifacts = dir.path().join("artifacts");
    let w = dir.path().join("w");
    let args = |extra: &'static [&'static str]| {
        let mut a = vec!["-q", "--storage", &url, "--artifacts"];
        a.push(artifacts.to_str().unwrap());
        a.extend(["--out", w.to_str().unwrap()]);
        a.extend(extra);
        a
    };
    let (code, text) = tune_env(&args(&["--stop-after-epochs", "4"]), &spec, &[]);
    assert_eq!(code, Some(130), "{text}");
    let script = dir.path().join("toy_trainer.py");
    let edited = std::fs::read_to_string(&script).unwrap() + "\n# edited\n";
    std::fs::write(&script, edited).unwrap();
    let mut db = client(&url);
    let before = counts(&mut db);
    let err = refused(&args(&[]), &spec, &[]);
    assert!(err.contains("changed toy_trainer.py"), "{err}");
    assert!(!err.contains("--restart"), "{err}");
    assert_eq!(counts(&mut db), before, "a refusal wrote");
    let (code, text) = tune_env(&args(&["--allow-code-change"]), &spec, &[]);
    assert_eq!(code, Some(0), "{text}");
    let changes: i64 = db
        .query_one(
            "SELECT count(*) FROM tune_events WHERE body LIKE '%\"code_changed\"%toy_trainer.py%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(changes, 1);
    let (code, text) = tune_env(&args(&[]), &spec, &[]);
    assert_eq!(code, Some(0), "{text}");
}
