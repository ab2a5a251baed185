//! A row's inputs: its numbers as they are (a gap filled, and flagged when training had gaps), its
//! categories one-hot; and the inputs' names.

use super::fit::Fitted;
use super::record::ColumnPrep;
use crate::data::table::{Table, MISSING_CODE};

/// The inputs of the data rows `src` (`width` a row), gaps filled, not yet standardised.
pub(super) fn gather(table: &Table, fitted: &[Fitted], width: usize, src: &[usize]) -> Vec<f32> {
    use rayon::prelude::*;
    // Numbers without gaps, in the order read: a row's inputs are its values as they are.
    let plain = fitted
        .iter()
        .enumerate()
        .all(|(i, f)| f.k == i && matches!(f.prep, ColumnPrep::Numeric { fill: None, .. }));
    let w = table.width;
    let mut x = vec![0f32; src.len() * width];
    // Rows read in the split's order, from anywhere in the table: on every core.
    x.par_chunks_mut(width.max(1) * 4096)
        .zip(src.par_chunks(4096))
        .for_each(|(out, src)| {
            for (out, &s) in out.chunks_exact_mut(width.max(1)).zip(src) {
                match plain {
                    true => out.copy_from_slice(&table.values[s * w..s * w + width]),
                    false => fill_row(table, fitted, s, out),
                }
            }
        });
    x
}

/// The names of a column's inputs.
pub(super) fn input_names(p: &ColumnPrep) -> Vec<String> {
    match p {
        ColumnPrep::Numeric {
            name, missing_flag, ..
        } => {
            let mut v = vec![name.clone()];
            if *missing_flag {
                v.push(format!("{name}_missing"));
            }
            v
        }
        ColumnPrep::Categorical {
            name,
            levels,
            other,
            missing_level,
        } => {
            let mut v: Vec<String> = levels.iter().map(|l| format!("{name}={l}")).collect();
            if !other.is_empty() {
                v.push(format!("{name}=(other)"));
            }
            if *missing_level {
                v.push(format!("{name}=(missing)"));
            }
            v
        }
    }
}

/// Writes data row `s`'s inputs into `out`, its numbers as they are (gaps filled):
/// [`super::standardise`] comes after.
pub(in crate::data) fn fill_row(table: &Table, fitted: &[Fitted], s: usize, out: &mut [f32]) {
    let w = table.width;
    let row = &table.values[s * w..(s + 1) * w];
    let mut at = 0;
    for f in fitted {
        let dst = &mut out[at..at + f.width];
        let v = row[f.k];
        match &f.prep {
            ColumnPrep::Numeric {
                fill, missing_flag, ..
            } => {
                let gap = v.is_nan();
                dst[0] = if gap { fill.unwrap_or(0.0) as f32 } else { v };
                if *missing_flag {
                    dst[1] = gap as u8 as f32;
                }
            }
            ColumnPrep::Categorical { .. } => {
                let slot = match v.to_bits() {
                    MISSING_CODE => f.missing_slot,
                    c => f.slot[c as usize],
                };
                if let Some(i) = slot {
                    dst[i] = 1.0;
                }
            }
        }
        at += f.width;
    }
}
