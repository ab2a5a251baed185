//! A trial's process: started in a process group of its own with a parent-death signal (no child
//! outlives `tune`), its stdout split into report lines and the rest, everything it prints kept in
//! the trial's `output.log`, the last lines of its stderr kept for a failure's reason; stopped with
//! SIGTERM to the group, then SIGKILL after a grace period. A process an earlier `tune` left (it
//! was killed before it could stop its trials) is found by a token in its environment and killed
//! before the trial runs again.

use std::collections::VecDeque;
use std::fs;
use std::io::{self, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::control::{pipe, Control};
pub use super::lines::Line;
use super::lines::{read_stdout, split_lines};
use super::shared::Announce;
use super::supervisor::{arm_parent_death, processes, supervisor, GRACE, SUPERVISE_ARG};
use crate::plan::CommandPlan;

/// Lines of stderr a failure's reason quotes.
const TAIL_LINES: usize = 5;

/// The most characters of each stderr line a failure's reason quotes.
const TAIL_CHARS: usize = 200;

/// The variable whose value marks a trial's processes (and their children, which inherit it).
pub const TOKEN_VAR: &str = "TUNE_RUN_TOKEN";

/// A running trial process.
pub struct Trial {
    /// The process tune started (none for a worker's server forked from the shared one).
    child: Option<std::process::Child>,
    /// The process group of a worker's server forked from the shared one (once it said so).
    pid: Option<i32>,
    /// Its stdout closed: for a forked worker's server, which tune cannot wait for, its end.
    closed: Arc<AtomicBool>,
    /// A forking program's control channel (one JSON line per trial, or a stop).
    stdin: Option<Arc<Control>>,
    /// The value of [`TOKEN_VAR`] in its environment.
    token: String,
    pub lines: Receiver<Line>,
    tail: Arc<Mutex<VecDeque<String>>>,
    log: Arc<Mutex<fs::File>>,
    status: Option<ExitStatus>,
    /// Whether `child` is a supervisor (which stops its program's group itself).
    supervised: bool,
    /// A forking program's trial process ended (its server said so).
    pub ended_trial: bool,
    /// Whether the program is a server of forked trials (it took the offer, or was one).
    pub serving: bool,
    /// Whether it can fork servers for other workers (it said [`SHARES`]).
    shares: bool,
    /// The first program of a study with a shared server: what it says the other workers hear.
    pub announce: Option<Announce>,
    /// The trial that an offered start runs, with its folder: its environment goes to the
    /// server once the program takes the offer.
    offer: Option<(Vec<(String, String)>, PathBuf)>,
}

/// The file in a trial's folder that names its running process's token.
fn token_file(dir: &Path) -> PathBuf {
    dir.join("process.token")
}

/// Starts `cmd` for a trial whose folder is `dir`, with `env` (the trial's) besides the plan's:
/// under a supervisor when there is one. With `fork`, the program is offered to fork
/// (`TUNE_FORK=2`, its stdin a pipe): a program whose client takes it says so ([`SERVING`]) and
/// becomes a worker's server, which reads each trial's environment on its stdin (this trial's
/// first, sent when it says so) and forks a process for it (see [`Trial::begin`]); any other
/// program runs this trial as a process of its own.
pub fn start(
    cmd: &CommandPlan,
    env: &[(String, String)],
    dir: &Path,
    fork: bool,
) -> io::Result<Trial> {
    let token = format!(
        "{}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
        dir.display()
    );
    // Written first: a `tune` killed right after the start finds the process by it. In place:
    // the store empties a trial's folder of temp files as it starts.
    fs::write(token_file(dir), token.as_bytes())?;
    let log = open_log(dir)?;
    let program = cmd.program_path(&cmd.command[0]);
    let supervised = supervisor().is_some();
    let mut c = match supervisor() {
        Some(sup) => {
            let mut c = Command::new(sup);
            c.arg(SUPERVISE_ARG).arg(&program);
            c
        }
        None => Command::new(&program),
    };
    c.args(&cmd.command[1..])
        .current_dir(&cmd.cwd)
        .envs(&cmd.env)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env(TOKEN_VAR, &token)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // A supervisor stops its program when `tune` dies; a program alone is killed.
    let signal = if supervised {
        libc::SIGTERM
    } else {
        libc::SIGKILL
    };
    arm_parent_death(&mut c, signal);
    let mut stdin = None;
    if fork {
        // 2: the offer, which a client takes saying so (TUNE_SERVING). A client of an earlier
        // version served at TUNE_FORK=1 without saying so: it ignores this, and runs its trial.
        c.env("TUNE_FORK", "2");
        // Its stdin the control channel: one message per trial, and a worker's server's files.
        let (ours, theirs) = Control::pair()?;
        c.stdin(Stdio::from(theirs));
        stdin = Some(Arc::new(ours));
    }
    // The program's end of the channel is closed with `c`, once spawned: only the program holds it.
    let mut child = spawn(c)?;
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let mut t = following(stdout, stderr, log, token, stdin)?;
    t.child = Some(child);
    t.supervised = supervised;
    t.offer = fork.then(|| (env.to_vec(), dir.to_path_buf()));
    Ok(t)
}

/// Spawns `c` on a thread that lives as long as `tune`: a parent-death signal is sent when the
/// *thread* that started the process ends, and a worker's thread ends when the study has no more
/// trials for it, while the shared server it started still serves the other workers.
fn spawn(c: Command) -> io::Result<std::process::Child> {
    type Request = (Command, Sender<io::Result<std::process::Child>>);
    static SPAWNER: std::sync::OnceLock<Mutex<Sender<Request>>> = std::sync::OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = channel::<Request>();
        let run = move || {
            for (mut c, back) in rx {
                let _ = back.send(c.spawn());
            }
        };
        if let Err(e) = std::thread::Builder::new()
            .name("spawner".into())
            .spawn(run)
        {
            eprintln!("tune: cannot start the thread that starts programs: {e}");
        }
        Mutex::new(tx)
    });
    let (back, answer) = channel();
    let gone = || io::Error::other("the thread that starts programs is gone");
    spawner
        .lock()
        .unwrap()
        .send((c, back))
        .map_err(|_| gone())?;
    answer.recv().map_err(|_| gone())?
}

/// Asks the study's shared server (`control`; its processes carry `token`) for a server of this
/// worker's own, forked from it, whose input and output are pipes handed over with the message;
/// it says so (its [`SERVING`] line, with its process id), and the trial of `env` in `dir` is sent
/// to it then, as to a program that took the offer. An error when the shared server is gone.
pub fn fork_from(
    control: &Control,
    token: &str,
    env: &[(String, String)],
    dir: &Path,
) -> io::Result<Trial> {
    let (ours, theirs) = Control::pair()?;
    let (out, out_w) = pipe()?;
    let (err, err_w) = pipe()?;
    control.send(b"{\"worker\": true}\n", &[&theirs, &out_w, &err_w])?;
    // Only the new server holds their ends now: its end is their end of file.
    drop((theirs, out_w, err_w));
    fs::write(token_file(dir), token.as_bytes())?;
    let log = open_log(dir)?;
    let mut t = following(
        fs::File::from(out),
        fs::File::from(err),
        log,
        token.into(),
        Some(Arc::new(ours)),
    )?;
    t.offer = Some((env.to_vec(), dir.to_path_buf()));
    Ok(t)
}

/// The trial's log, `output.log` in its folder (appended to: a resumed trial's runs follow).
fn open_log(dir: &Path) -> io::Result<Arc<Mutex<fs::File>>> {
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("output.log"))?;
    Ok(Arc::new(Mutex::new(log)))
}

/// A trial (no process yet) whose program's `stdout` and `stderr` are read by threads of their
/// own into its log, its lines and its stderr's tail.
fn following(
    stdout: impl io::Read + Send + 'static,
    stderr: impl io::Read + Send + 'static,
    log: Arc<Mutex<fs::File>>,
    token: String,
    stdin: Option<Arc<Control>>,
) -> io::Result<Trial> {
    let (tx, lines) = channel();
    let tail = Arc::new(Mutex::new(VecDeque::new()));
    let closed = Arc::new(AtomicBool::new(false));
    let (out_log, out_closed) = (log.clone(), closed.clone());
    std::thread::Builder::new()
        .name("trial-stdout".into())
        .spawn(move || read_stdout(stdout, &out_log, &tx, &out_closed))?;
    let err_log = log.clone();
    let err_tail = tail.clone();
    std::thread::Builder::new()
        .name("trial-stderr".into())
        .spawn(move || {
            for (line, cut) in split_lines(stderr) {
                let more = if cut { "… [tune: line cut]" } else { "" };
                let _ = writeln!(err_log.lock().unwrap(), "{line}{more}");
                let mut t = err_tail.lock().unwrap();
                if t.len() == TAIL_LINES {
                    t.pop_front();
                }
                t.push_back(super::report::cut(&line, TAIL_CHARS));
            }
        })?;
    Ok(Trial {
        child: None,
        pid: None,
        closed,
        stdin,
        token,
        lines,
        tail,
        log,
        status: None,
        supervised: false,
        ended_trial: false,
        serving: false,
        shares: false,
        announce: None,
        offer: None,
    })
}

impl Trial {
    /// Starts trial `env` on a forking program's server, its output going to `dir`'s log.
    pub fn begin(&mut self, env: &[(String, String)], dir: &Path) -> io::Result<()> {
        fs::write(token_file(dir), self.token.as_bytes())?;
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("output.log"))?;
        *self.log.lock().unwrap() = log;
        self.tail.lock().unwrap().clear();
        self.ended_trial = false;
        let mut env: std::collections::BTreeMap<&str, &str> =
            env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        // The trial's own token: what its process starts carries it, and ends with the trial.
        let trial = env
            .get("TUNE_TRIAL")
            .and_then(|t| t.parse().ok())
            .unwrap_or(u64::MAX);
        let token = self.trial_token(trial);
        env.insert(TOKEN_VAR, &token);
        self.send(&serde_json::json!({ "env": env }))
    }

    /// The program took the offer to fork: it becomes a server, and its first trial (the one it
    /// was started for) is sent to it. Nothing to do when it was not offered, or is one already.
    /// The first program of a study tells the other workers whether they fork from it; a
    /// worker's server forked from it gives its process group (`pid`).
    pub fn take_offer(&mut self, pid: Option<i32>) -> io::Result<()> {
        self.serving = true;
        if self.child.is_none() {
            self.pid = self.pid.or(pid);
        }
        if let Some(a) = self.announce.take() {
            match &self.stdin {
                Some(c) if self.shares => a.ready(c, &self.token),
                _ => drop(a),
            }
        }
        match self.offer.take() {
            Some((env, dir)) => self.begin(&env, &dir),
            None => Ok(()),
        }
    }

    /// The token of a forking program's trial `trial`.
    fn trial_token(&self, trial: u64) -> String {
        format!("{}-trial-{trial}", self.token)
    }

    /// Ends what a forking program's trial `trial` started (its processes, `setsid` ones too,
    /// carry its token); its own process is the server's to end.
    pub fn end_trial_processes(&self, trial: u64) {
        kill_token(&self.trial_token(trial));
    }

    /// Asks a forking program's server to stop trial `trial`'s process (SIGTERM, SIGKILL after
    /// the grace period).
    pub fn stop_trial(&mut self, trial: u64) -> io::Result<()> {
        self.send(&serde_json::json!({ "stop": trial }))
    }

    /// Whether this is the study's shared server (other workers' servers are forked from it).
    pub fn shared(&self) -> bool {
        self.shares && self.child.is_some()
    }

    /// The program says it can serve other workers.
    pub fn shares(&mut self) {
        self.shares = true;
    }

    /// The program said something else first: it does not serve the other workers.
    pub fn settle(&mut self) {
        self.announce = None;
    }

    fn send(&mut self, msg: &serde_json::Value) -> io::Result<()> {
        let stdin = self
            .stdin
            .as_ref()
            .ok_or_else(|| io::Error::other("not a forking program"))?;
        // One message: the server wakes once, for a whole line.
        stdin.send(format!("{msg}\n").as_bytes(), &[])
    }

    /// Forgets the trial folder's token (its trial is over; the server goes on).
    pub fn release(&self, dir: &Path) {
        let _ = fs::remove_file(token_file(dir));
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        match self.child {
            Some(_) => self.wait_for(Duration::ZERO).is_none(),
            None => !self.closed.load(Ordering::SeqCst),
        }
    }

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

    /// Waits up to `limit` for the process to exit; its status. A worker's server forked from the
    /// shared one is not tune's child: its status is never known (its stdout's end is its end).
    pub fn wait_for(&mut self, limit: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + limit;
        loop {
            if let Some(s) = self.status {
                return Some(s);
            }
            match &mut self.child {
                Some(c) => {
                    if let Ok(Some(s)) = c.try_wait() {
                        self.status = Some(s);
                        return Some(s);
                    }
                }
                None if self.closed.load(Ordering::SeqCst) => return None,
                None => {}
            }
            if Instant::now() >= until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the program: SIGTERM, then SIGKILL after [`GRACE`]. A supervisor does this for its
    /// program's group; without one, it is done here to the program's group.
    fn stop(&mut self) {
        let Some(child) = &self.child else {
            return self.stop_forked();
        };
        let pid = child.id() as libc::pid_t;
        if self.status.is_none() {
            // SAFETY: signals to the trial's own process (group).
            let target = if self.supervised { pid } else { -pid };
            unsafe { libc::kill(target, libc::SIGTERM) };
            self.wait_for(GRACE + Duration::from_secs(2));
        }
        // What is left of the group (the supervisor's, or the program's own children).
        unsafe { libc::kill(-pid, libc::SIGKILL) };
        if let (None, Some(c)) = (self.status, &mut self.child) {
            self.status = c.wait().ok();
        }
    }

    /// Stops a worker's server forked from the shared one: its group (itself and its trials'
    /// processes) is sent SIGTERM, then SIGKILL after [`GRACE`]; its end is its stdout's.
    fn stop_forked(&mut self) {
        let Some(pid) = self.pid else {
            // It never said it serves: the end of its input ends it.
            return;
        };
        if !self.closed.load(Ordering::SeqCst) {
            // SAFETY: signals to the group it made its own.
            unsafe { libc::kill(-pid, libc::SIGTERM) };
            self.wait_for(GRACE + Duration::from_secs(2));
        }
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }

    /// Ends the process (its group killed, whatever it left) and forgets its token.
    pub fn finish(mut self, dir: &Path) {
        // A server reads the end of its input as its end.
        self.stdin = None;
        self.stop();
        // The token of a shared server's family is its other workers' too: their processes stay.
        if !self.supervised && !self.shares && self.child.is_some() {
            // No subreaper gathered what the program left in other groups: its token finds them.
            kill_token(&self.token);
        }
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

/// Describes how a forking program's trial ended, from its server's status (negative: the signal).
pub fn ended_code(code: i64) -> String {
    if code < 0 {
        format!("was killed by signal {}", -code)
    } else {
        format!("exited with status {code}")
    }
}

/// Kills what a trial's earlier process left running (its `tune` was killed before it could stop
/// it): every process whose environment holds the token its folder names, waiting until they are
/// gone. Returns how many there were.
pub fn kill_leftovers(dir: &Path) -> usize {
    let Ok(token) = fs::read_to_string(token_file(dir)) else {
        return 0;
    };
    let n = kill_token(&token);
    let _ = fs::remove_file(token_file(dir));
    n
}

/// Kills every process whose environment holds `token`, waiting (up to 10 s) until they are gone;
/// how many there were.
fn kill_token(token: &str) -> usize {
    let mark = format!("{TOKEN_VAR}={token}");
    let find = || {
        processes(|pid| {
            fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|kv| kv == mark.as_bytes()))
        })
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
    found.len()
}
