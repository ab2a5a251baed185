//! A full disk is an interruption, not a trial's failure: when a program fails while the study's
//! file system is full (or its last words say ENOSPC or EDQUOT), or its checkpoint cannot be taken
//! over for want of space, the study stops as it does when its own writes find the disk full, and
//! the trial resumes from its last checkpoint once space is freed.

use std::io;
use std::path::Path;

use crate::error::Error;

/// Free space under which a file system counts as full (a program's write of any size failed).
const NEARLY_FULL: u64 = 64 * 1024;

/// What programs print when a write found no space (Python's OSError, C's strerror, errno names).
const SIGNS: &[&str] = &[
    "no space left on device",
    "disk quota exceeded",
    "enospc",
    "edquot",
];

/// Whether `e` is an I/O error for want of space.
pub fn io_full(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
        || matches!(
            e.kind(),
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
        )
}

/// Whether `e` is the store's I/O error for want of space.
pub fn is_full(e: &Error) -> bool {
    matches!(e, Error::Io { err, .. } if io_full(err))
}

/// Whether a program that failed with the stderr `tail` failed for want of space under `dir`.
pub fn disk_full(dir: &Path, tail: &str) -> bool {
    let tail = tail.to_lowercase();
    SIGNS.iter().any(|s| tail.contains(s)) || free_bytes(dir).is_some_and(|b| b < NEARLY_FULL)
}

/// The bytes an unprivileged writer may still use on `dir`'s file system.
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: a valid C string and a zeroed struct that statvfs fills.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return None;
    }
    Some(s.f_bavail as u64 * s.f_frsize as u64)
}

/// The error that stops the study: trial `trial` was interrupted by a full disk at `dir`.
pub fn error(dir: &Path, trial: u64, why: &str) -> Error {
    let why = super::report::one_line(why, 300);
    Error::io(
        dir,
        io::Error::new(
            io::ErrorKind::StorageFull,
            format!(
                "the file system is full (trial {trial}: {why}); the study stops: free space and run it again, \
                 the trial resumes from its last checkpoint"
            ),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_programs_last_words_about_space_count_as_a_full_disk() {
        let dir = crate::testutil::TempDir::new();
        for tail in [
            "OSError: [Errno 28] No space left on device",
            "RuntimeError: PytorchStreamWriter failed writing file data/0: file write failed (ENOSPC)",
            "IOError: [Errno 122] Disk quota exceeded",
        ] {
            assert!(disk_full(dir.path(), tail), "{tail}");
        }
        assert!(!disk_full(dir.path(), "ValueError: bad shape"));
        let e = error(dir.path(), 3, "the program exited with status 1\nand more");
        assert!(is_full(&e));
        assert!(!e.to_string().contains('\n'), "{e}");
        assert!(e.to_string().contains("trial 3"), "{e}");
    }
}
