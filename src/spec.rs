//! `StudySpec`: what study.json says, as written. Unknown fields are refused with their JSON path.
//! Every default lives here, and README.md's "The study spec" documents each one.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The whole study file.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StudySpec {
    /// Names the output folder `runs/<name>/`.
    pub name: String,
    /// Seed of every random stream of the study.
    #[serde(default)]
    pub seed: u64,
    pub data: DataSpec,
    #[serde(default)]
    pub model: ModelSpec,
    pub budget: BudgetSpec,
    pub search: SearchSpec,
    /// `val_loss` (default), or the task's metric: `rmse` (regression) or `accuracy` (classification).
    #[serde(default = "default_metric")]
    pub metric: String,
    /// `min` or `max`; defaults to what the metric implies.
    #[serde(default)]
    pub goal: Option<String>,
    #[serde(default)]
    pub early_stopping: Option<EarlyStoppingSpec>,
    /// How many of the latest checkpoints each trial keeps besides its best (default 1).
    #[serde(default = "one")]
    pub keep: usize,
    /// `cpu` (default), `cuda` or `cuda:N`.
    #[serde(default)]
    pub device: Option<String>,
}

/// Where the data is and what to learn from it.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// CSV with a header row, relative to the spec file.
    pub path: String,
    /// The column to predict.
    pub target: String,
    /// `regression` or `classification`.
    pub task: String,
    /// Feature columns; default: every column but the target.
    #[serde(default)]
    pub features: Option<Vec<String>>,
    /// Share of the rows held out for validation (default 0.2).
    #[serde(default = "default_validation_fraction")]
    pub validation_fraction: f64,
}

/// The network and its optimizer.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Hidden layer widths of the ReLU MLP (default [64, 64]).
    #[serde(default = "default_hidden")]
    pub hidden: Vec<usize>,
    /// `adam` (default) or `sgd`.
    #[serde(default = "default_optimizer")]
    pub optimizer: String,
    /// Adam's betas (default [0.9, 0.999]).
    #[serde(default = "default_betas")]
    pub betas: [f64; 2],
    /// Adam's epsilon (default 1e-8).
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// SGD's momentum (default 0.9) when not tuned in the space.
    #[serde(default = "default_momentum")]
    pub momentum: f64,
    /// Weight decay (decoupled for Adam, L2 for SGD; default 0) when not tuned in the space.
    #[serde(default)]
    pub weight_decay: f64,
}

impl Default for ModelSpec {
    fn default() -> Self {
        ModelSpec {
            hidden: default_hidden(),
            optimizer: default_optimizer(),
            betas: default_betas(),
            eps: default_eps(),
            momentum: default_momentum(),
            weight_decay: 0.0,
        }
    }
}

/// How many examples each trial trains on, and how often it is validated and checkpointed.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetSpec {
    #[serde(default)]
    pub total_examples: Option<u64>,
    /// Passes over the training rows; total = floor(stop_point × training rows).
    #[serde(default)]
    pub stop_point: Option<f64>,
    /// Validate-and-checkpoint points (default 10).
    #[serde(default = "default_virtual_epochs")]
    pub virtual_epochs: u64,
}

/// How parameters are chosen.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SearchSpec {
    /// `grid`, `random` or `bayes`.
    pub method: String,
    /// Trials to run (random and bayes; default 20); caps a grid when given.
    #[serde(default)]
    pub trials: Option<usize>,
    /// Trials at once (default: the number of cores).
    #[serde(default)]
    pub parallel: Option<usize>,
    /// Random trials before the GP takes over (bayes; default max(5, 2 × parameters)).
    #[serde(default)]
    pub startup_trials: Option<usize>,
    /// Parameter name → a list of values, or `{"low", "high", "log", "grid_points"}`.
    pub space: BTreeMap<String, serde_json::Value>,
}

/// Stop a trial whose metric has not improved for a while; its best checkpoint still counts.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EarlyStoppingSpec {
    /// Virtual epochs without improvement before the trial stops.
    pub patience: u32,
    /// The least change that counts as an improvement (default 0).
    #[serde(default)]
    pub min_delta: f64,
}

fn one() -> usize {
    1
}
fn default_metric() -> String {
    "val_loss".into()
}
fn default_validation_fraction() -> f64 {
    0.2
}
fn default_hidden() -> Vec<usize> {
    vec![64, 64]
}
fn default_optimizer() -> String {
    "adam".into()
}
fn default_betas() -> [f64; 2] {
    [0.9, 0.999]
}
fn default_eps() -> f64 {
    1e-8
}
fn default_momentum() -> f64 {
    0.9
}
fn default_virtual_epochs() -> u64 {
    10
}

impl StudySpec {
    /// Reads and parses the spec; errors name the file and the JSON path.
    pub fn from_file(file: &Path) -> Result<(StudySpec, String)> {
        let text = std::fs::read_to_string(file).map_err(|err| Error::Read {
            file: file.to_path_buf(),
            err,
        })?;
        let spec = Self::from_str(file, &text)?;
        Ok((spec, text))
    }

    /// Parses spec text; `file` only names it in errors.
    pub fn from_str(file: &Path, text: &str) -> Result<StudySpec> {
        let de = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let msg = clean_serde_message(&inner);
            let path = if path == "." || path.is_empty() {
                "(top level)".to_string()
            } else {
                path
            };
            if inner.is_syntax() || inner.is_eof() {
                Error::spec(
                    file,
                    format!("line {}, column {}", inner.line(), inner.column()),
                    format!("malformed JSON: {msg}"),
                )
            } else {
                Error::spec(file, path, msg)
            }
        })
    }
}

/// serde_json appends " at line L column C"; we name the JSON path instead.
fn clean_serde_message(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}
