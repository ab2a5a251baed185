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

    /// Whether a scheduler cut the trial short of the full budget (pruned, or paused short of
    /// it): its values are of a smaller budget.
    pub fn cut_short(self) -> bool {
        matches!(self, Status::Pruned | Status::Paused)
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
    /// Population-based training: a promoted member exploits `source`, going on from its
    /// checkpoint of `virtual_epoch` with parameters `new` (explored from the source's) instead of
    /// its own `old`.
    TrialExploited {
        trial: u64,
        virtual_epoch: u32,
        source: u64,
        old: Params,
        new: Params,
    },
    /// A trial ended (or paused, with status `paused`).
    TrialEnded {
        trial: u64,
        status: Status,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        seconds: f64,
    },
    /// The program's files changed (or were first recorded, in a study made before they were) on
    /// a resume with `--allow-code-change`: trials from `from_trial` on run `code`; `changed` holds
    /// each file changed, added (its new CRC-32) or removed (`null`); `resumed`, the trials
    /// started before that go on under it from their checkpoints.
    CodeChanged {
        from_trial: u64,
        changed: BTreeMap<String, Option<String>>,
        code: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        resumed: Vec<u64>,
    },
}

/// One version of a program's files, and the trials that ran it.
#[derive(Clone, Debug, PartialEq)]
pub struct CodeVersion {
    /// The first trial started under it.
    pub from_trial: u64,
    /// Each file's path and CRC-32.
    pub files: BTreeMap<String, String>,
    /// Trials started under an earlier version that went on under this one.
    pub resumed: Vec<u64>,
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
    /// Population-based training: the exploits it made, in order (`params` are the last one's).
    pub exploits: Vec<Exploit>,
}

/// One exploit of population-based training: at `virtual_epoch`, `trial` went on from the
/// checkpoint of `source` there, with parameters `new` in place of its `old`.
#[derive(Clone, Debug, PartialEq)]
pub struct Exploit {
    pub trial: u64,
    pub virtual_epoch: u32,
    pub source: u64,
    pub old: Params,
    pub new: Params,
}

impl Exploit {
    /// Its journal record.
    pub fn event(&self) -> Event {
        Event::TrialExploited {
            trial: self.trial,
            virtual_epoch: self.virtual_epoch,
            source: self.source,
            old: self.old.clone(),
            new: self.new.clone(),
        }
    }
}

impl TrialRecord {
    /// The parameters the trial's checkpoint of virtual epoch `k` was trained with: those before
    /// the first exploit at `k` or later, else its parameters now.
    pub fn params_at(&self, k: u32) -> &Params {
        params_at(&self.params, &self.exploits, k)
    }
}

/// The parameters of a trial's checkpoint of virtual epoch `k`, the trial having `params` now
/// after `exploits`: those before the first exploit at `k` or later, else `params`.
pub fn params_at<'a>(params: &'a Params, exploits: &'a [Exploit], k: u32) -> &'a Params {
    exploits
        .iter()
        .find(|x| x.virtual_epoch >= k)
        .map_or(params, |x| &x.old)
}

/// What replaying a journal gives.
#[derive(Clone, Debug, Default)]
pub struct History {
    pub fingerprint: Option<BTreeMap<String, serde_json::Value>>,
    pub trials: BTreeMap<u64, TrialRecord>,
    /// The versions of a program's files, in order: the study's first (its fingerprint's `code`)
    /// and each change journalled since; none for the built-in trainer.
    pub code: Vec<CodeVersion>,
}

impl History {
    /// Applies one event.
    pub fn apply(&mut self, e: &Event) {
        match e {
            Event::StudyCreated { fingerprint, .. } => {
                self.fingerprint = Some(fingerprint.clone());
                let code = fingerprint.get("code").cloned();
                if let Some(files) = code.and_then(|c| serde_json::from_value(c).ok()) {
                    self.code = vec![CodeVersion {
                        from_trial: 0,
                        files,
                        resumed: vec![],
                    }];
                }
            }
            Event::CodeChanged {
                from_trial,
                code,
                resumed,
                ..
            } => self.code.push(CodeVersion {
                from_trial: *from_trial,
                files: code.clone(),
                resumed: resumed.clone(),
            }),
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
                        exploits: vec![],
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
            Event::TrialExploited {
                trial,
                virtual_epoch,
                source,
                old,
                new,
            } => {
                if let Some(t) = self.trials.get_mut(trial) {
                    t.params = new.clone();
                    t.exploits.push(Exploit {
                        trial: *trial,
                        virtual_epoch: *virtual_epoch,
                        source: *source,
                        old: old.clone(),
                        new: new.clone(),
                    });
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

impl History {
    /// The trial whose random streams (data order, dropout) trial `trial` draws from now: its
    /// own, or after an exploit those of the checkpoint it copied, and so on back.
    pub fn streams_of(&self, trial: u64) -> u64 {
        self.streams_before(trial, u32::MAX)
    }

    /// [`History::streams_of`] for the trial's state at virtual epoch `k`, before any exploit there.
    fn streams_before(&self, trial: u64, k: u32) -> u64 {
        let last = self
            .trials
            .get(&trial)
            .and_then(|t| t.exploits.iter().rev().find(|x| x.virtual_epoch < k));
        match last {
            Some(x) if x.source != trial => self.streams_before(x.source, x.virtual_epoch),
            _ => trial,
        }
    }

    /// Whether the trials ran more than one version of the program's files (an unrecorded one
    /// counted).
    pub fn code_varies(&self) -> bool {
        let first = self.code.first().map(|v| v.from_trial);
        self.code.len() > 1 || first.is_some_and(|f| self.trials.keys().any(|&t| t < f))
    }

    /// Which versions of the program's files trial `trial` ran, as `2`, or `1→2` when it went on
    /// under a later one; `-` for a version not recorded (trials of a study made before they were,
    /// before they were); `None` for the built-in trainer.
    pub fn code_label(&self, trial: u64) -> Option<String> {
        if self.code.is_empty() {
            return None;
        }
        let first = self.code.iter().rposition(|v| v.from_trial <= trial);
        let head = first.map_or("-".to_string(), |i| (i + 1).to_string());
        let later = (first.map_or(0, |i| i + 1)..self.code.len())
            .filter(|&i| self.code[i].resumed.contains(&trial))
            .map(|i| (i + 1).to_string());
        Some(
            std::iter::once(head)
                .chain(later)
                .collect::<Vec<_>>()
                .join("→"),
        )
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
