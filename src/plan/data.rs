//! The data sub-plan: the data file, its target, task and features, the validation and test
//! fractions, and the dataset they give (split and standardised) with the file's checksum.

use std::path::{Path, PathBuf};

use crate::data::cache::{self, Key};
use crate::data::prepare::{self, PrepareOptions};
use crate::data::table::{file_crc32, Kind, ReadOptions, Want, DEFAULT_MISSING};
use crate::data::{Dataset, Header, Preprocessing, Task};
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
    /// The key of the prepared data's cache.
    pub key: Key,
}

/// The default of `data.max_levels`.
const MAX_LEVELS: usize = 100;

impl DataPlan {
    /// The spec's `data` section (read from `file`, relative paths from `base`), split with `seed`;
    /// problems are reported in the order of the checks: task, fraction, options, file, target,
    /// features, the rows, split.
    pub(super) fn from_spec(
        file: &Path,
        d: &DataSpec,
        seed: u64,
        base: &Path,
        (out, folder_only): (&Path, bool),
        init: Option<&Preprocessing>,
    ) -> Result<DataPlan> {
        let task = task(file, &d.task)?;
        let vf = d.validation_fraction;
        if !(vf > 0.0 && vf < 1.0) {
            return Err(Error::spec(
                file,
                "data.validation_fraction",
                format!("{} is not in (0, 1)", space::num(vf)),
            ));
        }
        let tf = d.test_fraction;
        if !(0.0..1.0).contains(&tf) {
            return Err(Error::spec(
                file,
                "data.test_fraction",
                format!("{} is not in [0, 1)", space::num(tf)),
            ));
        }
        if vf + tf >= 1.0 {
            return Err(Error::spec(
                file,
                "data.test_fraction",
                format!(
                    "{} with a validation fraction of {} leaves no rows for training: their sum must be below 1",
                    space::num(tf),
                    space::num(vf)
                ),
            ));
        }
        if d.test_trials == Some(0) {
            return Err(Error::spec(
                file,
                "data.test_trials",
                "0 trials scores none: use 1 or more".to_string(),
            ));
        }
        let opts = read_options(file, d)?;
        let data_file = base.join(&d.path);
        if let Some(p) = DataPlan::cached(d, seed, &data_file, out, folder_only)? {
            return Ok(p);
        }
        if let Some(prep) = init {
            return DataPlan::recorded(file, d, (task, seed), data_file, prep);
        }
        let header = Header::open(&data_file)?;
        let Some(target) = header.column(&d.target) else {
            return Err(Error::spec(
                file,
                "data.target",
                format!(
                    "{} has no column \"{}\" (columns: {})",
                    data_file.display(),
                    d.target,
                    header.headers.join(", ")
                ),
            ));
        };
        let features = features(file, d, &header, &data_file)?;
        let categorical = categorical(file, d, &header, &features)?;
        let mut wants: Vec<Want> = features
            .iter()
            .map(|&col| Want {
                col,
                kind: match categorical.contains(&col) {
                    true => Kind::Text,
                    false => Kind::Detect,
                },
                target: false,
            })
            .collect();
        wants.push(Want {
            col: target,
            kind: match task {
                Task::Classification => Kind::Text,
                Task::Regression => Kind::Numeric,
            },
            target: true,
        });
        let table = header.read(&wants, &opts)?;
        let targets = prepare::targets(&table, target, task, &d.target)?;
        check_split(file, (vf, tf), targets.kept.len())?;
        let dataset = prepare::prepare(
            &table,
            targets,
            &PrepareOptions {
                target: &d.target,
                features: &features,
                task,
                validation_fraction: vf,
                test_fraction: tf,
                seed,
                min_level_count: d.min_level_count.unwrap_or(1),
                missing_values: opts.missing.clone(),
            },
        )?;
        Ok(DataPlan {
            file: data_file,
            crc32: table.crc32,
            dataset,
            key: Key::new(d, seed, (table.crc32, table.len)),
        })
    }

    /// The data prepared with the preprocessing `prep` a checkpoint recorded (`init`): the
    /// spec's target and task must be the checkpoint's, and its features, when it names them.
    fn recorded(
        file: &Path,
        d: &DataSpec,
        (task, seed): (Task, u64),
        data_file: PathBuf,
        prep: &Preprocessing,
    ) -> Result<DataPlan> {
        let theirs = |what: &str| format!("with init, the {what} is the checkpoint's");
        if prep.target != d.target {
            return Err(Error::spec(
                file,
                "data.target",
                format!("{}: \"{}\"", theirs("target"), prep.target),
            ));
        }
        if prep.task != Some(task) {
            return Err(Error::spec(file, "data.task", theirs("task")));
        }
        let names: Vec<&str> = prep.columns.iter().map(|c| c.name()).collect();
        if let Some(f) = d.features.as_ref().filter(|f| **f != names) {
            return Err(Error::spec(
                file,
                "data.features",
                format!(
                    "{} ({}), not {}: leave data.features out",
                    theirs("list of features"),
                    names.join(", "),
                    f.join(", ")
                ),
            ));
        }
        let fractions = (d.validation_fraction, d.test_fraction);
        let (dataset, table) = crate::data::apply::dataset(prep, &data_file, fractions, seed)?;
        let rows = dataset.train.rows + dataset.val.rows + dataset.test.rows;
        check_split(file, fractions, rows)?;
        Ok(DataPlan {
            file: data_file,
            crc32: table.crc32,
            dataset,
            key: Key::new(d, seed, (table.crc32, table.len)),
        })
    }

    /// The data from the study folder `out`'s cache, when it has one made from this spec and seed
    /// (and, unless `folder_only`, from the data file's present contents, read but not parsed).
    fn cached(
        d: &DataSpec,
        seed: u64,
        data_file: &Path,
        out: &Path,
        folder_only: bool,
    ) -> Result<Option<DataPlan>> {
        if !out.join(cache::FILE).exists() {
            return Ok(None);
        }
        let contents = match folder_only {
            true => (0, 0),
            false => file_crc32(data_file)?,
        };
        let key = Key::new(d, seed, contents);
        Ok(
            cache::load(out, &key, !folder_only).map(|(dataset, key)| DataPlan {
                file: data_file.to_path_buf(),
                crc32: key.data_crc32,
                dataset,
                key,
            }),
        )
    }
}

/// What counts as missing and how many levels a detected text column may have, checked.
fn read_options(file: &Path, d: &DataSpec) -> Result<ReadOptions> {
    let missing = match d.missing.as_deref() {
        None | Some("impute") => Some(match &d.missing_values {
            Some(v) => v.iter().map(|s| s.trim().to_string()).collect(),
            None => DEFAULT_MISSING.iter().map(|s| s.to_string()).collect(),
        }),
        Some("refuse") => None,
        Some(other) => {
            return Err(Error::spec(
                file,
                "data.missing",
                format!("\"{other}\" is not a choice: use \"impute\" or \"refuse\""),
            ))
        }
    };
    if d.missing.as_deref() == Some("refuse") && d.missing_values.is_some() {
        return Err(Error::spec(
            file,
            "data.missing_values",
            "has no use when data.missing is \"refuse\"".to_string(),
        ));
    }
    if d.min_level_count == Some(0) {
        return Err(Error::spec(
            file,
            "data.min_level_count",
            "0 is not a count of rows: use 1 or more".to_string(),
        ));
    }
    let max_levels = d.max_levels.unwrap_or(MAX_LEVELS);
    if max_levels < 2 {
        return Err(Error::spec(
            file,
            "data.max_levels",
            format!("{max_levels} is too few: a category needs at least 2 levels"),
        ));
    }
    Ok(ReadOptions {
        missing,
        max_levels,
    })
}

/// The header indices of the columns declared categorical, each a feature.
fn categorical(
    file: &Path,
    d: &DataSpec,
    header: &Header,
    features: &[usize],
) -> Result<Vec<usize>> {
    let mut out = Vec::new();
    for (i, name) in d.categorical.iter().flatten().enumerate() {
        match header.column(name).filter(|c| features.contains(c)) {
            Some(c) => out.push(c),
            None => {
                return Err(Error::spec(
                    file,
                    format!("data.categorical[{i}]"),
                    format!("\"{name}\" is not one of the feature columns"),
                ))
            }
        }
    }
    Ok(out)
}

/// The feature columns' header indices: those given, each a column of the file other than the
/// target; else every column but the target. There must be at least one.
fn features(file: &Path, d: &DataSpec, header: &Header, data_file: &Path) -> Result<Vec<usize>> {
    let bad = |path: &str, msg: String| Error::spec(file, path, msg);
    let features: Vec<usize> = match &d.features {
        Some(f) => {
            let mut cols = Vec::new();
            for (i, name) in f.iter().enumerate() {
                let Some(c) = header.column(name) else {
                    return Err(bad(
                        &format!("data.features[{i}]"),
                        format!("{} has no column \"{name}\"", data_file.display()),
                    ));
                };
                if *name == d.target {
                    return Err(bad(
                        &format!("data.features[{i}]"),
                        "the target cannot also be a feature".into(),
                    ));
                }
                cols.push(c);
            }
            cols
        }
        None => (0..header.headers.len())
            .filter(|&c| header.headers[c] != d.target)
            .collect(),
    };
    if features.is_empty() {
        return Err(bad("data.features", "there are no feature columns".into()));
    }
    Ok(features)
}

/// Refuses fractions `(vf, tf)` of `rows` rows that leave the training or validation side
/// empty, or the test side empty when a test fraction was asked for.
fn check_split(file: &Path, (vf, tf): (f64, f64), rows: usize) -> Result<()> {
    let (n_test, n_val) = crate::data::side_sizes(rows, vf, tf);
    if tf > 0.0 && n_test == 0 {
        return Err(Error::spec(
            file,
            "data.test_fraction",
            format!(
                "{} of {rows} rows leaves no row for test: give it at least one",
                space::num(tf)
            ),
        ));
    }
    let n_train = rows.saturating_sub(n_test + n_val);
    if n_val == 0 || n_train == 0 {
        return Err(Error::spec(
            file,
            "data.validation_fraction",
            format!(
                "{} of {rows} rows leaves {n_val} for validation and {n_train} for training: both need at least one",
                space::num(vf),
            ),
        ));
    }
    Ok(())
}

/// Refuses test rows for a command trainer: the split file its program reads (`TUNE_SPLIT`)
/// names training and validation rows only, so nothing could score the test rows.
pub(super) fn check_command_data(file: &Path, d: &DataSpec) -> Result<()> {
    if d.test_fraction != 0.0 {
        return Err(Error::spec(
            file,
            "data.test_fraction",
            "is not supported with a command trainer: its program is given training and validation rows only",
        ));
    }
    Ok(())
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
