//! A trial's process: started in a process group of its own with a parent-death signal (no child
//! outlives `tune`), its stdout split into report lines and the rest, everything it prints kept in
//! the trial's `output.log`, the last lines of its stderr kept for a failure's reason; stopped with
//! SIGTERM to the group, then SIGKILL after a grace period. A process an earlier `tune` left (it
//! was killed before it could stop its trials) is found by a token in its environment and killed
//! before the trial runs again.

use std::collections::VecDeque;
use std::fs;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::report::PREFIX;
use crate::plan::CommandPlan;

/// How long a process may take to exit after SIGTERM before SIGKILL.
pub const GRACE: Duration = Duration::from_secs(5);

/// Lines of stderr a failure's reason quotes.
const TAIL_LINES: usize = 5;

/// The variable whose value marks a trial's processes (and their children, which inherit it).
pub const TOKEN_VAR: &str = "TUNE_RUN_TOKEN";

/// What the process's stdout gives the runner.
pub enum Line {
    /// A report line, without its prefix.
    Report(String),
    /// Its stdout closed (it exited, or closed it).
    Closed,
}

/// A running trial process.
pub struct Trial {
    child: std::process::Child,
    pub lines: Receiver<Line>,
    tail: Arc<Mutex<VecDeque<String>>>,
    log: Arc<Mutex<fs::File>>,
    status: Option<ExitStatus>,
}

/// The file in a trial's folder that names its running process's token.
fn token_file(dir: &Path) -> PathBuf {
    dir.join("process.token")
}

/// Starts `cmd` for a trial whose folder is `dir`, with `env` besides the plan's.
pub fn start(cmd: &CommandPlan, env: &[(String, String)], dir: &Path) -> io::Result<Trial> {
    let token = format!(
        "{}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
        dir.display()
    );
    // Written first: a `tune` killed right after the start finds the process by it.
    crate::durable::write_derived(&token_file(dir), token.as_bytes())?;
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("output.log"))?;
    let log = Arc::new(Mutex::new(log));
    let program = if cmd.command[0].contains('/') {
        cmd.cwd.join(&cmd.command[0])
    } else {
        PathBuf::from(&cmd.command[0])
    };
    let mut c = Command::new(program);
    c.args(&cmd.command[1..])
        .current_dir(&cmd.cwd)
        .envs(&cmd.env)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env(TOKEN_VAR, &token)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: between fork and exec only async-signal-safe calls (prctl, getppid, _exit).
    unsafe {
        c.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent died before the signal was armed.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let mut child = c.spawn()?;
    let (tx, lines) = channel();
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let tail = Arc::new(Mutex::new(VecDeque::new()));
    let out_log = log.clone();
    std::thread::Builder::new()
        .name("trial-stdout".into())
        .spawn(move || {
            for line in split_lines(stdout) {
                let _ = writeln!(out_log.lock().unwrap(), "{line}");
                if let Some(body) = line.strip_prefix(PREFIX) {
                    if tx.send(Line::Report(body.to_string())).is_err() {
                        return;
                    }
                }
            }
            let _ = tx.send(Line::Closed);
        })?;
    let err_log = log.clone();
    let err_tail = tail.clone();
    std::thread::Builder::new()
        .name("trial-stderr".into())
        .spawn(move || {
            for line in split_lines(stderr) {
                let _ = writeln!(err_log.lock().unwrap(), "{line}");
                let mut t = err_tail.lock().unwrap();
                if t.len() == TAIL_LINES {
                    t.pop_front();
                }
                t.push_back(line);
            }
        })?;
    Ok(Trial {
        child,
        lines,
        tail,
        log,
        status: None,
    })
}

/// The lines of `r`, invalid UTF-8 replaced.
fn split_lines(r: impl io::Read) -> impl Iterator<Item = String> {
    let mut r = BufReader::new(r);
    std::iter::from_fn(move || {
        let mut buf = vec![];
        match r.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => None,
            Ok(_) => {
                while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    buf.pop();
                }
                Some(String::from_utf8_lossy(&buf).into_owned())
            }
        }
    })
}

impl Trial {
    /// The last lines of its stderr, joined.
    pub fn tail(&self) -> String {
        // Its stderr may still be read after its stdout closed.
        std::thread::sleep(Duration::from_millis(20));
        let t = self.tail.lock().unwrap();
        t.iter().cloned().collect::<Vec<_>>().join(" | ")
    }

    /// Notes `line` in the trial's log (what `tune` did to the process, and why).
    pub fn note(&self, line: &str) {
        let _ = writeln!(self.log.lock().unwrap(), "[tune] {line}");
    }

    /// Waits up to `limit` for the process to exit.
    pub fn wait_for(&mut self, limit: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + limit;
        loop {
            if let Some(s) = self.status {
                return Some(s);
            }
            if let Ok(Some(s)) = self.child.try_wait() {
                self.status = Some(s);
                return Some(s);
            }
            if Instant::now() >= until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the process group: SIGTERM, then SIGKILL after [`GRACE`] (or at once when `now`).
    pub fn stop(&mut self, now: bool) {
        let group = self.child.id() as libc::pid_t;
        if self.status.is_none() && !now {
            // SAFETY: a signal to the trial's own process group.
            unsafe { libc::kill(-group, libc::SIGTERM) };
            self.wait_for(GRACE);
        }
        // What is left of the group (the program's own children too).
        unsafe { libc::kill(-group, libc::SIGKILL) };
        if self.status.is_none() {
            self.status = self.child.wait().ok();
        }
    }

    /// Ends the process (its group killed, whatever it left) and forgets its token.
    pub fn finish(mut self, dir: &Path) {
        self.stop(true);
        let _ = fs::remove_file(token_file(dir));
    }
}

/// Describes how a process ended.
pub fn ended(s: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        _ => "ended".into(),
    }
}

/// Kills what a trial's earlier process left running (its `tune` was killed before it could stop
/// it): every process whose environment holds the token its folder names, waiting until they are
/// gone. Returns how many there were.
pub fn kill_leftovers(dir: &Path) -> usize {
    let Ok(token) = fs::read_to_string(token_file(dir)) else {
        return 0;
    };
    let mark = format!("{TOKEN_VAR}={token}");
    let find = || -> Vec<libc::pid_t> {
        let Ok(procs) = fs::read_dir("/proc") else {
            return vec![];
        };
        procs
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<libc::pid_t>().ok())
            .filter(|pid| {
                fs::read(format!("/proc/{pid}/environ"))
                    .is_ok_and(|env| env.split(|b| *b == 0).any(|kv| kv == mark.as_bytes()))
            })
            .filter(|pid| !zombie(*pid))
            .collect()
    };
    let found = find();
    for pid in &found {
        // SAFETY: a signal to a process that carries this trial's token.
        unsafe { libc::kill(*pid, libc::SIGKILL) };
    }
    let until = Instant::now() + Duration::from_secs(10);
    while !find().is_empty() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = fs::remove_file(token_file(dir));
    found.len()
}

/// Whether `pid` has exited and waits for its parent to reap it.
fn zombie(pid: libc::pid_t) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}
