//! Schedulers that compare trials, on the real trainer: a trial ASHA paused and promoted ends
//! bit-identical to the same trial run straight, and an ASHA study killed at random moments
//! resumes to the same leaderboard and the same decisions.

mod common;
use common::*;
use std::path::Path;

use tune::artifacts::Checkpoint;

/// Nine random trials of 9 virtual epochs on the wine data; with ASHA (η 3) the rungs are at
/// virtual epochs 1 and 3.
fn spec(scheduler: Option<serde_json::Value>) -> serde_json::Value {
    sized(scheduler, 2700)
}

/// [`spec`] with `examples` a trial.
fn sized(scheduler: Option<serde_json::Value>, examples: u64) -> serde_json::Value {
    let mut s = tiny_spec(1);
    s["search"]["trials"] = 9.into();
    s["budget"] = serde_json::json!({ "total_examples": examples, "virtual_epochs": 9 });
    if let Some(sch) = scheduler {
        s["scheduler"] = sch;
    }
    s
}

fn promote() -> serde_json::Value {
    serde_json::json!({ "kind": "asha", "reduction_factor": 3, "min_virtual_epochs": 1, "mode": "promote" })
}

/// A trial's selected checkpoint, but for its training seconds.
fn best(study: &Path, trial: &str) -> Checkpoint {
    let mut c =
        Checkpoint::load(&study.join("trials").join(trial).join("best.safetensors")).unwrap();
    c.meta.seconds = 0.0;
    c
}

#[test]
fn a_trial_paused_and_promoted_equals_the_same_trial_run_straight() {
    let (straight, asha) = (tempdir(), tempdir());
    ok(run(&write_spec(straight.path(), &spec(None))));
    ok(run(&write_spec(asha.path(), &spec(Some(promote())))));
    let (s, a) = (
        straight.path().join("runs/tiny"),
        asha.path().join("runs/tiny"),
    );
    let journal = std::fs::read_to_string(a.join("journal.jsonl")).unwrap();
    assert!(
        journal.contains(r#""event":"trial_promoted""#),
        "no promotion"
    );
    let rows = columns(&a.join("leaderboard.csv"), &["trial", "status"]);
    let complete: Vec<&String> = rows
        .iter()
        .filter(|r| r[1] == "complete")
        .map(|r| &r[0])
        .collect();
    assert!(!complete.is_empty(), "{rows:?}");
    assert!(rows.iter().any(|r| r[1] == "pruned"), "{rows:?}");
    for n in complete {
        // Paused at virtual epochs 1 and 3 and resumed from those checkpoints: the same bits.
        assert_eq!(best(&a, n), best(&s, n), "trial {n}");
        let curve =
            |d: &Path| std::fs::read_to_string(d.join("trials").join(n).join("curve.csv")).unwrap();
        assert_eq!(curve(&a), curve(&s), "trial {n}");
    }
    // Trials that reached the full budget rank first.
    let ranked = columns(&a.join("leaderboard.csv"), &["rank", "status"]);
    let mut by_rank: Vec<(usize, String)> = ranked
        .iter()
        .map(|r| (r[0].parse().unwrap(), r[1].clone()))
        .collect();
    by_rank.sort();
    let first_pruned = by_rank.iter().position(|r| r.1 == "pruned").unwrap();
    assert!(
        by_rank[first_pruned..].iter().all(|r| r.1 == "pruned"),
        "{by_rank:?}"
    );
}

#[test]
fn sigkill_during_an_asha_study_then_resume_gives_the_same_leaderboard_and_decisions() {
    killed_and_resumed(promote());
}

/// Hyperband's brackets pause and promote as ASHA does: the same after kills.
#[test]
fn sigkill_during_a_hyperband_study_then_resume_gives_the_same_leaderboard_and_decisions() {
    killed_and_resumed(serde_json::json!({ "kind": "hyperband", "reduction_factor": 3 }));
}

/// A study with `scheduler`, SIGKILLed at random moments and resumed, ends as one run straight:
/// the same leaderboard and the same decisions.
fn killed_and_resumed(scheduler: serde_json::Value) {
    // Long enough (seconds here) for kills to land at every stage.
    let spec = || sized(Some(scheduler.clone()), 1_500_000);
    let reference = tempdir();
    let t0 = std::time::Instant::now();
    ok(run(&write_spec(reference.path(), &spec())));
    let span = t0.elapsed().as_millis() as u64 + 1;
    let want_study = reference.path().join("runs/tiny");
    let mut cols: Vec<&str> = METRICS.to_vec();
    cols.push("reason");
    let want = columns(&want_study.join("leaderboard.csv"), &cols);
    let want_decisions = decisions(&want_study);

    let dir = tempdir();
    let spec_path = write_spec(dir.path(), &spec());
    let study = dir.path().join("runs/tiny");
    let kills = kill_at_random_moments(&spec_path, span, 0x9E3779B97F4A7C15, 8);
    assert!(kills >= 4, "only {kills} kills landed");
    ok(run(&spec_path));
    assert_eq!(columns(&study.join("leaderboard.csv"), &cols), want);
    assert_eq!(decisions(&study), want_decisions);
}

/// Four trials are too few for ASHA's rungs to fill (η 3 at rungs 1 and 3): once all four have
/// started, the rung that can no longer gather η trials promotes its best, so the study ends with
/// the best of its last rung trained to the whole budget, where it ended with no trial trained to
/// it.
#[test]
fn a_study_too_small_for_its_rungs_still_trains_the_best_of_its_highest_rung_to_the_end() {
    let dir = tempdir();
    let mut s = spec(Some(promote()));
    s["search"]["trials"] = 4.into();
    ok(run(&write_spec(dir.path(), &s)));
    let study = dir.path().join("runs/tiny");
    let rows = columns(
        &study.join("leaderboard.csv"),
        &["trial", "status", "examples_seen"],
    );
    let complete: Vec<&Vec<String>> = rows.iter().filter(|r| r[1] == "complete").collect();
    assert!(!complete.is_empty(), "{rows:?}");
    assert!(complete.iter().all(|r| r[2] == "2700"), "{rows:?}");
    // Of the trials that reached virtual epoch 3 (the last rung), the best there is complete.
    let at3: Vec<(String, f64)> = rows
        .iter()
        .filter_map(|r| {
            let (h, curve) = read_csv(&study.join("trials").join(&r[0]).join("curve.csv"));
            let col = h.iter().position(|c| c == "val_loss").unwrap();
            let losses: Vec<f64> = curve
                .iter()
                .take(3)
                .map(|c| c[col].parse().unwrap())
                .collect();
            (losses.len() == 3).then(|| (r[0].clone(), losses.into_iter().fold(f64::MAX, f64::min)))
        })
        .collect();
    assert!(!at3.is_empty(), "{rows:?}");
    let best = at3.iter().min_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
    assert!(complete.iter().any(|r| r[0] == best.0), "{at3:?} {rows:?}");
}
