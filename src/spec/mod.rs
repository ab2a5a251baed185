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
    /// The table the built-in trainer learns from; optional for a command trainer.
    #[serde(default)]
    pub data: Option<DataSpec>,
    /// The built-in trainer's model section (absent: its defaults), which its family reads
    /// (`runner::mlp::settings`); not allowed with a command trainer.
    #[serde(default)]
    pub model: Option<serde_json::Value>,
    /// A user's program that trains each trial (absent: the built-in MLP).
    #[serde(default)]
    pub trainer: Option<TrainerSpec>,
    pub budget: BudgetSpec,
    pub search: SearchSpec,
    /// `val_loss` (default), or the task's metric: `rmse` (regression) or `accuracy` (classification).
    /// Not with `objectives`.
    #[serde(default)]
    pub metric: Option<String>,
    /// `min` or `max`; defaults to what the metric implies.
    #[serde(default)]
    pub goal: Option<String>,
    /// Several objectives in place of `metric` and `goal`: the first selects each trial's
    /// checkpoint, the others are read there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objectives: Option<Vec<ObjectiveSpec>>,
    /// Bounds on metrics at each trial's selected checkpoint; a trial that breaks one is infeasible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<Vec<ConstraintSpec>>,
    #[serde(default)]
    pub early_stopping: Option<EarlyStoppingSpec>,
    /// Compares trials at their boundaries to prune or pause the worse: `asha` or `median`.
    #[serde(default)]
    pub scheduler: Option<serde_json::Value>,
    /// How many of the latest checkpoints each trial keeps besides its best (default 1).
    #[serde(default = "one")]
    pub keep: usize,
    /// `cpu` (default), `cuda` or `cuda:N`.
    #[serde(default)]
    pub device: Option<String>,
    /// Where the study is kept: a PostgreSQL URL shared by workers (default: the study folder's
    /// journal). `--storage` and `TUNE_STORAGE` override it.
    #[serde(default)]
    pub storage: Option<String>,
    /// Start every trial from an earlier study's checkpoint (fine-tuning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<InitSpec>,
    /// Where the trials are also logged: MLflow, TensorBoard (`crate::tracking`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking: Option<crate::tracking::TrackingSpec>,
}

/// The checkpoint every trial starts from: a study folder, its trial and checkpoint, and whether
/// the optimizer's state (Adam's moments and step) comes along.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InitSpec {
    /// The earlier study's folder (relative to the spec's folder).
    pub from: String,
    /// `"best"` (default: its leaderboard's first) or a trial number.
    #[serde(default = "best")]
    pub trial: serde_json::Value,
    /// `"best"` (default: the trial's selected checkpoint), `"last"` or a virtual epoch.
    #[serde(default = "best")]
    pub checkpoint: serde_json::Value,
    /// `"reset"` (default) or `"keep"`.
    #[serde(default = "reset")]
    pub optimizer: String,
}

fn best() -> serde_json::Value {
    "best".into()
}

fn reset() -> String {
    "reset".into()
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
    // The fields below were added later: absent, they are left out of the serialised spec (and
    // so of the fingerprint's `data`), which keeps studies made before them resumable.
    /// Feature columns one-hot encoded even when their cells are numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categorical: Option<Vec<String>>,
    /// `impute` (default: median and a `<name>_missing` column; a level of its own) or `refuse`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<String>,
    /// The cells that mean "missing" (default: empty, NA, NaN, null, N/A, ?).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_values: Option<Vec<String>>,
    /// Levels seen in fewer training rows than this are grouped as one (default 1: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_level_count: Option<u64>,
    /// A detected text column with more distinct values than this is refused (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_levels: Option<usize>,
    /// Share of the rows held out of training and selection, scored once at the end (default 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub test_fraction: f64,
    /// How many of the leaderboard's top trials are scored on the test rows (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_trials: Option<u64>,
}

impl DataSpec {
    /// The fields that change what is trained and selected, for the fingerprint and the data
    /// cache's key: all but `test_trials`, which only says how many trials are scored at the end
    /// (changing it must not refuse a resume nor make the cache again).
    pub fn results_value(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).expect("the spec serialises");
        if let Some(o) = v.as_object_mut() {
            o.remove("test_trials");
        }
        v
    }
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

/// A user's training program, run once per trial (and again at each resume); see README, "Your own
/// training program".
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TrainerSpec {
    /// The program and its arguments (no shell).
    pub command: Vec<String>,
    /// Its working folder, relative to the spec's (default: the spec's folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Variables added to its environment.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Seconds one virtual epoch may take before the trial is killed (default: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
    /// Offer the program to fork (default): a program whose client's `Trial()` takes the offer
    /// stays as its worker's server and forks a process per trial once its imports are done, so
    /// the interpreter's and libraries' start-up is paid once per worker; any other program runs a
    /// process per trial. `false`: a process per trial always.
    #[serde(default = "yes", skip_serializing_if = "Clone::clone")]
    pub fork: bool,
    /// Threads each trial's program gets (`TUNE_THREADS`, `OMP_NUM_THREADS`, `MKL_NUM_THREADS`;
    /// default 1): part of the study, so that its results do not depend on `parallel` or the cores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    /// Seconds a program may take to exit after its last report before it is stopped (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_grace: Option<f64>,
    /// The GPUs trials are given (indices as `nvidia-smi -L` or `CUDA_VISIBLE_DEVICES` lists them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<Vec<usize>>,
    /// GPUs each trial gets (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus_per_trial: Option<usize>,
    /// Trials that share one GPU (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trials_per_gpu: Option<usize>,
    /// The command `tune predict` runs with a trial's checkpoint and a data file (see
    /// `outputs::program_predict`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predict: Option<Vec<String>>,
    /// The program's files besides the script its command names, as globs relative to `cwd`
    /// (`*`, `?`, `[a-z]`, `**`): their contents are part of the study (`code` in the fingerprint).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub code: Vec<String>,
}

impl TrainerSpec {
    /// The fields that change a study's results (its fingerprint): not how long a program may take
    /// to exit, nor which GPUs run it.
    pub fn results_value(&self) -> serde_json::Value {
        let mut t = self.clone();
        t.exit_grace = None;
        t.gpus = None;
        t.gpus_per_trial = None;
        t.trials_per_gpu = None;
        t.predict = None;
        // The files' contents are the fingerprint's `code`, checked apart (a change names them).
        t.code = vec![];
        serde_json::to_value(t).expect("spec fields serialise")
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
    /// Random trials before the GP takes over (bayes; default 2 × parameters, from 5 to 10).
    #[serde(default)]
    pub startup_trials: Option<usize>,
    /// Parameter name → a list of values, or `{"low", "high", "log", "grid_points"}`.
    pub space: BTreeMap<String, serde_json::Value>,
    /// An earlier study's folder: a Bayesian search starts from its finished trials on this space,
    /// grid and random search skip them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_start: Option<String>,
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

fn yes() -> bool {
    true
}

fn one() -> usize {
    1
}
fn default_validation_fraction() -> f64 {
    0.2
}
fn default_virtual_epochs() -> u64 {
    10
}

impl StudySpec {
    /// Reads and parses the spec; errors name the file and the JSON path.
    pub fn from_file(file: &Path) -> Result<(StudySpec, String)> {
        let bytes = std::fs::read(file).map_err(|err| Error::Read {
            file: file.to_path_buf(),
            err,
        })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            // Valid up to here, so this slice is text.
            let before = std::str::from_utf8(valid).unwrap_or_default();
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            Error::spec(
                file,
                format!("line {line}, column {column}"),
                "not UTF-8 text",
            )
        })?;
        Ok((Self::from_str(file, &text)?, text))
    }

    /// Parses spec text strictly (see [`strict`]); `file` only names it in errors.
    pub fn from_str(file: &Path, text: &str) -> Result<StudySpec> {
        // A byte-order mark, as some editors write, is not part of the JSON.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let value = strict::parse(file, text)?;
        strict::check_objects(file, &value)?;
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let msg = clean_serde_message(e.inner());
            Error::spec(file, display_path(&path), msg)
        })
    }
}

/// serde_path_to_error writes the root as "."; our messages say where in words.
fn display_path(path: &str) -> String {
    if path == "." || path.is_empty() {
        "(top level)".to_string()
    } else {
        path.to_string()
    }
}

/// The section `name` of the spec in `file` (its JSON value `v`), read as a `T` whose owner reads
/// it (a model family, the scheduler sub-plan); an error names the place as the spec's own
/// fields' do (`name.field`, or `name` for the section itself).
pub(crate) fn read_section<T: serde::de::DeserializeOwned>(
    file: &Path,
    name: &str,
    v: &serde_json::Value,
) -> Result<T> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = match e.path().to_string().as_str() {
            "." | "" => name.to_string(),
            p => format!("{name}.{p}"),
        };
        Error::spec(file, path, clean_serde_message(e.inner()))
    })
}

/// serde_json appends " at line L column C"; we name the JSON path instead.
fn clean_serde_message(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

mod objectives;
mod strict;
pub use objectives::{ConstraintSpec, ObjectiveSpec};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_rows_change_the_results_value_only_when_asked_for() {
        let spec = |extra: &str| -> DataSpec {
            serde_json::from_str(&format!(
                r#"{{"path": "d.csv", "target": "y", "task": "regression"{extra}}}"#
            ))
            .unwrap()
        };
        // The fingerprint's `data` and the cache key of a study made before the fields existed.
        let before = serde_json::json!({
            "path": "d.csv", "target": "y", "task": "regression", "features": null,
            "validation_fraction": 0.2
        });
        assert_eq!(spec("").results_value(), before);
        assert_eq!(spec(r#", "test_fraction": 0"#).results_value(), before);
        assert_eq!(spec(r#", "test_trials": 9"#).results_value(), before);
        let held = spec(r#", "test_fraction": 0.1, "test_trials": 9"#).results_value();
        assert_eq!(held["test_fraction"], 0.1);
        assert!(held.get("test_trials").is_none());
    }
}
