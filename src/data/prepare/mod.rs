//! The preprocessing: from the columns read to the model's inputs, fitted on the training rows
//! only, and recorded ([`Preprocessing`]) so that a prediction prepares new rows the same way.
//! Numbers: a gap filled with the training rows' median (and a 0/1 `<name>_missing` input when the
//! training rows have gaps), then standardised with the training rows' mean and standard
//! deviation. Text: one 0/1 input per level of the training rows (levels seen fewer than
//! `min_level_count` times share one, `(other)`; a gap is a level, `(missing)`); a level the
//! training rows lack is all zeros.
//!
//! Here the order of the work ([`prepare`]); its parts: the target column (`targets.rs`), the fit
//! on the training rows (`fit.rs`), a row's inputs (`encode.rs`), the standardisation
//! (`standardise.rs`), and what is recorded (`record.rs`).

mod encode;
mod fit;
mod record;
mod standardise;
mod targets;

use super::table::Table;
use super::{side_sizes, sides, split_order, Floats, Split, Task};
use crate::error::Result;
pub(super) use encode::fill_row;
use encode::{gather, input_names};
pub(super) use fit::Fitted;
use fit::{fit_all, no_gaps};
pub use record::{ColumnPrep, Preprocessing, RowCounts};
use standardise::standardise;
pub use targets::{targets, Targets};

/// The version of the rules above, in the fingerprint and the cache's key.
pub const PREPARE_VERSION: &str = "median-flag,one-hot-min-count,standardise-train-f64";

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
