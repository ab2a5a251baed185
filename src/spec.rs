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
    #[serde(default = "default_metric")]
    pub metric: String,
    /// `min` or `max`; defaults to what the metric implies.
    #[serde(default)]
    pub goal: Option<String>,
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
    /// Random trials before the GP takes over (bayes; default max(5, 2 × parameters)).
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
fn default_metric() -> String {
    "val_loss".into()
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

/// The strict reading of spec text into a JSON value, before serde maps it onto [`StudySpec`]:
/// serde_json alone keeps the last of two equal keys, stops reading after the first value, and
/// serde's derived structs take an array as their fields by position. Each of those would run a
/// study other than the one the file seems to say, so each is refused with its place.
mod strict {
    use std::cell::RefCell;
    use std::fmt;
    use std::path::Path;

    use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
    use serde_json::{Map, Number, Value};

    use super::{clean_serde_message, display_path};
    use crate::error::{Error, Result};

    /// Where the spec expects an object (a struct of [`super::StudySpec`], or the space's map).
    /// Space entries are not here: a list of values there is an array on purpose.
    const OBJECTS: &[&str] = &[
        "",
        "data",
        "model",
        "trainer",
        "trainer.env",
        "budget",
        "search",
        "search.space",
        "early_stopping",
        "scheduler",
        "tracking",
    ];

    /// The one JSON value of `text`, refusing duplicate keys and anything after the value.
    pub fn parse(file: &Path, text: &str) -> Result<Value> {
        let duplicate = RefCell::new(None);
        let mut de = serde_json::Deserializer::from_str(text);
        let read = Strict {
            path: String::new(),
            duplicate: &duplicate,
        }
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v));
        // Recorded before the visitor fails, so that the message names the path, not the line.
        if let Some((path, key)) = duplicate.into_inner() {
            return Err(Error::spec(
                file,
                display_path(&path),
                format!("duplicate key \"{key}\""),
            ));
        }
        read.map_err(|e| {
            let msg = match clean_serde_message(&e) {
                m if m == "trailing characters" => format!("{m} after the spec"),
                m => m,
            };
            Error::spec(
                file,
                format!("line {}, column {}", e.line(), e.column()),
                format!("malformed JSON: {msg}"),
            )
        })
    }

    /// Refuses an array where the spec expects an object. Other wrong types are left to serde,
    /// whose messages already name them.
    pub fn check_objects(file: &Path, spec: &Value) -> Result<()> {
        for path in OBJECTS {
            let at = path
                .split('.')
                .filter(|k| !k.is_empty())
                .try_fold(spec, |v, k| v.get(k));
            if let Some(Value::Array(_)) = at {
                return Err(Error::spec(
                    file,
                    display_path(path),
                    "expected an object with named fields, found an array",
                ));
            }
        }
        Ok(())
    }

    /// Reads one JSON value at `path` (serde_path_to_error's notation), as serde_json's `Value`
    /// does, but records the first duplicate key and stops there.
    struct Strict<'a> {
        path: String,
        duplicate: &'a RefCell<Option<(String, String)>>,
    }

    impl<'a> Strict<'a> {
        fn at(&self, path: String) -> Strict<'a> {
            Strict {
                path,
                duplicate: self.duplicate,
            }
        }
    }

    impl<'de> DeserializeSeed<'de> for Strict<'_> {
        type Value = Value;

        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Strict<'_> {
        type Value = Value;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON value")
        }

        fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
            Ok(Value::Bool(b))
        }

        fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
            Ok(Value::from(i))
        }

        fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
            Ok(Value::from(u))
        }

        fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
            Ok(Number::from_f64(f).map_or(Value::Null, Value::Number))
        }

        fn visit_str<E>(self, s: &str) -> Result<Value, E> {
            Ok(Value::String(s.to_owned()))
        }

        fn visit_string<E>(self, s: String) -> Result<Value, E> {
            Ok(Value::String(s))
        }

        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let mut out = Vec::new();
            while let Some(v) =
                seq.next_element_seed(self.at(format!("{}[{}]", self.path, out.len())))?
            {
                out.push(v);
            }
            Ok(Value::Array(out))
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let mut out = Map::new();
            while let Some(key) = map.next_key::<String>()? {
                if out.contains_key(&key) {
                    *self.duplicate.borrow_mut() = Some((self.path, key));
                    return Err(A::Error::custom("duplicate key"));
                }
                let path = match self.path.as_str() {
                    "" => key.clone(),
                    p => format!("{p}.{key}"),
                };
                let v = map.next_value_seed(self.at(path))?;
                out.insert(key, v);
            }
            Ok(Value::Object(out))
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn err(text: &str) -> String {
            let file = Path::new("s.json");
            let e = parse(file, text)
                .and_then(|v| check_objects(file, &v).map(|()| v))
                .unwrap_err();
            e.to_string().trim_start_matches("s.json: ").to_string()
        }

        #[test]
        fn duplicate_keys_are_refused_at_any_depth() {
            assert_eq!(
                err(r#"{"a": 1, "a": 2}"#),
                r#"(top level): duplicate key "a""#
            );
            assert_eq!(
                err(r#"{"search": {"space": {"b": {"low": 1, "low": 2}}}}"#),
                r#"search.space.b: duplicate key "low""#
            );
            assert_eq!(
                err(r#"{"x": [{"y": 1}, {"y": 1, "y": 1}]}"#),
                r#"x[1]: duplicate key "y""#
            );
        }

        #[test]
        fn trailing_content_is_refused_with_its_place() {
            assert_eq!(
                err("{\"a\": 1}\n{\"a\": 2}"),
                "line 2, column 1: malformed JSON: trailing characters after the spec"
            );
            assert_eq!(
                err("{}  x"),
                "line 1, column 5: malformed JSON: trailing characters after the spec"
            );
        }

        #[test]
        fn arrays_in_place_of_objects_are_refused() {
            assert_eq!(
                err("[1, 2]"),
                "(top level): expected an object with named fields, found an array"
            );
            assert_eq!(
                err(r#"{"search": {"space": []}}"#),
                "search.space: expected an object with named fields, found an array"
            );
        }

        #[test]
        fn reads_what_serde_json_reads() {
            let text = r#"{"a": [1, -2, 3.5e300, "s", null, true], "b": {"c": {}}, "d": 1e-7}"#;
            let v = parse(Path::new("s.json"), text).unwrap();
            assert_eq!(v, serde_json::from_str::<Value>(text).unwrap());
            assert!(check_objects(Path::new("s.json"), &v).is_ok());
        }
    }
}

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
