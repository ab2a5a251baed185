//! The study lock: an OS lock on the study folder itself, held while a process runs the study and
//! released by the OS if the process dies. Deleting a file cannot admit a second writer, and
//! `--restart` takes it before moving the folder aside. `study.lock` only tells who holds it.

use std::fs::{self, File};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// The file in the study folder that names the process holding the lock.
const PID_FILE: &str = "study.lock";

/// How long a refused process waits for the holder to name itself: the holder writes its pid
/// just after it took the lock.
const NAMING: Duration = Duration::from_secs(1);

/// The lock of one study folder, held until dropped.
pub struct StudyLock {
    _dir: File,
}

impl StudyLock {
    /// Takes the lock of the study folder `dir`, or says which process holds it.
    pub fn acquire(dir: &Path) -> Result<StudyLock> {
        let folder = File::open(dir).map_err(|e| Error::io(dir, e))?;
        let pid_file = dir.join(PID_FILE);
        match folder.try_lock() {
            Ok(()) => {
                name_holder(dir, &pid_file);
                Ok(StudyLock { _dir: folder })
            }
            Err(fs::TryLockError::WouldBlock) => Err(Error::Study(match holder(&pid_file) {
                Some(pid) => format!("{}: study is in use by pid {pid}", dir.display()),
                None => format!(
                    "{}: study is in use by another process ({} names none running on this machine)",
                    dir.display(),
                    pid_file.display()
                ),
            })),
            Err(fs::TryLockError::Error(e)) => Err(Error::io(dir, e)),
        }
    }
}

/// Writes this process's pid to `pid_file`, whole: a temporary file renamed over it, so that a
/// process refused meanwhile never reads it empty or half written. Informational only (the lock
/// is the folder's): a failure is ignored.
fn name_holder(dir: &Path, pid_file: &Path) {
    let pid = std::process::id();
    let temp = dir.join(format!("{PID_FILE}.{pid}"));
    if fs::write(&temp, pid.to_string())
        .and_then(|()| fs::rename(&temp, pid_file))
        .is_err()
    {
        let _ = fs::remove_file(&temp);
    }
}

/// The process `pid_file` names, once it names one that runs (waiting up to [`NAMING`] for the
/// holder to write it); `None` when it names none: missing, unreadable, not a number, or a
/// process that ended (the file a holder left before it died).
fn holder(pid_file: &Path) -> Option<u32> {
    let start = Instant::now();
    loop {
        let named = fs::read_to_string(pid_file)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .filter(|&pid| pid > 0 && runs(pid));
        if named.is_some() || start.elapsed() >= NAMING {
            return named;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether process `pid` exists on this machine.
#[cfg(unix)]
fn runs(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // Signal 0 checks existence only; EPERM: it exists, owned by another user.
    // SAFETY: kill with signal 0 sends nothing.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(not(unix))]
fn runs(_pid: u32) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The message of a lock refused in `dir`.
    fn refused(dir: &Path) -> String {
        StudyLock::acquire(dir).err().unwrap().to_string()
    }

    #[test]
    fn a_second_lock_names_the_holder() {
        let dir = crate::testutil::TempDir::new();
        let _held = StudyLock::acquire(dir.path()).unwrap();
        let err = refused(dir.path());
        assert!(
            err.contains(&format!("study is in use by pid {}", std::process::id())),
            "{err}"
        );
        assert!(!dir
            .path()
            .join(format!("study.lock.{}", std::process::id()))
            .exists());
    }

    #[test]
    fn a_holder_whose_pid_is_unknown_is_another_process_never_an_empty_pid() {
        let dir = crate::testutil::TempDir::new();
        let _held = StudyLock::acquire(dir.path()).unwrap();
        let pid_file = dir.path().join(PID_FILE);
        // Missing, empty, not a number, a pid past any system's limit, pid 0.
        for content in [None, Some(""), Some("tune\n"), Some("99999999"), Some("0")] {
            match content {
                None => fs::remove_file(&pid_file).unwrap(),
                Some(c) => fs::write(&pid_file, c).unwrap(),
            }
            let start = Instant::now();
            let err = refused(dir.path());
            assert!(
                err.contains("study is in use by another process")
                    && err.contains(&pid_file.display().to_string())
                    && !err.contains("pid"),
                "{content:?}: {err}"
            );
            assert!(start.elapsed() < NAMING * 3, "{content:?}: waited too long");
        }
    }

    #[test]
    fn a_lock_taken_and_given_back_meanwhile_is_named_whole() {
        let dir = crate::testutil::TempDir::new();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (path, flag) = (dir.path().to_path_buf(), stop.clone());
        let churn = std::thread::spawn(move || {
            while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                drop(StudyLock::acquire(&path));
            }
        });
        let (mut named, start) = (0, Instant::now());
        while named < 100 && start.elapsed() < Duration::from_secs(5) {
            if let Err(e) = StudyLock::acquire(dir.path()) {
                let err = e.to_string();
                let pid = format!("in use by pid {}", std::process::id());
                assert!(err.ends_with(&pid), "{err}");
                named += 1;
            }
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        churn.join().unwrap();
        assert!(named > 0, "never refused: the test proves nothing");
    }
}
