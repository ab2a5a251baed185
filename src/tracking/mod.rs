//! Tracking: a study's trials sent where a team already watches its runs, MLflow and TensorBoard,
//! while the study runs. The spec's `tracking` section ([`TrackingSpec`]), the [`Tracker`] seam
//! (a trial started, its boundaries, its status, the study's end) with one implementation per
//! tool, and the [`Hub`] that runs each tracker on a thread of its own behind a queue, so that a
//! slow or absent server never holds up training: it retries in the background and says so once.
//!
//! A leaf: it knows the study only through the [`Note`]s the driver sends it (`driver::tracked`
//! turns the storage's events into them), so that what is tracked is exactly what is journalled.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub mod hub;
pub mod mlflow;
mod rest;
pub mod tensorboard;
pub mod tfrecord;

pub use hub::Hub;

/// The spec's `tracking` section. Not part of the study's fingerprint: tracking may be turned on,
/// off or pointed elsewhere on any resume.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrackingSpec {
    /// An MLflow tracking server's URI (`http://host:port`); `--mlflow` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mlflow: Option<String>,
    /// The MLflow experiment (default: the study's name), made when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<String>,
    /// Event files under the study folder's `tensorboard/`, one folder per trial.
    #[serde(default)]
    pub tensorboard: bool,
    /// Each ended trial's selected checkpoint logged to MLflow as an artifact of its run.
    #[serde(default)]
    pub log_checkpoint: bool,
}

/// Checks the spec's `tracking` section of `file`; `flag`: the `--mlflow` given on the command
/// line, which stands for `tracking.mlflow`.
pub fn check(file: &Path, spec: Option<&TrackingSpec>, flag: Option<&str>) -> Result<()> {
    if let Some(uri) = flag {
        check_uri(uri).map_err(|msg| Error::Flag {
            flag: "--mlflow",
            msg,
        })?;
    }
    let Some(t) = spec else { return Ok(()) };
    if let Some(uri) = &t.mlflow {
        check_uri(uri).map_err(|msg| Error::spec(file, "tracking.mlflow", msg))?;
    }
    let no_server = t.mlflow.is_none() && flag.is_none();
    if t.experiment.as_deref().is_some_and(|e| e.trim().is_empty()) {
        return Err(Error::spec(
            file,
            "tracking.experiment",
            "is empty: name an MLflow experiment, or leave it out for the study's name",
        ));
    }
    for (field, given) in [
        ("experiment", t.experiment.is_some()),
        ("log_checkpoint", t.log_checkpoint),
    ] {
        if given && no_server {
            return Err(Error::spec(
                file,
                format!("tracking.{field}"),
                "applies to MLflow, and no server is named: give tracking.mlflow (or --mlflow URI)",
            ));
        }
    }
    Ok(())
}

/// Why `uri` cannot name an MLflow server, in a phrase.
fn check_uri(uri: &str) -> std::result::Result<(), String> {
    let Some(rest) = uri.strip_prefix("http://") else {
        return Err(match uri.starts_with("https://") {
            true => format!("`{uri}`: https is not built in (no TLS): give an http:// URI, such as a local server or a tunnel to one"),
            false => format!("`{uri}` is not an http:// URI (such as http://127.0.0.1:5000)"),
        });
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.contains(['@', ' ']) {
        return Err(format!(
            "`{uri}` names no host (such as http://127.0.0.1:5000)"
        ));
    }
    Ok(())
}

/// What the hub needs to start the trackers of a study.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The study's name: its MLflow parent run and the `tune.study` tag.
    pub study: String,
    /// A short hash of the study's fingerprint, the `tune.fingerprint` tag.
    pub fingerprint: String,
    /// The study folder: TensorBoard's files and the MLflow state file are kept there.
    pub out_dir: PathBuf,
    /// The MLflow server, its experiment and whether checkpoints are logged.
    pub mlflow: Option<(String, String, bool)>,
    pub tensorboard: bool,
}

impl Settings {
    /// The trackers `spec` and `--mlflow` ask for, or `None` when neither asks for one.
    pub fn new(
        spec: Option<&TrackingSpec>,
        flag: Option<&str>,
        study: &str,
        fingerprint: String,
        out_dir: &Path,
    ) -> Option<Settings> {
        let t = spec.cloned().unwrap_or_default();
        let uri = flag.map(str::to_string).or(t.mlflow);
        let experiment = t.experiment.unwrap_or_else(|| study.to_string());
        let settings = Settings {
            study: study.to_string(),
            fingerprint,
            out_dir: out_dir.to_path_buf(),
            mlflow: uri.map(|u| {
                (
                    u.trim_end_matches('/').to_string(),
                    experiment,
                    t.log_checkpoint,
                )
            }),
            tensorboard: t.tensorboard,
        };
        (settings.mlflow.is_some() || settings.tensorboard).then_some(settings)
    }
}

/// A parameter's value as the trackers show it.
#[derive(Clone, Debug, PartialEq)]
pub enum Param {
    Num(f64),
    Text(String),
}

impl Param {
    /// The value as text (MLflow's parameters are text): whole numbers without a fraction.
    pub fn text(&self) -> String {
        match self {
            Param::Num(x) => x.to_string(),
            Param::Text(s) => s.clone(),
        }
    }
}

/// One boundary of a trial: its step (the examples seen) and the numbers measured there.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub step: u64,
    pub values: Vec<(String, f64)>,
}

/// What happened in the study, as the trackers hear of it (each once it is journalled).
#[derive(Clone, Debug, PartialEq)]
pub enum Note {
    /// A trial began, with its parameters.
    Started {
        trial: u64,
        params: Vec<(String, Param)>,
    },
    /// A trial's virtual epoch ended.
    Point { trial: u64, point: Point },
    /// A trial's status changed (`running` again when promoted): the word, its reason, and the
    /// trial's selected checkpoint file when it ended and one is kept in a folder.
    Status {
        trial: u64,
        status: String,
        reason: Option<String>,
        checkpoint: Option<PathBuf>,
    },
    /// The study ended: its best trial, its leaderboard file, and with several objectives or
    /// constraints its front.
    StudyEnded {
        best: Option<u64>,
        leaderboard: PathBuf,
        front: Option<Front>,
    },
}

/// A study's front at its end, for a study of several objectives or constraints.
#[derive(Clone, Debug, PartialEq)]
pub struct Front {
    /// `pareto.csv`.
    pub file: PathBuf,
    /// Each trial's front among the feasible trials (`pareto_rank`, 1: not dominated; `None`:
    /// on none) and whether it keeps every constraint (`None`: no value yet), by trial.
    pub trials: Vec<(u64, Option<usize>, Option<bool>)>,
}

/// Why a tracker could not do something.
#[derive(Debug)]
pub enum Failure {
    /// The server could not be reached, or failed (connection refused, timeout, 5xx): worth
    /// trying again later.
    Down(String),
    /// The request was refused, or the files could not be written: trying again will not help.
    Refused(String),
}

/// A place a study's trials are tracked. Each call may be repeated (after a failure, or on a
/// resume that replays the study so far) and must then add nothing twice.
pub trait Tracker: Send {
    /// The tool and where it is, for messages (`MLflow at http://127.0.0.1:5000`).
    fn name(&self) -> String;
    fn trial_started(&mut self, trial: u64, params: &[(String, Param)]) -> Result<(), Failure>;
    /// Boundaries of one trial, in order of their step.
    fn boundaries(&mut self, trial: u64, points: &[Point]) -> Result<(), Failure>;
    fn status(
        &mut self,
        trial: u64,
        status: &str,
        reason: Option<&str>,
        checkpoint: Option<&Path>,
    ) -> Result<(), Failure>;
    fn study_ended(
        &mut self,
        best: Option<u64>,
        leaderboard: &Path,
        front: Option<&Front>,
    ) -> Result<(), Failure>;
}

/// The notes a tracker sends next, by their place in `queue`: the first note or, when it is a
/// boundary, every boundary of that trial queued before the trial's next other note (the trials
/// that run at once interleave theirs; one request takes many). Each trial's notes keep their
/// order, and the study's end comes after everything before it.
pub fn next(queue: &VecDeque<Note>) -> Vec<usize> {
    let Some(Note::Point { trial, .. }) = queue.front() else {
        return vec![0];
    };
    let mut out = vec![];
    for (i, n) in queue.iter().enumerate().take(10_000) {
        match n {
            Note::Point { trial: t, .. } if t == trial => out.push(i),
            Note::StudyEnded { .. } => break,
            Note::Started { trial: t, .. } | Note::Status { trial: t, .. } if t == trial => break,
            _ => {}
        }
        if out.len() == 500 {
            break;
        }
    }
    out
}

/// Sends the notes of `queue` at the places `which` (see [`next`]) to `tracker`.
pub fn send(
    tracker: &mut dyn Tracker,
    queue: &VecDeque<Note>,
    which: &[usize],
) -> Result<(), Failure> {
    match &queue[which[0]] {
        Note::Started { trial, params } => tracker.trial_started(*trial, params),
        Note::Point { trial, .. } => {
            let points: Vec<Point> = which
                .iter()
                .filter_map(|&i| match &queue[i] {
                    Note::Point { point, .. } => Some(point.clone()),
                    _ => None,
                })
                .collect();
            tracker.boundaries(*trial, &points)
        }
        Note::Status {
            trial,
            status,
            reason,
            checkpoint,
        } => tracker.status(*trial, status, reason.as_deref(), checkpoint.as_deref()),
        Note::StudyEnded {
            best,
            leaderboard,
            front,
        } => tracker.study_ended(*best, leaderboard, front.as_ref()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> TrackingSpec {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn uris_and_fields_are_checked() {
        let f = Path::new("s.json");
        let err =
            |s: &str, flag: Option<&str>| check(f, Some(&spec(s)), flag).unwrap_err().to_string();
        assert!(check(
            f,
            Some(&spec(
                r#"{"mlflow": "http://127.0.0.1:5000", "experiment": "e"}"#
            )),
            None
        )
        .is_ok());
        assert!(err(r#"{"mlflow": "https://x"}"#, None)
            .starts_with("s.json: tracking.mlflow: `https://x`: https is not built in"));
        assert!(err(r#"{"mlflow": "127.0.0.1:5000"}"#, None).contains("is not an http:// URI"));
        assert!(err(r#"{"mlflow": "http:///x"}"#, None).contains("names no host"));
        assert!(err(r#"{"experiment": "e"}"#, None)
            .starts_with("s.json: tracking.experiment: applies to MLflow"));
        assert!(err(r#"{"log_checkpoint": true}"#, None).contains("tracking.log_checkpoint"));
        // --mlflow names the server.
        assert!(check(f, Some(&spec(r#"{"experiment": "e"}"#)), Some("http://h:1")).is_ok());
        let flag = check(f, None, Some("ftp://h")).unwrap_err().to_string();
        assert!(
            flag.starts_with("--mlflow: `ftp://h` is not an http:// URI"),
            "{flag}"
        );
        assert!(serde_json::from_str::<TrackingSpec>(r#"{"tensorbord": true}"#).is_err());
    }

    #[test]
    fn settings_say_which_trackers_run() {
        let out = Path::new("runs/s");
        let s = |t: Option<&TrackingSpec>, flag| Settings::new(t, flag, "s", "ab".into(), out);
        assert!(s(None, None).is_none());
        assert!(s(Some(&spec("{}")), None).is_none());
        let m = s(Some(&spec(r#"{"tensorboard": true}"#)), Some("http://h:1/")).unwrap();
        assert_eq!(m.mlflow, Some(("http://h:1".into(), "s".into(), false)));
        assert!(m.tensorboard);
        let t = spec(r#"{"mlflow": "http://a:1", "experiment": "wine"}"#);
        let m = s(Some(&t), Some("http://b:2")).unwrap();
        assert_eq!(m.mlflow, Some(("http://b:2".into(), "wine".into(), false)));
        assert!(!m.tensorboard);
    }

    #[test]
    fn a_trial_s_boundaries_go_together_in_order() {
        let p = |trial, step| Note::Point {
            trial,
            point: Point {
                step,
                values: vec![],
            },
        };
        let s = |trial| Note::Status {
            trial,
            status: "complete".into(),
            reason: None,
            checkpoint: None,
        };
        let end = Note::StudyEnded {
            best: None,
            leaderboard: PathBuf::new(),
            front: None,
        };
        let q = VecDeque::from([
            p(0, 1),
            p(1, 1),
            s(1),
            p(0, 2),
            p(1, 2),
            end.clone(),
            p(0, 3),
        ]);
        assert_eq!(next(&q), [0, 3]);
        let q = VecDeque::from([p(1, 1), s(1), p(1, 2)]);
        assert_eq!(next(&q), [0]);
        let q = VecDeque::from([s(1), p(1, 2)]);
        assert_eq!(next(&q), [0]);
        assert_eq!(next(&VecDeque::from([end])), [0]);
    }
}
