//! Durable files: written through a temp file in the same folder and renamed, fsynced where a
//! crash must not lose them, the folder fsynced by the caller once for all it wrote there.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Writes a file the study can always make again (the split, the leaderboard, the report):
/// atomically, so that a crash of the process leaves the old file or the new one, without the
/// fsync that would make it survive a power loss too (the next run writes it again).
pub fn write_derived(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace_with(path, false, |f| f.write_all(bytes))
}

/// Writes `path` through a temp file renamed over it, so that a crash of the process leaves the old
/// file or the new one; an error from `fill` leaves `path` untouched. With `sync_file`, the file is
/// fsynced before it takes its name, and the name survives a power loss once the caller fsyncs the
/// folder ([`sync_dir`], once for all the files it wrote there). Every write makes a new file: a
/// hard link to the old one keeps it.
pub fn replace_with(
    path: &Path,
    sync_file: bool,
    fill: impl FnOnce(&mut fs::File) -> io::Result<()>,
) -> io::Result<()> {
    let tmp = temp_name(path);
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        fill(&mut f)?;
        if sync_file {
            f.sync_all()?;
        }
        drop(f);
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

pub fn temp_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// fsyncs a folder so that a rename in it survives a power loss.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// A folder of its own under the system's temp folder, removed with everything in it when
/// dropped (`tune check` and a program's `tune predict` work there, outside the study).
pub struct Scratch(pub std::path::PathBuf);

impl Scratch {
    /// A new, empty folder named after `what`, this process and the time.
    pub fn new(what: &str) -> std::io::Result<Scratch> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("tune-{what}-{}-{stamp}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_the_old_file() {
        let dir = crate::testutil::TempDir::new();
        let p = dir.path().join("f");
        write_derived(&p, b"old").unwrap();
        let err = replace_with(&p, true, |f| {
            f.write_all(b"half")?;
            Err(io::Error::other("disk full"))
        });
        assert!(err.is_err());
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temp file left behind"
        );
    }
}
