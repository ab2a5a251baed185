//! Which reader reads a data file: Parquet by its first bytes, CSV otherwise (the fast reader of
//! plain numbers first, the careful one where it declines); a detected column found to be text
//! read again as text; and the way back from a data row to its place in the file, for messages.
//! The readers know the table's types ([`super::table`]); only this module knows the readers.

use std::io::Read;
use std::path::Path;

use super::detect::{check, echo};
use super::table::{Body, Format, Header, Kind, ReadOptions, Source, Table, Want};
use super::{csv_fast, csv_table, parquet_table};
use crate::error::{Error, Result};

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
            return parquet_table::header(file).map(|headers| Header {
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
        let headers = csv_table::header(file, reader)?;
        Ok(Header {
            file: file.to_path_buf(),
            format: Format::Csv,
            headers,
            source: Source::File,
        })
    }

    /// The header of CSV `bytes`; `file` names it in errors.
    pub fn of_bytes(file: &Path, bytes: &[u8]) -> Result<Header> {
        let headers = csv_table::header(file, bytes)?;
        Ok(Header {
            file: file.to_path_buf(),
            format: Format::Csv,
            headers,
            source: Source::Bytes(bytes.into()),
        })
    }

    /// Reads the columns `wants` of every row. A `Detect` column found not to be numbers is read
    /// again as text (the file is read once more from the start, only then).
    pub fn read(&self, wants: &[Want], opts: &ReadOptions) -> Result<Table> {
        let mut wants = wants.to_vec();
        loop {
            let body = match (self.format, &self.source) {
                (Format::Parquet, _) => parquet_table::body(self, &wants, opts)?,
                (Format::Csv, Source::File) => {
                    let open = || {
                        std::fs::File::open(&self.file).map_err(|err| Error::Read {
                            file: self.file.clone(),
                            err,
                        })
                    };
                    match csv_fast::fast_body(self, open()?, &wants, opts)? {
                        Some(body) => body,
                        None => csv_table::body(self, open()?, &wants, opts)?,
                    }
                }
                (Format::Csv, Source::Bytes(b)) => {
                    match csv_fast::fast_body(self, &b[..], &wants, opts)? {
                        Some(body) => body,
                        None => csv_table::body(self, &b[..], &wants, opts)?,
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
                    check(&t, &wants, opts)?;
                    return Ok(t);
                }
                Body::AsText(i) => wants[i].kind = Kind::Detected,
            }
        }
    }
}

impl Table {
    /// Where data row `row` (0 = the first after the header) is, and the text of its cell in
    /// column `col`, for a message: the file is read again up to there.
    pub fn locate(&self, row: usize, col: usize) -> Result<(String, String)> {
        match (self.format, &self.source) {
            (Format::Parquet, _) => parquet_table::locate(self, row, col),
            (Format::Csv, Source::File) => {
                let f = std::fs::File::open(&self.file).map_err(|err| Error::Read {
                    file: self.file.clone(),
                    err,
                })?;
                csv_table::locate(self, f, row, col)
            }
            (Format::Csv, Source::Bytes(b)) => csv_table::locate(self, &b[..], row, col),
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
