//! A program's checkpoints in PostgreSQL, streamed: a checkpoint of hundreds of megabytes is
//! written and read back by workers whose memory stays far below its size; a worker frozen in the
//! middle of a stream, past its lease, leaves nothing named or kept; and a study of an earlier
//! build (each checkpoint's files inside its record) still resumes.

use std::thread::JoinHandle;

use super::*;

/// The toy trainer's checkpoints padded to this size (TOY_PAD): far above the memory allowed.
const PAD: u64 = 256 << 20;

/// What a worker's resident memory may reach at most (its peak, VmHWM) while it streams
/// checkpoints of [`PAD`] bytes in and out; a worker holding one whole needs more.
const MEMORY: u64 = 100 << 20;

/// Watches process `pid` until it ends: its peak resident memory in bytes (VmHWM, read every few
/// milliseconds; a peak is never lowered, so the last reading before its end is the peak).
fn peak(pid: u32) -> JoinHandle<u64> {
    std::thread::spawn(move || {
        let path = format!("/proc/{pid}/status");
        let mut peak = 0;
        // A process that ended (a zombie, or reaped) has no memory figures any more.
        while let Some(kb) = std::fs::read_to_string(&path).ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        }) {
            peak = peak.max(kb << 10);
            std::thread::sleep(Duration::from_millis(5));
        }
        peak
    })
}

/// `kill -SIGNAL pid`.
fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}

/// One number from `sql`.
fn count(db: &mut postgres::Client, sql: &str) -> i64 {
    db.query_one(sql, &[]).unwrap().get(0)
}

/// Payloads that no checkpoint row and no selected row names.
const UNNAMED: &str = "SELECT count(*) FROM tune_payloads p
    WHERE NOT EXISTS (SELECT 1 FROM tune_checkpoints c WHERE c.payload = p.id)
    AND NOT EXISTS (SELECT 1 FROM tune_best b WHERE b.payload = p.id)";

/// Whether a `COPY` into the chunks is under way on the server.
fn streaming(db: &mut postgres::Client) -> bool {
    count(
        db,
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'
         AND query LIKE 'COPY tune_chunks%' AND datname = current_database()",
    ) > 0
}

/// The toy trainer's study: `trials` trials of `epochs` virtual epochs, `env` its settings.
fn toy_study(
    dir: &Path,
    name: &str,
    trials: usize,
    epochs: u64,
    env: serde_json::Value,
) -> PathBuf {
    let program = Path::new(env!("CARGO_MANIFEST_DIR")).join("studies/programs/toy_trainer.py");
    std::fs::create_dir_all(dir).unwrap();
    write_spec(
        dir,
        &serde_json::json!({
            "name": name,
            "seed": 5,
            "trainer": { "command": ["python3", program, "tune-test-pg-payloads"], "env": env },
            "budget": { "total_examples": 200 * epochs, "virtual_epochs": epochs },
            "search": { "method": "random", "trials": trials, "space": {
                "batch_size": [8, 16], "learning_rate": { "low": 0.001, "high": 0.05, "log": true } } }
        }),
    )
}

/// The leaderboard of a local run of `spec` (the journal and checkpoints in a folder).
fn local_board(spec: &Path, out: &Path) -> Vec<Vec<String>> {
    ok(tune(&[
        "-q".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        spec.as_os_str(),
    ]));
    columns(&out.join("leaderboard.csv"), PROGRAM_COLUMNS)
}

/// Whether the epoch-`k` record of the trial is journalled.
fn recorded(db: &mut postgres::Client, k: u32) -> bool {
    let like = format!("%\"virtual_epoch\":{k},%");
    db.query_one(
        "SELECT count(*) FROM tune_events WHERE body LIKE '{\"event\":\"epoch_done\"%' AND body LIKE $1",
        &[&like],
    )
    .unwrap()
    .get::<_, i64>(0)
        > 0
}

/// The sum of the selected checkpoint's payload as the database holds it (its chunks read one
/// at a time, as a third machine would), and the sum its record names.
fn stored_sum(db: &mut postgres::Client) -> (String, String) {
    let row = db
        .query_one("SELECT bytes, payload FROM tune_best", &[])
        .unwrap();
    let record = tune::artifacts::Checkpoint::from_bytes(Path::new("best"), row.get(0)).unwrap();
    let id: i64 = row.get(1);
    let chunks = count(
        db,
        &format!("SELECT count(*) FROM tune_chunks WHERE payload = {id}"),
    );
    let mut crc = crc32fast::Hasher::new();
    for seq in 0..chunks as i32 {
        let r = db
            .query_one(
                "SELECT bytes FROM tune_chunks WHERE payload = $1 AND seq = $2",
                &[&id, &seq],
            )
            .unwrap();
        let bytes: &[u8] = r.get(0);
        // The sum covers the stream after its kind byte.
        crc.update(if seq == 0 { &bytes[1..] } else { bytes });
    }
    let want = record.meta.files.expect("a program's checkpoint").crc32;
    (format!("{:08x}", crc.finalize()), want)
}

#[test]
fn a_checkpoint_of_hundreds_of_megabytes_streams_in_bounded_memory_and_fenced() {
    let _serial = one_at_a_time();
    if !toy::python() {
        return;
    }
    let Some(url) = database("payloads") else {
        return;
    };
    let dir = tempdir();
    // One trial of 3 virtual epochs, each checkpoint padded to PAD bytes (blanks after its JSON:
    // the same training as without).
    let pad = serde_json::json!({ "TOY_PAD": PAD.to_string(), "TOY_SLEEP": "0.01" });
    let spec = toy_study(&dir.path().join("padded"), "padded", 1, 3, pad);
    let plain = toy_study(
        &dir.path().join("plain"),
        "padded",
        1,
        3,
        serde_json::json!({}),
    );
    let expected = local_board(&plain, &dir.path().join("local"));
    // The first worker streams its checkpoints; it is frozen in the middle of the second one's
    // stream and stays frozen past its lease.
    let a = start("run", &spec, &url, &dir.path().join("a"));
    let a_peak = peak(a.id());
    let mut db = opened(&url);
    let t = Instant::now();
    while !(recorded(&mut db, 1) && streaming(&mut db)) {
        assert!(t.elapsed() < Duration::from_secs(120), "no second stream");
        std::thread::sleep(Duration::from_millis(2));
    }
    signal(a.id(), "-STOP");
    assert!(
        streaming(&mut db),
        "the frozen worker's stream is still open"
    );
    assert_eq!(
        count(
            &mut db,
            "SELECT count(*) FROM tune_payloads WHERE epoch = 2"
        ),
        0,
        "a stream not committed is seen by no one"
    );
    // A second machine takes the trial over, reading the first checkpoint back, and ends it.
    let b = start("worker", &spec, &url, &dir.path().join("b"));
    let b_peak = peak(b.id());
    let b = finish(b);
    let said = String::from_utf8_lossy(&b.stderr);
    assert!(
        !said.contains("passed over") && !said.contains("starts over"),
        "{said}"
    );
    let read_back = dir.path().join("b/trials/0/ckpt-0001.files/ckpt-200.json");
    let size = std::fs::metadata(&read_back).map(|m| m.len()).unwrap_or(0);
    assert!(size > PAD, "{}: {size} bytes", read_back.display());
    // The frozen worker comes back: its stream ends, and its write is refused and removed.
    signal(a.id(), "-CONT");
    let a = finish(a);
    let said = String::from_utf8_lossy(&a.stderr);
    assert!(said.contains("another worker took it over"), "{said}");
    let board = dir.path().join("b/leaderboard.csv");
    assert_eq!(columns(&board, PROGRAM_COLUMNS), expected);
    assert_eq!(count(&mut db, "SELECT attempt FROM tune_trials"), 2);
    assert_eq!(
        count(&mut db, UNNAMED),
        0,
        "payloads nothing names are removed"
    );
    assert_eq!(count(&mut db, "SELECT count(*) FROM tune_payloads"), 1);
    let (got, want) = stored_sum(&mut db);
    assert_eq!(got, want, "the selected checkpoint as stored");
    for (who, p) in [("first", a_peak), ("second", b_peak)] {
        let p = p.join().unwrap();
        assert!(
            p > 0 && p < MEMORY,
            "the {who} worker's peak memory: {} MiB with checkpoints of {} MiB",
            p >> 20,
            PAD >> 20
        );
        eprintln!(
            "the {who} worker's peak memory: {:.1} MiB",
            p as f64 / (1 << 20) as f64
        );
    }
}

/// Makes the study's tables what an earlier build left: each program's checkpoint packed after
/// its record in the row's bytes, no payload tables or columns. The rows converted.
fn as_an_earlier_build(db: &mut postgres::Client) -> usize {
    let mut converted = 0;
    for (table, key) in [
        ("tune_checkpoints", "AND epoch = $4"),
        ("tune_best", "AND $4::int IS NOT NULL"),
    ] {
        let rows = db
            .query(
                &format!("SELECT study, trial, epoch, bytes, payload FROM {table} WHERE payload IS NOT NULL"),
                &[],
            )
            .unwrap();
        for r in rows {
            let (s, t, k, id): (i64, i64, i32, i64) = (r.get(0), r.get(1), r.get(2), r.get(4));
            let packed: Vec<u8> = db
                .query_one(
                    "SELECT string_agg(bytes, ''::bytea ORDER BY seq) FROM tune_chunks WHERE payload = $1",
                    &[&id],
                )
                .unwrap()
                .get(0);
            let joined = tune::artifacts::pack::join(r.get(3), &packed);
            let sql =
                format!("UPDATE {table} SET bytes = $1 WHERE study = $2 AND trial = $3 {key}");
            db.execute(&sql, &[&joined, &s, &t, &k]).unwrap();
            converted += 1;
        }
    }
    db.batch_execute(
        "ALTER TABLE tune_checkpoints DROP COLUMN payload; ALTER TABLE tune_best DROP COLUMN payload;
         DROP TABLE tune_chunks; DROP TABLE tune_payloads;",
    )
    .unwrap();
    converted
}

#[test]
fn a_study_of_an_earlier_build_with_files_inside_its_records_still_resumes() {
    let _serial = one_at_a_time();
    if !toy::python() {
        return;
    }
    let Some(url) = database("joined") else {
        return;
    };
    let dir = tempdir();
    // Folders (trials 1 and 3) and files, slow enough for a worker to be killed mid-trial.
    let env = serde_json::json!({
        "TOY_SLEEP": "0.004", "TOY_MODE": "folder_checkpoint", "TOY_BAD_TRIALS": "1,3" });
    let spec = toy_study(dir.path(), "joined", 4, 4, env);
    let expected = local_board(&spec, &dir.path().join("local"));
    let mut first = start("run", &spec, &url, &dir.path().join("a"));
    let mut db = opened(&url);
    let taken = mid_trial(&mut db, first.id()).expect("a trial under way");
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(as_an_earlier_build(&mut db) > 0, "checkpoints to convert");
    // This build makes its tables again beside the old rows, reads them, and ends the study.
    let second = finish(start("worker", &spec, &url, &dir.path().join("b")));
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(
        !said.contains("passed over") && !said.contains("starts over"),
        "{said}"
    );
    assert_eq!(
        columns(&dir.path().join("b/leaderboard.csv"), PROGRAM_COLUMNS),
        expected
    );
    assert_eq!(
        attempts(&mut db, taken),
        2,
        "trial {taken} was taken over from its old checkpoint"
    );
    assert_eq!(count(&mut db, UNNAMED), 0);
}
