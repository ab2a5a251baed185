//! The standardisation of the numeric inputs with the training rows' mean and standard deviation,
//! and the refusal of a value whose standardised form is no finite f32.

use super::fit::Fitted;
use super::record::ColumnPrep;
use crate::data::table::Table;
use crate::error::{Error, Result};

/// Rows standardised at a time, by one core.
const ROWS: usize = 4096;

/// Standardises the numeric inputs of every side (`x` with `width` inputs a row, gaps filled)
/// with the training rows' mean and standard deviation: as standardisation always was, f64 sums
/// over the training rows in the split's order; a constant column is only centred. A value whose
/// standardised form is not a finite f32 (a validation value far outside the training rows'
/// spread) is refused, naming its line.
pub(super) fn standardise(
    table: &Table,
    fitted: &mut [Fitted],
    width: usize,
    train: (&mut [f32], &[usize]),
    held_out: [(&mut [f32], &[usize]); 2],
) -> Result<()> {
    let cols = numeric_inputs(fitted);
    let n = train.1.len() as f64;
    // Every input numeric: a row's inputs are the columns' (each column's sum still taken row
    // after row, in the split's order), which the compiler adds several at a time.
    let all = cols.len() == width && cols.iter().enumerate().all(|(c, &(j, _))| j == c);
    let (means, sq) = moments(train.0, width, &cols, all, n);
    set_scales(fitted, &cols, &means, &sq, n);
    let scales = Scales::of(fitted, &cols, all);
    let [val, test] = held_out;
    for (x, src) in [train, val, test] {
        if let Some((r, i)) = scales.apply(x, width) {
            return Err(too_far(table, &fitted[i], src[r]));
        }
    }
    Ok(())
}

/// Each numeric input's place among a row's inputs, and its column's index in `fitted`.
fn numeric_inputs(fitted: &[Fitted]) -> Vec<(usize, usize)> {
    let mut at = 0;
    let mut cols = Vec::new();
    for (i, f) in fitted.iter().enumerate() {
        if matches!(f.prep, ColumnPrep::Numeric { .. }) {
            cols.push((at, i));
        }
        at += f.width;
    }
    cols
}

/// The mean of each numeric input (`cols`, as [`numeric_inputs`]) over the training rows `x`
/// (`n` rows of `width` inputs), and the sum of its squared deviations from it: f64 sums, row
/// after row in the split's order; `all`: every input is numeric, in order.
fn moments(
    x: &[f32],
    width: usize,
    cols: &[(usize, usize)],
    all: bool,
    n: f64,
) -> (Vec<f64>, Vec<f64>) {
    let mut sums = vec![0f64; cols.len()];
    for row in x.chunks_exact(width.max(1)) {
        match all {
            true => sums.iter_mut().zip(row).for_each(|(s, &v)| *s += v as f64),
            false => {
                for (s, &(j, _)) in sums.iter_mut().zip(cols) {
                    *s += row[j] as f64;
                }
            }
        }
    }
    let means: Vec<f64> = sums.iter().map(|s| s / n).collect();
    let mut sq = vec![0f64; cols.len()];
    for row in x.chunks_exact(width.max(1)) {
        match all {
            true => sq
                .iter_mut()
                .zip(row)
                .zip(&means)
                .for_each(|((s, &v), m)| *s += (v as f64 - m).powi(2)),
            false => {
                for ((s, &(j, _)), m) in sq.iter_mut().zip(cols).zip(&means) {
                    *s += (row[j] as f64 - m).powi(2);
                }
            }
        }
    }
    (means, sq)
}

/// Records each numeric column's mean and scale (its standard deviation over the `n` training
/// rows, 1 when it is constant) in its preparation, and the standard deviation for messages.
fn set_scales(fitted: &mut [Fitted], cols: &[(usize, usize)], means: &[f64], sq: &[f64], n: f64) {
    for ((&(_, i), m), q) in cols.iter().zip(means).zip(sq) {
        let sd = (q / n).sqrt();
        if let ColumnPrep::Numeric { mean, scale, .. } = &mut fitted[i].prep {
            *mean = *m;
            *scale = if sd > 1e-12 { sd } else { 1.0 };
        }
        fitted[i].sd = sd;
    }
}

/// The numeric inputs' standardisation, as it is applied to rows.
struct Scales {
    /// Every input is numeric, in order: a row is standardised whole, with `centres` and `spreads`.
    all: bool,
    /// (input, fitted index, mean, scale) of each numeric input.
    inputs: Vec<(usize, usize, f64, f64)>,
    centres: Vec<f64>,
    spreads: Vec<f64>,
}

impl Scales {
    /// The scales [`set_scales`] recorded in `fitted`, of the inputs `cols`.
    fn of(fitted: &[Fitted], cols: &[(usize, usize)], all: bool) -> Scales {
        let inputs: Vec<(usize, usize, f64, f64)> = cols
            .iter()
            .map(|&(j, i)| match fitted[i].prep {
                ColumnPrep::Numeric { mean, scale, .. } => (j, i, mean, scale),
                _ => unreachable!("numeric columns only"),
            })
            .collect();
        Scales {
            all,
            centres: inputs.iter().map(|s| s.2).collect(),
            spreads: inputs.iter().map(|s| s.3).collect(),
            inputs,
        }
    }

    /// Standardises the rows of `x` (`width` inputs each) on every core; the first value refused
    /// (by row, then input) is named: its row and its column's index in the fitted ones.
    fn apply(&self, x: &mut [f32], width: usize) -> Option<(usize, usize)> {
        use rayon::prelude::*;
        let w = width.max(1);
        x.par_chunks_mut(w * ROWS)
            .enumerate()
            .filter_map(|(c, chunk)| {
                for (r, row) in chunk.chunks_exact_mut(w).enumerate() {
                    if let Some(i) = self.row(row) {
                        return Some((c * ROWS + r, i));
                    }
                }
                None
            })
            .min()
    }

    /// Standardises one row; the fitted index of its first value refused, if one is.
    fn row(&self, row: &mut [f32]) -> Option<usize> {
        if self.all {
            // Every input, in order (several at a time); a value refused stays infinite or NaN,
            // which finds the first.
            let mut finite = true;
            for ((v, &m), &s) in row.iter_mut().zip(&self.centres).zip(&self.spreads) {
                let z = ((*v as f64 - m) / s) as f32;
                finite &= z.is_finite();
                *v = z;
            }
            if !finite {
                let j = row.iter().position(|z| !z.is_finite()).unwrap_or(0);
                return Some(self.inputs[j].1);
            }
            return None;
        }
        for &(j, i, mean, scale) in &self.inputs {
            let z = ((row[j] as f64 - mean) / scale) as f32;
            if !z.is_finite() {
                return Some(i);
            }
            row[j] = z;
        }
        None
    }
}

/// The error refusing data row `row`'s value of column `f`: standardised, it is no finite f32.
fn too_far(table: &Table, f: &Fitted, row: usize) -> Error {
    let ColumnPrep::Numeric { mean, .. } = f.prep else {
        unreachable!("numeric columns only")
    };
    table.error_at(
        row,
        f.col,
        &format!(
            "\"{{cell}}\" is too far from the training rows' values (mean {}, standard \
             deviation {}): standardised, it is outside the range of the 32-bit floats \
             that training uses",
            crate::data::short(mean),
            crate::data::short(f.sd)
        ),
    )
}
