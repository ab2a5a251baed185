//! The live terminal as a person sees it: `tune` runs in tmux at 80 × 24, and the screen is
//! captured while a study trains. The study line shows the best trial so far and an ETA, a trial's
//! line its metric, no line is longer than 80 columns, and the clock ticks between events. Skips
//! with a message where tmux is not installed.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// One trial at a time, each long enough (tens of virtual epochs of millions of examples) that no
/// trial ends between the two captures, and a learning rate so small that the best value shown
/// stays the same: only the clock's tick can redraw the study line then.
fn spec() -> serde_json::Value {
    let mut s = tiny_spec(1);
    s["budget"] = serde_json::json!({ "total_examples": 20000000, "virtual_epochs": 40 });
    s["search"]["space"]["batch_size"] = serde_json::json!([8]);
    s["search"]["space"]["learning_rate"] = serde_json::json!([1e-9]);
    // Lines that would pass 80 columns if nothing were cut or abbreviated.
    s["name"] = serde_json::json!("a-study-whose-name-is-long");
    s["search"]["space"]["weight_decay"] = serde_json::json!([0.000123]);
    s["search"]["space"]["hidden_width"] = serde_json::json!([64]);
    s["search"]["trials"] = serde_json::json!(3);
    s
}

/// A tmux server of our own (its own socket), killed on drop with whatever runs in it.
struct Tmux(String);

impl Tmux {
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.0])
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("tmux runs")
    }

    /// The screen, wrapped lines joined (`-J`), so that a line that wrapped shows its whole length.
    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-J"]).stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// The study's line: the one with the ETA.
fn study_line(screen: &str) -> Option<&str> {
    screen.lines().find(|l| l.contains(" ETA "))
}

/// `hh:mm:ss` of the study line, in seconds.
fn clock(line: &str) -> Option<u64> {
    line.split_whitespace().find_map(|w| {
        let p: Vec<u64> = w
            .split(':')
            .map(|x| x.parse().ok())
            .collect::<Option<_>>()?;
        (p.len() == 3).then(|| p[0] * 3600 + p[1] * 60 + p[2])
    })
}

/// The number after `word` in `line`.
fn number_after(line: &str, word: &str) -> Option<f64> {
    let mut words = line.split_whitespace();
    words.find(|w| *w == word)?;
    words.next()?.parse().ok()
}

/// What a screen must show once a trial has validated, or why it does not yet.
fn shows_progress(screen: &str) -> Result<(), String> {
    let study = study_line(screen).ok_or("no study line")?;
    number_after(study, "val_loss").ok_or("no best value on the study line")?;
    if !study.contains("best") || study.contains("ETA -") {
        return Err("no best or no ETA yet".into());
    }
    let trial = screen
        .lines()
        .find(|l| l.trim_start().starts_with("trial "))
        .ok_or("no trial line")?;
    // `val_loss <last> best <best>`.
    number_after(trial, "val_loss").ok_or("no last value on the trial line")?;
    number_after(trial, "best").ok_or("no best value on the trial line")?;
    Ok(())
}

#[test]
fn the_live_terminal_fits_80_columns_and_ticks() {
    if Command::new("tmux").arg("-V").output().is_err() {
        println!("skipped: tmux is not installed");
        return;
    }
    let dir = tempdir();
    let spec = write_spec(dir.path(), &spec());
    let pid_file = dir.path().join("pid");
    let tmux = Tmux(format!("tune-test-{}", std::process::id()));
    // The shell records its pid and becomes `tune`, which can then be stopped and waited for.
    let script = format!(
        "cd '{}' && echo $$ > '{}' && exec '{}' '{}'",
        dir.path().display(),
        pid_file.display(),
        env!("CARGO_BIN_EXE_tune"),
        spec.display()
    );
    let started = tmux.cmd(&["new-session", "-d", "-x", "80", "-y", "24", &script]);
    assert!(started.status.success(), "tmux: {started:?}");

    let deadline = Instant::now() + Duration::from_secs(60);
    let first = loop {
        let screen = tmux.screen();
        match shows_progress(&screen) {
            Ok(()) => break screen,
            Err(why) if Instant::now() > deadline => panic!("{why} after 60 s:\n{screen}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    std::thread::sleep(Duration::from_millis(1500));
    let second = tmux.screen();
    stop(&pid_file);
    println!("{first}\n1.5 s later:\n{second}");

    for screen in [&first, &second] {
        for line in screen.lines() {
            let width = line.trim_end().chars().count();
            assert!(width <= 80, "{width} columns: {line:?}\n{screen}");
        }
    }
    let (a, b) = (
        study_line(&first).and_then(clock),
        study_line(&second).and_then(clock),
    );
    assert!(
        a.is_some() && b > a,
        "the clock did not move ({a:?}, then {b:?}):\n{first}\n{second}"
    );
}

/// Stops `tune` (SIGTERM: it finishes its virtual epoch) and waits for it, so that its folder can
/// be removed.
fn stop(pid_file: &Path) {
    let Ok(pid) = std::fs::read_to_string(pid_file) else {
        return;
    };
    let pid = pid.trim();
    let _ = Command::new("kill").args(["-TERM", pid]).status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline
        && Command::new("kill")
            .args(["-0", pid])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    {
        std::thread::sleep(Duration::from_millis(100));
    }
}
