//! `tune serve` on a study kept in PostgreSQL, from a folder that holds nothing of it: the API
//! follows the study as a worker adds to it, and ends with the leaderboard's figures.

use super::*;
use common::serving::{json, serve};

#[test]
fn serve_follows_a_study_in_postgresql() {
    let _one = one_at_a_time();
    let Some(url) = database("serve") else { return };
    let dir = tempdir();
    let spec = write_spec(dir.path(), &tiny_spec(1));
    let out = dir.path().join("out");
    let run = |extra: &[&str]| {
        let mut args = vec!["-q", "--storage", &url, "--out"];
        args.push(out.to_str().unwrap());
        args.extend(extra);
        args.push(spec.to_str().unwrap());
        Command::new(env!("CARGO_BIN_EXE_tune"))
            .args(&args)
            .output()
            .unwrap()
    };
    assert_eq!(run(&["--stop-after-epochs", "2"]).status.code(), Some(130));
    let elsewhere = dir.path().join("elsewhere");
    let server = serve(
        &spec,
        &["--storage", &url, "--out", elsewhere.to_str().unwrap()],
    );
    let addr = &server.addr;
    let rows = |n: u64| {
        json(addr, &format!("/api/trials/{n}/curve"))["rows"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(rows(0), 2);
    let version = json(addr, "/api/version")["version"].as_u64().unwrap();
    ok(run(&[]));
    let after = json(addr, &format!("/api/version?after={version}"))["version"].as_u64();
    assert!(after > Some(version), "the version moves on: {after:?}");
    let start = Instant::now();
    while json(addr, "/api/study")["counts"]["complete"] != 6 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{}",
            json(addr, "/api/study")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let board = columns(
        &out.join("leaderboard.csv"),
        &["trial", "status", "best_val_loss"],
    );
    let trials = json(addr, "/api/trials");
    for (t, row) in trials.as_array().unwrap().iter().zip(&board) {
        assert_eq!(t["trial"].to_string(), row[0]);
        assert_eq!(t["state"], row[1].as_str());
        assert_eq!(t["value"].as_f64(), row[2].parse().ok(), "{t}");
    }
    assert_eq!(board.len(), 6);
    assert_eq!(rows(0), 4);
    assert!(
        !elsewhere.join("journal.jsonl").exists(),
        "serve writes nothing"
    );
}
