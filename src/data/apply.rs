//! A recorded [`Preprocessing`] applied to another file: the rows of a prediction (or of a study
//! fine-tuned from a checkpoint) prepared exactly as the training rows were, the columns matched
//! by name.

use std::path::Path;

use super::prepare::{fill_row, ColumnPrep, Fitted, Preprocessing};
use super::table::{Column, Header, Kind, ReadOptions, Table, Want, MISSING_CODE};
use super::Task;
use crate::error::{Error, Result};

/// Rows of a file prepared as the model's inputs.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// `rows` × the preprocessing's inputs, row-major.
    pub x: Vec<f32>,
    pub rows: usize,
    /// The targets when the file has the target column (a class index for classification; NaN
    /// where it is missing or, for classification, a label the model does not know).
    pub y: Option<Vec<f32>>,
    /// The table read (the feature columns, then the target when present).
    pub table: Table,
}

/// Reads the columns `prep` was fitted on from `file` (others are ignored) and prepares every row:
/// gaps filled and flagged, numbers standardised, categories one-hot, as in training. A column
/// missing from the file is refused, naming all that are missing; so is a gap when the study
/// refused them (`"missing": "refuse"`). A file that is not a regular one (a FIFO, a pipe from
/// the shell's `<(…)`) is read once, whole, into memory: it cannot be opened again.
pub fn apply(prep: &Preprocessing, file: &Path) -> Result<Prepared> {
    let header = header_once(file)?;
    let names: Vec<&str> = prep.columns.iter().map(ColumnPrep::name).collect();
    let missing: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| header.column(n).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(Error::Data {
            file: file.to_path_buf(),
            place: "header".into(),
            msg: format!(
                "{} the model was trained on {} missing: {} (columns: {})",
                match missing.len() {
                    1 => "a column",
                    _ => "columns",
                },
                match missing.len() {
                    1 => "is",
                    _ => "are",
                },
                quoted(&missing),
                header.headers.join(", ")
            ),
        });
    }
    let mut wants: Vec<Want> = prep
        .columns
        .iter()
        .zip(&names)
        .map(|(c, n)| Want {
            col: header.column(n).expect("checked above"),
            kind: match c {
                ColumnPrep::Numeric { .. } => Kind::Numeric,
                ColumnPrep::Categorical { .. } => Kind::Text,
            },
            target: false,
        })
        .collect();
    let target = header
        .column(&prep.target)
        .filter(|_| !prep.target.is_empty());
    if let Some(col) = target {
        wants.push(Want {
            col,
            kind: match prep.task {
                Some(Task::Classification) => Kind::Text,
                _ => Kind::Numeric,
            },
            target: true,
        });
    }
    let opts = ReadOptions {
        missing: prep.missing_values.clone(),
        max_levels: usize::MAX,
    };
    let table = header.read(&wants, &opts)?;
    let x = inputs(prep, &table)?;
    let y = target.map(|col| targets(prep, &table, col));
    Ok(Prepared {
        x,
        rows: table.rows,
        y,
        table,
    })
}

/// The header of `file`; one that is not a regular file is read whole first, since its bytes come
/// only once (Parquet, which is read by seeking, is refused from one).
fn header_once(file: &Path) -> Result<Header> {
    let read = |err| Error::Read {
        file: file.to_path_buf(),
        err,
    };
    if std::fs::metadata(file).map_err(read)?.is_file() {
        return Header::open(file);
    }
    let bytes = std::fs::read(file).map_err(read)?;
    if bytes.starts_with(b"PAR1") {
        return Err(Error::Data {
            file: file.to_path_buf(),
            place: "header".into(),
            msg:
                "is Parquet from a pipe: Parquet is read from a regular file (save it to one first)"
                    .into(),
        });
    }
    Header::of_bytes(file, &bytes)
}

/// Names in quotes, joined.
fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every row's inputs (the columns read first, in the preprocessing's order): gaps filled and
/// categories one-hot as training fills them ([`fill_row`]), then the numbers standardised as
/// training standardised them, in f64; a gap in a column that had none in training is its mean.
fn inputs(prep: &Preprocessing, table: &Table) -> Result<Vec<f32>> {
    let fitted: Vec<Fitted> = prep
        .columns
        .iter()
        .enumerate()
        .map(|(k, c)| {
            let levels = table.levels(k).unwrap_or(&[]);
            Fitted::recorded(c.clone(), k, table.columns[k].0, levels)
        })
        .collect();
    let width: usize = fitted.iter().map(|f| f.width).sum();
    debug_assert_eq!(width, prep.inputs.len());
    let mut x = vec![0f32; table.rows * width];
    for (r, out) in x.chunks_exact_mut(width.max(1)).enumerate() {
        fill_row(table, &fitted, r, out);
        let mut at = 0;
        for f in &fitted {
            if let ColumnPrep::Numeric {
                fill, mean, scale, ..
            } = f.prep
            {
                let gap = table.values[r * table.width + f.k].is_nan();
                out[at] = match gap && fill.is_none() {
                    true => 0.0,
                    false => ((out[at] as f64 - mean) / scale) as f32,
                };
                if !out[at].is_finite() {
                    return Err(table.error_at(
                        r,
                        f.col,
                        &format!(
                            "\"{{cell}}\" is too far from the training rows' values (mean \
                             {mean}, scale {scale}) to be an input of the model"
                        ),
                    ));
                }
            }
            at += f.width;
        }
    }
    Ok(x)
}

/// The target column's values: numbers, or each label's class index (NaN: missing or unknown).
fn targets(prep: &Preprocessing, table: &Table, col: usize) -> Vec<f32> {
    match table.column(col).expect("read") {
        Column::Numeric(v) => v,
        Column::Text { codes, levels } => {
            let index: Vec<f32> = levels
                .iter()
                .map(|l| {
                    prep.classes
                        .iter()
                        .position(|c| c == l)
                        .map_or(f32::NAN, |i| i as f32)
                })
                .collect();
            codes
                .iter()
                .map(|&c| match c {
                    MISSING_CODE => f32::NAN,
                    c => index[c as usize],
                })
                .collect()
        }
    }
}

/// The data set of `file` prepared with a recorded `prep` instead of one fitted on it (a study
/// fine-tuned from a checkpoint): the rows that have a target, split as [`super::prepare::prepare`]
/// splits them (`fractions` of validation and test rows, `seed`). A label the checkpoint's
/// classes lack is refused.
pub fn dataset(
    prep: &Preprocessing,
    file: &Path,
    (validation_fraction, test_fraction): (f64, f64),
    seed: u64,
) -> Result<(super::Dataset, Table)> {
    let p = apply(prep, file)?;
    let Some(y) = &p.y else {
        return Err(Error::Data {
            file: file.to_path_buf(),
            place: "header".into(),
            msg: format!("has no column \"{}\", the target", prep.target),
        });
    };
    let task = prep.task.unwrap_or(Task::Regression);
    if task == Task::Classification {
        let col = p.table.columns.last().expect("the target was read").0;
        if let Some(Column::Text { codes, levels }) = p.table.column(col) {
            if let Some(r) = (0..codes.len()).find(|&r| codes[r] != MISSING_CODE && y[r].is_nan()) {
                return Err(p.table.error_at(
                    r,
                    col,
                    &format!(
                        "\"{}\" is not one of the classes the checkpoint was trained on ({})",
                        levels[codes[r] as usize],
                        prep.classes.join(", ")
                    ),
                ));
            }
        }
    }
    let kept: Vec<usize> = (0..p.rows).filter(|&r| !y[r].is_nan()).collect();
    let (n_test, n_val) = super::side_sizes(kept.len(), validation_fraction, test_fraction);
    let order = super::split_order(kept.len(), seed);
    let [test, val, train] = super::sides(&order, n_test, n_val);
    let width = prep.inputs.len();
    let side = |rows: &[usize]| {
        let src: Vec<usize> = rows.iter().map(|&k| kept[k]).collect();
        let mut x = Vec::with_capacity(src.len() * width);
        for &r in &src {
            x.extend_from_slice(&p.x[r * width..(r + 1) * width]);
        }
        super::Split {
            x: x.into(),
            y: src.iter().map(|&r| y[r]).collect::<Vec<f32>>().into(),
            rows: src.len(),
            source_rows: src,
        }
    };
    let (train, val, test) = (side(train), side(val), side(test));
    let mut prep = prep.clone();
    prep.rows = super::prepare::RowCounts {
        file: p.rows,
        missing_target: p.rows - kept.len(),
        train: train.rows,
        validation: val.rows,
        test: test.rows,
    };
    let data = super::Dataset {
        task,
        features: prep.inputs.clone(),
        classes: prep.classes.clone(),
        train,
        val,
        test,
        prep: std::sync::Arc::new(prep),
    };
    Ok((data, p.table))
}
