//! What a study's storage holds: events, and the history they replay into. Replay is a pure
//! function of the events, whatever backend stored them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::curve::CurveRow;
use crate::space::Params;

/// Where a trial stands (Optuna's words, with `stopped` for its own early stopping and `pruned`
/// for a stop by comparison with the other trials).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Running,
    Complete,
    Stopped,
    Failed,
    /// Stopped by a scheduler that compares trials (ASHA, the median rule).
    Pruned,
    /// Waiting at a rung of ASHA for a promotion that may resume it.
    Paused,
}

impl Status {
    /// The word in the leaderboard.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Complete => "complete",
            Status::Stopped => "stopped",
            Status::Failed => "failed",
            Status::Pruned => "pruned",
            Status::Paused => "paused",
        }
    }

    /// Whether the trial is done with: it neither trains now nor may train again.
    pub fn ended(self) -> bool {
        !matches!(self, Status::Running | Status::Paused)
    }
}

/// One journal event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The study began; `fingerprint` holds every spec field that changes results.
    StudyCreated {
        name: String,
        fingerprint: BTreeMap<String, serde_json::Value>,
    },
    /// A trial was given its parameters.
    TrialStarted {
        trial: u64,
        params: Params,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        suggest_ms: Option<f64>,
    },
    /// A virtual epoch ended and its checkpoint is durable; `decision` is the scheduler's at
    /// this boundary (absent in journals of earlier builds: taken again on resume).
    EpochDone {
        trial: u64,
        row: CurveRow,
        seconds: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        decision: Option<Decision>,
    },
    /// A paused trial was promoted: it resumes from its checkpoint at the rung it paused at.
    TrialPromoted { trial: u64 },
    /// A trial ended (or paused, with status `paused`).
    TrialEnded {
        trial: u64,
        status: Status,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        seconds: f64,
    },
}

/// A trial as the journal tells it.
#[derive(Clone, Debug, PartialEq)]
pub struct TrialRecord {
    pub trial: u64,
    pub params: Params,
    pub status: Status,
    pub reason: Option<String>,
    pub curve: Vec<CurveRow>,
    pub seconds: f64,
    pub suggest_ms: Option<f64>,
    /// The scheduler's decision at the last row of `curve`, when journalled.
    pub decision: Option<Decision>,
}

/// What replaying a journal gives.
#[derive(Clone, Debug, Default)]
pub struct History {
    pub fingerprint: Option<BTreeMap<String, serde_json::Value>>,
    pub trials: BTreeMap<u64, TrialRecord>,
}

impl History {
    /// Applies one event.
    pub fn apply(&mut self, e: &Event) {
        match e {
            Event::StudyCreated { fingerprint, .. } => self.fingerprint = Some(fingerprint.clone()),
            Event::TrialStarted {
                trial,
                params,
                suggest_ms,
            } => {
                self.trials.insert(
                    *trial,
                    TrialRecord {
                        trial: *trial,
                        params: params.clone(),
                        status: Status::Running,
                        reason: None,
                        curve: vec![],
                        seconds: 0.0,
                        suggest_ms: *suggest_ms,
                        decision: None,
                    },
                );
            }
            Event::EpochDone {
                trial,
                row,
                seconds,
                decision,
            } => {
                if let Some(t) = self.trials.get_mut(trial) {
                    t.curve.retain(|r| r.virtual_epoch < row.virtual_epoch);
                    t.curve.push(row.clone());
                    t.seconds = *seconds;
                    t.decision = decision.clone();
                }
            }
            Event::TrialPromoted { trial } => {
                if let Some(t) = self.trials.get_mut(trial) {
                    // The pause at its last boundary is lifted: it goes on from there.
                    t.status = Status::Running;
                    t.reason = None;
                    t.decision = Some(Decision::Continue);
                }
            }
            Event::TrialEnded {
                trial,
                status,
                reason,
                seconds,
            } => {
                if let Some(t) = self.trials.get_mut(trial) {
                    t.status = *status;
                    t.reason = reason.clone();
                    t.seconds = *seconds;
                }
            }
        }
    }
}

/// What becomes of a trial at a boundary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// It trains on to the next boundary (or completes at its last).
    Continue,
    /// It ends here, `stopped` (its own early stopping), for the reason given; its best checkpoint
    /// still counts.
    Stop(String),
    /// It ends here, `pruned` (worse than the other trials), for the reason given.
    Prune(String),
    /// It waits here, `paused`, until a promotion resumes it (ASHA).
    Pause,
}
