//! A checkpoint's payload: the file or folder a user's program wrote, taken over by the store.
//! Moved (not copied) into the store's place, its content summed (CRC-32 over every file's path
//! and bytes, in path order) and fsynced before the record that names it; read back only after
//! the sum is checked.

use std::fs;
use std::io::{self, Read};
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
fn files(root: &Path) -> io::Result<Vec<(String, PathBuf)>> {
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

/// The record of the payload at `path`.
pub fn describe(path: &Path) -> io::Result<Payload> {
    let mut h = crc32fast::Hasher::new();
    let mut bytes = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    for (rel, p) in files(path)? {
        h.update(&(rel.len() as u64).to_le_bytes());
        h.update(rel.as_bytes());
        let mut f = fs::File::open(&p)?;
        let len = f.metadata()?.len();
        h.update(&len.to_le_bytes());
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            bytes += n as u64;
        }
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Payload {
        name,
        crc32: format!("{:08x}", h.finalize()),
        bytes,
    })
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

/// The mark that ends a packed payload (see [`pack`]).
const PACKED: &[u8; 8] = b"TUNEPAY1";

/// The payload at `path` (a file or a folder of files) as one run of bytes, for a store without
/// folders: per file its path relative to `path` (empty for a lone file) and its bytes, each led by
/// its length; [`unpack`] makes the same tree again.
pub fn pack(path: &Path) -> io::Result<Vec<u8>> {
    let mut out = vec![];
    let folder = fs::symlink_metadata(path)?.is_dir();
    out.push(if folder { b'D' } else { b'F' });
    for (rel, p) in files(path)? {
        let bytes = fs::read(&p)?;
        out.extend_from_slice(&(rel.len() as u64).to_le_bytes());
        out.extend_from_slice(rel.as_bytes());
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        out.extend_from_slice(&bytes);
    }
    Ok(out)
}

/// Makes `to` (absent, its parent there) the tree [`pack`] packed; a damaged pack is an error.
pub fn unpack(packed: &[u8], to: &Path) -> io::Result<()> {
    let bad = || io::Error::other("a packed checkpoint is damaged");
    let (&kind, mut rest) = packed.split_first().ok_or_else(bad)?;
    fn take<'a>(rest: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (a, b) = (rest.get(..n)?, rest.get(n..)?);
        *rest = b;
        Some(a)
    }
    fn len(rest: &mut &[u8]) -> Option<usize> {
        let b: [u8; 8] = take(rest, 8)?.try_into().ok()?;
        usize::try_from(u64::from_le_bytes(b)).ok()
    }
    if kind == b'D' {
        fs::create_dir(to)?;
    }
    while !rest.is_empty() {
        let n = len(&mut rest).ok_or_else(bad)?;
        let rel = take(&mut rest, n).ok_or_else(bad)?;
        let rel = std::str::from_utf8(rel).map_err(|_| bad())?;
        let n = len(&mut rest).ok_or_else(bad)?;
        let bytes = take(&mut rest, n).ok_or_else(bad)?;
        let target = match kind {
            b'F' if rel.is_empty() => to.to_path_buf(),
            b'D' => {
                let rel = Path::new(rel);
                let normal = |c| matches!(c, std::path::Component::Normal(_));
                if rel.as_os_str().is_empty() || !rel.components().all(normal) {
                    return Err(bad());
                }
                let t = to.join(rel);
                if let Some(parent) = t.parent() {
                    fs::create_dir_all(parent)?;
                }
                t
            }
            _ => return Err(bad()),
        };
        fs::write(target, bytes)?;
    }
    Ok(())
}

/// `ckpt` (a checkpoint's bytes) with the packed payload `packed` after it, for a store that keeps
/// one run of bytes per checkpoint; [`split`] takes them apart.
pub fn join(mut ckpt: Vec<u8>, packed: &[u8]) -> Vec<u8> {
    let n = ckpt.len() as u64;
    ckpt.extend_from_slice(packed);
    ckpt.extend_from_slice(&n.to_le_bytes());
    ckpt.extend_from_slice(PACKED);
    ckpt
}

/// The checkpoint's bytes and, when [`join`] added one, its packed payload.
pub fn split(bytes: &[u8]) -> (&[u8], Option<&[u8]>) {
    let Some(head) = bytes.strip_suffix(PACKED.as_slice()) else {
        return (bytes, None);
    };
    let Some((head, n)) = head.split_last_chunk::<8>() else {
        return (bytes, None);
    };
    match usize::try_from(u64::from_le_bytes(*n)) {
        Ok(n) if n <= head.len() => (&head[..n], Some(&head[n..])),
        _ => (bytes, None),
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
        // Packed and unpacked (a store without folders), the same payload; a lone file too.
        let packed = pack(&best).unwrap();
        let joined = join(b"ckpt".to_vec(), &packed);
        assert_eq!(split(&joined), (&b"ckpt"[..], Some(&packed[..])));
        assert_eq!(split(b"ckpt"), (&b"ckpt"[..], None));
        let again = dir.path().join("again");
        unpack(&packed, &again).unwrap();
        verify(&again, &describe(&best).unwrap()).unwrap();
        let file = best.join("a.bin");
        let one = dir.path().join("one.bin");
        unpack(&pack(&file).unwrap(), &one).unwrap();
        assert_eq!(fs::read(&one).unwrap(), b"weights");
        assert!(unpack(&packed[..packed.len() - 1], &dir.path().join("cut")).is_err());
        // Renamed paths change the sum, not only changed bytes.
        fs::rename(best.join("a.bin"), best.join("c.bin")).unwrap();
        assert!(verify(&best, &before).is_err());
    }
}
