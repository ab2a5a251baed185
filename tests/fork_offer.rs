//! tune offers every program to fork (`trainer.fork`, default true): a program whose client's
//! `Trial()` takes the offer stays as its worker's server and forks each trial; a program that
//! runs threads before `Trial()` declines it, and a program without the client never sees it;
//! all give the same trials as a process per trial.

mod common;
mod toy;
use common::*;
use toy::*;

/// Runs the toy study (4 trials, 2 at once) with `fork` (absent: the default) and the trainer's
/// `env`; its leaderboard, and whether each trial's process was forked.
fn toy_run(
    fork: Option<bool>,
    env: serde_json::Value,
    marker: &str,
) -> (Vec<Vec<String>>, Vec<bool>) {
    let dir = tempdir();
    let record = dir.path().join("record");
    std::fs::create_dir_all(&record).unwrap();
    let mut spec = toy_spec(4, 2, marker);
    if let Some(f) = fork {
        spec["trainer"]["fork"] = f.into();
    }
    let mut env = env;
    env["TOY_RECORD"] = record.display().to_string().into();
    spec["trainer"]["env"] = env;
    ok(run(&write_spec(dir.path(), &spec)));
    let forked = records(&record)
        .values()
        .map(|r| r["forked"].as_bool().unwrap())
        .collect();
    (leaderboard(dir.path()), forked)
}

#[test]
fn a_client_program_forks_by_default_and_gives_the_trials_of_a_process_per_trial() {
    if !python() {
        return;
    }
    let (plain, forked) = toy_run(Some(false), serde_json::json!({}), "offer-off");
    assert_eq!(forked, [false; 4]);
    let (offered, forked) = toy_run(None, serde_json::json!({}), "offer-default");
    assert_eq!(forked, [true; 4], "the default forks a client program");
    assert_eq!(offered, plain);
    assert!(plain.iter().all(|r| r[0] == "complete"), "{plain:?}");
}

#[test]
fn a_program_with_a_thread_before_trial_declines_the_offer_and_says_why() {
    if !python() {
        return;
    }
    let (plain, _) = toy_run(Some(false), serde_json::json!({}), "thread-off");
    let dir = tempdir();
    let record = dir.path().join("record");
    std::fs::create_dir_all(&record).unwrap();
    let mut spec = toy_spec(4, 2, "thread-first");
    spec["trainer"]["env"] = serde_json::json!({
        "TOY_THREAD_FIRST": "1", "TOY_RECORD": record.display().to_string(),
    });
    ok(run(&write_spec(dir.path(), &spec)));
    assert!(records(&record).values().all(|r| r["forked"] == false));
    assert_eq!(leaderboard(dir.path()), plain);
    let log = std::fs::read_to_string(dir.path().join("runs/toy/trials/0/output.log")).unwrap();
    assert!(
        log.contains("2 threads run before Trial(): this program runs a process per trial"),
        "{log}"
    );
    assert!(!log.contains("TUNE_SERVING"), "{log}");
}

/// A program of its own (a shell script, no client) under the default offer: it never reads it,
/// and runs each trial as a process of its own.
#[test]
fn a_program_without_the_client_runs_a_process_per_trial_under_the_default() {
    let dir = tempdir();
    let script = dir.path().join("train.sh");
    std::fs::write(
        &script,
        r#"#!/bin/sh
# Each boundary: a checkpoint file and its report; the loss falls with the learning rate's draw.
for b in $(echo "$TUNE_BOUNDARIES" | tr -d '[] ' | tr ',' ' '); do
  echo "$TUNE_PARAMS $b" > "$TUNE_CHECKPOINT_DIR/c$b"
  echo "TUNE {\"examples\": $b, \"checkpoint\": \"c$b\", \"val_loss\": $(( 100000 / b ))}"
done
echo "fork offered: ${TUNE_FORK:-no}" >&2
"#,
    )
    .unwrap();
    let mut spec = toy_spec(3, 2, "shell");
    spec["trainer"]["command"] = serde_json::json!(["sh", script]);
    ok(run(&write_spec(dir.path(), &spec)));
    let rows = leaderboard(dir.path());
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r[0] == "complete"), "{rows:?}");
    let log = std::fs::read_to_string(dir.path().join("runs/toy/trials/2/output.log")).unwrap();
    assert_eq!(log.matches("TUNE {").count(), 5, "{log}");
    // The offer is in its environment, which it may ignore.
    assert!(log.contains("fork offered: 2"), "{log}");
}

/// One program for the whole study: the first worker's program serves the other workers too
/// (each gets a server forked from it), so its imports run once whatever `parallel` is; each
/// trial's output still goes to its own log only, and the trials are those of a process per trial.
#[test]
fn every_worker_forks_from_the_first_program_and_each_trial_logs_its_own_output() {
    if !python() {
        return;
    }
    let (plain, _) = toy_run(Some(false), serde_json::json!({}), "share-off");
    let dir = tempdir();
    let record = dir.path().join("record");
    std::fs::create_dir_all(&record).unwrap();
    let mut spec = toy_spec(4, 3, "share-on");
    spec["trainer"]["env"] = serde_json::json!({ "TOY_RECORD": record.display().to_string() });
    ok(run(&write_spec(dir.path(), &spec)));
    assert_eq!(leaderboard(dir.path()), plain);
    let seen = records(&record);
    assert_eq!(seen.len(), 4);
    let programs: std::collections::BTreeSet<_> = seen
        .values()
        .map(|r| r["program"].as_u64().unwrap())
        .collect();
    assert_eq!(programs.len(), 1, "one program served all: {seen:?}");
    // Each worker forked its trials from a server of its own.
    let servers: std::collections::BTreeSet<_> = seen
        .values()
        .map(|r| r["server"].as_u64().unwrap())
        .collect();
    assert!(servers.len() >= 2, "the workers' servers: {seen:?}");
    for n in 0..4 {
        let log =
            std::fs::read_to_string(dir.path().join(format!("runs/toy/trials/{n}/output.log")))
                .unwrap();
        let reports: Vec<&str> = log.lines().filter(|l| l.starts_with("TUNE {")).collect();
        assert_eq!(
            reports.len(),
            5,
            "trial {n}'s log holds its own reports only: {log}"
        );
        assert!(
            !log.contains("TUNE_SERVING") && !log.contains("TUNE_SHARES"),
            "{log}"
        );
    }
    assert!(gone("share-on").is_empty());
}
