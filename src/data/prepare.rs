//! The preprocessing: from the columns read to the model's inputs, fitted on the training rows
//! only, and recorded ([`Preprocessing`]) so that a prediction prepares new rows the same way.
//! Numbers: a gap filled with the training rows' median (and a 0/1 `<name>_missing` input when the
//! training rows have gaps), then standardised with the training rows' mean and standard
//! deviation. Text: one 0/1 input per level of the training rows (levels seen fewer than
//! `min_level_count` times share one, `(other)`; a gap is a level, `(missing)`); a level the
//! training rows lack is all zeros.

use serde::{Deserialize, Serialize};

use super::table::{Column, Table, MISSING_CODE};
use super::{side_sizes, sides, split_order, Floats, Split, Task};
use crate::error::{Error, Result};

/// The version of the rules above, in the fingerprint and the cache's key.
pub const PREPARE_VERSION: &str = "median-flag,one-hot-min-count,standardise-train-f64";

/// Everything a prediction needs to prepare rows as training did, in the study folder
/// (`preprocessing.json`) and in every checkpoint's metadata.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Preprocessing {
    pub version: String,
    pub target: String,
    pub task: Option<Task>,
    /// Class labels in the order of the model's outputs (classification).
    pub classes: Vec<String>,
    /// The cells read as missing; `None`: none were accepted (`"missing": "refuse"`).
    pub missing_values: Option<Vec<String>>,
    /// Each feature column, in the order of the model's inputs.
    pub columns: Vec<ColumnPrep>,
    /// The model's inputs, by name.
    pub inputs: Vec<String>,
    pub rows: RowCounts,
}

/// How many rows went where.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RowCounts {
    /// Data rows in the file.
    pub file: usize,
    /// Left out because their target is missing.
    pub missing_target: usize,
    pub train: usize,
    pub validation: usize,
    /// Held out for the final score (`data.test_fraction`); absent from files made without it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub test: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One feature column's preparation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ColumnPrep {
    /// Inputs: `(x - mean) / scale`, then `<name>_missing` when `missing_flag`.
    Numeric {
        name: String,
        /// What fills a gap (the training rows' median, an f32 written exactly as f64); `None`
        /// when the column had none, and then a gap at prediction is the mean.
        fill: Option<f64>,
        missing_flag: bool,
        mean: f64,
        scale: f64,
        /// Gaps in the training rows.
        missing_in_training: usize,
    },
    /// Inputs: one per level in `levels`, then `(other)` when `other` is not empty, then
    /// `(missing)` when `missing_level`.
    Categorical {
        name: String,
        levels: Vec<String>,
        /// Levels seen fewer than `min_level_count` times in the training rows, grouped.
        other: Vec<String>,
        missing_level: bool,
    },
}

impl ColumnPrep {
    /// The column's name in the data file.
    pub fn name(&self) -> &str {
        match self {
            ColumnPrep::Numeric { name, .. } | ColumnPrep::Categorical { name, .. } => name,
        }
    }
}

impl Preprocessing {
    /// What was found, in a few sentences for the run's output; None when the data was plain
    /// numbers without gaps.
    pub fn summary(&self) -> Option<String> {
        let mut parts = Vec::new();
        let cats: Vec<String> = self
            .columns
            .iter()
            .filter_map(|c| match c {
                ColumnPrep::Categorical {
                    name,
                    levels,
                    other,
                    missing_level,
                } => Some(format!(
                    "{name} ({} levels{}{})",
                    levels.len(),
                    match other.len() {
                        0 => String::new(),
                        n => format!(", {n} rare ones as (other)"),
                    },
                    if *missing_level {
                        ", and (missing)"
                    } else {
                        ""
                    }
                )),
                _ => None,
            })
            .collect();
        if !cats.is_empty() {
            parts.push(format!("one-hot encoded {}", cats.join(", ")));
        }
        let gaps: Vec<String> = self
            .columns
            .iter()
            .filter_map(|c| match c {
                ColumnPrep::Numeric {
                    name,
                    fill: Some(m),
                    missing_in_training,
                    ..
                } => Some(format!(
                    "{name} ({missing_in_training} in training, median {})",
                    *m as f32
                )),
                _ => None,
            })
            .collect();
        if !gaps.is_empty() {
            parts.push(format!("filled gaps in {}", gaps.join(", ")));
        }
        if self.rows.missing_target > 0 {
            parts.push(format!(
                "left out {} of {} rows whose target \"{}\" is missing",
                self.rows.missing_target, self.rows.file, self.target
            ));
        }
        (!parts.is_empty())
            .then(|| format!("data: {}; {} inputs", parts.join("; "), self.inputs.len()))
    }
}

/// The rows that have a target, and their targets.
pub struct Targets {
    /// Data rows of the file kept, ascending.
    pub kept: Vec<usize>,
    /// Each kept row's target (a class index for classification).
    pub y: Vec<f32>,
    pub classes: Vec<String>,
}

/// The targets of `table`'s column `col` (read as text for classification, numbers otherwise);
/// rows where it is missing are left out.
pub fn targets(table: &Table, col: usize, task: Task, name: &str) -> Result<Targets> {
    let k = table.slot(col).expect("the target was read");
    let column = match table.levels(k) {
        None => None,
        Some(_) => table.column(col),
    };
    let (kept, y, classes): (Vec<usize>, Vec<f32>, Vec<String>) = match column {
        None => {
            // Numbers: read in place, in one pass.
            let (mut kept, mut y) = (Vec::with_capacity(table.rows), Vec::new());
            y.reserve(table.rows);
            for (r, row) in table.values.chunks_exact(table.width).enumerate() {
                if !row[k].is_nan() {
                    kept.push(r);
                    y.push(row[k]);
                }
            }
            (kept, y, vec![])
        }
        Some(Column::Numeric(_)) => unreachable!("a column with levels is text"),
        Some(Column::Text { codes, levels }) => {
            let classes = class_order(&levels);
            let rank: Vec<f32> = levels
                .iter()
                .map(|l| classes.iter().position(|c| c == l).unwrap() as f32)
                .collect();
            let kept: Vec<usize> = (0..codes.len())
                .filter(|&r| codes[r] != MISSING_CODE)
                .collect();
            let y = kept.iter().map(|&r| rank[codes[r] as usize]).collect();
            (kept, y, classes)
        }
    };
    if kept.is_empty() {
        return Err(Error::Data {
            file: table.file.clone(),
            place: format!("column \"{name}\""),
            msg: "every row's target is missing".into(),
        });
    }
    if task == Task::Classification && classes.len() < 2 {
        return Err(Error::Data {
            file: table.file.clone(),
            place: format!("column \"{name}\""),
            msg: format!(
                "a classification target needs at least two classes, found only {}",
                classes
                    .first()
                    .map(|c| format!("\"{}\"", super::detect::echo(c)))
                    .unwrap_or_default()
            ),
        });
    }
    Ok(Targets { kept, y, classes })
}

/// Class labels in text order, or numeric order when all are numbers.
fn class_order(levels: &[String]) -> Vec<String> {
    let mut classes = levels.to_vec();
    classes.sort();
    let nums: Option<Vec<f64>> = classes
        .iter()
        .map(|c| c.parse::<f64>().ok().filter(|v| v.is_finite()))
        .collect();
    if let Some(nums) = nums {
        let mut pairs: Vec<(f64, String)> = nums.into_iter().zip(classes).collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        classes = pairs.into_iter().map(|p| p.1).collect();
    }
    classes
}

/// What the preparation needs besides the table.
pub struct PrepareOptions<'a> {
    pub target: &'a str,
    /// Header indices of the feature columns, in the spec's order.
    pub features: &'a [usize],
    pub task: Task,
    pub validation_fraction: f64,
    /// Share of the rows held out as test rows (0: none).
    pub test_fraction: f64,
    pub seed: u64,
    pub min_level_count: u64,
    pub missing_values: Option<Vec<String>>,
}

/// A column's fitted preparation and where its inputs start.
pub(super) struct Fitted {
    pub(super) prep: ColumnPrep,
    /// Its place among the columns read, and in the file's header.
    pub(super) k: usize,
    pub(super) col: usize,
    /// Categorical: each code's input among the column's, or None (all zeros).
    slot: Vec<Option<usize>>,
    /// Categorical: the input of a missing cell.
    missing_slot: Option<usize>,
    pub(super) width: usize,
    /// Numeric: the standard deviation (0 for a constant column, whose scale is 1), for messages.
    sd: f64,
}

impl Fitted {
    /// A recorded preparation `prep` (a checkpoint's) of the column read as the `k`th, header
    /// index `col`, resolved against the levels the table found in it (a category's): each of
    /// them to its input, `(other)` for the levels training grouped, and none (all zeros) for a
    /// level training never saw.
    pub(super) fn recorded(prep: ColumnPrep, k: usize, col: usize, levels: &[String]) -> Fitted {
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

/// The seeded split of the kept rows, the preparation fitted on its training side, and every
/// side prepared: the data set. Test rows are prepared as validation rows are.
pub fn prepare(table: &Table, t: Targets, o: &PrepareOptions) -> Result<super::Dataset> {
    let n = t.kept.len();
    let (n_test, n_val) = side_sizes(n, o.validation_fraction, o.test_fraction);
    // The split's order (one core) while the other cores look for gaps in the features: without
    // any (nor text), fitting needs no pass over the rows by side.
    let (order, plain) = rayon::join(|| split_order(n, o.seed), || no_gaps(table, o.features));
    let [test_rows, val_rows, train_rows] = sides(&order, n_test, n_val);
    let source = |rows: &[usize]| rows.iter().map(|&k| t.kept[k]).collect::<Vec<usize>>();
    let targets = |rows: &[usize]| rows.iter().map(|&k| t.y[k]).collect::<Vec<f32>>();
    // (source rows, targets) of training, validation and test.
    let parts = [train_rows, val_rows, test_rows].map(|r| (source(r), targets(r)));
    // Freed before the matrix is gathered, where memory peaks.
    drop((order, t.kept, t.y));

    // Which side each data row of the file is on: 0 neither (no target), 1 training, 2
    // validation, 3 test.
    let mut side_of = vec![0u8; if plain { 0 } else { table.rows }];
    for ((src, _), side) in parts.iter().zip([1, 2, 3]).filter(|_| !plain) {
        for &r in src.iter() {
            side_of[r] = side;
        }
    }
    let mut fitted = fit_all(table, o, &side_of, plain)?;
    let mut inputs = Vec::new();
    for f in &fitted {
        inputs.extend(input_names(&f.prep));
    }
    let width = inputs.len();
    let mut xs = parts
        .each_ref()
        .map(|(src, _)| gather(table, &fitted, width, src));
    let [train_x, val_x, test_x] = &mut xs;
    standardise(
        table,
        &mut fitted,
        width,
        (train_x, &parts[0].0),
        [(val_x, &parts[1].0), (test_x, &parts[2].0)],
    )?;
    let side = |x: Vec<f32>, (src, y): (Vec<usize>, Vec<f32>)| Split {
        x: Floats::from(x),
        y: Floats::from(y),
        rows: src.len(),
        source_rows: src,
    };
    let ([train_x, val_x, test_x], [train_p, val_p, test_p]) = (xs, parts);
    let (train, val, test) = (
        side(train_x, train_p),
        side(val_x, val_p),
        side(test_x, test_p),
    );
    let prep = Preprocessing {
        version: PREPARE_VERSION.into(),
        target: o.target.into(),
        task: Some(o.task),
        classes: t.classes.clone(),
        missing_values: o.missing_values.clone(),
        columns: fitted.into_iter().map(|f| f.prep).collect(),
        inputs: inputs.clone(),
        rows: RowCounts {
            file: table.rows,
            missing_target: table.rows - n,
            train: train.rows,
            validation: val.rows,
            test: test.rows,
        },
    };
    Ok(super::Dataset {
        task: o.task,
        features: inputs,
        classes: t.classes.clone(),
        train,
        val,
        test,
        prep: std::sync::Arc::new(prep),
    })
}

/// The inputs of the data rows `src` (`width` a row), gaps filled, not yet standardised.
fn gather(table: &Table, fitted: &[Fitted], width: usize, src: &[usize]) -> Vec<f32> {
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
fn input_names(p: &ColumnPrep) -> Vec<String> {
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
fn no_gaps(table: &Table, features: &[usize]) -> bool {
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
/// gappy column's median. The standardisation comes later ([`standardise`]).
/// `plain`: the features are numbers without gaps ([`no_gaps`]), and `side_of` is not needed.
fn fit_all(table: &Table, o: &PrepareOptions, side_of: &[u8], plain: bool) -> Result<Vec<Fitted>> {
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

/// Standardises the numeric inputs of every side (`x` with `width` inputs a row, gaps filled)
/// with the training rows' mean and standard deviation: as standardisation always was, f64 sums
/// over the training rows in the split's order; a constant column is only centred. A value whose
/// standardised form is not a finite f32 (a validation value far outside the training rows'
/// spread) is refused, naming its line.
fn standardise(
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
                    super::short(mean),
                    super::short(f.sd)
                ),
            ));
        }
    }
    Ok(())
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

/// Writes data row `s`'s inputs into `out`, its numbers as they are (gaps filled):
/// [`standardise`] comes after.
pub(super) fn fill_row(table: &Table, fitted: &[Fitted], s: usize, out: &mut [f32]) {
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

/// The data set of CSV text read by `h` with the defaults (tests).
#[cfg(test)]
pub fn from_header(
    h: &super::Header,
    target: &str,
    features: &[String],
    task: Task,
    validation_fraction: f64,
    seed: u64,
) -> Result<super::Dataset> {
    from_header_split(h, target, features, task, (validation_fraction, 0.0), seed)
}

/// [`from_header`] with test rows: `(validation_fraction, test_fraction)` (tests).
#[cfg(test)]
pub fn from_header_split(
    h: &super::Header,
    target: &str,
    features: &[String],
    task: Task,
    (validation_fraction, test_fraction): (f64, f64),
    seed: u64,
) -> Result<super::Dataset> {
    use super::table::{Kind, ReadOptions, Want, DEFAULT_MISSING};
    let cols: Vec<usize> = features.iter().map(|f| h.column(f).unwrap()).collect();
    let t = h.column(target).unwrap();
    let mut wants: Vec<Want> = cols
        .iter()
        .map(|&col| Want {
            col,
            kind: Kind::Detect,
            target: false,
        })
        .collect();
    wants.push(Want {
        col: t,
        kind: match task {
            Task::Classification => Kind::Text,
            Task::Regression => Kind::Numeric,
        },
        target: true,
    });
    let missing: Vec<String> = DEFAULT_MISSING.iter().map(|s| s.to_string()).collect();
    let opts = ReadOptions {
        missing: Some(missing.clone()),
        max_levels: 100,
    };
    let table = h.read(&wants, &opts)?;
    let targets = targets(&table, t, task, target)?;
    prepare(
        &table,
        targets,
        &PrepareOptions {
            target,
            features: &cols,
            task,
            validation_fraction,
            test_fraction,
            seed,
            min_level_count: 1,
            missing_values: Some(missing),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn data(text: &str, task: Task) -> super::super::Dataset {
        let h = super::super::Header::of_bytes(Path::new("t.csv"), text.as_bytes()).unwrap();
        let feats = ["a".to_string(), "c".to_string()];
        from_header(&h, "y", &feats, task, 0.5, 1).unwrap()
    }

    #[test]
    fn gaps_take_the_training_median_and_a_flag_and_unseen_levels_are_zeros() {
        let mut text = String::from("a,c,y\n");
        for r in 0..40 {
            let a = if r % 4 == 0 {
                "NA".to_string()
            } else {
                r.to_string()
            };
            text += &format!("{a},{},{}\n", ["p", "q", ""][r % 3], r % 2);
        }
        text += "5,only-once,1\n";
        let d = data(&text, Task::Classification);
        let cols = &d.prep.columns;
        let ColumnPrep::Numeric {
            fill, missing_flag, ..
        } = &cols[0]
        else {
            panic!()
        };
        // The median of the training rows' numbers only.
        let mut train: Vec<f32> = d
            .train
            .source_rows
            .iter()
            .filter(|&&r| r % 4 != 0 && r < 40)
            .map(|&r| r as f32)
            .collect();
        train.extend(
            d.train
                .source_rows
                .iter()
                .filter(|&&r| r == 40)
                .map(|_| 5.0),
        );
        train.sort_by(f32::total_cmp);
        let n = train.len();
        let want = if n % 2 == 1 {
            train[n / 2]
        } else {
            (train[n / 2 - 1] + train[n / 2]) / 2.0
        };
        assert_eq!(*fill, Some(want as f64));
        assert!(*missing_flag);
        let f = d.n_inputs();
        // Each row's flag says whether its cell was a gap.
        for (row, &s) in d.train.x.chunks_exact(f).zip(&d.train.source_rows) {
            assert_eq!(row[1], (s % 4 == 0 && s < 40) as u8 as f32, "row {s}");
        }
        let last_in_val = d.val.source_rows.iter().position(|&s| s == 40);
        let ColumnPrep::Categorical {
            levels,
            missing_level,
            ..
        } = &cols[1]
        else {
            panic!()
        };
        assert!(*missing_level);
        for (side, rows) in [
            (&d.train, &d.train.source_rows),
            (&d.val, &d.val.source_rows),
        ] {
            for (row, &s) in side.x.chunks_exact(f).zip(rows) {
                let block = &row[2..];
                let ones = block.iter().filter(|&&v| v == 1.0).count();
                let unseen = s == 40 && !levels.contains(&"only-once".to_string());
                assert_eq!(ones, !unseen as usize, "row {s}: {block:?}");
                if s % 3 == 2 && s < 40 {
                    assert_eq!(block[block.len() - 1], 1.0, "a gap is its own level");
                }
            }
        }
        // The level seen only among the validation rows maps to all zeros there.
        if let Some(i) = last_in_val {
            assert!(d.val.x[i * f + 2..(i + 1) * f].iter().all(|&v| v == 0.0));
        }
    }

    #[test]
    fn rare_levels_share_one_input() {
        let mut text = String::from("a,c,y\n");
        for r in 0..60 {
            let c = if r < 50 {
                ["p", "q"][r % 2].to_string()
            } else {
                format!("r{r}")
            };
            text += &format!("{r},{c},{}\n", r % 2);
        }
        let h = super::super::Header::of_bytes(Path::new("t.csv"), text.as_bytes()).unwrap();
        let mut d =
            from_header(&h, "y", &["a".into(), "c".into()], Task::Regression, 0.2, 3).unwrap();
        let ColumnPrep::Categorical { levels, other, .. } = &d.prep.columns[1] else {
            panic!()
        };
        assert_eq!(
            levels.len() + other.len(),
            2 + d.train.source_rows.iter().filter(|&&s| s >= 50).count()
        );
        // Refit with a minimum count: the r-levels (one row each) share (other).
        let table = h
            .read(
                &[
                    super::super::table::Want {
                        col: 0,
                        kind: super::super::table::Kind::Detect,
                        target: false,
                    },
                    super::super::table::Want {
                        col: 1,
                        kind: super::super::table::Kind::Detect,
                        target: false,
                    },
                    super::super::table::Want {
                        col: 2,
                        kind: super::super::table::Kind::Numeric,
                        target: true,
                    },
                ],
                &super::super::table::ReadOptions {
                    missing: Some(vec!["".into()]),
                    max_levels: 100,
                },
            )
            .unwrap();
        let t = targets(&table, 2, Task::Regression, "y").unwrap();
        d = prepare(
            &table,
            t,
            &PrepareOptions {
                target: "y",
                features: &[0, 1],
                task: Task::Regression,
                validation_fraction: 0.2,
                test_fraction: 0.0,
                seed: 3,
                min_level_count: 2,
                missing_values: None,
            },
        )
        .unwrap();
        let ColumnPrep::Categorical { levels, other, .. } = &d.prep.columns[1] else {
            panic!()
        };
        assert_eq!(levels, &["p", "q"]);
        assert!(!other.is_empty() && other.iter().all(|l| l.starts_with('r')));
        assert_eq!(d.prep.inputs[1..], ["c=p", "c=q", "c=(other)"]);
        let f = d.n_inputs();
        for (row, &s) in d.train.x.chunks_exact(f).zip(&d.train.source_rows) {
            assert_eq!(row[3], (s >= 50) as u8 as f32, "row {s}");
        }
    }
}
