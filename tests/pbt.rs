//! Population-based training end to end: the same lineage and weights whatever the workers and
//! however often the study is killed; exploits that carry the copied member's state; a replay
//! that reaches the winner's weights bit for bit; retention; refusals.

mod common;
mod toy;
use common::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tune::artifacts::{Checkpoint, Checkpointer};
use tune::outputs::replay::{self, Segment};
use tune::plan::{Overrides, StudyPlan};
use tune::storage::journal::replay as read_journal;
use tune::storage::{Exploit, History};

fn history(study: &Path) -> History {
    read_journal(&study.join("journal.jsonl")).unwrap().history
}

/// Every exploit of the study, by boundary then member.
fn lineage(h: &History) -> Vec<Exploit> {
    let mut all: Vec<Exploit> = h.trials.values().flat_map(|t| t.exploits.clone()).collect();
    all.sort_by_key(|x| (x.virtual_epoch, x.trial));
    all
}

fn checkpoint(study: &Path, trial: u64, k: u32) -> Checkpoint {
    let c = Checkpointer::new(study.join("trials").join(trial.to_string()));
    Checkpoint::load(&c.path(k)).unwrap()
}

/// What a run leaves that must not depend on how it ran: the lineage, each member's final
/// parameters, curve (seconds aside) and final weights and optimizer state.
type Outcome = (
    Vec<Exploit>,
    Vec<(String, Vec<(u32, u64, u64, u64)>)>,
    Vec<Checkpoint>,
);

fn outcome(study: &Path) -> Outcome {
    let h = history(study);
    let members = h
        .trials
        .values()
        .map(|t| {
            let rows = t.curve.iter().map(|r| {
                let bits = (r.val_loss.to_bits(), r.examples_seen);
                (r.virtual_epoch, r.steps, bits.0, bits.1)
            });
            (format!("{:?}", t.params), rows.collect())
        })
        .collect();
    let mut weights: Vec<Checkpoint> = (0..4).map(|m| checkpoint(study, m, 6)).collect();
    for c in &mut weights {
        // Only the state: the record around it holds seconds.
        c.meta = tune::artifacts::CheckpointMeta::fresh(0, &Default::default());
    }
    (lineage(&h), members, weights)
}

#[test]
fn one_or_two_workers_give_the_same_lineage_and_weights_and_replay_reaches_them() {
    let one = tempdir();
    ok(run(&write_spec(one.path(), &pbt_spec(1, 6000))));
    let study = one.path().join("runs/tiny");
    let want = outcome(&study);
    assert!(want.0.len() >= 4, "one exploit a boundary: {:?}", want.0);
    let two = tempdir();
    ok(run(&write_spec(two.path(), &pbt_spec(2, 6000))));
    assert!(want == outcome(&two.path().join("runs/tiny")));
    assert_eq!(
        std::fs::read_to_string(study.join("lineage.csv")).unwrap(),
        std::fs::read_to_string(two.path().join("runs/tiny/lineage.csv")).unwrap()
    );

    // Each member's final parameters and ancestry in the leaderboard.
    let h = history(&study);
    let board = columns(
        &study.join("leaderboard.csv"),
        &["learning_rate", "ancestry"],
    );
    for (t, row) in h.trials.values().zip(&board) {
        assert_eq!(row[0], t.params["learning_rate"].to_string());
        assert_eq!(row[1], replay::ancestry(&h, t.trial));
    }
    assert!(board.iter().any(|r| r[1].contains('>')), "{board:?}");
    // lineage.csv: a row per member and boundary; the member copied at each exploit.
    let (head, rows) = read_csv(&study.join("lineage.csv"));
    assert_eq!(
        head[..5],
        [
            "member",
            "interval",
            "virtual_epoch",
            "examples_seen",
            "source"
        ]
    );
    assert_eq!(rows.len(), 4 * 6);
    for x in &want.0 {
        let r = rows
            .iter()
            .find(|r| r[0] == x.trial.to_string() && r[2] == x.virtual_epoch.to_string())
            .unwrap();
        assert_eq!(r[4], x.source.to_string());
    }
    // The report marks each exploit's jump and gives the winner's schedule.
    let report = std::fs::read_to_string(study.join("report.html")).unwrap();
    assert_eq!(report.matches("class=\"exploit\"").count(), want.0.len());
    assert!(report.contains("<table id=\"schedule\">"));
    // Retention: only the last checkpoint of each member is left (keep 1), none kept for an
    // exploit that happened.
    for m in 0..4 {
        let saved = Checkpointer::new(study.join("trials").join(m.to_string())).saved();
        assert_eq!(saved, [6], "member {m}");
    }

    // Every member's schedule, trained again from scratch, reaches its weights bit for bit.
    let spec = study.parent().unwrap().parent().unwrap().join("study.json");
    for m in 0..4u64 {
        let out = ok(tune(&[
            "replay".as_ref(),
            spec.as_os_str(),
            "--member".as_ref(),
            m.to_string().as_ref(),
        ]));
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(said.contains("bit for bit"), "{said}");
    }
    let replayed = Checkpoint::load(&study.join("replay/ckpt-0006.safetensors")).unwrap();
    assert_eq!(replayed.weights, checkpoint(&study, 3, 6).weights);
}

#[test]
fn an_exploiting_member_goes_on_from_the_copied_state_with_its_new_parameters() {
    let dir = tempdir();
    let mut spec = pbt_spec(1, 6000);
    // Every checkpoint kept, to train from them here.
    spec["keep"] = serde_json::json!(10);
    let file = write_spec(dir.path(), &spec);
    ok(run(&file));
    let study = dir.path().join("runs/tiny");
    let h = history(&study);
    let plan = StudyPlan::load(
        &file,
        &Overrides::default(),
        &tune::runner::mlp::params::FAMILY,
    )
    .unwrap();
    let runner = tune::runner::mlp::MlpRunner::new(&plan);
    let x = lineage(&h).into_iter().find(|x| x.old != x.new).unwrap();
    let (m, s, k) = (x.trial, x.source, x.virtual_epoch);
    let want = checkpoint(&study, m, k + 1);
    let next = |start: Checkpoint, streams: u64| {
        let stretch = Segment {
            member: m,
            from: k,
            to: k + 1,
            params: x.new.clone(),
        };
        replay::train(&plan, &runner, (Some(start), Some(streams)), &[stretch]).unwrap()
    };
    // Tensors by name: in memory they are in the network's order, in a file in the file's.
    let sorted = |mut v: Vec<tune::artifacts::HostTensor>| {
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    };
    // The source's checkpoint, trained on under the new parameters: the member's next one.
    let got = next(checkpoint(&study, s, k), h.streams_of(s));
    assert_eq!(sorted(got.weights), sorted(want.weights.clone()));
    assert_eq!(sorted(got.optimizer.m), sorted(want.optimizer.m.clone()));
    assert_eq!(got.optimizer.t, want.optimizer.t);
    // Its own state under the same parameters is not: the state came along.
    let own = next(checkpoint(&study, m, k), m);
    assert_ne!(sorted(own.weights), sorted(want.weights));
    // The learning rate changed in place: the member's row records the new one.
    let row = &h.trials[&m].curve[k as usize];
    assert_eq!(
        row.learning_rate.map(|r| r as f32),
        Some(x.new["learning_rate"].as_f64() as f32)
    );
}

/// Kills `spec`'s study at pseudo-random moments until it finished; the kills that landed.
fn kill_until_done(spec: &Path, study: &Path, seed: u64) -> usize {
    let mut x = seed;
    let mut kills = 0;
    for _ in 0..60 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut child = Command::new(env!("CARGO_BIN_EXE_tune"))
            .args(["-q", "--sync-every", "0.03"])
            .arg(spec)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Past start-up first (however slow the machine), then a random moment later.
        let done = work_done(study);
        let t = std::time::Instant::now();
        while work_done(study) <= done
            && child.try_wait().unwrap().is_none()
            && t.elapsed() < Duration::from_secs(30)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(x % 150));
        if child.try_wait().unwrap().is_some() {
            break;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        if kills >= 8 {
            break;
        }
    }
    kills
}

#[test]
fn sigkilled_at_random_moments_it_resumes_to_the_lineage_and_weights_of_a_straight_run() {
    let examples = 120_000;
    let reference = tempdir();
    ok(run(&write_spec(reference.path(), &pbt_spec(1, examples))));
    let want = outcome(&reference.path().join("runs/tiny"));
    for (parallel, seed) in [(1, 0x2545F4914F6CDD1D_u64), (2, 0x9E3779B97F4A7C15)] {
        let dir = tempdir();
        let spec = write_spec(dir.path(), &pbt_spec(parallel, examples));
        let study = dir.path().join("runs/tiny");
        let kills = kill_until_done(&spec, &study, seed);
        assert!(
            kills >= 3,
            "only {kills} kills landed (parallel {parallel})"
        );
        ok(run(&spec));
        let got = outcome(&study);
        assert_eq!(got.0, want.0, "lineage, parallel {parallel}");
        assert_eq!(got.1, want.1, "parameters and curves, parallel {parallel}");
        assert!(got.2 == want.2, "final weights differ, parallel {parallel}");
        assert!(temp_files(&study).is_empty(), "{:?}", temp_files(&study));
    }
}

#[test]
fn wrong_settings_are_refused_in_one_sentence() {
    let cases: [(serde_json::Value, &str); 5] = [
        (
            serde_json::json!({"kind": "pbt", "fixed": ["learning_rate", "nowhere"]}),
            "scheduler.fixed[1]: \"nowhere\" is not a parameter of search.space",
        ),
        (
            serde_json::json!({"kind": "pbt", "quantile": 0.7}),
            "scheduler.quantile",
        ),
        (
            serde_json::json!({"kind": "pbt", "perturb": []}),
            "scheduler.perturb",
        ),
        (
            serde_json::json!({"kind": "pbt", "perturb": [1.2, -1]}),
            "scheduler.perturb[1]",
        ),
        (
            serde_json::json!({"kind": "pbt", "interval_virtual_epochs": 6}),
            "scheduler.interval_virtual_epochs",
        ),
    ];
    for (scheduler, path) in cases {
        let dir = tempdir();
        let mut spec = pbt_spec(1, 6000);
        spec["scheduler"] = scheduler;
        let out = run(&write_spec(dir.path(), &spec));
        assert_eq!(out.status.code(), Some(2), "{path}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(path) && err.trim().lines().count() == 1,
            "{err}"
        );
        assert!(!dir.path().join("runs").exists());
    }
    // Replay is for population-based training.
    let dir = tempdir();
    let spec = write_spec(dir.path(), &tiny_spec(1));
    ok(run(&spec));
    let out = tune(&["replay".as_ref(), spec.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
}

/// A trainer program's population (the toy trainer, its whole state in its checkpoint): an
/// exploiting member is restarted from the copied member's checkpoint (`TUNE_RESUME_FROM`) with its
/// new parameters, so its step count goes on from the source's; one or two workers and SIGKILLs
/// give the same lineage and curves.
#[test]
fn a_trainer_programs_population_goes_on_from_the_copied_checkpoints() {
    if !toy::python() {
        return;
    }
    let spec = |parallel: usize| {
        let mut s = toy::toy_spec(4, parallel, "pbt-toy");
        s["scheduler"] = serde_json::json!({
            "kind": "pbt", "interval_virtual_epochs": 1, "fixed": ["optimizer"]
        });
        s
    };
    let curves = |study: &Path| {
        let h = history(study);
        let rows: Vec<(u64, Vec<(u64, u64)>)> = h
            .trials
            .values()
            .map(|t| {
                let r = t.curve.iter().map(|r| (r.steps, r.val_loss.to_bits()));
                (t.trial, r.collect())
            })
            .collect();
        (lineage(&h), rows)
    };
    let one = tempdir();
    ok(run(&write_spec(one.path(), &spec(1))));
    let study = one.path().join("runs/toy");
    let want = curves(&study);
    assert!(!want.0.is_empty(), "no exploit");
    // The toy's step counter is part of its state: after an exploit at boundary k, the member's
    // steps are the source's at k plus the interval's 400 examples in its new batch size.
    let h = history(&study);
    let mut discriminating = 0;
    for x in &want.0 {
        let k = x.virtual_epoch as usize;
        let member = &h.trials[&x.trial].curve;
        let source = &h.trials[&x.source].curve;
        let batch = x.new["batch_size"].as_f64() as u64;
        // `fixed`: copied from the source, never explored.
        assert_eq!(
            x.new["optimizer"], h.trials[&x.source].params["optimizer"],
            "{x:?}"
        );
        assert_eq!(
            member[k].steps,
            source[k - 1].steps + 400u64.div_ceil(batch),
            "{x:?}"
        );
        discriminating += (source[k - 1].steps != member[k - 1].steps) as usize;
    }
    assert!(
        discriminating > 0,
        "every source had the member's own step count"
    );
    let two = tempdir();
    ok(run(&write_spec(two.path(), &spec(2))));
    assert_eq!(curves(&two.path().join("runs/toy")), want, "parallel 2");
    let killed = tempdir();
    let path = write_spec(killed.path(), &spec(2));
    let at = killed.path().join("runs/toy");
    let kills = kill_until_done(&path, &at, 0x2545F4914F6CDD1D);
    assert!(kills >= 2, "only {kills} kills landed");
    ok(run(&path));
    assert_eq!(curves(&at), want, "killed and resumed");
    assert!(
        toy::processes("pbt-toy").is_empty(),
        "{:?}",
        toy::processes("pbt-toy")
    );
}
