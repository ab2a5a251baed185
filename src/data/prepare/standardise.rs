//! The standardisation of the numeric inputs with the training rows' mean and standard deviation,
//! and the refusal of a value whose standardised form is no finite f32.

use super::fit::Fitted;
use super::record::ColumnPrep;
use crate::data::table::Table;
use crate::error::Result;

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
    let mut at = 0;
    let mut cols = Vec::new(); // (input, fitted index)
    for (i, f) in fitted.iter().enumerate() {
        if matches!(f.prep, ColumnPrep::Numeric { .. }) {
            cols.push((at, i));
        }
        at += f.width;
    }
    let n = train.1.len() as f64;
    let mut sums = vec![0f64; cols.len()];
    // Every input numeric: a row's inputs are the columns' (each column's sum still taken row
    // after row, in the split's order), which the compiler adds several at a time.
    let all = cols.len() == width && cols.iter().enumerate().all(|(c, &(j, _))| j == c);
    for row in train.0.chunks_exact(width.max(1)) {
        match all {
            true => sums.iter_mut().zip(row).for_each(|(s, &v)| *s += v as f64),
            false => {
                for (s, &(j, _)) in sums.iter_mut().zip(&cols) {
                    *s += row[j] as f64;
                }
            }
        }
    }
    let means: Vec<f64> = sums.iter().map(|s| s / n).collect();
    let mut sq = vec![0f64; cols.len()];
    for row in train.0.chunks_exact(width.max(1)) {
        match all {
            true => sq
                .iter_mut()
                .zip(row)
                .zip(&means)
                .for_each(|((s, &v), m)| *s += (v as f64 - m).powi(2)),
            false => {
                for ((s, &(j, _)), m) in sq.iter_mut().zip(&cols).zip(&means) {
                    *s += (row[j] as f64 - m).powi(2);
                }
            }
        }
    }
    for ((&(_, i), m), q) in cols.iter().zip(&means).zip(&sq) {
        let sd = (q / n).sqrt();
        if let ColumnPrep::Numeric { mean, scale, .. } = &mut fitted[i].prep {
            *mean = *m;
            *scale = if sd > 1e-12 { sd } else { 1.0 };
        }
        fitted[i].sd = sd;
    }
    // (input, fitted index, mean, scale) of each numeric input.
    let scales: Vec<(usize, usize, f64, f64)> = cols
        .iter()
        .map(|&(j, i)| match fitted[i].prep {
            ColumnPrep::Numeric { mean, scale, .. } => (j, i, mean, scale),
            _ => unreachable!("numeric columns only"),
        })
        .collect();
    let centres: Vec<f64> = scales.iter().map(|s| s.2).collect();
    let spreads: Vec<f64> = scales.iter().map(|s| s.3).collect();
    let [val, test] = held_out;
    for (x, src) in [train, val, test] {
        use rayon::prelude::*;
        const ROWS: usize = 4096;
        let w = width.max(1);
        // On every core; the first value refused (by row, then input) is the one named.
        let refused = x
            .par_chunks_mut(w * ROWS)
            .enumerate()
            .filter_map(|(c, chunk)| {
                for (r, row) in chunk.chunks_exact_mut(w).enumerate() {
                    if all {
                        // Every input, in order (several at a time); a value refused stays
                        // infinite or NaN, which finds the first.
                        let mut finite = true;
                        for ((v, &m), &s) in row.iter_mut().zip(&centres).zip(&spreads) {
                            let z = ((*v as f64 - m) / s) as f32;
                            finite &= z.is_finite();
                            *v = z;
                        }
                        if !finite {
                            let j = row.iter().position(|z| !z.is_finite()).unwrap_or(0);
                            return Some((c * ROWS + r, scales[j].1));
                        }
                        continue;
                    }
                    for &(j, i, mean, scale) in &scales {
                        let z = ((row[j] as f64 - mean) / scale) as f32;
                        if !z.is_finite() {
                            return Some((c * ROWS + r, i));
                        }
                        row[j] = z;
                    }
                }
                None
            })
            .min();
        if let Some((r, i)) = refused {
            let f = &fitted[i];
            let ColumnPrep::Numeric { mean, .. } = f.prep else {
                unreachable!("numeric columns only")
            };
            return Err(table.error_at(
                src[r],
                f.col,
                &format!(
                    "\"{{cell}}\" is too far from the training rows' values (mean {}, standard \
                     deviation {}): standardised, it is outside the range of the 32-bit floats \
                     that training uses",
                    crate::data::short(mean),
                    crate::data::short(f.sd)
                ),
            ));
        }
    }
    Ok(())
}
