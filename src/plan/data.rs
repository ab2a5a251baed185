//! The data sub-plan: the data file, its target, task and features, the validation fraction, and
//! the dataset they give (split and standardised) with the file's checksum.

use std::path::{Path, PathBuf};

use crate::data::{Dataset, Table, Task};
use crate::error::{Error, Result};
use crate::space;
use crate::spec::DataSpec;

/// The study's data, read and checked.
pub(super) struct DataPlan {
    /// The data file, relative paths taken from the spec's folder.
    pub file: PathBuf,
    /// CRC-32 of the data file as read.
    pub crc32: u32,
    pub dataset: Dataset,
}

impl DataPlan {
    /// The spec's `data` section (read from `file`, relative paths from `base`), split with `seed`;
    /// problems are reported in the order of the checks: task, fraction, file, target, features,
    /// split.
    pub(super) fn from_spec(file: &Path, d: &DataSpec, seed: u64, base: &Path) -> Result<DataPlan> {
        let task = task(file, &d.task)?;
        let vf = d.validation_fraction;
        if !(vf > 0.0 && vf < 1.0) {
            return Err(Error::spec(
                file,
                "data.validation_fraction",
                format!("{} is not in (0, 1)", space::num(vf)),
            ));
        }
        let data_file = base.join(&d.path);
        let table = Table::read(&data_file)?;
        if table.column(&d.target).is_none() {
            return Err(Error::spec(
                file,
                "data.target",
                format!(
                    "{} has no column \"{}\" (columns: {})",
                    data_file.display(),
                    d.target,
                    table.headers.join(", ")
                ),
            ));
        }
        let features = features(file, d, &table, &data_file)?;
        check_split(file, vf, table.rows())?;
        let dataset = Dataset::from_table(&table, &d.target, &features, task, vf, seed)?;
        Ok(DataPlan {
            file: data_file,
            crc32: table.crc32,
            dataset,
        })
    }
}

fn task(file: &Path, task: &str) -> Result<Task> {
    match task {
        "regression" => Ok(Task::Regression),
        "classification" => Ok(Task::Classification),
        other => Err(Error::spec(
            file,
            "data.task",
            format!("\"{other}\" is not a task: use \"regression\" or \"classification\""),
        )),
    }
}

/// The feature columns: those given, each a column of `table` other than the target; else every
/// column but the target. There must be at least one.
fn features(file: &Path, d: &DataSpec, table: &Table, data_file: &Path) -> Result<Vec<String>> {
    let bad = |path: &str, msg: String| Error::spec(file, path, msg);
    let features: Vec<String> = match &d.features {
        Some(f) => {
            for (i, name) in f.iter().enumerate() {
                if table.column(name).is_none() {
                    return Err(bad(
                        &format!("data.features[{i}]"),
                        format!("{} has no column \"{name}\"", data_file.display()),
                    ));
                }
                if *name == d.target {
                    return Err(bad(
                        &format!("data.features[{i}]"),
                        "the target cannot also be a feature".into(),
                    ));
                }
            }
            f.clone()
        }
        None => table
            .headers
            .iter()
            .filter(|h| **h != d.target)
            .cloned()
            .collect(),
    };
    if features.is_empty() {
        return Err(bad("data.features", "there are no feature columns".into()));
    }
    Ok(features)
}

/// Refuses a validation fraction `vf` of `rows` rows that leaves either side of the split empty.
fn check_split(file: &Path, vf: f64, rows: usize) -> Result<()> {
    let n_val = (vf * rows as f64).floor() as usize;
    if n_val == 0 || n_val == rows {
        return Err(Error::spec(
            file,
            "data.validation_fraction",
            format!(
                "{} of {rows} rows leaves {n_val} for validation and {} for training: both need at least one",
                space::num(vf),
                rows - n_val
            ),
        ));
    }
    Ok(())
}
