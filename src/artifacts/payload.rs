//! A checkpoint's payload: the file or folder a user's program wrote, taken over by the store.
//! Moved (not copied) into the store's place, its content summed (CRC-32 over every file's path
//! and bytes, in path order) and fsynced before the record that names it; read back only after
//! the sum is checked.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::Payload;

/// Moves `from` (a file or a folder) to `to`, whose parent exists: a rename, or across file
/// systems a copy and a removal.
pub fn take_over(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Ok(()) => Ok(()),
        // EXDEV: another file system (an absolute path the program chose).
        Err(e) if e.raw_os_error() == Some(18) => {
            copy_tree(from, to)?;
            if from.is_dir() {
                fs::remove_dir_all(from)
            } else {
                fs::remove_file(from)
            }
        }
        Err(e) => Err(e),
    }
}

/// Makes `to` (absent) a copy of the file or folder `from`.
pub fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    tree(from, to, &|a, b| fs::copy(a, b).map(|_| ()))
}

/// Makes `to` (absent) the tree of folders of `from`, each file made by `file(from, to)`.
fn tree(from: &Path, to: &Path, file: &dyn Fn(&Path, &Path) -> io::Result<()>) -> io::Result<()> {
    if from.is_dir() {
        fs::create_dir(to)?;
        for e in fs::read_dir(from)? {
            let e = e?;
            tree(&e.path(), &to.join(e.file_name()), file)?;
        }
        Ok(())
    } else {
        file(from, to)
    }
}

/// The files under `root` (itself when it is a file), by path relative to it, in order.
pub(super) fn files(root: &Path) -> io::Result<Vec<(String, PathBuf)>> {
    fn walk(dir: &Path, rel: &str, out: &mut Vec<(String, PathBuf)>) -> io::Result<()> {
        for e in fs::read_dir(dir)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            let rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let t = e.file_type()?;
            if t.is_dir() {
                walk(&e.path(), &rel, out)?;
            } else if t.is_file() {
                out.push((rel, e.path()));
            } else {
                return Err(not_regular(&e.path()));
            }
        }
        Ok(())
    }
    let mut out = vec![];
    let t = fs::symlink_metadata(root)?.file_type();
    if t.is_dir() {
        walk(root, "", &mut out)?;
    } else if t.is_file() {
        out.push((String::new(), root.to_path_buf()));
    } else {
        return Err(not_regular(root));
    }
    out.sort();
    Ok(out)
}

/// A payload holds only regular files and folders: a link, FIFO or device is never opened.
fn not_regular(p: &Path) -> io::Error {
    io::Error::other(format!(
        "{} is not a regular file or folder (a link, FIFO or device)",
        p.display()
    ))
}

/// The record of the payload at `path`: its sum is its packed stream's (see [`super::pack`]).
pub fn describe(path: &Path) -> io::Result<Payload> {
    let mut p = super::pack::Packer::open(path)?;
    io::copy(&mut p, &mut io::sink())?;
    p.finish()
}

/// Whether the payload at `path` is still the one `want` records.
pub fn verify(path: &Path, want: &Payload) -> Result<(), String> {
    match describe(path) {
        Ok(got) if got.crc32 == want.crc32 && got.bytes == want.bytes => Ok(()),
        Ok(_) => Err(format!(
            "{}: checksum mismatch (the program's checkpoint was changed or damaged)",
            path.display()
        )),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// fsyncs every file and folder under `root`, and `root`'s parent, so that the payload survives a
/// power loss before a record names it.
pub fn sync_tree(root: &Path) -> io::Result<()> {
    for (_, p) in files(root)? {
        fs::File::open(&p)?.sync_all()?;
    }
    fn dirs(d: &Path) -> io::Result<()> {
        if d.is_dir() {
            for e in fs::read_dir(d)? {
                dirs(&e?.path())?;
            }
            fs::File::open(d)?.sync_all()?;
        }
        Ok(())
    }
    dirs(root)?;
    if let Some(parent) = root.parent() {
        crate::durable::sync_dir(parent)?;
    }
    Ok(())
}

/// Makes `to` (absent) a copy of `from` made of hard links (a plain copy where links fail).
pub fn link_tree(from: &Path, to: &Path) -> io::Result<()> {
    tree(from, to, &|a, b| {
        fs::hard_link(a, b).or_else(|_| fs::copy(a, b).map(|_| ()))
    })
}

/// Removes a file or a folder, if it is there.
pub fn remove(path: &Path) -> io::Result<()> {
    let r = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    };
    match r {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_is_summed_by_paths_and_bytes_and_moves_whole() {
        let dir = crate::testutil::TempDir::new();
        let src = dir.path().join("ckpt");
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::write(src.join("a.bin"), b"weights").unwrap();
        fs::write(src.join("sub/b.json"), b"{}").unwrap();
        let before = describe(&src).unwrap();
        assert_eq!(before.bytes, 9);
        let to = dir.path().join("kept");
        fs::create_dir(&to).unwrap();
        take_over(&src, &to.join("ckpt")).unwrap();
        assert!(!src.exists());
        let moved = to.join("ckpt");
        verify(&moved, &before).unwrap();
        sync_tree(&moved).unwrap();
        let best = dir.path().join("best");
        link_tree(&moved, &best).unwrap();
        verify(&best, &before).unwrap();
        fs::write(moved.join("sub/b.json"), b"{ }").unwrap();
        assert!(verify(&moved, &before).is_err());
        remove(&moved).unwrap();
        assert!(!moved.exists());
        // Renamed paths change the sum, not only changed bytes.
        fs::rename(best.join("a.bin"), best.join("c.bin")).unwrap();
        assert!(verify(&best, &before).is_err());
    }
}
