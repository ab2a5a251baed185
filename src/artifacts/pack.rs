//! A payload (the file or folder a user's program wrote) as one stream of bytes, for a store
//! without folders: a kind byte (`F` a lone file, `D` a folder), then per file, in path order, its
//! path relative to the payload (empty for a lone file) and its bytes, each led by its length (u64,
//! little-endian). Everything after the kind byte is what [`super::payload::describe`] sums, so the
//! sum is computed while the stream is made or read, in one pass and bounded memory.
//!
//! Studies kept before the stream was cut into chunks hold it after the checkpoint's own bytes
//! ([`join`], [`split`]); they are still read.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::payload::files;
use super::Payload;

/// What the pieces of files are read and written by: memory does not grow with a payload's size.
const PIECE: usize = 1 << 20;

/// The longest path a stream may hold for a file (a damaged stream asks for no more memory).
const MAX_PATH: usize = 1 << 16;

/// The stream of the payload at a path, read as it is made; [`Packer::finish`] then gives the
/// payload's record.
pub struct Packer {
    name: String,
    /// The files left, by path relative to the payload, with their sizes when opened.
    files: std::vec::IntoIter<(String, PathBuf, u64)>,
    /// What comes before the next file's bytes (kind byte, lengths, path), not yet read.
    head: Vec<u8>,
    at: usize,
    /// The file being read, and how many of its bytes are still to come.
    file: Option<(fs::File, PathBuf, u64)>,
    len: u64,
    content: u64,
    crc: crc32fast::Hasher,
}

impl Packer {
    /// The stream of the file or folder at `path`; its length is known before it is read.
    pub fn open(path: &Path) -> io::Result<Packer> {
        let folder = fs::symlink_metadata(path)?.is_dir();
        let mut listed = vec![];
        let mut len = 1;
        for (rel, p) in files(path)? {
            let size = fs::symlink_metadata(&p)?.len();
            len += 16 + rel.len() as u64 + size;
            listed.push((rel, p, size));
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Packer {
            name,
            files: listed.into_iter(),
            head: vec![if folder { b'D' } else { b'F' }],
            at: 0,
            file: None,
            len,
            content: 0,
            crc: crc32fast::Hasher::new(),
        })
    }

    /// How many bytes the stream holds.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the stream is empty (never: it holds at least its kind byte).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The payload's record, once the whole stream was read.
    pub fn finish(mut self) -> io::Result<Payload> {
        if self.read(&mut [0u8])? != 0 {
            return Err(io::Error::other(
                "a payload's stream was not read to its end",
            ));
        }
        Ok(Payload {
            name: self.name,
            crc32: format!("{:08x}", self.crc.finalize()),
            bytes: self.content,
        })
    }

    /// Moves on to the next file's head, or says the stream ended.
    fn next_file(&mut self) -> io::Result<bool> {
        let Some((rel, p, size)) = self.files.next() else {
            return Ok(false);
        };
        let f = fs::File::open(&p)?;
        self.head.clear();
        self.at = 0;
        self.head
            .extend_from_slice(&(rel.len() as u64).to_le_bytes());
        self.head.extend_from_slice(rel.as_bytes());
        self.head.extend_from_slice(&size.to_le_bytes());
        self.crc.update(&self.head);
        self.file = Some((f, p, size));
        Ok(true)
    }
}

impl Read for Packer {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.at < self.head.len() {
                let n = buf.len().min(self.head.len() - self.at);
                buf[..n].copy_from_slice(&self.head[self.at..self.at + n]);
                self.at += n;
                return Ok(n);
            }
            if let Some((f, p, left)) = &mut self.file {
                if *left == 0 {
                    // A file that grew since it was listed would not unpack to what was summed.
                    if f.read(&mut [0u8])? != 0 {
                        return Err(changed(p));
                    }
                    self.file = None;
                    continue;
                }
                let want = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                let n = f.read(&mut buf[..want])?;
                if n == 0 && want > 0 {
                    return Err(changed(p));
                }
                *left -= n as u64;
                self.content += n as u64;
                self.crc.update(&buf[..n]);
                return Ok(n);
            }
            if !self.next_file()? {
                return Ok(0);
            }
        }
    }
}

fn changed(p: &Path) -> io::Error {
    io::Error::other(format!("{}: changed while it was read", p.display()))
}

/// Makes `to` (absent, its parent there) the tree of the stream `from` (read to its end), and
/// returns the record of what it wrote; a damaged stream is an error.
pub fn unpack(from: &mut impl Read, to: &Path) -> io::Result<Payload> {
    let bad = || io::Error::other("a packed checkpoint is damaged");
    let mut kind = [0u8];
    from.read_exact(&mut kind).map_err(|_| bad())?;
    if kind[0] == b'D' {
        fs::create_dir(to)?;
    } else if kind[0] != b'F' {
        return Err(bad());
    }
    let mut crc = crc32fast::Hasher::new();
    let mut content = 0u64;
    let mut buf = vec![0u8; PIECE];
    let mut files = 0;
    while let Some(n) = length(from, &mut crc, true)? {
        let n = usize::try_from(n).ok().filter(|&n| n <= MAX_PATH);
        let mut rel = vec![0u8; n.ok_or_else(bad)?];
        from.read_exact(&mut rel).map_err(|_| bad())?;
        crc.update(&rel);
        let rel = String::from_utf8(rel).map_err(|_| bad())?;
        let size = length(from, &mut crc, false)?.ok_or_else(bad)?;
        let target = match kind[0] {
            b'F' if rel.is_empty() && files == 0 => to.to_path_buf(),
            b'D' => {
                let rel = Path::new(&rel);
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
        let mut out = fs::File::create(target)?;
        let mut left = size;
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let got = from.read(&mut buf[..want])?;
            if got == 0 {
                return Err(bad());
            }
            crc.update(&buf[..got]);
            out.write_all(&buf[..got])?;
            left -= got as u64;
        }
        content += size;
        files += 1;
    }
    if kind[0] == b'F' && files != 1 {
        return Err(bad());
    }
    let name = to
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Payload {
        name,
        crc32: format!("{:08x}", crc.finalize()),
        bytes: content,
    })
}

/// The next length of the stream, summed; `None` at its end when `may_end`.
fn length(
    from: &mut impl Read,
    crc: &mut crc32fast::Hasher,
    may_end: bool,
) -> io::Result<Option<u64>> {
    let mut b = [0u8; 8];
    let mut got = 0;
    while got < 8 {
        match from.read(&mut b[got..])? {
            0 if got == 0 && may_end => return Ok(None),
            0 => return Err(io::Error::other("a packed checkpoint is damaged")),
            n => got += n,
        }
    }
    crc.update(&b);
    Ok(Some(u64::from_le_bytes(b)))
}

/// The mark that ends a checkpoint joined with its packed payload (see [`join`]).
const PACKED: &[u8; 8] = b"TUNEPAY1";

/// `ckpt` (a checkpoint's bytes) with the packed payload `packed` after it: how studies kept a
/// program's checkpoint in one `bytea` before payloads were kept in chunks; [`split`] takes them
/// apart (tests write it to check that such studies are still read).
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
    use super::super::payload::{describe, verify};
    use super::*;

    /// The whole stream of `path`, and its record.
    fn packed(path: &Path) -> (Vec<u8>, Payload) {
        let mut p = Packer::open(path).unwrap();
        let len = p.len();
        let mut out = vec![];
        p.read_to_end(&mut out).unwrap();
        assert_eq!(out.len() as u64, len);
        (out, p.finish().unwrap())
    }

    #[test]
    fn a_folder_or_a_file_streams_out_and_back_with_its_sum() {
        let dir = crate::testutil::TempDir::new();
        let src = dir.path().join("ckpt");
        fs::create_dir_all(src.join("sub")).unwrap();
        // Files larger than a piece, and empty ones.
        let big: Vec<u8> = (0..PIECE * 2 + 17).map(|i| (i * 7 % 251) as u8).collect();
        fs::write(src.join("a.bin"), &big).unwrap();
        fs::write(src.join("sub/b.json"), b"{}").unwrap();
        fs::write(src.join("sub/empty"), b"").unwrap();
        let (stream, record) = packed(&src);
        assert_eq!(record, describe(&src).unwrap());
        let again = dir.path().join("again");
        let got = unpack(&mut &stream[..], &again).unwrap();
        assert_eq!((got.crc32, got.bytes), (record.crc32.clone(), record.bytes));
        verify(&again, &record).unwrap();
        let one = src.join("a.bin");
        let (stream, record) = packed(&one);
        let back = dir.path().join("one.bin");
        assert_eq!(unpack(&mut &stream[..], &back).unwrap().crc32, record.crc32);
        assert_eq!(fs::read(&back).unwrap(), big);
        // A cut or a bit flipped is found: an error, or a sum that differs.
        for cut in [1, 9, stream.len() / 2, stream.len() - 1] {
            let to = dir.path().join(format!("cut{cut}"));
            assert!(unpack(&mut &stream[..cut], &to).is_err(), "{cut}");
        }
        let mut flipped = stream.clone();
        flipped[stream.len() - 5] ^= 1;
        let to = dir.path().join("flipped");
        assert_ne!(unpack(&mut &flipped[..], &to).unwrap().crc32, record.crc32);
        // A file that changes while it is read is refused.
        let mut p = Packer::open(&one).unwrap();
        fs::write(&one, b"short").unwrap();
        assert!(io::copy(&mut p, &mut io::sink()).is_err());
    }

    #[test]
    fn a_joined_checkpoint_splits_again() {
        let packed = b"Fpacked".to_vec();
        let joined = join(b"ckpt".to_vec(), &packed);
        assert_eq!(split(&joined), (&b"ckpt"[..], Some(&packed[..])));
        assert_eq!(split(b"ckpt"), (&b"ckpt"[..], None));
    }
}
