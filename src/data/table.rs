//! A data file read once, as a stream, into the columns a study uses: numbers as f32 (NaN where a
//! cell is missing), text as codes into the column's distinct values. Only the columns asked for
//! are kept; the file is never held whole. Errors name the file, the line (CSV) or row (Parquet)
//! and the column.

use std::collections::HashMap;
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
                    return Ok(Table {
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
                    })
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
            msg: msg.replace("{cell}", &cell),
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
    match text.parse::<f64>() {
        Ok(v) if (v as f32).is_finite() => Cell::Num(v as f32),
        Ok(v) if v.is_finite() => Cell::Bad(format!(
            "\"{text}\" is outside the range of the 32-bit floats that training uses (at most {:e} \
             in size)",
            f32::MAX
        )),
        _ if is_missing() => Cell::Missing,
        Ok(_) => Cell::Bad(format!("\"{text}\" is not a finite number")),
        Err(_) if text.is_empty() => Cell::Bad("the cell is empty".into()),
        Err(_) if missing.is_none() && DEFAULT_MISSING.contains(&text) => Cell::Bad(refused(text)),
        Err(_) => Cell::Text,
    }
}

/// A plain decimal (`-12.345`: an optional sign, at most 15 digits, an optional point, no
/// exponent) as f64, exactly as `str::parse` reads it, faster: its digits make an integer below
/// 2^53 and the power of ten is exact, so one division rounds correctly (Clinger's fast path).
/// None for anything else, which `str::parse` then reads.
pub(super) fn plain_decimal(b: &[u8]) -> Option<f64> {
    scan_decimal(b, 0)
        .filter(|&(_, end)| end == b.len())
        .map(|(v, _)| v)
}

/// The plain decimal (as [`plain_decimal`] reads it) that is the whole field starting at byte
/// `start` of `line`, where fields end at a comma or the line's end, and where the field ends;
/// None for anything else.
#[inline]
pub(super) fn scan_decimal(line: &[u8], start: usize) -> Option<(f64, usize)> {
    let (neg, m, frac, end) = scan_parts(line, start)?;
    let v = m as i64 as f64 / POW10[frac];
    Some((if neg { -v } else { v }, end))
}

/// [`scan_decimal`]'s value as f32, bit for bit what `as f32` makes of it, mostly without its
/// division: the digits times the nearest f64 to 10^-frac is within 2.5 f64 units in the last
/// place of the correctly rounded quotient (two roundings of at most one unit each, and the
/// quotient's own half), so where it is further than that from the midway point between two f32s
/// (the low 29 bits of its f64 significand, 2^28 at the midway point) both round to the same f32;
/// near a midway point (a few in 10^8 values) the quotient is computed as before. The CSV fast
/// path reads a line's fields with it as it scans them.
#[inline]
pub(super) fn scan_decimal_f32(line: &[u8], start: usize) -> Option<(f32, usize)> {
    const INV10: [f64; 16] = [
        1e0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-11, 1e-12, 1e-13,
        1e-14, 1e-15,
    ];
    let (neg, m, frac, end) = scan_parts(line, start)?;
    // Below 10^15: converted as a signed integer, in one instruction.
    let (m, frac) = (m as i64 as f64, frac.min(15));
    let y = m * INV10[frac];
    let low = y.to_bits() & ((1 << 29) - 1);
    let v = match low.abs_diff(1 << 28) > 8 {
        true => y as f32,
        false => (m / POW10[frac]) as f32,
    };
    Some((if neg { -v } else { v }, end))
}

const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// A plain decimal field's parts: its sign, its digits as an integer (below 10^15), the digits
/// after the point, and where the field ends (at a comma or the line's end).
#[inline(always)]
fn scan_parts(line: &[u8], start: usize) -> Option<(bool, u64, usize, usize)> {
    let mut i = start;
    let neg = match line.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    // Digits beyond 15 wrap the integer harmlessly: the field is refused below.
    let mut m = 0u64;
    let digits = |i: &mut usize, m: &mut u64| {
        let from = *i;
        // Eight bytes at a time where the line has them.
        while let Some(chunk) = line.get(*i..*i + 8) {
            let (n, value) = leading_digits(u64::from_le_bytes(chunk.try_into().unwrap()));
            if n == 0 {
                return *i - from;
            }
            *m = m.wrapping_mul(POW10_INT[n]).wrapping_add(value);
            *i += n;
            if n < 8 {
                return *i - from;
            }
        }
        while let Some(&c) = line.get(*i) {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            *m = m.wrapping_mul(10).wrapping_add(d as u64);
            *i += 1;
        }
        *i - from
    };
    let whole = digits(&mut i, &mut m);
    let mut frac = 0;
    if line.get(i) == Some(&b'.') {
        i += 1;
        frac = digits(&mut i, &mut m);
    }
    let n = whole + frac;
    if n == 0 || n > 15 || !matches!(line.get(i), None | Some(b',')) {
        return None;
    }
    Some((neg, m, frac, i))
}

const POW10_INT: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// How many of the eight bytes `v` (the first in its lowest byte) are ASCII digits before the
/// first that is not, and the number they make. A byte below `0` sets its high bit when `0` is
/// subtracted, one above `9` when 0x46 is added; a borrow or a carry moves only to later bytes.
#[inline(always)]
fn leading_digits(v: u64) -> (usize, u64) {
    let digits = v.wrapping_sub(0x3030_3030_3030_3030);
    let other = (digits | v.wrapping_add(0x4646_4646_4646_4646)) & 0x8080_8080_8080_8080;
    let n = (other.trailing_zeros() / 8) as usize;
    if n == 0 {
        return (0, 0);
    }
    // The n digits in the top bytes, zeros (leading zeros) below them.
    let d = digits << (64 - 8 * n);
    // Pairs, then fours, then the eight (fast_float's eight-digit step).
    let d = d.wrapping_mul(10).wrapping_add(d >> 8);
    let d = ((d & 0x0000_00ff_0000_00ff)
        .wrapping_mul(100 + (1_000_000 << 32))
        .wrapping_add(((d >> 16) & 0x0000_00ff_0000_00ff).wrapping_mul(1 + (10_000 << 32))))
        >> 32;
    (n, d)
}

/// The text columns' distinct values as they are read.
pub(super) struct Levels {
    index: HashMap<Box<str>, u32>,
    pub levels: Vec<String>,
}

impl Levels {
    pub fn new() -> Levels {
        Levels {
            index: HashMap::new(),
            levels: Vec::new(),
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
            Cell::Text => return Err(format!("\"{text}\" is not a number")),
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
                let code = levels.code(text);
                if want.kind == Kind::Detected && levels.levels.len() > opts.max_levels {
                    return Err(too_many_levels(name, opts.max_levels, &levels.levels));
                }
                f32::from_bits(code)
            }
        }
    }))
}

/// The sentence refusing a cell that marks a gap where gaps are refused.
fn refused(text: &str) -> String {
    format!("\"{text}\" marks a missing value, and data.missing is \"refuse\"")
}

/// The sentence refusing a detected text column with more than `max` distinct values.
fn too_many_levels(name: &str, max: usize, levels: &[String]) -> String {
    format!(
        "the column has more than {max} distinct values that are not numbers (\"{}\", \"{}\", \
         ...): drop \"{name}\" from data.features, or list it in data.categorical to one-hot \
         encode it anyway",
        levels[0], levels[1]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_decimals_read_as_str_parse_reads_them() {
        let mut rng = 0x9e3779b97f4a7c15u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut texts: Vec<String> = [
            "0",
            "-0",
            "+1",
            "5.",
            ".5",
            "0.1",
            "-0.123457",
            "999999999999999",
            "1.00000000000001",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for _ in 0..200_000 {
            let digits = 1 + next() % 15;
            let m = next() % 10u64.pow(digits as u32);
            let s = format!("{m:0width$}", width = digits as usize);
            let at = (next() % (digits + 1)) as usize;
            let sign = ["", "-", "+"][(next() % 3) as usize];
            texts.push(format!("{sign}{}.{}", &s[..at], &s[at..]));
        }
        for t in &texts {
            let want: f64 = t.parse().unwrap();
            assert_eq!(
                plain_decimal(t.as_bytes()).map(f64::to_bits),
                Some(want.to_bits()),
                "{t}"
            );
        }
        for t in &texts {
            let want = t.parse::<f64>().unwrap() as f32;
            assert_eq!(
                scan_decimal_f32(t.as_bytes(), 0).map(|(v, _)| v.to_bits()),
                Some(want.to_bits()),
                "{t}"
            );
        }
        for t in [
            "",
            "-",
            ".",
            "1e5",
            "1.2.3",
            "1234567890123456",
            "NaN",
            "inf",
            "0x1",
            " 1",
        ] {
            assert_eq!(plain_decimal(t.as_bytes()), None, "{t}");
        }
    }

    /// The f32 reader against `str::parse` then `as f32`, bit for bit, on random decimals and on
    /// decimals next to the midway points between f32s (where the double rounding of the
    /// quotient, first to f64, decides).
    #[test]
    fn plain_decimals_as_f32_round_as_str_parse_then_as_f32() {
        let mut rng = 0x2545f4914f6cdd1du64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut texts = Vec::new();
        for _ in 0..1_000_000 {
            let digits = 1 + next() % 15;
            let m = next() % 10u64.pow(digits as u32);
            let s = format!("{m:0width$}", width = digits as usize);
            let at = (next() % (digits + 1)) as usize;
            let sign = ["", "-"][(next() % 2) as usize];
            texts.push(format!("{sign}{}.{}", &s[..at], &s[at..]));
        }
        // Midway between an f32 and the next, written with `frac` digits after the point: the
        // nearest such decimal, and its neighbours.
        for _ in 0..1_000_000 {
            let a = f32::from_bits((next() % 0x4e00_0000) as u32 + 0x2000_0000);
            let mid = (a as f64 + f32::from_bits(a.to_bits() + 1) as f64) / 2.0;
            let frac = (next() % 15) as i32;
            let m = (mid * 10f64.powi(frac)).round();
            if !(1.0..1e15).contains(&m) {
                continue;
            }
            for m in [m as u64 - 1, m as u64, m as u64 + 1] {
                let s = format!("{m:0width$}", width = frac as usize + 1);
                let at = s.len() - frac as usize;
                texts.push(format!("{}.{}", &s[..at], &s[at..]));
            }
        }
        let mut slow = 0;
        for t in &texts {
            let want = t.parse::<f64>().unwrap() as f32;
            let got = scan_decimal_f32(t.as_bytes(), 0).map(|(v, _)| v);
            assert_eq!(got.map(f32::to_bits), Some(want.to_bits()), "{t}");
            let y = t.parse::<f64>().unwrap();
            slow += ((y.to_bits() & ((1 << 29) - 1)).abs_diff(1 << 28) <= 8) as usize;
        }
        assert!(slow > 1000, "only {slow} decimals near a midway point");
    }

    #[test]
    fn leading_digits_stop_at_any_other_byte() {
        for p in 0..8 {
            for b in 0..=255u8 {
                let mut bytes = *b"31415926";
                bytes[p] = b;
                let (n, v) = leading_digits(u64::from_le_bytes(bytes));
                let want = bytes.iter().take_while(|c| c.is_ascii_digit()).count();
                assert_eq!(n, want, "{bytes:?}");
                let text = std::str::from_utf8(&bytes[..n]).unwrap();
                assert_eq!(v, text.parse::<u64>().unwrap_or(0), "{bytes:?}");
            }
        }
    }
}
