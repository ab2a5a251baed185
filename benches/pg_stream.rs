//! A program's checkpoint through PostgreSQL as a worker streams it: `cargo bench --bench
//! pg_stream -- URL FILE` takes FILE over as trial 0's checkpoint of virtual epoch 1 (a hard link
//! to it is moved, as a program's file is), stores it (`PgStore::adopt`, `put`, `set_best`,
//! `sync`: the stream into the chunks and the record that names it), and reads it back (`get`:
//! the stream out of the database, unpacked to a folder, its sum checked), in a study of its own.
//! Prints `write_s`, `read_s`, the bytes, and this process's peak resident memory during each
//! (`write_peak_mib`, `read_peak_mib`, reset between them) and before (`base_rss_mib`), as
//! `key value` lines; before each phase the server checkpoints (a `CHECKPOINT`, when the user may)
//! and the disk is synced. `benches/pg/stream.sh` runs it beside its peers.

use std::path::Path;
use std::time::Instant;

use tune::artifacts::{ArtifactStore, Checkpoint, CheckpointMeta, PgStore};
use tune::storage::postgres::PgStorage;
use tune::storage::Storage;

/// A figure of this process's (`VmRSS`, `VmHWM`) in MiB.
fn memory(key: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(f64::NAN);
    kb / 1024.0
}

/// Sets the peak (`VmHWM`) back to the present resident size.
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").expect("/proc/self/clear_refs");
}

/// Has the server write what is dirty (a `CHECKPOINT`) and the disk settle, so that a phase does
/// not pay for the one before; a user who may not is told so once.
fn settle(url: &str) {
    let done = postgres::Client::connect(url, postgres::NoTls)
        .and_then(|mut c| c.batch_execute("CHECKPOINT"));
    if let Err(e) = done {
        eprintln!("pg_stream: no CHECKPOINT between phases ({e})");
    }
    unsafe { libc::sync() };
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [url, file] = &args[..] else {
        eprintln!("usage: cargo bench --bench pg_stream -- URL FILE");
        std::process::exit(2);
    };
    let file = Path::new(file);
    let work = file.with_extension("bench");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(work.join("program")).unwrap();
    let mut storage = PgStorage::connect(url, false).unwrap();
    let name = format!("pg-stream-{}", std::process::id());
    storage.open(&name, &Default::default()).unwrap();
    assert_eq!(storage.claim(Some(0)).unwrap(), Some(0));
    let store = PgStore::new(storage.pg(), &work.join("trials"));
    store.begin(0).unwrap();
    let from = work.join("program/ckpt.bin");
    std::fs::hard_link(file, &from).unwrap();
    println!("base_rss_mib {:.1}", memory("VmRSS:"));

    settle(url);
    reset_peak();
    let t = Instant::now();
    let (payload, _) = store.adopt(0, 1, &from).unwrap();
    let mut meta = CheckpointMeta::fresh(0, &Default::default());
    meta.virtual_epoch = 1;
    meta.files = Some(payload.clone());
    let ckpt = Checkpoint {
        meta,
        weights: vec![],
        optimizer: Default::default(),
        files: None,
    };
    store.put(0, &ckpt).unwrap();
    store.set_best(0, 1).unwrap();
    store.sync(0).unwrap();
    println!("write_s {:.3}", t.elapsed().as_secs_f64());
    println!("write_peak_mib {:.1}", memory("VmHWM:"));

    settle(url);
    reset_peak();
    let t = Instant::now();
    let back = store.get(0, 1).unwrap();
    println!("read_s {:.3}", t.elapsed().as_secs_f64());
    println!("read_peak_mib {:.1}", memory("VmHWM:"));
    let path = back.files.expect("its files");
    let size = std::fs::metadata(&path).unwrap().len();
    assert_eq!(size, payload.bytes, "{}", path.display());
    println!("bytes {size}");
    std::fs::remove_dir_all(&work).unwrap();
}
