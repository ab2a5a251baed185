//! The supervisor of a trial's program: `tune` itself run as `tune __tune_supervise PROGRAM ARGS…`
//! between `tune` and the program. It runs the program in a process group of its own, is the
//! subreaper of everything the program starts (`setsid` ones included), stops the group when
//! `tune` stops the trial or dies (a parent-death signal, even after SIGKILL), and ends every
//! descendant when the program ends.

use std::fs;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// How long a process may take to exit after SIGTERM before SIGKILL.
pub const GRACE: Duration = Duration::from_secs(5);

/// The program that supervises each trial's process (this binary, see [`supervise`]); unset (a
/// library user's own binary), trials run without one: SIGKILL of `tune` then leaves the program's
/// own children to the next run's `kill_leftovers`.
static SUPERVISOR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// The first argument that makes the binary a supervisor.
pub const SUPERVISE_ARG: &str = "__tune_supervise";

/// Names the binary that supervises trials (`tune` itself, run with [`SUPERVISE_ARG`]).
pub fn set_supervisor(exe: PathBuf) {
    let _ = SUPERVISOR.set(exe);
}

/// The supervisor's program, once named.
pub(super) fn supervisor() -> Option<&'static PathBuf> {
    SUPERVISOR.get()
}

/// Has the process started by `c` receive `signal` when the thread that started it ends (`tune`
/// died); it exits at once when that happened before the signal was armed.
pub(super) fn arm_parent_death(c: &mut Command, signal: libc::c_int) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: between fork and exec only async-signal-safe calls (prctl, getppid, _exit).
    unsafe {
        c.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, signal) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

/// Set by the supervisor's signal handler.
static TERMINATE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_terminate(_: libc::c_int) {
    TERMINATE.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// The supervisor of one trial's program (`tune __tune_supervise PROGRAM ARGS…`, started by
/// [`start`]): runs the program in a process group of its own and waits for it; on SIGTERM (from
/// `tune` stopping the trial, or the parent-death signal when `tune` died) it sends the group
/// SIGTERM, then SIGKILL after [`GRACE`]; when the program exits, what it left in its group is
/// killed. It ends as its program ended (the same status, or the same signal).
pub fn supervise(args: &[std::ffi::OsString]) -> i32 {
    use std::sync::atomic::Ordering::SeqCst;
    let handler = on_terminate as extern "C" fn(libc::c_int) as libc::sighandler_t;
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic.
        unsafe { libc::signal(sig, handler) };
    }
    let Some((program, rest)) = args.split_first() else {
        eprintln!("tune: {SUPERVISE_ARG}: no program");
        return 2;
    };
    // The orphans of the program's tree (`setsid` ones too) become this process's children, so
    // that none outlives the trial.
    // SAFETY: a flag on this process.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let mut c = Command::new(program);
    c.args(rest).process_group(0);
    arm_parent_death(&mut c, libc::SIGKILL);
    let mut child = match c.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot start {}: {e}", program.to_string_lossy());
            return 127;
        }
    };
    let group = child.id() as libc::pid_t;
    let mut terminated_at: Option<Instant> = None;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            // SAFETY: signals to the program's own group.
            unsafe { libc::kill(-group, libc::SIGKILL) };
            end_descendants();
            use std::os::unix::process::ExitStatusExt;
            if let Some(sig) = status.signal() {
                // SAFETY: ends this process as its program ended.
                unsafe {
                    libc::signal(sig, libc::SIG_DFL);
                    libc::raise(sig);
                }
            }
            return status.code().unwrap_or(1);
        }
        reap_orphans(group);
        if TERMINATE.load(SeqCst) {
            match terminated_at {
                None => {
                    unsafe { libc::kill(-group, libc::SIGTERM) };
                    terminated_at = Some(Instant::now());
                }
                Some(t) if t.elapsed() >= GRACE => unsafe {
                    libc::kill(-group, libc::SIGKILL);
                },
                _ => {}
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Reaps the exited children of this supervisor other than its program (orphans it took in).
fn reap_orphans(program: libc::pid_t) {
    loop {
        // SAFETY: a zeroed siginfo that waitid fills; WNOWAIT leaves the child waitable.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        if unsafe { libc::waitid(libc::P_ALL, 0, &mut info, flags) } != 0 {
            return;
        }
        // SAFETY: filled by waitid for an exited child (0 when none).
        let pid = unsafe { info.si_pid() };
        if pid == 0 || pid == program {
            return;
        }
        // SAFETY: reaps that one child, which has exited.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
    }
}

/// Kills and reaps every process left under this supervisor (a subreaper: what the program's tree
/// left, in other groups and sessions too, became its children), until it has none.
fn end_descendants() {
    let me = std::process::id() as libc::pid_t;
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        loop {
            // SAFETY: reaps any child without blocking.
            let r = unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) };
            if r == -1 {
                return; // ECHILD: no child is left
            }
            if r == 0 {
                break;
            }
        }
        for pid in children(me) {
            // SAFETY: a signal to a child of this supervisor.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        if Instant::now() >= until {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The running (not exited) children of `parent`.
fn children(parent: libc::pid_t) -> Vec<libc::pid_t> {
    processes(|pid| stat(pid).is_some_and(|(_, ppid)| ppid == parent))
}

/// The processes of this machine that have not exited (zombies left out) that `keep` picks.
pub(super) fn processes(keep: impl Fn(libc::pid_t) -> bool) -> Vec<libc::pid_t> {
    let Ok(procs) = fs::read_dir("/proc") else {
        return vec![];
    };
    procs
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<libc::pid_t>().ok())
        .filter(|&pid| keep(pid) && stat(pid).is_some_and(|(state, _)| state != 'Z'))
        .collect()
}

/// A process's state letter and parent, from `/proc/PID/stat` (its name may hold spaces and `)`).
fn stat(pid: libc::pid_t) -> Option<(char, libc::pid_t)> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut f = s.rsplit_once(')')?.1.split_whitespace();
    let state = f.next()?.chars().next()?;
    Some((state, f.next()?.parse().ok()?))
}
