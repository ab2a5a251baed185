//! Using what a study tuned: a trial's checkpoint chosen by the user's words (`best`, a trial
//! number, `last`, a virtual epoch), made a [`Model`] that prepares raw rows as training did and
//! predicts them, and the predictions written as CSV (`tune predict`).

use std::io::Write;

use crate::artifacts::pick::CheckpointPick;
use crate::artifacts::{ArtifactStore, Checkpoint, HostTensor};
use crate::data::apply::Prepared;
use crate::data::{Preprocessing, Task};
use crate::error::{Error, Result};
use crate::plan::StudyPlan;
use crate::runner::mlp::model::{evaluate, host_forward, in_layer_order, Eval};
use crate::storage::History;

/// Which trial: the leaderboard's first, or a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrialPick {
    Best,
    Number(u64),
}

impl std::str::FromStr for TrialPick {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "best" => Ok(TrialPick::Best),
            n => n
                .parse()
                .map(TrialPick::Number)
                .map_err(|_| format!("`{s}` is neither `best` nor a trial number")),
        }
    }
}

/// The trial a pick names: the leaderboard's first that has a checkpoint, or the number asked
/// for, which must be one of the study's.
pub fn pick_trial(plan: &StudyPlan, history: &History, pick: TrialPick) -> Result<u64> {
    match pick {
        TrialPick::Number(n) if history.trials.contains_key(&n) => Ok(n),
        TrialPick::Number(n) => Err(Error::Study(format!(
            "study {} has no trial {n} (its trials: 1 to {})",
            plan.name,
            history.trials.keys().max().copied().unwrap_or(0)
        ))),
        TrialPick::Best => super::leaderboard::rows(plan, history)
            .into_iter()
            .find(|r| r.best_virtual_epoch.is_some())
            .map(|r| r.trial)
            .ok_or_else(|| {
                Error::Study(format!(
                    "study {} has no trial with a checkpoint yet: run it first",
                    plan.name
                ))
            }),
    }
}

/// Reads trial `trial`'s checkpoint that `pick` names, its checksum verified.
pub fn checkpoint(
    store: &dyn ArtifactStore,
    history: &History,
    trial: u64,
    pick: CheckpointPick,
) -> Result<Checkpoint> {
    let has_best = history
        .trials
        .get(&trial)
        .is_some_and(|t| !t.curve.is_empty());
    crate::artifacts::pick::read(store, trial, pick, has_best)
}

/// A trained network with what it needs to take raw rows: the preprocessing it was trained with
/// and its weights.
#[derive(Clone, Debug)]
pub struct Model {
    pub trial: u64,
    pub virtual_epoch: u32,
    pub prep: Preprocessing,
    pub weights: Vec<HostTensor>,
}

impl Model {
    /// The model of a checkpoint of the built-in trainer. Its metadata holds the preprocessing;
    /// checkpoints of builds before that take the study's (`fallback`).
    pub fn of(ckpt: Checkpoint, fallback: Option<&Preprocessing>) -> Result<Model> {
        let prep = match ckpt.meta.runner.get("preprocessing") {
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
                Error::Study(format!(
                    "the checkpoint of trial {} has unreadable preprocessing: {e}",
                    ckpt.meta.trial
                ))
            })?,
            None => fallback.cloned().ok_or_else(|| {
                Error::Study(format!(
                    "the checkpoint of trial {} does not say how its inputs were prepared",
                    ckpt.meta.trial
                ))
            })?,
        };
        let trial = ckpt.meta.trial;
        let model = Model {
            trial,
            virtual_epoch: ckpt.meta.virtual_epoch,
            prep,
            weights: in_layer_order(&ckpt.weights).ok_or_else(|| {
                Error::Study(format!(
                    "the checkpoint of trial {trial} is not a network of the built-in trainer \
                     (layers.<i>.weight and layers.<i>.bias, each layer taking the last one's outputs)"
                ))
            })?,
        };
        let ins = model.weights.first().map_or(0, |w| w.shape[0]);
        if ins != model.prep.inputs.len() {
            return Err(Error::Study(format!(
                "the checkpoint of trial {} takes {ins} inputs, and its preprocessing makes {}",
                model.trial,
                model.prep.inputs.len()
            )));
        }
        Ok(model)
    }

    pub fn task(&self) -> Task {
        self.prep.task.unwrap_or(Task::Regression)
    }

    /// The network's outputs (a row each: the prediction, or one logit per class).
    pub fn outputs(&self, rows: &Prepared) -> Vec<f32> {
        host_forward(&self.weights, &rows.x, rows.rows)
    }

    /// Loss and `metric` on the rows whose target is known, when the file has the target:
    /// `(rows scored, result)`.
    pub fn score(
        &self,
        rows: &Prepared,
        out: &[f32],
        metric: crate::plan::MetricKind,
    ) -> Option<(usize, Eval)> {
        let y = rows.y.as_ref()?;
        let c = out.len() / rows.rows.max(1);
        let known: Vec<usize> = (0..rows.rows).filter(|&r| !y[r].is_nan()).collect();
        if known.is_empty() {
            return None;
        }
        let mut o = Vec::with_capacity(known.len() * c);
        let mut t = Vec::with_capacity(known.len() * c);
        for &r in &known {
            o.extend_from_slice(&out[r * c..(r + 1) * c]);
            match self.task() {
                Task::Regression => t.push(y[r]),
                Task::Classification => {
                    t.extend((0..c).map(|j| (j == y[r] as usize) as u8 as f32));
                }
            }
        }
        Some((
            known.len(),
            evaluate(self.task(), metric, &o, &t, known.len()),
        ))
    }

    /// Writes the predictions as CSV: `prediction`, then for classification `p_<label>` per
    /// class (softmax probabilities, in f64).
    pub fn write_csv(&self, out: &[f32], rows: usize, w: impl Write) -> std::io::Result<()> {
        let mut csv = csv::Writer::from_writer(w);
        let classes = &self.prep.classes;
        let mut head = vec!["prediction".to_string()];
        if self.task() == Task::Classification {
            head.extend(classes.iter().map(|c| format!("p_{c}")));
        }
        csv.write_record(&head)?;
        let c = out.len() / rows.max(1);
        for logits in out.chunks_exact(c.max(1)) {
            let record: Vec<String> = match self.task() {
                Task::Regression => vec![logits[0].to_string()],
                Task::Classification => {
                    let p = softmax(logits);
                    let top = (0..c).fold(0, |b, j| if logits[j] > logits[b] { j } else { b });
                    std::iter::once(classes[top].clone())
                        .chain(p.iter().map(f64::to_string))
                        .collect()
                }
            };
            csv.write_record(&record)?;
        }
        csv.flush()
    }
}

/// Probabilities of logits, computed in f64.
pub fn softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
    let e: Vec<f64> = logits.iter().map(|&l| (l as f64 - max).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}
