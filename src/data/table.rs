//! A data file read once, as a stream, into the columns a study uses: numbers as f32 (NaN where a
//! cell is missing), text as codes into the column's distinct values. Only the columns asked for
//! are kept; the file is never held whole. Errors name the file, the line (CSV) or row (Parquet)
//! and the column.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::decimal::scan_decimal_f32;
use super::detect::{echo, is_number, too_many_levels};
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
enum Source {
    File,
    Bytes(std::sync::Arc<[u8]>),
}

/// A data file whose header has been read: its column names, before any row is.
#[derive(Clone, Debug)]
pub struct Header {
    pub file: PathBuf,
    pub format: Format,
    pub headers: Vec<String>,
    source: Source,
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
    source: Source,
}

impl Header {
    /// Opens `file` and reads its column names: Parquet when it begins with `PAR1`, CSV otherwise.
    pub fn open(file: &Path) -> Result<Header> {
        let mut magic = [0u8; 4];
        let is_parquet = std::fs::File::open(file)
            .and_then(|mut f| {
                let n = f.read(&mut magic)?;
                Ok(n == 4 && &magic == b"PAR1")
            })
            .map_err(|err| Error::Read {
                file: file.to_path_buf(),
                err,
            })?;
        if is_parquet {
            return super::parquet_table::header(file).map(|headers| Header {
                file: file.to_path_buf(),
                format: Format::Parquet,
                headers,
                source: Source::File,
            });
        }
        let reader = std::fs::File::open(file).map_err(|err| Error::Read {
            file: file.to_path_buf(),
            err,
        })?;
        let headers = super::csv_table::header(file, reader)?;
        Ok(Header {
            file: file.to_path_buf(),
            format: Format::Csv,
            headers,
            source: Source::File,
        })
    }

    /// The header of CSV `bytes`; `file` names it in errors.
    pub fn of_bytes(file: &Path, bytes: &[u8]) -> Result<Header> {
        let headers = super::csv_table::header(file, bytes)?;
        Ok(Header {
            file: file.to_path_buf(),
            format: Format::Csv,
            headers,
            source: Source::Bytes(bytes.into()),
        })
    }

    /// The index of column `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.headers.iter().position(|h| h == name)
    }

    /// Reads the columns `wants` of every row. A `Detect` column found not to be numbers is read
    /// again as text (the file is read once more from the start, only then).
    pub fn read(&self, wants: &[Want], opts: &ReadOptions) -> Result<Table> {
        let mut wants = wants.to_vec();
        loop {
            let body = match (self.format, &self.source) {
                (Format::Parquet, _) => super::parquet_table::body(self, &wants, opts)?,
                (Format::Csv, Source::File) => {
                    let open = || {
                        std::fs::File::open(&self.file).map_err(|err| Error::Read {
                            file: self.file.clone(),
                            err,
                        })
                    };
                    match super::csv_table::fast_body(self, open()?, &wants, opts)? {
                        Some(body) => body,
                        None => super::csv_table::body(self, open()?, &wants, opts)?,
                    }
                }
                (Format::Csv, Source::Bytes(b)) => {
                    match super::csv_table::fast_body(self, &b[..], &wants, opts)? {
                        Some(body) => body,
                        None => super::csv_table::body(self, &b[..], &wants, opts)?,
                    }
                }
            };
            match body {
                Body::Done(b) => {
                    let t = Table {
                        file: self.file.clone(),
                        format: self.format,
                        headers: self.headers.clone(),
                        crc32: b.crc32,
                        len: b.len,
                        rows: b.rows,
                        values: b.values,
                        width: wants.len(),
                        columns: wants.iter().map(|w| w.col).zip(b.levels).collect(),
                        source: self.source.clone(),
                    };
                    super::detect::check(&t, &wants, opts)?;
                    return Ok(t);
                }
                Body::AsText(i) => wants[i].kind = Kind::Detected,
            }
        }
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

    /// Where data row `row` (0 = the first after the header) is, and the text of its cell in
    /// column `col`, for a message: the file is read again up to there.
    pub fn locate(&self, row: usize, col: usize) -> Result<(String, String)> {
        match (self.format, &self.source) {
            (Format::Parquet, _) => super::parquet_table::locate(self, row, col),
            (Format::Csv, Source::File) => {
                let f = std::fs::File::open(&self.file).map_err(|err| Error::Read {
                    file: self.file.clone(),
                    err,
                })?;
                super::csv_table::locate(self, f, row, col)
            }
            (Format::Csv, Source::Bytes(b)) => super::csv_table::locate(self, &b[..], row, col),
        }
    }

    /// A data error at data row `row`, column `col` (the message may quote the cell as `{cell}`).
    pub(crate) fn error_at(&self, row: usize, col: usize, msg: &str) -> Error {
        let (place, cell) = self
            .locate(row, col)
            .unwrap_or_else(|_| (format!("row {}", row + 1), String::new()));
        Error::Data {
            file: self.file.clone(),
            place: format!("{place}, column \"{}\"", self.headers[col]),
            msg: msg.replace("{cell}", &echo(&cell)),
        }
    }
}

/// A numeric cell, classified.
pub(super) enum Cell {
    Num(f32),
    Missing,
    /// Not a number (a `Detect` column is then text).
    Text,
    /// Refused, with the sentence why.
    Bad(String),
}

/// Reads `text` (trimmed) as a number that is finite in f32 too (training computes in f32, where a
/// larger one is infinite and would spread NaN through a trial's weights), or says why not.
pub(super) fn numeric_cell(text: &str, missing: Option<&[String]>) -> Cell {
    if let Some((v, _)) = scan_decimal_f32(text.as_bytes(), 0).filter(|&(_, e)| e == text.len()) {
        return Cell::Num(v);
    }
    let is_missing = || missing.is_some_and(|m| m.iter().any(|s| s == text));
    // Digits too many for f64 too (`1e999`) are as out of range as `1e300`; `inf` is no number.
    let written_inf = || text.to_ascii_lowercase().contains("inf");
    match text.parse::<f64>() {
        Ok(v) if (v as f32).is_finite() => Cell::Num(v as f32),
        Ok(v) if v.is_finite() || v.is_infinite() && !written_inf() => Cell::Bad(format!(
            "\"{}\" is outside the range of the 32-bit floats that training uses (at most {:e} \
             in size)",
            echo(text),
            f32::MAX
        )),
        _ if is_missing() => Cell::Missing,
        Ok(_) => Cell::Bad(format!("\"{}\" is not a finite number", echo(text))),
        Err(_) if text.is_empty() => Cell::Bad("the cell is empty".into()),
        Err(_) if missing.is_none() && DEFAULT_MISSING.contains(&text) => Cell::Bad(refused(text)),
        Err(_) => Cell::Text,
    }
}

/// The text columns' distinct values as they are read.
pub(super) struct Levels {
    index: HashMap<Box<str>, u32>,
    pub levels: Vec<String>,
    /// Those that are not numbers (counted in a detected column only).
    pub texts: usize,
}

impl Levels {
    pub fn new() -> Levels {
        Levels {
            index: HashMap::new(),
            levels: Vec::new(),
            texts: 0,
        }
    }

    /// The code of `text`, a new one when it is new.
    pub fn code(&mut self, text: &str) -> u32 {
        if let Some(&c) = self.index.get(text) {
            return c;
        }
        let c = self.levels.len() as u32;
        self.index.insert(text.into(), c);
        self.levels.push(text.to_string());
        c
    }
}

/// The columns being read, row-major.
pub(super) struct Building {
    pub values: Vec<f32>,
    /// Each column's levels so far; None for numbers.
    pub levels: Vec<Option<Levels>>,
}

impl Building {
    pub fn new(wants: &[Want]) -> Building {
        Building {
            values: Vec::new(),
            levels: wants
                .iter()
                .map(|w| matches!(w.kind, Kind::Text | Kind::Detected).then(Levels::new))
                .collect(),
        }
    }

    pub fn done(self) -> (Vec<f32>, Vec<Option<Vec<String>>>) {
        let levels = self
            .levels
            .into_iter()
            .map(|l| l.map(|l| l.levels))
            .collect();
        (self.values, levels)
    }
}

/// Pushes one cell's value (column `k`, read as `want` says); Err says why the row is refused,
/// `Ok(false)` that the column is text.
pub(super) fn push_cell(
    b: &mut Building,
    k: usize,
    want: &Want,
    text: &str,
    opts: &ReadOptions,
    name: &str,
) -> std::result::Result<bool, String> {
    match cell_value(&mut b.levels[k], want, text, opts, name)? {
        Some(v) => {
            b.values.push(v);
            Ok(true)
        }
        None => Ok(false),
    }
}

/// The value of one cell of a column read as `want` says (`levels`: its levels so far, None for
/// numbers): a number, NaN for a gap, or a text's code as bits; `Ok(None)`: the column is text.
pub(super) fn cell_value(
    levels: &mut Option<Levels>,
    want: &Want,
    text: &str,
    opts: &ReadOptions,
    name: &str,
) -> std::result::Result<Option<f32>, String> {
    let missing = opts.missing.as_deref();
    Ok(Some(match levels {
        None => match numeric_cell(text, missing) {
            Cell::Num(x) => x,
            Cell::Missing => f32::NAN,
            Cell::Text if want.kind == Kind::Detect => return Ok(None),
            Cell::Text => return Err(format!("\"{}\" is not a number", echo(text))),
            Cell::Bad(why) => return Err(why),
        },
        Some(levels) => {
            if missing.is_some_and(|m| m.iter().any(|s| s == text)) {
                f32::from_bits(MISSING_CODE)
            } else if text.is_empty() {
                return Err(match want.target {
                    true => "the label is empty".into(),
                    false => "the cell is empty".into(),
                });
            } else if missing.is_none() && DEFAULT_MISSING.contains(&text) {
                return Err(refused(text));
            } else {
                let known = levels.levels.len();
                let code = levels.code(text);
                // Only levels that are not numbers count here: a column of numbers with a typo
                // is refused once read, naming the typo (super::detect::check).
                if want.kind == Kind::Detected && levels.levels.len() > known && !is_number(text) {
                    levels.texts += 1;
                    if levels.texts > opts.max_levels {
                        return Err(too_many_levels(
                            name,
                            opts.max_levels,
                            &levels.levels,
                            false,
                        ));
                    }
                }
                f32::from_bits(code)
            }
        }
    }))
}

/// The sentence refusing a cell that marks a gap where gaps are refused.
fn refused(text: &str) -> String {
    format!(
        "\"{}\" marks a missing value, and data.missing is \"refuse\"",
        echo(text)
    )
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
