//! A program's output as tune reads it: its stdout split into lines (each at most [`MAX_LINE`]
//! bytes read whole), report lines and a forking server's own lines told from the rest, which
//! goes to the trial's log.

use std::fs;
use std::io::{self, BufRead, BufReader, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Mutex;

use super::report::PREFIX;

/// The longest line of a program's output that is read whole: a longer report fails its trial, a
/// longer line of other output is cut in the log (its memory stays bounded whatever it prints).
pub const MAX_LINE: usize = 64 * 1024;

/// What the process's stdout gives the runner.
pub enum Line {
    /// A report line, without its prefix.
    Report(String),
    /// A forking program's trial (this one) ended with this status (negative: killed by that
    /// signal).
    End { trial: u64, status: i64 },
    /// A report line longer than [`MAX_LINE`].
    Overlong,
    /// The program took the offer to fork (its client's `Trial()` became a server); a worker's
    /// server forked from the study's shared one gives its process id.
    Serving { pid: Option<i32> },
    /// The program can serve other workers too (it says so before it takes the offer).
    Shares,
    /// Its stdout closed (it exited, or closed it).
    Closed,
}

/// The prefix of the line a forking program's server prints when a trial's process ended.
const END_PREFIX: &str = "TUNE_END ";

/// The line a program started with the offer to fork prints when it takes it (its server starts).
const SERVING: &str = "TUNE_SERVING";

/// The line a program prints, before [`SERVING`], when it can also fork servers for other workers.
const SHARES: &str = "TUNE_SHARES";

/// Reads a program's stdout: its lines go to its log, its reports (and a server's lines) to `tx`.
/// A forking program's server starts its `TUNE_END` line with a newline, which ends the line a
/// trial's process left unfinished when it died (and is not logged when there was none).
pub(super) fn read_stdout(
    stdout: impl io::Read,
    log: &Mutex<fs::File>,
    tx: &Sender<Line>,
    closed: &AtomicBool,
) {
    let mut blank = false;
    for (line, cut) in split_lines(stdout) {
        if std::mem::take(&mut blank) && !line.starts_with(END_PREFIX) {
            let _ = writeln!(log.lock().unwrap());
        }
        let msg = if cut {
            let _ = writeln!(
                log.lock().unwrap(),
                "{line}… [tune: line cut at {MAX_LINE} bytes]"
            );
            if !line.starts_with(PREFIX) {
                continue;
            }
            Line::Overlong
        } else if line.is_empty() {
            blank = true;
            continue;
        } else if line == SERVING {
            Line::Serving { pid: None }
        } else if line == SHARES {
            Line::Shares
        } else if let Some(pid) = line
            .strip_prefix(SERVING)
            .and_then(|p| p.trim().parse().ok())
        {
            Line::Serving { pid: Some(pid) }
        } else if let Some(end) = line.strip_prefix(END_PREFIX) {
            let v = serde_json::from_str::<serde_json::Value>(end).unwrap_or_default();
            let status = v["status"].as_i64().unwrap_or(1);
            let trial = v["trial"].as_u64().unwrap_or(u64::MAX);
            Line::End { trial, status }
        } else {
            let _ = writeln!(log.lock().unwrap(), "{line}");
            match line.strip_prefix(PREFIX) {
                Some(body) => Line::Report(body.to_string()),
                None => continue,
            }
        };
        if tx.send(msg).is_err() {
            closed.store(true, Ordering::SeqCst);
            return;
        }
    }
    if blank {
        let _ = writeln!(log.lock().unwrap());
    }
    closed.store(true, Ordering::SeqCst);
    let _ = tx.send(Line::Closed);
}

/// The lines of `r`, invalid UTF-8 replaced, each with whether it was cut at [`MAX_LINE`] bytes
/// (the rest of a cut line is read and dropped, never held).
pub(super) fn split_lines(r: impl io::Read) -> impl Iterator<Item = (String, bool)> {
    let mut r = BufReader::new(r);
    let mut skip = false;
    std::iter::from_fn(move || {
        if std::mem::take(&mut skip) {
            // The rest of the line cut last time (given first, so that it is logged at once).
            skip_line(&mut r);
        }
        let mut buf = vec![];
        match io::Read::take(&mut r, MAX_LINE as u64).read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => None,
            Ok(_) => {
                let cut = buf.last() != Some(&b'\n') && buf.len() >= MAX_LINE;
                skip = cut;
                while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    buf.pop();
                }
                Some((String::from_utf8_lossy(&buf).into_owned(), cut))
            }
        }
    })
}

/// Reads and drops the rest of a line.
fn skip_line(r: &mut impl BufRead) {
    loop {
        let (done, n) = match r.fill_buf() {
            Ok([]) | Err(_) => return,
            Ok(b) => match b.iter().position(|c| *c == b'\n') {
                Some(i) => (true, i + 1),
                None => (false, b.len()),
            },
        };
        r.consume(n);
        if done {
            return;
        }
    }
}
