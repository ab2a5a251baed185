//! Where a command writes a file the user named (`predict --output`, `export --output`,
//! `leaderboard --csv`): standard output for `-`, a new file, or a regular file replaced, never
//! what the study is made of. The spec, a data file and anything in the study folder are refused
//! however they are named (`./x/../spec.json`, a hard link: they are compared by device and
//! inode, folders by canonical path), and so are a FIFO, a device, a folder and a symbolic link,
//! which a rename would replace or a write would block on.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A place to write, checked ([`check`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    Stdout,
    File(PathBuf),
}

/// What a command's output must never replace: files named by what they are (`"the spec"`,
/// `"the data file"`), and folders (the study folder, a checkpoint folder).
#[derive(Clone, Debug, Default)]
pub struct Guarded {
    pub files: Vec<(&'static str, PathBuf)>,
    pub folders: Vec<(&'static str, PathBuf)>,
}

/// `path` (given to `flag`) as a destination, or one sentence naming it and saying why not.
/// Nothing is written.
pub fn check(flag: &'static str, path: &Path, guarded: &Guarded) -> Result<Destination> {
    if path.as_os_str() == "-" {
        return Ok(Destination::Stdout);
    }
    let refuse = |why: String| {
        Err(Error::Flag {
            flag,
            msg: format!("{}: {why}", path.display()),
        })
    };
    let Some(name) = path.file_name() else {
        return refuse("names no file".into());
    };
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let folder = match fs::canonicalize(folder) {
        Ok(f) if f.is_dir() => f,
        Ok(_) => return refuse(format!("{} is not a folder", folder.display())),
        Err(e) => return refuse(format!("cannot write in {}: {e}", folder.display())),
    };
    let at = folder.join(name);
    for (what, dir) in &guarded.folders {
        let dir = fs::canonicalize(dir)
            .unwrap_or_else(|_| std::path::absolute(dir).unwrap_or(dir.clone()));
        if at.starts_with(&dir) {
            return refuse(format!(
                "is inside {what} {}, which tune keeps: write elsewhere",
                dir.display()
            ));
        }
    }
    let meta = match fs::symlink_metadata(&at) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(Destination::File(path.to_path_buf()))
        }
        Err(e) => return refuse(format!("cannot be checked: {e}")),
    };
    if let Some(kind) = not_regular(&meta) {
        return refuse(format!(
            "is {kind}: tune replaces only a regular file (`-` writes to standard output)"
        ));
    }
    for (what, file) in &guarded.files {
        if fs::metadata(file).is_ok_and(|m| same_file(&m, &meta)) {
            return refuse(format!("is {what} ({}): write elsewhere", file.display()));
        }
    }
    Ok(Destination::File(path.to_path_buf()))
}

/// What a file that is not a regular one is, in words.
fn not_regular(meta: &fs::Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    if t.is_file() {
        return None;
    }
    if t.is_symlink() {
        return Some("a symbolic link");
    }
    if t.is_dir() {
        return Some("a folder");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return Some("a FIFO (named pipe)");
        }
        if t.is_char_device() || t.is_block_device() {
            return Some("a device");
        }
        if t.is_socket() {
            return Some("a socket");
        }
    }
    Some("not a regular file")
}

/// The same file: the same device and inode (a hard link, or another name for the same path).
#[cfg(unix)]
fn same_file(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

#[cfg(not(unix))]
fn same_file(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    a.len() == b.len()
        && a.modified().ok() == b.modified().ok()
        && a.created().ok() == b.created().ok()
}

/// Writes `bytes` to `dest`: standard output, or a temp file beside the file renamed over it (a
/// stale temp file, whatever it is, is removed first, and the new one is made with `O_EXCL`, so
/// that a link or a FIFO in its place is never followed). The error names the file.
pub fn write(dest: &Destination, bytes: &[u8]) -> io::Result<()> {
    match dest {
        Destination::Stdout => {
            let mut out = io::stdout().lock();
            out.write_all(bytes)?;
            out.flush()
        }
        Destination::File(path) => {
            let tmp = crate::durable::temp_name(path);
            match fs::remove_file(&tmp) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            let result = (|| {
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&tmp)?;
                f.write_all(bytes)?;
                drop(f);
                fs::rename(&tmp, path)
            })();
            if result.is_err() {
                let _ = fs::remove_file(&tmp);
            }
            result
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guarded(dir: &Path) -> Guarded {
        Guarded {
            files: vec![("the spec", dir.join("spec.json"))],
            folders: vec![("the study folder", dir.join("runs/s"))],
        }
    }

    #[test]
    fn new_and_regular_files_pass_and_the_guarded_ones_do_not() {
        let dir = crate::testutil::TempDir::new();
        let d = dir.path();
        fs::create_dir_all(d.join("runs/s")).unwrap();
        fs::create_dir_all(d.join("x")).unwrap();
        fs::write(d.join("spec.json"), "{}").unwrap();
        fs::write(d.join("old.csv"), "a").unwrap();
        let g = guarded(d);
        let ok = |p: PathBuf| assert_eq!(check("--output", &p, &g).unwrap(), Destination::File(p));
        ok(d.join("new.csv"));
        ok(d.join("old.csv"));
        assert_eq!(
            check("--output", Path::new("-"), &g).unwrap(),
            Destination::Stdout
        );
        let refused = |p: PathBuf, why: &str| {
            let e = check("--output", &p, &g).unwrap_err().to_string();
            assert!(e.starts_with("--output: ") && e.contains(why), "{e}");
        };
        refused(d.join("x/../spec.json"), "is the spec");
        refused(d.join("runs/s/leaderboard.csv"), "inside the study folder");
        refused(d.join("runs/s/new.csv"), "inside the study folder");
        refused(d.join("runs/./s"), "inside the study folder");
        refused(d.join("x"), "a folder");
        refused(d.join("nowhere/p.csv"), "cannot write in");
        #[cfg(unix)]
        {
            fs::hard_link(d.join("spec.json"), d.join("hard")).unwrap();
            refused(d.join("hard"), "is the spec");
            std::os::unix::fs::symlink(d.join("old.csv"), d.join("link")).unwrap();
            refused(d.join("link"), "a symbolic link");
            refused(PathBuf::from("/dev/null"), "a device");
        }
    }

    #[test]
    #[cfg(unix)]
    fn a_link_in_the_temp_files_place_is_not_followed() {
        let dir = crate::testutil::TempDir::new();
        let d = dir.path();
        fs::write(d.join("precious"), "keep").unwrap();
        let out = d.join("out.csv");
        std::os::unix::fs::symlink(d.join("precious"), crate::durable::temp_name(&out)).unwrap();
        write(&Destination::File(out.clone()), b"new").unwrap();
        assert_eq!(fs::read(&out).unwrap(), b"new");
        assert_eq!(fs::read(d.join("precious")).unwrap(), b"keep");
    }
}
