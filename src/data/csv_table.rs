//! CSV files: a header row, then rows of as many fields, read as a stream of byte records (one
//! record's buffer, reused) into the columns a study uses. Errors name the file, the line and the
//! column.

use std::io::Read;
use std::path::Path;

use super::cells::{numeric_cell, push_cell, Building, Cell};
use super::decimal::{plain_decimal, scan_decimal_f32};
use super::table::{Body, Hashing, Header, Kind, ReadOptions, Read_, Table, Want};
use crate::error::{Error, Result};

/// Bytes read from the file at a time.
const BUFFER: usize = 1 << 20;

fn builder() -> csv::ReaderBuilder {
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

/// Bytes handed to a parsing thread at a time (whole lines).
const BLOCK: usize = 4 << 20;

/// What a block of lines gave; None: the block needs the careful reader (a quote, a text cell,
/// anything to refuse).
type Parsed = Option<Rows>;

/// The rows of CSV text `reader` read by several threads, a block of whole lines each, for the
/// common case only: every column asked for is numbers, and no field is quoted. None when that is
/// not so (the careful reader, [`body`], then reads the file and says what is wrong, where); the
/// values are those [`body`] gives.
pub(super) fn fast_body(
    h: &Header,
    reader: impl Read,
    wants: &[Want],
    opts: &ReadOptions,
) -> Result<Option<Body>> {
    if wants
        .iter()
        .any(|w| !matches!(w.kind, Kind::Numeric | Kind::Detect))
    {
        return Ok(None);
    }
    let mut blocks = Blocks {
        reader,
        crc: crc32fast::Hasher::new(),
        len: 0,
        carry: Vec::new(),
    };
    let mut first = Vec::new();
    blocks
        .read_onto(&mut first, BLOCK)
        .map_err(|err| read_err(h, err))?;
    let Some(start) = rows_start(&first) else {
        return Ok(None);
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    let width = wants.len();
    // Room for every row at once, estimated from the first block's lines and the file's size
    // (zeroed pages, not touched until written): each block's rows are parsed straight into
    // their place, which the reader hands out with the block (as many rows as it has lines).
    let estimate = estimated_rows(&h.file, &first[start..]);
    let mut values = vec![0f32; estimate.saturating_mul(width)];
    blocks.carry = first.split_off(start);
    let placed = parse_blocks(h, wants, opts, &mut blocks, &mut values, threads)?;
    let Some(rows) = close_up(&mut values, placed, width) else {
        return Ok(None);
    };
    if rows == 0 {
        return Ok(None);
    }
    Ok(Some(Body::Done(Read_ {
        crc32: blocks.crc.finalize(),
        len: blocks.len,
        rows,
        values,
        levels: vec![None; wants.len()],
    })))
}

/// A failed read of `h`'s file.
fn read_err(h: &Header, err: std::io::Error) -> Error {
    Error::Read {
        file: h.file.clone(),
        err,
    }
}

/// Where the rows begin in the file's first block `first`: after the header, as the csv crate
/// reads it; None when it cannot read it, or the block is full and holds no line end.
fn rows_start(first: &[u8]) -> Option<usize> {
    let mut rdr = builder().from_reader(first);
    if rdr.byte_headers().is_err() || first.len() == BLOCK && !first.contains(&b'\n') {
        return None;
    }
    Some(rdr.position().byte() as usize)
}

/// The rows of `file` to make room for, estimated from the lines of `sample` (the first block's
/// after the header) and the file's size; 0 when there is no telling.
fn estimated_rows(file: &Path, sample: &[u8]) -> usize {
    let lines = sample.iter().filter(|&&b| b == b'\n').count();
    let estimate = match (std::fs::metadata(file), lines > 0 && !sample.is_empty()) {
        (Ok(m), true) => m.len() as f64 / sample.len() as f64 * lines as f64 * 1.02 + 16.0,
        _ => 0.0,
    };
    estimate as usize
}

/// The text read a block of whole lines at a time, hashed as it is read: what follows a block's
/// last line end is carried into the next.
struct Blocks<R> {
    reader: R,
    crc: crc32fast::Hasher,
    len: u64,
    carry: Vec<u8>,
}

impl<R: Read> Blocks<R> {
    /// Reads at most `n` bytes more onto the end of `buf`, hashing them; how many came.
    fn read_onto(&mut self, buf: &mut Vec<u8>, n: usize) -> std::io::Result<usize> {
        let have = buf.len();
        (&mut self.reader).take(n as u64).read_to_end(buf)?;
        self.crc.update(&buf[have..]);
        self.len += (buf.len() - have) as u64;
        Ok(buf.len() - have)
    }

    /// Fills `block` with what was carried and the text after it, up to its last line end (empty
    /// when it has none yet); true at the end of the text, where the block is all that was left.
    fn next(&mut self, block: &mut Vec<u8>) -> std::io::Result<bool> {
        block.clear();
        block.extend_from_slice(&self.carry);
        let have = block.len();
        let eof = self.read_onto(block, BLOCK.saturating_sub(have).max(1 << 16))? == 0;
        let cut = match eof {
            true => block.len(),
            false => block.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1),
        };
        self.carry.clear();
        self.carry.extend_from_slice(&block[cut..]);
        block.truncate(cut);
        Ok(eof)
    }
}

/// Parses the blocks of `blocks` on `threads` threads, each block's rows into the next piece of
/// `values` while it has room for them: each block in order, where its rows went (or its own
/// values where the room ran out).
fn parse_blocks<R: Read>(
    h: &Header,
    wants: &[Want],
    opts: &ReadOptions,
    blocks: &mut Blocks<R>,
    values: &mut [f32],
    threads: usize,
) -> Result<Vec<(usize, Parsed)>> {
    let width = wants.len();
    let mut placed: Vec<(usize, Parsed)> = Vec::new();
    let (work_tx, work_rx) = std::sync::mpsc::sync_channel::<Work>(threads);
    let work_rx = std::sync::Mutex::new(work_rx);
    let (done_tx, done_rx) = std::sync::mpsc::channel::<(usize, Parsed)>();
    // Parsed blocks' buffers come back to be read into again: no fresh pages for each block.
    let (spare_tx, spare_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::scope(|scope| -> Result<()> {
        for _ in 0..threads {
            let (work_rx, done_tx, spare_tx) = (&work_rx, done_tx.clone(), spare_tx.clone());
            scope.spawn(move || parse_work(h, wants, opts, work_rx, done_tx, spare_tx));
        }
        drop(spare_tx);
        drop(done_tx);
        let mut room: &mut [f32] = values;
        let mut at = 0;
        let mut i = 0;
        let mut eof = false;
        while !eof {
            let mut block = spare_rx
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(BLOCK + (1 << 16)));
            eof = blocks.next(&mut block).map_err(|err| read_err(h, err))?;
            if block.is_empty() {
                continue;
            }
            // At most a row a line (the last may lack its line end).
            let lines = memchr::memchr_iter(b'\n', &block).count()
                + (block.last() != Some(&b'\n')) as usize;
            let here = take_room(&mut room, lines * width);
            let start = at;
            at += here.len();
            if work_tx
                .send(Work {
                    i,
                    block,
                    room: here,
                })
                .is_err()
            {
                break;
            }
            placed.push((start, None));
            i += 1;
        }
        drop(work_tx);
        for (i, parsed) in done_rx {
            placed[i].1 = parsed;
        }
        Ok(())
    })?;
    Ok(placed)
}

/// A parsing thread: parses the blocks it takes from `work` until there are no more, sending what
/// each gave to `done` and its buffer back to `spare`.
fn parse_work(
    h: &Header,
    wants: &[Want],
    opts: &ReadOptions,
    work: &std::sync::Mutex<std::sync::mpsc::Receiver<Work>>,
    done: std::sync::mpsc::Sender<(usize, Parsed)>,
    spare: std::sync::mpsc::Sender<Vec<u8>>,
) {
    loop {
        let next = work.lock().unwrap().recv();
        let Ok(Work { i, block, room }) = next else {
            return;
        };
        let _ = done.send((i, parse_block(h, &block, wants, opts, room)));
        let _ = spare.send(block);
    }
}

/// The first `n` values of `room`, taken from it; none when it has fewer. Once a block finds too
/// little room, those after it get none: their values then follow the placed ones in order.
fn take_room<'a>(room: &mut &'a mut [f32], n: usize) -> &'a mut [f32] {
    if n > room.len() {
        *room = &mut [];
        return &mut [];
    }
    let (here, rest) = std::mem::take(room).split_at_mut(n);
    *room = rest;
    here
}

/// Closes up the blocks' rows in `values`, one after the other: they are already, unless a block
/// had blank lines (or the room ran out, and the last blocks have their own). How many rows;
/// None when a block needs the careful reader.
fn close_up(values: &mut Vec<f32>, placed: Vec<(usize, Parsed)>, width: usize) -> Option<usize> {
    let mut rows = 0;
    for (start, parsed) in placed {
        match parsed? {
            Rows::Placed(n) => {
                if start != rows * width {
                    values.copy_within(start..start + n * width, rows * width);
                }
                rows += n;
            }
            Rows::Own(v, n) => {
                values.truncate(rows * width);
                values.extend_from_slice(&v);
                rows += n;
            }
        }
    }
    values.truncate(rows * width);
    Some(rows)
}

/// A block of whole lines to parse, the `i`th, and the room for its rows' values (empty: none
/// was left).
struct Work<'a> {
    i: usize,
    block: Vec<u8>,
    room: &'a mut [f32],
}

/// The rows a block gave: how many, written in their room, or in values of their own.
enum Rows {
    Placed(usize),
    Own(Vec<f32>, usize),
}

/// The values of a block of whole lines, row-major, in `room` when it has a row for each line
/// (else in a vector of their own); None where the careful reader must look.
fn parse_block(
    h: &Header,
    block: &[u8],
    wants: &[Want],
    opts: &ReadOptions,
    room: &mut [f32],
) -> Parsed {
    if block.contains(&b'"') || !block.is_ascii() {
        return None;
    }
    let n_fields = h.headers.len();
    // Each field asked for, by its place in the row: the slot it fills.
    let mut slot = vec![usize::MAX; n_fields];
    for (k, w) in wants.iter().enumerate() {
        slot[w.col] = k;
    }
    let width = wants.len();
    let direct = !room.is_empty();
    let mut own = Vec::new();
    let mut row = vec![0f32; width];
    let mut rows = 0;
    let missing = opts.missing.as_deref();
    // Line ends found by SIMD search (a byte-at-a-time split was a seventh of the parse).
    let mut from = 0;
    let ends = memchr::memchr_iter(b'\n', block).chain(std::iter::once(block.len()));
    for end in ends {
        let line = &block[from..end];
        from = end + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.trim_ascii().is_empty() {
            continue;
        }
        let row = match room.get_mut(rows * width..(rows + 1) * width) {
            Some(r) => r,
            None => &mut row[..],
        };
        // One pass over the line: a plain decimal is read as it is scanned; any other field
        // (spaces, an exponent, a gap, text) is read as before, from its slice.
        let mut fields = 0;
        let mut i = 0;
        loop {
            let k = *slot.get(fields)?;
            fields += 1;
            let start = i;
            let (value, end) = match scan_decimal_f32(line, i) {
                Some((v, end)) => (Some(v), end),
                None => {
                    let end = memchr_comma(line, start);
                    // A CR inside a line ends a record for the careful reader, which says so.
                    if line[start..end].contains(&b'\r') {
                        return None;
                    }
                    (None, end)
                }
            };
            if k != usize::MAX {
                row[k] = match value {
                    Some(v) => v,
                    None => {
                        let field = line[start..end].trim_ascii();
                        match plain_decimal(field) {
                            Some(v) => v as f32,
                            None => match numeric_cell(std::str::from_utf8(field).ok()?, missing) {
                                Cell::Num(x) => x,
                                Cell::Missing => f32::NAN,
                                _ => return None,
                            },
                        }
                    }
                };
            }
            if end >= line.len() {
                break;
            }
            i = end + 1;
        }
        if fields != n_fields {
            return None;
        }
        if !direct {
            own.extend_from_slice(row);
        }
        rows += 1;
    }
    Some(match direct {
        true => Rows::Placed(rows),
        false => Rows::Own(own, rows),
    })
}

/// The end of the field that starts at `start` (the next comma, or the line's end).
fn memchr_comma(line: &[u8], start: usize) -> usize {
    line[start..]
        .iter()
        .position(|&b| b == b',')
        .map_or(line.len(), |p| start + p)
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

    /// A file of several blocks, read in parallel into their places: blank lines closed up, and
    /// rows longer after the first block than in it (the room estimated from the first block runs
    /// out), read as the careful reader reads them.
    #[test]
    fn blocks_in_their_places_read_as_the_careful_reader_reads_them() {
        let mut text = String::from("a,b,c\n");
        let mut r = 0u64;
        while text.len() < 5 << 20 {
            r += 1;
            text += &format!("{}.{},-{},{}e-3\n", r % 997, r % 10_007, r % 13, r % 7);
            if r.is_multiple_of(100_000) {
                text += "\n \n";
            }
        }
        while text.len() < 12 << 20 {
            r += 1;
            text += &format!("{},{},{}\n", r % 10, r % 7, r % 3);
        }
        let file = std::env::temp_dir().join(format!("tune-blocks-{}.csv", std::process::id()));
        std::fs::write(&file, &text).unwrap();
        let h = Header::open(&file).unwrap();
        let wants: Vec<Want> = [2, 0]
            .into_iter()
            .map(|col| Want {
                col,
                kind: Kind::Numeric,
                target: false,
            })
            .collect();
        let opts = ReadOptions {
            missing: None,
            max_levels: 3,
        };
        let open = || std::fs::File::open(&file).unwrap();
        let fast = match fast_body(&h, open(), &wants, &opts).unwrap() {
            Some(Body::Done(b)) => b,
            _ => panic!("the fast path reads plain numbers"),
        };
        let careful = match body(&h, open(), &wants, &opts).unwrap() {
            Body::Done(b) => b,
            _ => panic!("numbers"),
        };
        std::fs::remove_file(&file).unwrap();
        assert_eq!(fast.rows, r as usize);
        assert_eq!(
            (fast.rows, fast.crc32, fast.len),
            (careful.rows, careful.crc32, careful.len)
        );
        assert!(fast
            .values
            .iter()
            .map(|v| v.to_bits())
            .eq(careful.values.iter().map(|v| v.to_bits())));
    }
}
