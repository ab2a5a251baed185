//! Population-based training shared by workers through PostgreSQL: members pause at each interval
//! in any worker, whichever worker sees the barrier complete promotes them, each exploit is
//! journalled once, the copied checkpoints are read from the database (a program's files
//! included), and a SIGKILLed worker's member is taken over; the lineage is the one a single
//! process makes with the journal.

use std::path::Path;

use super::*;

/// Four members on wine, 6 virtual epochs, exploiting at each; `examples` sets how long a member
/// trains between pauses.
fn pbt_spec(dir: &Path, examples: u64) -> PathBuf {
    let mut s = tiny_spec(1);
    s["name"] = serde_json::json!("pbt");
    s["model"]["hidden"] = serde_json::json!([48, 48]);
    s["budget"] = serde_json::json!({ "total_examples": examples, "virtual_epochs": 6 });
    s["search"]["trials"] = serde_json::json!(4);
    s["scheduler"] = serde_json::json!({
        "kind": "pbt", "interval_virtual_epochs": 1, "quantile": 0.25,
        "resample_probability": 0.25, "perturb": [0.8, 1.2]
    });
    write_spec(dir, &s)
}

/// `lineage.csv` of the study written to `out`.
fn lineage(out: &Path) -> String {
    std::fs::read_to_string(out.join("lineage.csv")).unwrap()
}

/// The study run by one process in a folder (the journal): its lineage, and how many exploits
/// its journal holds.
fn alone(spec: &Path, dir: &Path) -> (String, usize) {
    let out = dir.join("local");
    ok(tune(&[
        "-q".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        spec.as_os_str(),
    ]));
    let journal = std::fs::read_to_string(out.join("journal.jsonl")).unwrap();
    (
        lineage(&out),
        journal.matches("\"trial_exploited\"").count(),
    )
}

/// The events of the study in `db` of kind `event`, as JSON.
fn events(db: &mut postgres::Client, event: &str) -> Vec<serde_json::Value> {
    let like = format!("{{\"event\":\"{event}\"%");
    db.query("SELECT body FROM tune_events WHERE body LIKE $1", &[&like])
        .unwrap()
        .iter()
        .map(|r| serde_json::from_str(r.get(0)).unwrap())
        .collect()
}

/// Decisions recorded twice: a virtual epoch of a member, or an exploit of a member at a boundary.
fn twice(db: &mut postgres::Client) -> Vec<String> {
    let mut seen = std::collections::BTreeMap::new();
    for v in events(db, "epoch_done") {
        *seen
            .entry(format!(
                "{} epoch {}",
                v["trial"], v["row"]["virtual_epoch"]
            ))
            .or_insert(0) += 1;
    }
    for v in events(db, "trial_exploited") {
        *seen
            .entry(format!("{} exploit at {}", v["trial"], v["virtual_epoch"]))
            .or_insert(0) += 1;
    }
    seen.into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(k, n)| format!("{k}: {n} times"))
        .collect()
}

/// The workers (`owner`s) that recorded virtual epochs.
fn trainers(db: &mut postgres::Client) -> Vec<String> {
    db.query(
        "SELECT DISTINCT writer FROM tune_events WHERE body LIKE '{\"event\":\"epoch_done\"%'",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

#[test]
fn pbt_two_workers_share_a_population_with_the_lineage_of_one_process() {
    let _serial = one_at_a_time();
    let Some(url) = database("pbt") else { return };
    let dir = tempdir();
    let spec = pbt_spec(dir.path(), 120000);
    let (want, exploits) = alone(&spec, dir.path());
    assert!(exploits >= 5, "one exploit a boundary: {exploits}");
    let first = start("run", &spec, &url, &dir.path().join("w0"));
    let mut db = opened(&url);
    let second = start("worker", &spec, &url, &dir.path().join("w1"));
    finish(first);
    finish(second);
    for w in ["w0", "w1"] {
        assert_eq!(lineage(&dir.path().join(w)), want, "{w}");
    }
    // Both trained members; each exploit was decided and journalled once.
    assert_eq!(trainers(&mut db).len(), 2);
    assert_eq!(events(&mut db, "trial_exploited").len(), exploits);
    assert_eq!(twice(&mut db), Vec::<String>::new());
    // Retention in the database: each member's last checkpoint only (keep 1), none kept for an
    // exploit that happened.
    let left: Vec<(i64, i32)> = db
        .query(
            "SELECT trial, epoch FROM tune_checkpoints ORDER BY trial",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(left, [(0, 6), (1, 6), (2, 6), (3, 6)]);
}

/// Waits until the process `pid` holds a member whose last event is its promotion.
fn just_promoted(db: &mut postgres::Client, pid: u32) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(120) {
        let row = db.query_opt(
            "SELECT t.trial FROM tune_trials t WHERE t.state = 'running' AND t.owner LIKE $1
                 AND (SELECT body FROM tune_events e WHERE e.study = t.study AND e.trial = t.trial
                     ORDER BY seq DESC LIMIT 1) LIKE '{\"event\":\"trial_promoted\"%'",
            &[&format!("%:{pid}:%")],
        );
        if row.unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("process {pid} promoted no member");
}

#[test]
fn pbt_worker_killed_mid_study_is_taken_over_with_the_same_lineage() {
    let _serial = one_at_a_time();
    let Some(url) = database("pbtkill") else {
        return;
    };
    let dir = tempdir();
    let spec = pbt_spec(dir.path(), 480000);
    let (want, exploits) = alone(&spec, dir.path());
    let first = start("run", &spec, &url, &dir.path().join("w0"));
    let mut db = opened(&url);
    let mut victim = start("worker", &spec, &url, &dir.path().join("w1"));
    let third = start("worker", &spec, &url, &dir.path().join("w2"));
    // Killed just after it promoted a member (it exploited or went on at a boundary): the
    // member's whole interval is left to train.
    just_promoted(&mut db, victim.id());
    victim.kill().unwrap(); // SIGKILL
    victim.wait().unwrap();
    let held: Vec<i64> = db
        .query(
            "SELECT trial FROM tune_trials WHERE state = 'running' AND owner LIKE $1",
            &[&format!("%:{}:%", victim.id())],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(!held.is_empty(), "the victim held no member when killed");
    finish(first);
    finish(third);
    for w in ["w0", "w2"] {
        assert_eq!(lineage(&dir.path().join(w)), want, "{w}");
    }
    for t in held {
        // Taken over: another worker claimed it once its lease ran out, and finished it.
        let row = db
            .query_one(
                "SELECT state, owner FROM tune_trials WHERE trial = $1",
                &[&t],
            )
            .unwrap();
        assert_eq!(row.get::<_, &str>(0), "ended", "member {t}");
        let owner: &str = row.get(1);
        assert!(
            !owner.contains(&format!(":{}:", victim.id())),
            "member {t}: {owner}"
        );
    }
    assert_eq!(events(&mut db, "trial_exploited").len(), exploits);
    assert_eq!(twice(&mut db), Vec::<String>::new());
}

/// A trainer program's population: an exploiting member restarts from the copied member's
/// checkpoint, whose files the worker continuing it reads from the database (the toy's step
/// counter is in them: its curve shows the state came along).
#[test]
fn pbt_a_programs_population_shares_its_copied_checkpoints_through_the_database() {
    if !toy::python() {
        return;
    }
    let _serial = one_at_a_time();
    let Some(url) = database("pbttoy") else {
        return;
    };
    let dir = tempdir();
    let mut s = toy::toy_spec(4, 1, "pbt-pg-toy");
    s["scheduler"] = serde_json::json!({
        "kind": "pbt", "interval_virtual_epochs": 1, "fixed": ["optimizer"]
    });
    let spec = write_spec(dir.path(), &s);
    let (want, exploits) = alone(&spec, dir.path());
    assert!(exploits > 0, "no exploit");
    let first = start("run", &spec, &url, &dir.path().join("w0"));
    opened(&url);
    let second = start("worker", &spec, &url, &dir.path().join("w1"));
    finish(first);
    finish(second);
    for w in ["w0", "w1"] {
        let out = dir.path().join(w);
        assert_eq!(lineage(&out), want, "{w}");
        // Curves with steps: the copied state's step count goes on in the exploiting member.
        assert_eq!(
            columns(&out.join("leaderboard.csv"), &["trial", "steps"]),
            columns(
                &dir.path().join("local/leaderboard.csv"),
                &["trial", "steps"]
            ),
            "{w}"
        );
    }
    let mut db = client(&url);
    assert_eq!(events(&mut db, "trial_exploited").len(), exploits);
    assert_eq!(twice(&mut db), Vec::<String>::new());
}
