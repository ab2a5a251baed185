//! CSV files: a header row, then rows of as many fields, read as a stream of byte records (one
//! record's buffer, reused) into the columns a study uses. Errors name the file, the line and the
//! column.

use std::io::Read;
use std::path::Path;

use super::cells::{push_cell, Building};
use super::table::{Body, Hashing, Header, ReadOptions, Read_, Table, Want};
use crate::error::{Error, Result};

/// Bytes read from the file at a time.
const BUFFER: usize = 1 << 20;

/// The csv crate's reader as every CSV read here uses it.
pub(super) fn builder() -> csv::ReaderBuilder {
    let mut b = csv::ReaderBuilder::new();
    b.has_headers(true)
        .flexible(true)
        .trim(csv::Trim::Headers)
        .buffer_capacity(BUFFER);
    b
}

/// The column names of the CSV text `reader`: none empty, none twice.
pub(super) fn header(file: &Path, reader: impl Read) -> Result<Vec<String>> {
    let err = |place: String, msg: String| Error::Data {
        file: file.to_path_buf(),
        place,
        msg,
    };
    let mut rdr = builder().from_reader(reader);
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| {
            let line = e.position().map_or(1, |p| p.line());
            err(
                format!("line {line}"),
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
    Ok(headers)
}

/// Reads the columns `wants` of every row of the CSV text `reader` (the header included, which
/// [`header`] checked).
pub(super) fn body(
    h: &Header,
    reader: impl Read,
    wants: &[Want],
    opts: &ReadOptions,
) -> Result<Body> {
    let mut hashing = Hashing {
        inner: reader,
        crc: crc32fast::Hasher::new(),
        len: 0,
    };
    let mut cols = Building::new(wants);
    let mut rows = 0usize;
    {
        let mut rdr = builder().from_reader(&mut hashing);
        let at = |byte: u64| format!("line {}", line_of(h, byte));
        rdr.byte_headers()
            .map_err(|e| h.error("line 1".into(), format!("cannot read the header: {e}")))?;
        let mut rec = csv::ByteRecord::new();
        loop {
            match rdr.read_byte_record(&mut rec) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    let byte = e.position().map_or(0, |p| p.byte());
                    return Err(h.error(at(byte), format!("cannot read the row: {}", describe(&e))));
                }
            }
            let byte = rec.position().map_or(0, |p| p.byte());
            if rec.len() == 1 && rec[0].trim_ascii().is_empty() {
                continue; // a blank line
            }
            if rec.len() != h.headers.len() {
                return Err(h.error(
                    at(byte),
                    format!(
                        "the row has {} fields but the header has {}",
                        rec.len(),
                        h.headers.len()
                    ),
                ));
            }
            if !rec.as_slice().is_ascii() && std::str::from_utf8(rec.as_slice()).is_err() {
                let field = (0..rec.len())
                    .find(|&i| std::str::from_utf8(&rec[i]).is_err())
                    .unwrap_or(0);
                return Err(h.error(
                    at(byte),
                    format!("cannot read the row: field {} is not UTF-8 text", field + 1),
                ));
            }
            for (i, w) in wants.iter().enumerate() {
                // UTF-8, checked above; trimmed of spaces (Unicode ones too).
                let text = std::str::from_utf8(rec[w.col].trim_ascii())
                    .unwrap_or_default()
                    .trim();
                let name = &h.headers[w.col];
                match push_cell(&mut cols, i, w, text, opts, name) {
                    Ok(true) => {}
                    Ok(false) => return Ok(Body::AsText(i)),
                    Err(msg) => {
                        return Err(h.error(format!("{}, column \"{name}\"", at(byte)), msg))
                    }
                }
            }
            rows += 1;
        }
    }
    if rows == 0 {
        return Err(h.error(
            "line 2".into(),
            "the file has a header but no data rows".into(),
        ));
    }
    let (values, levels) = cols.done();
    Ok(Body::Done(Read_ {
        crc32: hashing.crc.finalize(),
        len: hashing.len,
        rows,
        values,
        levels,
    }))
}

/// The line where the record read from byte `byte` of `h`'s file begins (read again: a message's
/// cost, paid only when there is one).
fn line_of(h: &Header, byte: u64) -> u64 {
    let bytes = match h.bytes() {
        Ok(b) => b,
        Err(_) => return 0,
    };
    let newlines: Vec<usize> = (0..bytes.len()).filter(|&i| bytes[i] == b'\n').collect();
    line_at(&bytes, &newlines, byte)
}

/// Where data row `row` is ("line N") and the text of its cell in column `col`.
pub(super) fn locate(
    t: &Table,
    reader: impl Read,
    row: usize,
    col: usize,
) -> Result<(String, String)> {
    let mut bytes = Vec::new();
    let mut reader = reader;
    reader.read_to_end(&mut bytes).map_err(|err| Error::Read {
        file: t.file.clone(),
        err,
    })?;
    let newlines: Vec<usize> = (0..bytes.len()).filter(|&i| bytes[i] == b'\n').collect();
    let mut rdr = builder().from_reader(&bytes[..]);
    let mut rec = csv::ByteRecord::new();
    let mut r = 0;
    while rdr.read_byte_record(&mut rec).unwrap_or(false) {
        if rec.len() == 1 && rec[0].trim_ascii().is_empty() {
            continue;
        }
        if r == row {
            let byte = rec.position().map_or(0, |p| p.byte());
            let cell = String::from_utf8_lossy(rec.get(col).unwrap_or_default());
            return Ok((
                format!("line {}", line_at(&bytes, &newlines, byte)),
                cell.trim().to_string(),
            ));
        }
        r += 1;
    }
    Ok((format!("row {}", row + 1), String::new()))
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
fn line_at(bytes: &[u8], newlines: &[usize], byte: u64) -> u64 {
    let mut at = usize::try_from(byte).unwrap_or(usize::MAX).min(bytes.len());
    while bytes.get(at).is_some_and(|b| matches!(b, b'\r' | b'\n')) {
        at += 1;
    }
    1 + newlines.partition_point(|&n| n < at) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::table::{Column, Kind, MISSING_CODE};

    fn read_bytes(bytes: &[u8], kind: Kind, missing: Option<&[&str]>) -> Result<Table> {
        let h = Header::of_bytes(Path::new("d.csv"), bytes)?;
        let wants: Vec<Want> = (0..h.headers.len())
            .map(|col| Want {
                col,
                kind,
                target: false,
            })
            .collect();
        let opts = ReadOptions {
            missing: missing.map(|m| m.iter().map(|s| s.to_string()).collect()),
            max_levels: 3,
        };
        h.read(&wants, &opts)
    }

    /// Every column read as numbers, nothing missing (today's strict rules).
    fn parse(text: &str) -> Result<Table> {
        read_bytes(text.as_bytes(), Kind::Numeric, None)
    }

    fn numeric_err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    fn numbers(t: &Table, col: usize) -> Vec<f32> {
        match t.column(col).unwrap() {
            Column::Numeric(v) => v,
            c => panic!("{c:?}"),
        }
    }

    #[test]
    fn the_one_pass_reader_reads_every_kind_of_field_as_str_parse() {
        let t = parse("a,b,c\n1.5, -2 ,3e2\r\n+.5,0.,-7.25e-1\n").unwrap();
        assert_eq!(numbers(&t, 0), [1.5, 0.5]);
        assert_eq!(numbers(&t, 1), [-2.0, 0.0]);
        assert_eq!(numbers(&t, 2), [300.0, -0.725]);
        // A CR inside a line is no line's end here either.
        assert!(parse("a,b\n1,2\r3\n").is_err());
        assert!(parse("a,b\n1\r,2\n").is_err());
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
        for cell in ["1e300", "-1e300", "1e39", "3.4028236e38", "1e999", "-1e999"] {
            assert_eq!(
                numeric_err(&format!("a,b\n1,2\n3,{cell}\n")),
                beyond_f32(cell)
            );
        }
        let digits = format!("1{}", "0".repeat(400));
        assert_eq!(
            numeric_err(&format!("a,b\n1,2\n3,{digits}\n")),
            beyond_f32(&format!("{}…", &digits[..40]))
        );
    }

    #[test]
    fn lines_are_counted_alike_after_lf_and_crlf() {
        for nl in ["\n", "\r\n"] {
            let text = ["a,b", "1,2", "", "\"x", "y\",3", "4,z", ""].join(nl);
            let t = read_bytes(text.as_bytes(), Kind::Text, None).unwrap();
            assert_eq!(t.rows, 3, "{nl:?}");
            for (row, line) in [(0, 2), (1, 4), (2, 6)] {
                assert_eq!(
                    t.locate(row, 0).unwrap().0,
                    format!("line {line}"),
                    "{nl:?}"
                );
            }
            let numeric = |t: &str| {
                let h = Header::of_bytes(Path::new("d.csv"), t.as_bytes()).unwrap();
                let wants = [Want {
                    col: 1,
                    kind: Kind::Numeric,
                    target: false,
                }];
                let opts = ReadOptions {
                    missing: None,
                    max_levels: 3,
                };
                h.read(&wants, &opts).map(|_| ())
            };
            assert_eq!(
                numeric(&text).unwrap_err().to_string(),
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
                read_bytes(&bytes, Kind::Text, None)
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
        let col = numbers(&t, 1);
        assert!(col.iter().all(|&v| v.is_finite()), "{col:?}");
    }

    #[test]
    fn quoted_headers_and_text_columns() {
        let t = read_bytes(
            "\"fixed acidity\",label\n1,cat\n2,dog\n3,cat\n".as_bytes(),
            Kind::Detect,
            Some(&["", "NA"]),
        )
        .unwrap();
        assert_eq!(t.headers[0], "fixed acidity");
        assert_eq!(numbers(&t, 0), [1.0, 2.0, 3.0]);
        assert_eq!(
            t.column(1),
            Some(Column::Text {
                codes: vec![0, 1, 0],
                levels: vec!["cat".into(), "dog".into()]
            })
        );
    }

    #[test]
    fn missing_cells_and_detection() {
        let text = "a,b,c\n1,x,NA\n,NA,2\nN/A, y ,3\n";
        let all = ["", "NA", "NaN", "null", "N/A", "?"];
        let t = read_bytes(text.as_bytes(), Kind::Detect, Some(&all)).unwrap();
        let a = numbers(&t, 0);
        assert!(a[0] == 1.0 && a[1].is_nan() && a[2].is_nan(), "{a:?}");
        assert_eq!(
            t.column(1),
            Some(Column::Text {
                codes: vec![0, MISSING_CODE, 1],
                levels: vec!["x".into(), "y".into()]
            })
        );
        assert!(numbers(&t, 2)[0].is_nan());
        // Refused, gaps are errors where numbers are required, and levels elsewhere.
        assert_eq!(
            parse(text).unwrap_err().to_string(),
            "d.csv: line 2, column \"b\": \"x\" is not a number"
        );
        assert_eq!(
            read_bytes("a,b\n1,NA\n2,3\n".as_bytes(), Kind::Detect, None)
                .unwrap_err()
                .to_string(),
            "d.csv: line 2, column \"b\": \"NA\" marks a missing value, and data.missing is \
             \"refuse\""
        );
        // Too many distinct values in a detected column.
        let many = "a,b\n1,p\n2,q\n3,r\n4,s\n";
        assert_eq!(
            read_bytes(many.as_bytes(), Kind::Detect, Some(&all))
                .unwrap_err()
                .to_string(),
            "d.csv: line 5, column \"b\": the column has more than 3 distinct values that are \
             not numbers (\"p\", \"q\", ...): drop \"b\" from data.features, or list it in \
             data.categorical to one-hot encode it anyway"
        );
        // Declared text: any number of levels.
        let t = read_bytes(many.as_bytes(), Kind::Text, Some(&all)).unwrap();
        assert_eq!(t.rows, 4);
    }
}
