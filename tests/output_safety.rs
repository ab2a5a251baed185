//! What `predict`, `export`, `leaderboard --csv` and `retrain` may touch (issue 28): `--output`
//! never replaces the spec, a data file, the study folder's files, a FIFO, a device, a folder or a
//! link; a study folder made by another spec is refused; every input is read once (FIFOs and
//! `<(…)` work); a missing checkpoint is a damaged study, exit 2.

mod common;
use common::*;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;

/// A study of 2 trials on a copy of the wine data in `dir` (so that hard links to it can be
/// made), run; its spec's path.
fn study(dir: &Path) -> PathBuf {
    let data = dir.join("wine.csv");
    std::fs::copy(wine(), &data).unwrap();
    let mut spec = tiny_spec(2);
    spec["data"]["path"] = "wine.csv".into();
    spec["search"]["trials"] = 2.into();
    let spec = write_spec(dir, &spec);
    ok(run(&spec));
    spec
}

fn args<'a>(all: &'a [&'a str]) -> Vec<&'a OsStr> {
    all.iter().map(OsStr::new).collect()
}

/// Every file under `dir` (links not followed) with its bytes, sorted.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let t = e.file_type().unwrap();
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() {
                out.push((e.path(), std::fs::read(e.path()).unwrap()));
            } else {
                out.push((e.path(), b"(not a file)".to_vec()));
            }
        }
    }
    out.sort();
    out
}

/// Exit 2 with one line on stderr that names `path`; the line.
fn refused(out: Output, path: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{path}: {out:?}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(path), "{err} does not name {path}");
    assert!(out.stdout.is_empty(), "{out:?}");
    err
}

/// `tune` run in the folder `dir`.
fn tune_in(dir: &Path, all: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tune"))
        .current_dir(dir)
        .args(all)
        .output()
        .unwrap()
}

#[test]
fn output_never_replaces_the_spec_the_data_the_study_folder_or_a_special_file() {
    let dir = tempdir();
    let d = dir.path();
    let spec = study(d);
    let s = spec.to_str().unwrap();
    std::fs::create_dir(d.join("sub")).unwrap();
    std::fs::create_dir(d.join("afolder")).unwrap();
    std::fs::hard_link(&spec, d.join("spec-link")).unwrap();
    std::fs::hard_link(d.join("wine.csv"), d.join("data-link")).unwrap();
    std::fs::write(d.join("rows.csv"), std::fs::read(wine()).unwrap()).unwrap();
    std::fs::write(d.join("plain.csv"), "old").unwrap();
    std::os::unix::fs::symlink(d.join("plain.csv"), d.join("symlink")).unwrap();
    std::os::unix::fs::symlink(d.join("gone"), d.join("dangling")).unwrap();
    let fifo = d.join("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let before = snapshot(d);
    let cases: &[(&str, &str)] = &[
        ("study.json", "is the spec"),
        ("sub/../study.json", "is the spec"),
        ("spec-link", "is the spec"),
        ("wine.csv", "is the study's data file"),
        ("data-link", "is the study's data file"),
        ("rows.csv", "is the --data file"),
        ("runs/tiny/journal.jsonl", "inside the study folder"),
        ("runs/tiny/new.csv", "inside the study folder"),
        ("runs/tiny", "inside the study folder"),
        (
            "sub/../runs/tiny/leaderboard.csv",
            "inside the study folder",
        ),
        ("afolder", "is a folder"),
        ("symlink", "is a symbolic link"),
        ("dangling", "is a symbolic link"),
        ("fifo", "is a FIFO"),
        ("/dev/null", "is a device"),
        ("nofolder/p.csv", "cannot write in"),
    ];
    let rows = d.join("rows.csv");
    for &(name, why) in cases {
        let path = match name.starts_with('/') {
            true => PathBuf::from(name),
            false => d.join(name),
        };
        let p = path.to_str().unwrap();
        let commands: [Vec<&str>; 3] = [
            vec![
                "predict",
                s,
                "--data",
                rows.to_str().unwrap(),
                "--output",
                p,
            ],
            vec!["export", s, "--output", p],
            vec!["leaderboard", s, "--csv", p],
        ];
        for c in &commands {
            if why.contains("--data") && c[0] != "predict" {
                continue;
            }
            let err = refused(tune(&args(c)), p);
            assert!(err.contains(why), "{c:?}: {err}");
            let flag = if c[0] == "leaderboard" {
                "--csv"
            } else {
                "--output"
            };
            assert!(err.starts_with(&format!("tune: {flag}: ")), "{err}");
        }
    }
    assert_eq!(snapshot(d), before, "a refused --output wrote something");
    assert!(!d.join("gone").exists());
}

#[test]
fn output_makes_a_new_file_replaces_a_regular_one_and_dash_is_stdout() {
    let dir = tempdir();
    let d = dir.path();
    let spec = study(d);
    let s = spec.to_str().unwrap();
    let data = d.join("wine.csv");
    let data = data.to_str().unwrap();
    // A new file, then the same one replaced; a hard link to it keeps the old bytes.
    let p = d.join("preds.csv");
    ok(tune(&args(&[
        "predict",
        s,
        "--data",
        data,
        "--output",
        p.to_str().unwrap(),
    ])));
    let first = std::fs::read(&p).unwrap();
    std::fs::hard_link(&p, d.join("kept")).unwrap();
    std::fs::write(&p, "old").unwrap();
    ok(tune(&args(&[
        "predict",
        s,
        "--data",
        data,
        "--output",
        p.to_str().unwrap(),
    ])));
    assert_eq!(std::fs::read(&p).unwrap(), first);
    assert_eq!(std::fs::read(d.join("kept")).unwrap(), b"old");
    // A relative path, from another folder.
    ok(tune_in(
        d,
        &[
            "predict",
            "study.json",
            "--data",
            "wine.csv",
            "--output",
            "./rel.csv",
        ],
    ));
    assert_eq!(std::fs::read(d.join("rel.csv")).unwrap(), first);
    // `-`: stdout, for each command.
    let out = ok(tune(&args(&[
        "predict", s, "--data", data, "--output", "-",
    ])));
    assert_eq!(out.stdout, first);
    let out = ok(tune(&args(&["export", s, "--output", "-"])));
    let m = d.join("m.onnx");
    ok(tune(&args(&["export", s, "--output", m.to_str().unwrap()])));
    assert_eq!(out.stdout, std::fs::read(&m).unwrap());
    let out = ok(tune_in(d, &["leaderboard", s, "--csv", "-"]));
    assert_eq!(
        out.stdout,
        std::fs::read(d.join("runs/tiny/leaderboard.csv")).unwrap()
    );
    assert!(!d.join("-").exists());
    // A stale temp file that is a link is removed, never followed.
    std::fs::write(d.join("precious"), "keep").unwrap();
    std::os::unix::fs::symlink(d.join("precious"), d.join(".n.csv.tmp")).unwrap();
    let n = d.join("n.csv");
    ok(tune(&args(&[
        "leaderboard",
        s,
        "--csv",
        n.to_str().unwrap(),
    ])));
    assert_eq!(std::fs::read(d.join("precious")).unwrap(), b"keep");
    assert!(temp_files(d).is_empty());
}

#[test]
fn a_study_folder_made_by_another_spec_is_refused() {
    let dir = tempdir();
    let d = dir.path();
    let spec_a = study(d);
    let folder = d.join("runs/tiny");
    let mut b: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&spec_a).unwrap()).unwrap();
    let o = d.join("m.onnx");
    let other = |name: &str, edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v = b.clone();
        edit(&mut v);
        let p = d.join(name);
        std::fs::write(&p, v.to_string()).unwrap();
        p
    };
    let cases: Vec<(PathBuf, &str)> = vec![
        (other("seed.json", &|v| v["seed"] = 4.into()), "seed"),
        (
            other("model.json", &|v| {
                v["model"]["hidden"] = serde_json::json!([8])
            }),
            "model",
        ),
        (
            other("metric.json", &|v| v["metric"] = "mae".into()),
            "metric",
        ),
        (
            other("data.json", &|v| {
                v["data"]["path"] = wine().to_str().unwrap().into()
            }),
            "data",
        ),
    ];
    let before = snapshot(d);
    for (spec, what) in &cases {
        let (s, f) = (spec.to_str().unwrap(), folder.to_str().unwrap());
        let data = wine();
        let data = data.to_str().unwrap();
        for c in [
            vec!["export", s, "--out", f, "--output", o.to_str().unwrap()],
            vec!["predict", s, "--out", f, "--data", data],
            vec!["retrain", s, "--out", f, "--data", data, "-q"],
        ] {
            let err = refused(tune(&args(&c)), f);
            assert!(
                err.contains("made by another spec") && err.contains(&format!("differ in {what}")),
                "{c:?}: {err}"
            );
        }
    }
    assert_eq!(snapshot(d), before, "something was written");
    assert!(!folder.join("retrain").exists());
    // A field that does not change results (the number of trials) is the same study.
    b["search"]["trials"] = 5.into();
    let same = d.join("more.json");
    std::fs::write(&same, b.to_string()).unwrap();
    let f = folder.to_str().unwrap();
    ok(tune(&args(&[
        "export",
        same.to_str().unwrap(),
        "--out",
        f,
        "--output",
        o.to_str().unwrap(),
    ])));
}

/// Runs `script` in bash (for `<(…)`), with `$TUNE` the binary; its process group is killed when
/// it has not ended after two minutes, so that a hang fails the test rather than the suite.
fn bounded(script: &str) -> Output {
    use std::os::unix::process::CommandExt;
    let mut child = std::process::Command::new("bash")
        .args(["-c", script])
        .env("TUNE", env!("CARGO_BIN_EXE_tune"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let mut waited = 0;
    while child.try_wait().unwrap().is_none() {
        if waited == 2400 {
            // SAFETY: a plain kill(2) of the group this test made.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            panic!("{script}: still running after two minutes");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        waited += 1;
    }
    child.wait_with_output().unwrap()
}

#[test]
fn predict_reads_data_from_a_fifo_or_process_substitution_once() {
    let dir = tempdir();
    let d = dir.path();
    let spec = study(d);
    let rows = d.join("rows.csv");
    let text = std::fs::read_to_string(wine()).unwrap();
    let head: String = text.lines().take(31).map(|l| format!("{l}\n")).collect();
    std::fs::write(&rows, &head).unwrap();
    let want = ok(tune(&args(&[
        "predict",
        spec.to_str().unwrap(),
        "--data",
        rows.to_str().unwrap(),
    ])));
    let score = |o: &Output, file: &str| {
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        let line = err
            .lines()
            .find(|l| l.contains("on the 30 rows of"))
            .unwrap_or_else(|| panic!("{err}"));
        assert!(line.contains(file), "{line}");
        line.split(": ").last().unwrap().to_string()
    };
    let want_score = score(&want, "rows.csv");
    let q = |p: &Path| format!("'{}'", p.display());
    let fifo = d.join("fifo");
    let cases = [
        format!("\"$TUNE\" predict {} --data <(cat {})", q(&spec), q(&rows)),
        format!(
            "mkfifo {f}; cat {r} > {f} & \"$TUNE\" predict {s} --data {f}",
            f = q(&fifo),
            r = q(&rows),
            s = q(&spec)
        ),
    ];
    for (case, file) in cases.iter().zip(["/dev/fd/", "fifo"]) {
        let got = ok(bounded(case));
        assert_eq!(got.stdout, want.stdout, "{case}");
        assert_eq!(score(&got, file), want_score, "{case}");
        let _ = std::fs::remove_file(&fifo);
    }
    // Refusals name the right place: a missing column, a bad cell (found in the bytes read).
    let missing: String = head.replacen("alcohol", "alcool", 1);
    let bad: String = head.replacen("\n7.4,", "\n7.4e,", 1);
    for (text, want) in [(missing, "\"alcohol\""), (bad, "line 2")] {
        std::fs::write(&rows, &text).unwrap();
        let out = bounded(&format!(
            "\"$TUNE\" predict {} --data <(cat {})",
            q(&spec),
            q(&rows)
        ));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("/dev/fd/") && err.contains(want), "{err}");
    }
    // Parquet is read by seeking: from a pipe it is refused in one sentence, not misread.
    let pq = Path::new(env!("CARGO_MANIFEST_DIR")).join("studies/data/penguins.parquet");
    let out = bounded(&format!(
        "\"$TUNE\" predict {} --data <(cat {})",
        q(&spec),
        q(&pq)
    ));
    let err = refused(out, "/dev/fd/");
    assert!(err.contains("is Parquet from a pipe"), "{err}");
    // Retraining needs a file it can read again when it resumes: a pipe is refused at once.
    let out = bounded(&format!(
        "\"$TUNE\" retrain {} -q --data <(cat {})",
        q(&spec),
        q(&rows)
    ));
    let err = refused(out, "/dev/fd/");
    assert!(err.contains("not a regular file"), "{err}");
    assert!(!d.join("runs/tiny/retrain").exists());
}

#[test]
fn a_missing_or_unreadable_checkpoint_is_a_damaged_study_named_exit_2() {
    let dir = tempdir();
    let d = dir.path();
    let spec = study(d);
    let s = spec.to_str().unwrap();
    let (h, lb) = read_csv(&d.join("runs/tiny/leaderboard.csv"));
    let best = lb[0][h.iter().position(|c| c == "trial").unwrap()].clone();
    let best_file = d.join(format!("runs/tiny/trials/{best}/best.safetensors"));
    let o = d.join("m.onnx");
    let data = wine();
    let commands = [
        vec!["predict", s, "--data", data.to_str().unwrap()],
        vec!["export", s, "--output", o.to_str().unwrap()],
    ];
    std::fs::remove_file(&best_file).unwrap();
    for c in &commands {
        let err = refused(tune(&args(c)), best_file.to_str().unwrap());
        assert!(
            err.contains(&format!("trial {best}'s selected checkpoint")),
            "{err}"
        );
        assert!(
            err.contains("is missing") && err.contains("damaged"),
            "{err}"
        );
    }
    // Unreadable (a folder in its place): named too, with why.
    std::fs::create_dir(&best_file).unwrap();
    for c in &commands {
        let err = refused(tune(&args(c)), best_file.to_str().unwrap());
        assert!(
            err.contains("cannot be read") && err.contains("damaged"),
            "{err}"
        );
    }
    assert!(!o.exists());
    // Another checkpoint of the trial still serves.
    ok(tune(&args(&[
        "export",
        s,
        "--trial",
        &best,
        "--checkpoint",
        "last",
        "--output",
        o.to_str().unwrap(),
    ])));
}
