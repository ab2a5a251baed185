//! The preprocessing as recorded: what `preprocessing.json` and every checkpoint's metadata hold
//! (each feature column's preparation, the model's inputs by name, where the rows went), and its
//! summary for the run's output.

use serde::{Deserialize, Serialize};

use crate::data::Task;

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
