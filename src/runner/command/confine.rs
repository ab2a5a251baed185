//! Confinement of what a program reports: the checkpoint path of a report names a regular file, or
//! a folder of regular files and folders, inside the trial's checkpoint folder (`TUNE_CHECKPOINT_DIR`),
//! reached without following a link. Anything else (a path out of the folder, `.`, `..`, a link, a
//! FIFO, a device, a socket, another file system) fails the trial with one sentence: the store takes
//! over (moves, and later deletes) only what this module let through, so nothing outside a trial's
//! folder is ever moved or deleted whatever a program reports.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

/// Folders deeper than this in a payload are refused (a loop of bind mounts, a runaway program).
const MAX_DEPTH: usize = 64;

/// Entries a payload folder may hold, all levels together.
const MAX_ENTRIES: usize = 100_000;

/// The place of `reported` inside `work` (the trial's checkpoint folder), or why it is refused
/// (the end of a sentence that begins with the reported path).
pub fn resolve(work: &Path, reported: &str) -> Result<PathBuf, String> {
    let p = Path::new(reported);
    let rel = if p.is_absolute() {
        inside(work, p).ok_or("is outside the trial's checkpoint folder (TUNE_CHECKPOINT_DIR)")?
    } else {
        p.to_path_buf()
    };
    let mut parts = vec![];
    for c in rel.components() {
        match c {
            Component::Normal(s) => parts.push(s),
            Component::CurDir => {}
            _ => return Err("leaves the trial's checkpoint folder (TUNE_CHECKPOINT_DIR)".into()),
        }
    }
    if parts.is_empty() {
        return Err("names the checkpoint folder itself, not a file or folder in it".into());
    }
    let dev = fs::symlink_metadata(work)
        .map_err(|e| format!("cannot be checked: {}: {e}", work.display()))?
        .dev();
    let mut at = work.to_path_buf();
    for (i, part) in parts.iter().enumerate() {
        at.push(part);
        let m = fs::symlink_metadata(&at).map_err(|_| "is not there".to_string())?;
        let last = i + 1 == parts.len();
        if m.file_type().is_symlink() {
            return Err(format!(
                "is {}: a checkpoint must be a file or folder of the checkpoint folder, not a link",
                if last {
                    "a symbolic link"
                } else {
                    "reached through a symbolic link"
                }
            ));
        }
        if !last && !m.is_dir() {
            return Err("is not there".into());
        }
        if m.dev() != dev {
            return Err("is on another file system than the checkpoint folder".into());
        }
    }
    check_tree(&at, dev)?;
    Ok(at)
}

/// The part of the absolute `p` below `work` (as given, or as its real path), if it is below it.
fn inside(work: &Path, p: &Path) -> Option<PathBuf> {
    let given = std::path::absolute(work).ok();
    let real = fs::canonicalize(work).ok();
    [given, real]
        .into_iter()
        .flatten()
        .find_map(|w| p.strip_prefix(&w).ok().map(Path::to_path_buf))
}

/// Checks that `root` is a regular file, or a folder holding only regular files and folders, all
/// on the file system `dev`; says what is wrong otherwise.
pub fn check_tree(root: &Path, dev: u64) -> Result<(), String> {
    let mut entries = 0usize;
    walk(root, root, dev, 0, &mut entries)
}

fn walk(root: &Path, at: &Path, dev: u64, depth: usize, entries: &mut usize) -> Result<(), String> {
    let m = fs::symlink_metadata(at).map_err(|e| format!("cannot be read ({e})"))?;
    let within = |what: &str| {
        if at == root {
            format!("is {what}")
        } else {
            let rel = at.strip_prefix(root).unwrap_or(at);
            format!("holds {what} ({})", rel.display())
        }
    };
    let t = m.file_type();
    if t.is_symlink() {
        return Err(within("a symbolic link, which tune does not take over"));
    }
    let kind = if t.is_fifo() {
        Some("a FIFO")
    } else if t.is_block_device() || t.is_char_device() {
        Some("a device")
    } else if t.is_socket() {
        Some("a socket")
    } else {
        None
    };
    if let Some(kind) = kind {
        return Err(within(&format!("{kind}, not a file or folder")));
    }
    if m.dev() != dev {
        return Err(within("a mount of another file system"));
    }
    if !t.is_dir() {
        return Ok(());
    }
    if depth >= MAX_DEPTH {
        return Err(within(&format!(
            "folders nested more than {MAX_DEPTH} deep"
        )));
    }
    let list =
        fs::read_dir(at).map_err(|e| within(&format!("a folder that cannot be read ({e})")))?;
    for e in list {
        let e = e.map_err(|e| within(&format!("a folder that cannot be read ({e})")))?;
        *entries += 1;
        if *entries > MAX_ENTRIES {
            return Err(format!("holds more than {MAX_ENTRIES} files and folders"));
        }
        walk(root, &e.path(), dev, depth + 1, entries)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn only_files_and_folders_inside_the_folder_pass() {
        let dir = crate::testutil::TempDir::new();
        let work = dir.path().join("work");
        fs::create_dir_all(work.join("sub/deeper")).unwrap();
        fs::write(work.join("a.pt"), b"x").unwrap();
        fs::write(work.join("sub/deeper/b.pt"), b"x").unwrap();
        fs::write(dir.path().join("journal.jsonl"), b"j").unwrap();
        let ok = |r: &str| resolve(&work, r);
        assert_eq!(ok("a.pt").unwrap(), work.join("a.pt"));
        assert_eq!(ok("./a.pt").unwrap(), work.join("a.pt"));
        assert_eq!(ok("sub").unwrap(), work.join("sub"));
        assert_eq!(
            ok("sub/./deeper/b.pt").unwrap(),
            work.join("sub/deeper/b.pt")
        );
        let abs = std::path::absolute(work.join("a.pt")).unwrap();
        assert_eq!(ok(abs.to_str().unwrap()).unwrap(), work.join("a.pt"));
        for (bad, why) in [
            ("../journal.jsonl", "leaves"),
            ("sub/../../journal.jsonl", "leaves"),
            ("sub/../a.pt", "leaves"),
            ("..", "leaves"),
            (".", "folder itself"),
            ("./", "folder itself"),
            ("/etc/passwd", "outside"),
            ("missing.pt", "not there"),
            ("a.pt/x", "not there"),
        ] {
            let e = ok(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        let out = std::path::absolute(dir.path().join("journal.jsonl")).unwrap();
        assert!(ok(out.to_str().unwrap()).unwrap_err().contains("outside"));
    }

    #[test]
    fn links_fifos_and_folders_holding_them_are_refused() {
        let dir = crate::testutil::TempDir::new();
        let work = dir.path().join("work");
        fs::create_dir_all(work.join("ok")).unwrap();
        fs::write(dir.path().join("journal.jsonl"), b"j").unwrap();
        symlink(dir.path().join("journal.jsonl"), work.join("link.pt")).unwrap();
        symlink(dir.path(), work.join("up")).unwrap();
        symlink("/nowhere/at/all", work.join("dangling")).unwrap();
        fs::create_dir(work.join("holds")).unwrap();
        symlink("/nowhere", work.join("holds/dangling")).unwrap();
        let fifo = std::ffi::CString::new(work.join("fifo").to_str().unwrap()).unwrap();
        // SAFETY: a C string that lives through the call.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        fs::create_dir(work.join("pipes")).unwrap();
        fs::rename(work.join("fifo"), work.join("pipes/p")).unwrap();
        for (bad, why) in [
            ("link.pt", "a symbolic link"),
            ("up/journal.jsonl", "through a symbolic link"),
            ("up", "a symbolic link"),
            ("dangling", "a symbolic link"),
            ("holds", "holds a symbolic link"),
            ("pipes", "holds a FIFO"),
            ("pipes/p", "is a FIFO"),
        ] {
            let e = resolve(&work, bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(resolve(&work, "ok").is_ok());
        assert_eq!(fs::read(dir.path().join("journal.jsonl")).unwrap(), b"j");
    }
}
