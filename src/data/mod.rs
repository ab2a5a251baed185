//! Data: tables read from CSV or Parquet (`table.rs`; a reader a format, with `csv_fast.rs` for
//! CSV files of plain numbers, the cells' rules they share in `cells.rs`, and `formats.rs`
//! choosing among them), the preprocessing fitted on the training rows and recorded (`prepare/`),
//! the seeded train/validation/test split, the prepared matrix's cache, and the endless seeded
//! batch stream.

pub mod apply;
pub mod cache;
mod cells;
mod csv_fast;
mod csv_table;
mod decimal;
mod detect;
mod floats;
mod formats;
mod parquet_table;
pub mod prepare;
mod split;
mod stream;
pub mod table;

use serde::{Deserialize, Serialize};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;

pub use floats::Floats;
pub use prepare::Preprocessing;
pub use split::{side_sizes, sides, split_order, SPLIT_VERSION};
pub use stream::Stream;
pub use table::{Header, Table};

/// What the model learns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Regression,
    Classification,
}

/// One side of the split: inputs row-major, prepared; targets (class index for classification).
#[derive(Clone, Debug, Default)]
pub struct Split {
    pub x: Floats,
    pub y: Floats,
    pub rows: usize,
    /// Each row's index among the data rows of the file (0 = first row after the header).
    pub source_rows: Vec<usize>,
}

/// A validated, split and prepared data set, shared read-only by every trial.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub task: Task,
    /// The model's inputs, by name (a feature column each, or several: see [`Preprocessing`]).
    pub features: Vec<String>,
    /// Class labels in index order (classification only).
    pub classes: Vec<String>,
    pub train: Split,
    pub val: Split,
    /// Rows held out of training and selection (`data.test_fraction`), scored once at the end;
    /// empty without them.
    pub test: Split,
    /// How the inputs were made from the file's columns.
    pub prep: Arc<Preprocessing>,
}

impl Dataset {
    /// Columns of the model's input.
    pub fn n_inputs(&self) -> usize {
        self.features.len()
    }

    /// Columns of the model's output: one per class, or one for regression.
    pub fn n_outputs(&self) -> usize {
        match self.task {
            Task::Regression => 1,
            Task::Classification => self.classes.len(),
        }
    }

    /// Writes the rows `idx` of `split` into model inputs and targets (one-hot for classification).
    pub fn fill(&self, split: &Split, idx: &[usize], x: &mut Vec<f32>, y: &mut Vec<f32>) {
        let f = self.n_inputs();
        let c = self.n_outputs();
        // Overwritten in place: a pass's buffers keep their length from one pass to the next.
        x.resize(idx.len() * f, 0.0);
        y.resize(idx.len() * c, 0.0);
        for (dst, &r) in x.chunks_exact_mut(f).zip(idx) {
            copy_row(dst, &split.x[r * f..(r + 1) * f]);
        }
        match self.task {
            Task::Regression => {
                for (dst, &r) in y.iter_mut().zip(idx) {
                    *dst = split.y[r];
                }
            }
            Task::Classification => {
                for (dst, &r) in y.chunks_exact_mut(c).zip(idx) {
                    let k = split.y[r] as usize;
                    for (j, v) in dst.iter_mut().enumerate() {
                        *v = if j == k { 1.0 } else { 0.0 };
                    }
                }
            }
        }
    }
}

/// Copies a row of inputs in fixed-size pieces of 8 values (the last one overlapping the one before
/// when the row is no multiple of 8), which compile to vector moves: a copy of the row's own length
/// is a call to `memcpy` per row, and most of a pass's gather.
fn copy_row(dst: &mut [f32], src: &[f32]) {
    let f = dst.len();
    if f < 8 {
        dst.copy_from_slice(src);
        return;
    }
    for (d, s) in dst.chunks_exact_mut(8).zip(src.chunks_exact(8)) {
        d.copy_from_slice(s);
    }
    if !f.is_multiple_of(8) {
        dst[f - 8..].copy_from_slice(&src[f - 8..]);
    }
}

/// Rows gathered at a time by [`Batches::new`] (a batch larger than this is gathered whole).
const WINDOW: usize = 1 << 14;

/// Bytes of a pass above which [`Batches::with_look_ahead`] gathers windows, as
/// [`Batches::new`] does, rather than two whole passes.
const WHOLE_PASS_BYTES: usize = 64 << 20;

/// A trial's training batches: its stream's rows, gathered a window of [`WINDOW`] rows at a time
/// (memory bounded whatever the data's size), or with a look-ahead a whole pass at a time, the
/// next one shuffled and gathered on another thread. A batch inside what is held is a slice of
/// it; only one that crosses its end is copied.
pub struct Batches {
    stream: Stream,
    /// Inputs and targets of the positions `held` of the current pass, in the stream's order.
    pass: (Vec<f32>, Vec<f32>),
    held: std::ops::Range<usize>,
    /// Rows gathered at a time; None: whole passes.
    window: Option<usize>,
    /// A batch that crosses what is held.
    cross: (Vec<f32>, Vec<f32>),
    /// With a look-ahead: the data, and the next pass being shuffled and gathered on another thread.
    ahead: Option<(std::sync::Arc<Dataset>, Option<Receiver<Pass>>)>,
}

/// A pass shuffled and gathered ahead of its turn.
struct Pass {
    stream: Stream,
    /// Its inputs and targets, as [`Batches::pass`].
    rows: (Vec<f32>, Vec<f32>),
}

impl Batches {
    /// The batches of `stream` over the training rows of `data`, a window at a time.
    pub fn new(data: &Dataset, stream: Stream) -> Batches {
        Batches::windowed(data, stream, WINDOW)
    }

    /// [`Batches::new`] with windows of `window` rows.
    fn windowed(_data: &Dataset, stream: Stream, window: usize) -> Batches {
        Batches {
            stream,
            pass: Default::default(),
            held: 0..0,
            window: Some(window.max(1)),
            cross: Default::default(),
            ahead: None,
        }
    }

    /// Whole passes, each next one shuffled and gathered by a job on the current rayon pool while
    /// this one is used (worth it when the pool has a thread to spare): the same rows as
    /// [`Batches::new`]. Data whose pass is larger than [`WHOLE_PASS_BYTES`] is gathered a window
    /// at a time instead.
    pub fn with_look_ahead(data: &std::sync::Arc<Dataset>, stream: Stream) -> Batches {
        let pass_bytes = data.train.rows * (data.n_inputs() + data.n_outputs()) * 4;
        if pass_bytes > WHOLE_PASS_BYTES {
            return Batches::new(data, stream);
        }
        let mut b = Batches {
            stream,
            pass: Default::default(),
            held: 0..0,
            window: None,
            cross: Default::default(),
            ahead: Some((data.clone(), None)),
        };
        gather(data, &b.stream, &mut b.pass);
        b.held = 0..b.stream.order().len();
        b.look_ahead(Default::default());
        b
    }

    /// Starts shuffling and gathering the pass after the current one, into `buffers`.
    fn look_ahead(&mut self, buffers: (Vec<f32>, Vec<f32>)) {
        let Some((data, next)) = &mut self.ahead else {
            return;
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let (data, following) = (data.clone(), self.stream.following());
        rayon::spawn(move || {
            let (stream, mut rows) = (following(), buffers);
            gather(&data, &stream, &mut rows);
            let _ = tx.send(Pass { stream, rows });
        });
        *next = Some(rx);
    }

    /// Moves on to the next pass when this one has run out.
    fn turn(&mut self, data: &Dataset) {
        if self.stream.left_in_pass() > 0 {
            return;
        }
        match self.ahead.as_mut().and_then(|(_, next)| next.take()) {
            Some(rx) => {
                let p = wait_in_pool(&rx).expect("a look-ahead job does not panic");
                self.stream = p.stream;
                let old = std::mem::replace(&mut self.pass, p.rows);
                self.held = 0..self.stream.order().len();
                self.look_ahead(old);
            }
            None => {
                self.stream.advance(0);
                self.held = 0..0;
                if self.window.is_none() {
                    gather(data, &self.stream, &mut self.pass);
                    self.held = 0..self.stream.order().len();
                }
            }
        }
    }

    /// Makes sure the next `rows` positions of the pass (at most those left) are held.
    fn hold(&mut self, data: &Dataset, rows: usize) {
        let Some(window) = self.window else {
            return;
        };
        let pos = self.stream.position().1;
        let order = self.stream.order();
        let end = (pos + rows).min(order.len());
        if self.held.start <= pos && end <= self.held.end {
            return;
        }
        let to = (pos + window.max(rows)).min(order.len());
        let (x, y) = &mut self.pass;
        data.fill(&data.train, &order[pos..to], x, y);
        self.held = pos..to;
    }

    /// The inputs and targets of the next `rows` rows.
    pub fn next(&mut self, data: &Dataset, rows: usize) -> (&[f32], &[f32]) {
        let (f, c) = (data.n_inputs(), data.n_outputs());
        self.turn(data);
        self.hold(data, rows);
        if self.stream.left_in_pass() >= rows {
            let r = self.stream.advance(rows);
            let (a, b) = (r.start - self.held.start, r.end - self.held.start);
            return (&self.pass.0[a * f..b * f], &self.pass.1[a * c..b * c]);
        }
        self.cross.0.clear();
        self.cross.1.clear();
        let mut left = rows;
        while left > 0 {
            self.turn(data);
            self.hold(data, left);
            let r = self.stream.advance(left);
            left -= r.len();
            let (a, b) = (r.start - self.held.start, r.end - self.held.start);
            self.cross.0.extend_from_slice(&self.pass.0[a * f..b * f]);
            self.cross.1.extend_from_slice(&self.pass.1[a * c..b * c]);
        }
        (&self.cross.0, &self.cross.1)
    }

    /// The stream's (pass, position): where a checkpoint continues from.
    pub fn position(&self) -> (u64, usize) {
        self.stream.position()
    }
}

/// Fills `pass` with the inputs and targets of the stream's current pass, in its order.
fn gather(data: &Dataset, stream: &Stream, pass: &mut (Vec<f32>, Vec<f32>)) {
    let (x, y) = pass;
    data.fill(&data.train, stream.order(), x, y);
}

/// `x` in a few characters: plain when it reads well so, in exponent form otherwise.
fn short(x: f64) -> String {
    let x: f64 = format!("{x:.4e}").parse().expect("a float's own text");
    if x == 0.0 || (1e-3..1e6).contains(&x.abs()) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// Waits for a job on the current rayon pool to send its result, running the pool's other jobs
/// meanwhile (so that a pool of one thread cannot wait on itself); None if the job died.
pub fn wait_in_pool<T>(rx: &Receiver<T>) -> Option<T> {
    loop {
        match rx.try_recv() {
            Ok(v) => return Some(v),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) => {
                if rayon::yield_now() != Some(rayon::Yield::Executed) {
                    std::thread::yield_now();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn table(text: &str) -> Header {
        Header::of_bytes(Path::new("t.csv"), text.as_bytes()).unwrap()
    }

    #[test]
    fn split_is_seeded_and_standardised_on_train_only() {
        let mut text = String::from("a,b,y\n");
        for i in 0..100 {
            text.push_str(&format!("{},{},{}\n", i, 5, i % 3));
        }
        let t = table(&text);
        let feats = vec!["a".to_string(), "b".to_string()];
        let d1 = prepare::from_header(&t, "y", &feats, Task::Classification, 0.2, 9).unwrap();
        let d2 = prepare::from_header(&t, "y", &feats, Task::Classification, 0.2, 9).unwrap();
        let d3 = prepare::from_header(&t, "y", &feats, Task::Classification, 0.2, 10).unwrap();
        assert_eq!((d1.train.rows, d1.val.rows), (80, 20));
        assert_eq!(d1.val.x, d2.val.x);
        assert_ne!(d1.val.x, d3.val.x);
        assert_eq!(d1.classes, ["0", "1", "2"]);
        let mean: f64 = d1.train.x.iter().step_by(2).map(|&v| v as f64).sum::<f64>() / 80.0;
        assert!(mean.abs() < 1e-5, "{mean}");
        // The constant column is centred, not divided by zero.
        assert!(d1.train.x.iter().skip(1).step_by(2).all(|&v| v == 0.0));
    }

    #[test]
    fn test_rows_are_held_out_of_the_fit_and_prepared_as_validation_rows() {
        let mut text = String::from("a,c,y\n");
        for i in 0..100 {
            let a = if i % 9 == 0 {
                "NA".into()
            } else {
                format!("{}", i * i)
            };
            text.push_str(&format!("{a},{},{}\n", ["p", "q", "r"][i % 3], i % 4));
        }
        let t = table(&text);
        let feats = vec!["a".to_string(), "c".to_string()];
        let task = Task::Regression;
        let plain = prepare::from_header(&t, "y", &feats, task, 0.2, 9).unwrap();
        let none = prepare::from_header_split(&t, "y", &feats, task, (0.2, 0.0), 9).unwrap();
        assert_eq!(
            (none.train.x, none.val.x),
            (plain.train.x, plain.val.x.clone())
        );
        assert_eq!((none.test.rows, &none.prep), (0, &plain.prep));
        let d = prepare::from_header_split(&t, "y", &feats, task, (0.2, 0.15), 9).unwrap();
        assert_eq!((d.test.rows, d.val.rows, d.train.rows), (15, 20, 65));
        assert_eq!(d.prep.rows.test, 15);
        let mut all = [&d.test, &d.val, &d.train]
            .map(|s| s.source_rows.clone())
            .concat();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        // Fitted on the 65 training rows alone: their first input has mean 0 (to rounding).
        let f = d.n_inputs();
        let mean: f64 = d.train.x.iter().step_by(f).map(|&v| v as f64).sum::<f64>() / 65.0;
        assert!(mean.abs() < 1e-5, "{mean}");
        // A test row's inputs are what the recorded preparation makes of its cells.
        let crate::data::prepare::ColumnPrep::Numeric { mean, scale, .. } = d.prep.columns[0]
        else {
            panic!("a is numeric")
        };
        for (row, &s) in d.test.x.chunks_exact(f).zip(&d.test.source_rows) {
            if s % 9 != 0 {
                let want = (((s * s) as f64 - mean) / scale) as f32;
                assert_eq!(row[0], want, "row {s}");
            }
        }
    }

    #[test]
    fn batches_are_the_streams_rows_across_passes_and_resumes() {
        // Without and with the next pass gathered ahead, on a pool of one thread and of two.
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            for ahead in [false, true] {
                pool.install(|| batches_against_the_stream(ahead));
            }
        }
    }

    fn batches_against_the_stream(ahead: bool) {
        let mut text = String::from("a,b,y\n");
        for i in 0..9 {
            text.push_str(&format!("{},{},{}\n", i, i * i, i % 3));
        }
        let feats = vec!["a".to_string(), "b".to_string()];
        // Classification: one-hot targets, so a wrong target stride shows too.
        let d = std::sync::Arc::new(
            prepare::from_header(&table(&text), "y", &feats, Task::Classification, 0.0, 4).unwrap(),
        );
        // Without a look-ahead, windows of 2 rows: batches inside one, across one, larger.
        let batches_at = |s: Stream| match ahead {
            true => Batches::with_look_ahead(&d, s),
            false => Batches::windowed(&d, s, 2),
        };
        let sizes = [4, 4, 1, 3, 9, 20, 2, 5, 7];
        let mut stream = Stream::at(6, 1, d.train.rows, 0, 0);
        let mut batches = batches_at(Stream::at(6, 1, d.train.rows, 0, 0));
        let (mut idx, mut x, mut y) = (vec![], vec![], vec![]);
        for (i, &n) in sizes.iter().enumerate() {
            stream.next_rows(n, &mut idx);
            d.fill(&d.train, &idx, &mut x, &mut y);
            let (bx, by) = batches.next(&d, n);
            assert_eq!(
                (bx, by),
                (&x[..], &y[..]),
                "batch {i} of {n} rows, ahead {ahead}"
            );
            assert_eq!(batches.position(), stream.position());
            // A trial resumed here goes on with the same rows.
            let (pass, pos) = batches.position();
            let mut resumed = batches_at(Stream::at(6, 1, d.train.rows, pass, pos));
            if let Some(&m) = sizes.get(i + 1) {
                let want = {
                    let mut s = Stream::at(6, 1, d.train.rows, pass, pos);
                    s.next_rows(m, &mut idx);
                    d.fill(&d.train, &idx, &mut x, &mut y);
                    (x.clone(), y.clone())
                };
                let (rx, ry) = resumed.next(&d, m);
                assert_eq!((rx.to_vec(), ry.to_vec()), want);
            }
        }
    }

    #[test]
    fn rows_are_copied_whole_at_every_width() {
        for f in 1..=40 {
            let src: Vec<f32> = (0..f).map(|i| i as f32 + 0.5).collect();
            let mut dst = vec![-1.0; f];
            copy_row(&mut dst, &src);
            assert_eq!(dst, src, "width {f}");
        }
    }

    #[test]
    fn a_spread_as_wide_as_f32s_range_is_standardised() {
        let mut text = String::from("a,y\n");
        for i in 0..50 {
            let a = if i % 2 == 0 { "-3e38" } else { "3.4e38" };
            text.push_str(&format!("{a},{i}\n"));
        }
        let d = prepare::from_header(&table(&text), "y", &["a".into()], Task::Regression, 0.2, 1)
            .unwrap();
        for v in d.train.x.iter().chain(&d.val.x) {
            assert!(v.is_finite() && v.abs() < 2.0, "{v}");
        }
    }

    #[test]
    fn a_validation_value_that_overflows_f32_once_standardised_is_refused() {
        // Every row -3e38 but one at 3e38: where that one lands among the training rows the
        // column is spread enough; among the validation rows, (3e38 + 3e38) / 1 is beyond f32.
        let mut text = String::from("a,y\n");
        for i in 0..20 {
            let a = if i == 7 { "3e38" } else { "-3e38" };
            text.push_str(&format!("{a},{i}\n"));
        }
        let t = table(&text);
        let mut refused = 0;
        for seed in 0..20 {
            match prepare::from_header(&t, "y", &["a".into()], Task::Regression, 0.2, seed) {
                Ok(d) => {
                    assert!(d.train.x.iter().chain(&d.val.x).all(|v| v.is_finite()));
                    assert!(!d.val.source_rows.contains(&7), "seed {seed}");
                }
                Err(e) => {
                    refused += 1;
                    assert_eq!(
                        e.to_string(),
                        "t.csv: line 9, column \"a\": \"3e38\" is too far from the training \
                         rows' values (mean -3e38, standard deviation 0): standardised, it is \
                         outside the range of the 32-bit floats that training uses"
                    );
                }
            }
        }
        assert!(
            refused > 0,
            "the row never landed among the validation rows"
        );
    }

    #[test]
    fn one_class_is_refused() {
        let t = table("a,y\n1,x\n2,x\n3,x\n");
        let e =
            prepare::from_header(&t, "y", &["a".into()], Task::Classification, 0.2, 1).unwrap_err();
        assert_eq!(e.to_string(), "t.csv: column \"y\": a classification target needs at least two classes, found only \"x\"");
    }
}
