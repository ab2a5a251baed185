//! A CSV file read whole and checked at the boundary: a header row, a rectangle of cells, and every
//! number finite in the 32-bit floats that training uses. Errors name the file, the line and the
//! column.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The cells of a CSV file, as text, with the line each row came from.
#[derive(Clone, Debug)]
pub struct Table {
    pub file: PathBuf,
    pub headers: Vec<String>,
    /// CRC-32 of the file's bytes, to notice a changed data file on resume.
    pub crc32: u32,
    cells: Vec<Vec<String>>,
    lines: Vec<u64>,
}

impl Table {
    /// Reads `file`.
    pub fn read(file: &Path) -> Result<Table> {
        let bytes = std::fs::read(file).map_err(|err| Error::Read {
            file: file.to_path_buf(),
            err,
        })?;
        Table::parse(file, bytes.as_slice())
    }

    /// Parses CSV bytes; `file` names it in errors.
    pub fn parse(file: &Path, bytes: &[u8]) -> Result<Table> {
        let crc32 = crc32fast::hash(bytes);
        let reader = bytes;
        let newlines: Vec<usize> = (0..bytes.len()).filter(|&i| bytes[i] == b'\n').collect();
        let line = |p: Option<&csv::Position>| p.map_or(1, |p| line_at(bytes, &newlines, p));
        let position = |e: &csv::Error| format!("line {}", line(e.position()));
        let err = |place: String, msg: String| Error::Data {
            file: file.to_path_buf(),
            place,
            msg,
        };
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(reader);
        let headers: Vec<String> = rdr
            .headers()
            .map_err(|e| {
                err(
                    position(&e),
                    format!("cannot read the header: {}", describe(&e)),
                )
            })?
            .iter()
            .map(str::to_string)
            .collect();
        if headers.is_empty() || headers.iter().all(String::is_empty) {
            return Err(err(
                "line 1".into(),
                "the file is empty: expected a header row".into(),
            ));
        }
        for (i, h) in headers.iter().enumerate() {
            if h.is_empty() {
                return Err(err(
                    format!("line 1, column {}", i + 1),
                    "the header has an empty column name".into(),
                ));
            }
            if headers[..i].contains(h) {
                return Err(err(
                    format!("line 1, column {}", i + 1),
                    format!("column name \"{h}\" appears twice"),
                ));
            }
        }
        let mut cells = Vec::new();
        let mut lines = Vec::new();
        for rec in rdr.records() {
            let rec = rec.map_err(|e| {
                err(
                    position(&e),
                    format!("cannot read the row: {}", describe(&e)),
                )
            })?;
            let line = line(rec.position());
            if rec.len() == 1 && rec.get(0) == Some("") {
                continue; // a blank line
            }
            if rec.len() != headers.len() {
                return Err(err(
                    format!("line {line}"),
                    format!(
                        "the row has {} fields but the header has {}",
                        rec.len(),
                        headers.len()
                    ),
                ));
            }
            cells.push(rec.iter().map(str::to_string).collect());
            lines.push(line);
        }
        if cells.is_empty() {
            return Err(err(
                "line 2".into(),
                "the file has a header but no data rows".into(),
            ));
        }
        Ok(Table {
            file: file.to_path_buf(),
            headers,
            crc32,
            cells,
            lines,
        })
    }

    /// Data rows.
    pub fn rows(&self) -> usize {
        self.cells.len()
    }

    /// The index of column `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.headers.iter().position(|h| h == name)
    }

    /// A data error at data row `row` (0 = the first after the header), column `col`.
    pub(crate) fn error_at(&self, row: usize, col: usize, msg: String) -> Error {
        Error::Data {
            file: self.file.clone(),
            place: format!("line {}, column \"{}\"", self.lines[row], self.headers[col]),
            msg,
        }
    }

    /// The text of data row `row`, column `col`.
    pub(crate) fn cell(&self, row: usize, col: usize) -> &str {
        &self.cells[row][col]
    }

    /// Column `col` as numbers that are finite as 32-bit floats too (training computes in f32, where
    /// a larger one is infinite and would spread NaN through a trial's weights).
    pub fn numeric(&self, col: usize) -> Result<Vec<f64>> {
        self.cells
            .iter()
            .enumerate()
            .map(|(r, row)| {
                let cell = &row[col];
                let bad = |msg: String| self.error_at(r, col, msg);
                match cell.parse::<f64>() {
                    Ok(v) if (v as f32).is_finite() => Ok(v),
                    Ok(v) if v.is_finite() => Err(bad(format!(
                        "\"{cell}\" is outside the range of the 32-bit floats that training uses \
                         (at most {:e} in size)",
                        f32::MAX
                    ))),
                    Ok(_) => Err(bad(format!("\"{cell}\" is not a finite number"))),
                    Err(_) if cell.is_empty() => Err(bad("the cell is empty".into())),
                    Err(_) => Err(bad(format!("\"{cell}\" is not a number"))),
                }
            })
            .collect()
    }

    /// Column `col` as class labels: each row's class index, and the classes (numeric order when all
    /// labels are numbers, text order otherwise).
    pub fn labels(&self, col: usize) -> Result<(Vec<usize>, Vec<String>)> {
        if let Some(r) = self.cells.iter().position(|row| row[col].is_empty()) {
            return Err(self.error_at(r, col, "the label is empty".into()));
        }
        let mut classes: Vec<String> = self.cells.iter().map(|row| row[col].clone()).collect();
        classes.sort();
        classes.dedup();
        let nums: Option<Vec<f64>> = classes
            .iter()
            .map(|c| c.parse::<f64>().ok().filter(|v| v.is_finite()))
            .collect();
        if let Some(nums) = nums {
            let mut pairs: Vec<(f64, String)> = nums.into_iter().zip(classes).collect();
            pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
            classes = pairs.into_iter().map(|p| p.1).collect();
        }
        let idx = self
            .cells
            .iter()
            .map(|row| classes.iter().position(|c| *c == row[col]).unwrap())
            .collect();
        Ok((idx, classes))
    }
}

/// What is wrong, without the csv crate's own position (which can name the wrong line: [`line_at`]).
fn describe(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { err, .. } => format!("field {} is not UTF-8 text", err.field() + 1),
        _ => e.to_string(),
    }
}

/// The line where the record at `p` begins, found from the bytes: not `p.line()`, which after a
/// CRLF line is one short (the csv crate has read the CR but not yet the LF: BurntSushi/rust-csv#395).
/// `p.byte()` is where the reader stood before the record: it may still be on the last line's LF,
/// or before empty lines the reader skipped, so the record begins at the first byte from there that
/// ends no line.
fn line_at(bytes: &[u8], newlines: &[usize], p: &csv::Position) -> u64 {
    let mut at = usize::try_from(p.byte())
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    while bytes.get(at).is_some_and(|b| matches!(b, b'\r' | b'\n')) {
        at += 1;
    }
    1 + newlines.partition_point(|&n| n < at) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Table> {
        Table::parse(Path::new("d.csv"), text.as_bytes())
    }

    fn numeric_err(text: &str) -> String {
        parse(text)
            .and_then(|t| t.numeric(1).map(|_| ()))
            .unwrap_err()
            .to_string()
    }

    // Golden messages: each names the file, the line and the column.
    #[test]
    fn golden_csv_errors() {
        assert_eq!(
            parse("").unwrap_err().to_string(),
            "d.csv: line 1: the file is empty: expected a header row"
        );
        assert_eq!(
            parse("a,b\n").unwrap_err().to_string(),
            "d.csv: line 2: the file has a header but no data rows"
        );
        assert_eq!(
            parse("a,b\n1,2\n3\n").unwrap_err().to_string(),
            "d.csv: line 3: the row has 1 fields but the header has 2"
        );
        assert_eq!(
            parse("a,a\n1,2\n").unwrap_err().to_string(),
            "d.csv: line 1, column 2: column name \"a\" appears twice"
        );
        assert_eq!(
            numeric_err("a,b\n1,2\n3,x\n"),
            "d.csv: line 3, column \"b\": \"x\" is not a number"
        );
        assert_eq!(
            numeric_err("a,b\n1,NaN\n"),
            "d.csv: line 2, column \"b\": \"NaN\" is not a finite number"
        );
        assert_eq!(
            numeric_err("a,b\n1,inf\n"),
            "d.csv: line 2, column \"b\": \"inf\" is not a finite number"
        );
        assert_eq!(
            numeric_err("a,b\n1,\n"),
            "d.csv: line 2, column \"b\": the cell is empty"
        );
        let beyond_f32 = |cell: &str| {
            format!(
                "d.csv: line 3, column \"b\": \"{cell}\" is outside the range of the 32-bit floats \
                 that training uses (at most 3.4028235e38 in size)"
            )
        };
        for cell in ["1e300", "-1e300", "1e39", "3.4028236e38"] {
            assert_eq!(
                numeric_err(&format!("a,b\n1,2\n3,{cell}\n")),
                beyond_f32(cell)
            );
        }
        assert_eq!(
            numeric_err("a,b\n1,1e999\n"),
            "d.csv: line 2, column \"b\": \"1e999\" is not a finite number"
        );
    }

    #[test]
    fn lines_are_counted_alike_after_lf_and_crlf() {
        for nl in ["\n", "\r\n"] {
            let text = ["a,b", "1,2", "", "\"x", "y\",3", "4,z", ""].join(nl);
            let t = parse(&text).unwrap();
            assert_eq!(t.lines, [2, 4, 6], "{nl:?}");
            assert_eq!(
                t.numeric(1).unwrap_err().to_string(),
                "d.csv: line 6, column \"b\": \"z\" is not a number",
                "{nl:?}"
            );
            let bad = ["a,b", "1,2", "3,\u{1}", ""]
                .join(nl)
                .replace('\u{1}', "\u{ff}");
            let mut bytes = bad.into_bytes();
            let at = bytes.iter().position(|&b| b == 0xc3).unwrap();
            bytes.remove(at); // a lone 0xbf: not UTF-8
            assert_eq!(
                Table::parse(Path::new("d.csv"), &bytes)
                    .unwrap_err()
                    .to_string(),
                "d.csv: line 3: cannot read the row: field 2 is not UTF-8 text",
                "{nl:?}"
            );
            let short = ["a,b", "1,2", "", "3", ""].join(nl);
            assert_eq!(
                parse(&short).unwrap_err().to_string(),
                "d.csv: line 4: the row has 1 fields but the header has 2",
                "{nl:?}"
            );
        }
    }

    #[test]
    fn the_ends_of_f32s_range_are_numbers() {
        let t = parse("a,b\n1,3.4028235e38\n2,-3.4028235e38\n3,1e-50\n").unwrap();
        let col = t.numeric(1).unwrap();
        assert!(col.iter().all(|&v| (v as f32).is_finite()), "{col:?}");
    }

    #[test]
    fn quoted_headers_and_string_labels() {
        let t = parse("\"fixed acidity\",label\n1,cat\n2,dog\n3,cat\n").unwrap();
        assert_eq!(t.column("fixed acidity"), Some(0));
        let (idx, classes) = t.labels(1).unwrap();
        assert_eq!(classes, ["cat", "dog"]);
        assert_eq!(idx, [0, 1, 0]);
    }

    #[test]
    fn numeric_labels_sort_as_numbers() {
        let t = parse("a,y\n1,10\n2,9\n3,10\n").unwrap();
        assert_eq!(t.labels(1).unwrap().1, ["9", "10"]);
    }
}
