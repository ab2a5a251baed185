//! A command trainer's files are part of its study (the fingerprint's `code`): a resume after
//! the script or a `trainer.code` file changed is refused, naming them, unless
//! `--allow-code-change`, which journals the change and shows it in the report and status.

mod common;
mod toy;
use common::*;
use toy::*;

use std::path::{Path, PathBuf};
use std::process::Output;

/// A toy study of 4 trials, one at a time, run from a copy of the toy trainer in `dir`.
fn study(dir: &Path, marker: &str) -> (PathBuf, serde_json::Value) {
    copy_toy_program(dir);
    let mut spec = toy_spec(4, 1, marker);
    spec["trainer"]["command"] = serde_json::json!(["python3", "toy_trainer.py", marker]);
    (write_spec(dir, &spec), spec)
}

/// Runs `spec` with `args` first.
fn tune_with(args: &[&str], spec: &Path) -> Output {
    let mut all: Vec<&std::ffi::OsStr> = vec!["-q".as_ref()];
    all.extend(args.iter().map(std::ffi::OsStr::new));
    all.push(spec.as_os_str());
    tune(&all)
}

/// Runs `spec` until `epochs` virtual epochs are checkpointed (interrupted, exit 130).
fn stop_after(spec: &Path, epochs: u64) {
    let out = tune_with(&["--stop-after-epochs", &epochs.to_string()], spec);
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn append(path: &Path, text: &str) {
    let mut s = std::fs::read_to_string(path).unwrap();
    s += text;
    std::fs::write(path, s).unwrap();
}

#[test]
fn an_edited_script_is_refused_on_resume_naming_it_unless_the_change_is_allowed() {
    if !python() {
        return;
    }
    let dir = tempdir();
    let (spec, mut json) = study(dir.path(), "code-edit");
    let journal = dir.path().join("runs/toy/journal.jsonl");
    stop_after(&spec, 7);
    // Unchanged, it resumes.
    stop_after(&spec, 2);
    let before = std::fs::read(&journal).unwrap();
    append(&dir.path().join("toy_trainer.py"), "\n# edited\n");
    let out = tune_with(&[], &spec);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let msg = stderr(&out);
    assert!(msg.contains("changed toy_trainer.py"), "{msg}");
    assert!(msg.contains("--allow-code-change"), "{msg}");
    assert_eq!(msg.trim().lines().count(), 1, "{msg}");
    assert_eq!(std::fs::read(&journal).unwrap(), before, "a refusal wrote");

    // A file added to `trainer.code` is a change too, named as added.
    std::fs::write(dir.path().join("helper.py"), "X = 1\n").unwrap();
    json["trainer"]["code"] = serde_json::json!(["*.py"]);
    write_spec(dir.path(), &json);
    let msg = stderr(&tune_with(&[], &spec));
    assert!(msg.contains("added helper.py"), "{msg}");
    assert!(msg.contains("changed toy_trainer.py"), "{msg}");

    let out = ok(tune_with(&["--allow-code-change"], &spec));
    assert!(
        stderr(&out).contains("code version 2 from trial"),
        "{}",
        stderr(&out)
    );
    let text = std::fs::read_to_string(&journal).unwrap();
    let changes: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "code_changed")
        .collect();
    assert_eq!(changes.len(), 1, "{text}");
    let crc = |p: &str| {
        format!(
            "{:08x}",
            crc32fast::hash(&std::fs::read(dir.path().join(p)).unwrap())
        )
    };
    assert_eq!(
        changes[0]["changed"]["toy_trainer.py"],
        crc("toy_trainer.py")
    );
    assert_eq!(changes[0]["changed"]["helper.py"], crc("helper.py"));
    let from = changes[0]["from_trial"].as_u64().unwrap();
    assert!((1..4).contains(&from), "{from}");
    // The interrupted trial went on under the new code.
    assert_eq!(changes[0]["resumed"], serde_json::json!([from - 1]));
    let rows = leaderboard(dir.path());
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r[0] == "complete"), "{rows:?}");

    let report = std::fs::read_to_string(dir.path().join("runs/toy/report.html")).unwrap();
    assert!(report.contains("<table id=\"code\">"), "no code section");
    assert!(
        report.contains(&format!("{} (1→2)", from - 1)),
        "resumed trial not shown"
    );
    let status = ok(tune(&["status".as_ref(), spec.as_os_str()]));
    let status = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(status.contains(&format!("trial {:>3}", from)), "{status}");
    let line = |t: u64| {
        status
            .lines()
            .find(|l| l.contains(&format!("trial {t:>3}")))
            .unwrap()
            .to_string()
    };
    assert!(line(0).ends_with("code 1"), "{status}");
    assert!(line(from).ends_with("code 2"), "{status}");

    // The new code is the study's now: it resumes (nothing to do) without the flag.
    ok(tune_with(&[], &spec));
}

#[test]
fn trainer_code_globs_that_match_nothing_or_are_malformed_are_refused_before_anything_is_written() {
    let dir = tempdir();
    let (spec, mut json) = study(dir.path(), "code-glob");
    for (globs, path, words) in [
        (
            serde_json::json!(["*.py", "models/**/*.py"]),
            "trainer.code[1]",
            "matches no file",
        ),
        (
            serde_json::json!(["[x.py"]),
            "trainer.code[0]",
            "never closed",
        ),
        (
            serde_json::json!(["../*.py"]),
            "trainer.code[0]",
            "leaves the folder",
        ),
    ] {
        json["trainer"]["code"] = globs;
        write_spec(dir.path(), &json);
        let out = tune_with(&[], &spec);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let msg = stderr(&out);
        assert!(msg.contains(path) && msg.contains(words), "{msg}");
        assert!(!dir.path().join("runs").exists());
    }
}

/// The journal at `path` with its first record's fingerprint rid of its `code`, as a build before
/// it was recorded wrote it.
fn forget_code(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let (first, rest) = text.split_once('\n').unwrap();
    let start = first.find("\"code\":{").expect("a code key");
    let end = start + first[start..].find('}').unwrap() + 2;
    let first = format!("{}{}", &first[..start], &first[end..]);
    assert!(!first.contains("\"code\""), "{first}");
    let body = &first[..first.rfind(",\"crc\":").unwrap()];
    let crc = crc32fast::hash(body.as_bytes());
    std::fs::write(path, format!("{body},\"crc\":\"{crc:08x}\"}}\n{rest}")).unwrap();
}

#[test]
fn a_study_made_before_code_was_recorded_resumes_and_records_it() {
    if !python() {
        return;
    }
    let dir = tempdir();
    let (spec, _) = study(dir.path(), "code-old");
    let journal = dir.path().join("runs/toy/journal.jsonl");
    stop_after(&spec, 7);
    forget_code(&journal);
    // What the study ran is unknown: any code resumes, and is recorded from then on.
    append(&dir.path().join("toy_trainer.py"), "\n# edited\n");
    stop_after(&spec, 2);
    let text = std::fs::read_to_string(&journal).unwrap();
    assert_eq!(
        text.matches("\"event\":\"code_changed\"").count(),
        1,
        "{text}"
    );
    assert!(text.contains("\"from_trial\":2,"), "{text}");
    // Status tells the trials begun before (unrecorded) from those after.
    let status = ok(tune(&["status".as_ref(), spec.as_os_str()]));
    let status = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(
        status.contains("code -\n") && status.contains("code -→1\n"),
        "{status}"
    );
    append(&dir.path().join("toy_trainer.py"), "# again\n");
    let out = tune_with(&[], &spec);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("changed toy_trainer.py"),
        "{}",
        stderr(&out)
    );
}
