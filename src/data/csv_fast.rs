//! CSV files of plain numbers, read fast: blocks of whole lines parsed by several threads, each
//! block's rows straight into their place in the table. A file with anything else (a quote, a
//! text cell, a cell to refuse) is left to the careful reader ([`super::csv_table`]), which reads
//! it again and says what is wrong, where; the values are the same either way.

use std::io::Read;
use std::path::Path;

use super::cells::{numeric_cell, Cell};
use super::csv_table::builder;
use super::decimal::{plain_decimal, scan_decimal_f32};
use super::table::{Body, Header, Kind, ReadOptions, Read_, Want};
use crate::error::{Error, Result};

/// Bytes handed to a parsing thread at a time (whole lines).
const BLOCK: usize = 4 << 20;

/// What a block of lines gave; None: the block needs the careful reader (a quote, a text cell,
/// anything to refuse).
type Parsed = Option<Rows>;

/// The rows of CSV text `reader` read by several threads, a block of whole lines each, for the
/// common case only: every column asked for is numbers, and no field is quoted. None when that is
/// not so (the careful reader, [`super::csv_table::body`], then reads the file and says what is
/// wrong, where); the values are those it gives.
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let careful = match crate::data::csv_table::body(&h, open(), &wants, &opts).unwrap() {
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
