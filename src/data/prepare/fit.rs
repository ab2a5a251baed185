//! Fitting on the training rows: gaps and levels counted in one pass over the rows, a gappy
//! column's median, a category's levels kept or grouped as `(other)`; and a recorded preparation
//! resolved against a table's levels.

use super::record::ColumnPrep;
use super::PrepareOptions;
use crate::data::table::{Table, MISSING_CODE};
use crate::error::{Error, Result};

/// A column's fitted preparation and where its inputs start.
pub(in crate::data) struct Fitted {
    pub(in crate::data) prep: ColumnPrep,
    /// Its place among the columns read, and in the file's header.
    pub(in crate::data) k: usize,
    pub(in crate::data) col: usize,
    /// Categorical: each code's input among the column's, or None (all zeros).
    pub(super) slot: Vec<Option<usize>>,
    /// Categorical: the input of a missing cell.
    pub(super) missing_slot: Option<usize>,
    pub(in crate::data) width: usize,
    /// Numeric: the standard deviation (0 for a constant column, whose scale is 1), for messages.
    pub(super) sd: f64,
}

impl Fitted {
    /// A recorded preparation `prep` (a checkpoint's) of the column read as the `k`th, header
    /// index `col`, resolved against the levels the table found in it (a category's): each of
    /// them to its input, `(other)` for the levels training grouped, and none (all zeros) for a
    /// level training never saw.
    pub(in crate::data) fn recorded(
        prep: ColumnPrep,
        k: usize,
        col: usize,
        levels: &[String],
    ) -> Fitted {
        let (slot, missing_slot, width) = match &prep {
            ColumnPrep::Numeric { missing_flag, .. } => (vec![], None, 1 + *missing_flag as usize),
            ColumnPrep::Categorical {
                levels: known,
                other,
                missing_level,
                ..
            } => {
                let other_slot = (!other.is_empty()).then_some(known.len());
                let width = known.len() + other_slot.is_some() as usize;
                let slot = levels
                    .iter()
                    .map(|l| match known.iter().position(|k| k == l) {
                        Some(i) => Some(i),
                        None => other_slot.filter(|_| other.contains(l)),
                    })
                    .collect();
                let missing_slot = missing_level.then_some(width);
                (slot, missing_slot, width + *missing_level as usize)
            }
        };
        Fitted {
            prep,
            k,
            col,
            slot,
            missing_slot,
            width,
            sd: 0.0,
        }
    }
}

/// What one pass over the rows counts for a column.
#[derive(Clone, Default)]
struct Counts {
    missing_train: usize,
    missing_val: usize,
    /// Text columns: each level's training rows.
    levels: Vec<u64>,
}

/// Whether every feature column (`features`, header indices) is numbers without a gap in any
/// row: then nothing is counted by side (on every core).
pub(super) fn no_gaps(table: &Table, features: &[usize]) -> bool {
    use rayon::prelude::*;
    let ks: Option<Vec<usize>> = features
        .iter()
        .map(|&c| table.slot(c).filter(|&k| table.levels(k).is_none()))
        .collect();
    let (Some(ks), w) = (ks, table.width.max(1)) else {
        return false;
    };
    table.values.par_chunks(w * 4096).all(|chunk| {
        chunk
            .chunks_exact(w)
            .all(|row| ks.iter().all(|&k| !row[k].is_nan()))
    })
}

/// Fits every feature column on the training rows (`side_of` each data row of the file: 1 for
/// training, 2 for validation, 3 for test): gaps and levels counted in one pass over the rows, then each
/// gappy column's median. The standardisation comes later ([`super::standardise`]).
/// `plain`: the features are numbers without gaps ([`no_gaps`]), and `side_of` is not needed.
pub(super) fn fit_all(
    table: &Table,
    o: &PrepareOptions,
    side_of: &[u8],
    plain: bool,
) -> Result<Vec<Fitted>> {
    let w = table.width;
    let ks: Vec<usize> = o
        .features
        .iter()
        .map(|&c| table.slot(c).expect("read"))
        .collect();
    let mut counts: Vec<Counts> = ks
        .iter()
        .map(|&k| Counts {
            levels: vec![0; table.levels(k).map_or(0, <[String]>::len)],
            ..Default::default()
        })
        .collect();
    for (row, &side) in table.values.chunks_exact(w).zip(side_of).filter(|_| !plain) {
        if side == 0 {
            continue;
        }
        for (c, &k) in counts.iter_mut().zip(&ks) {
            let v = row[k];
            let gap = match c.levels.is_empty() {
                true => v.is_nan(),
                false => v.to_bits() == MISSING_CODE,
            };
            match (gap, side) {
                (true, 1) => c.missing_train += 1,
                (true, _) => c.missing_val += 1,
                (false, 1) if !c.levels.is_empty() => c.levels[v.to_bits() as usize] += 1,
                _ => {}
            }
        }
    }
    o.features
        .iter()
        .zip(ks)
        .zip(counts)
        .map(|((&col, k), c)| fit(table, col, k, c, side_of, o))
        .collect()
}

/// Fits column `col` (read as the `k`th) from its counts.
fn fit(
    table: &Table,
    col: usize,
    k: usize,
    c: Counts,
    side_of: &[u8],
    o: &PrepareOptions,
) -> Result<Fitted> {
    let w = table.width;
    let name = table.headers[col].clone();
    match table.levels(k) {
        None => {
            let fill = match c.missing_train + c.missing_val > 0 {
                false => None,
                true => {
                    let train = table
                        .values
                        .chunks_exact(w)
                        .zip(side_of)
                        .filter(|(_, &s)| s == 1)
                        .map(|(row, _)| row[k]);
                    Some(
                        median(train.filter(|x| !x.is_nan()))
                            .map(f64::from)
                            .ok_or_else(|| Error::Data {
                                file: table.file.clone(),
                                place: format!("column \"{name}\""),
                                msg: "every training row's cell is missing: drop the column from \
                              data.features"
                                    .into(),
                            })?,
                    )
                }
            };
            let missing_flag = c.missing_train > 0;
            Ok(Fitted {
                prep: ColumnPrep::Numeric {
                    name,
                    fill,
                    missing_flag,
                    mean: 0.0,
                    scale: 1.0,
                    missing_in_training: c.missing_train,
                },
                k,
                col,
                slot: vec![],
                missing_slot: None,
                width: 1 + missing_flag as usize,
                sd: 0.0,
            })
        }
        Some(levels) => {
            let counts = c.levels;
            let missing = c.missing_train;
            let mut order: Vec<usize> = (0..levels.len()).filter(|&c| counts[c] > 0).collect();
            order.sort_by(|&a, &b| levels[a].cmp(&levels[b]));
            let (kept, rare): (Vec<usize>, Vec<usize>) = order
                .into_iter()
                .partition(|&c| counts[c] >= o.min_level_count);
            let mut slot = vec![None; levels.len()];
            for (i, &c) in kept.iter().enumerate() {
                slot[c] = Some(i);
            }
            for &c in &rare {
                slot[c] = Some(kept.len());
            }
            let width = kept.len() + !rare.is_empty() as usize;
            let missing_slot = (missing > 0).then_some(width);
            Ok(Fitted {
                prep: ColumnPrep::Categorical {
                    name,
                    levels: kept.iter().map(|&c| levels[c].clone()).collect(),
                    other: rare.iter().map(|&c| levels[c].clone()).collect(),
                    missing_level: missing > 0,
                },
                k,
                col,
                slot,
                missing_slot,
                width: width + (missing > 0) as usize,
                sd: 0.0,
            })
        }
    }
}
/// The median of `values` (the mean of the middle two when their number is even), None if empty.
fn median(values: impl Iterator<Item = f32>) -> Option<f32> {
    let mut v: Vec<f32> = values.collect();
    if v.is_empty() {
        return None;
    }
    let mid = v.len() / 2;
    let (_, &mut hi, _) = v.select_nth_unstable_by(mid, f32::total_cmp);
    if v.len() % 2 == 1 {
        return Some(hi);
    }
    let lo = v[..mid].iter().copied().fold(f32::NEG_INFINITY, f32::max);
    Some(((lo as f64 + hi as f64) / 2.0) as f32)
}
