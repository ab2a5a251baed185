//! A data file read once, as a stream, into the columns a study uses: numbers as f32 (NaN where a
//! cell is missing), text as codes into the column's distinct values. Only the columns asked for
//! are kept; the file is never held whole. Errors name the file, the line (CSV) or row (Parquet)
//! and the column. This module holds the types every reader shares (which reader reads a file is
//! chosen in `formats.rs`).

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The cells that mean "missing" unless the spec says otherwise.
pub const DEFAULT_MISSING: &[&str] = &["", "NA", "NaN", "null", "N/A", "?"];

/// The code of a missing cell in a text column.
pub const MISSING_CODE: u32 = u32::MAX;

/// How a column is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Numbers, or the file is refused (a regression target).
    Numeric,
    /// Text: every distinct value is a level (a classification target, a declared category).
    Text,
    /// Numbers when every cell that is not missing is one; text otherwise, with at most
    /// `max_levels` distinct values.
    Detect,
    /// A `Detect` column found to be text.
    Detected,
}

/// A column to read: its index in the header, how, and whether it is the target (whose empty
/// cells are "labels" in messages).
#[derive(Clone, Copy, Debug)]
pub struct Want {
    pub col: usize,
    pub kind: Kind,
    pub target: bool,
}

/// What counts as missing and how many text values a detected column may have.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// The cells that mean "missing"; `None`: no cell is missing (`"missing": "refuse"`).
    pub missing: Option<Vec<String>>,
    pub max_levels: usize,
}

/// One column as read.
#[derive(Clone, Debug, PartialEq)]
pub enum Column {
    /// Values as f32 (the file's number rounded once from f64); NaN: missing.
    Numeric(Vec<f32>),
    /// Each row's code into `levels` (in order of first appearance); [`MISSING_CODE`]: missing.
    Text {
        codes: Vec<u32>,
        levels: Vec<String>,
    },
}

/// The file formats read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Parquet,
}

/// Where the bytes come from: a file, or bytes in memory (tests).
#[derive(Clone, Debug)]
pub(super) enum Source {
    File,
    Bytes(std::sync::Arc<[u8]>),
}

/// A data file whose header has been read: its column names, before any row is.
#[derive(Clone, Debug)]
pub struct Header {
    pub file: PathBuf,
    pub format: Format,
    pub headers: Vec<String>,
    pub(super) source: Source,
}

/// The columns asked for, read whole.
#[derive(Clone, Debug)]
pub struct Table {
    pub file: PathBuf,
    pub format: Format,
    pub headers: Vec<String>,
    /// CRC-32 of the file's bytes, to notice a changed data file on resume.
    pub crc32: u32,
    /// The file's size in bytes.
    pub len: u64,
    /// Data rows (blank lines are not rows).
    pub rows: usize,
    /// The columns asked for, row-major: row `r`'s value of the `k`th column asked for is
    /// `values[r * width + k]`; a text column's value is its code's bits
    /// ([`f32::from_bits`]), so that a row is read whole from one place.
    pub values: Vec<f32>,
    pub width: usize,
    /// The header index of each column asked for, and its levels when it is text.
    pub columns: Vec<(usize, Option<Vec<String>>)>,
    pub(super) source: Source,
}

impl Header {
    /// The index of column `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.headers.iter().position(|h| h == name)
    }

    /// The whole file's bytes (for messages only).
    pub(super) fn bytes(&self) -> Result<std::sync::Arc<[u8]>> {
        match &self.source {
            Source::Bytes(b) => Ok(b.clone()),
            Source::File => std::fs::read(&self.file)
                .map(Into::into)
                .map_err(|err| Error::Read {
                    file: self.file.clone(),
                    err,
                }),
        }
    }

    /// A data error at `place` (a line or row).
    pub(crate) fn error(&self, place: String, msg: String) -> Error {
        Error::Data {
            file: self.file.clone(),
            place,
            msg,
        }
    }
}

/// What reading the rows gave.
pub(super) enum Body {
    Done(Read_),
    /// The `i`th wanted column is not numbers: read it again as text.
    AsText(usize),
}

/// The rows, read.
pub(super) struct Read_ {
    pub crc32: u32,
    pub len: u64,
    pub rows: usize,
    pub values: Vec<f32>,
    pub levels: Vec<Option<Vec<String>>>,
}

impl Table {
    /// Data rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Where the column with header index `col` is among those read, if it was.
    pub fn slot(&self, col: usize) -> Option<usize> {
        self.columns.iter().position(|(c, _)| *c == col)
    }

    /// The levels of text column `k` (by slot), None for numbers.
    pub fn levels(&self, k: usize) -> Option<&[String]> {
        self.columns[k].1.as_deref()
    }

    /// The column with header index `col`, if it was read, copied out.
    pub fn column(&self, col: usize) -> Option<Column> {
        let k = self.slot(col)?;
        let values = self.values.iter().skip(k).step_by(self.width).copied();
        Some(match &self.columns[k].1 {
            None => Column::Numeric(values.collect()),
            Some(levels) => Column::Text {
                codes: values.map(f32::to_bits).collect(),
                levels: levels.clone(),
            },
        })
    }
}

/// A reader that computes the CRC-32 and length of what goes through it.
pub(super) struct Hashing<R> {
    pub inner: R,
    pub crc: crc32fast::Hasher,
    pub len: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

/// The CRC-32 and length of `file`, read in pieces.
pub fn file_crc32(file: &Path) -> Result<(u32, u64)> {
    let f = std::fs::File::open(file).map_err(|err| Error::Read {
        file: file.to_path_buf(),
        err,
    })?;
    let mut h = Hashing {
        inner: f,
        crc: crc32fast::Hasher::new(),
        len: 0,
    };
    std::io::copy(&mut h, &mut std::io::sink()).map_err(|err| Error::Read {
        file: file.to_path_buf(),
        err,
    })?;
    Ok((h.crc.finalize(), h.len))
}
