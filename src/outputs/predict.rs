//! Using what a study tuned: a trial's checkpoint chosen by the user's words (`best`, a trial
//! number, `last`, a virtual epoch), made a [`Model`] that prepares raw rows as training did and
//! predicts them, and the predictions written as CSV (`tune predict`).

use std::io::Write;

use crate::artifacts::pick::CheckpointPick;
use crate::artifacts::{ArtifactStore, Checkpoint};
use crate::data::apply::Prepared;
use crate::data::table::{Column, MISSING_CODE};
use crate::data::{Preprocessing, Task};
use crate::error::{Error, Result};
use crate::objective::MetricKind;
use crate::plan::StudyPlan;
use crate::runner::mlp::model::{evaluate, Eval};
use crate::runner::mlp::network::Network;
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
/// and its network.
#[derive(Clone, Debug)]
pub struct Model {
    pub trial: u64,
    pub virtual_epoch: u32,
    pub prep: Preprocessing,
    pub network: Network,
}

impl Model {
    /// The model of a checkpoint of the built-in trainer. Its metadata holds the preprocessing;
    /// checkpoints of builds before that take the study's (`fallback`).
    pub fn of(ckpt: Checkpoint, fallback: Option<&Preprocessing>) -> Result<Model> {
        let prep = match ckpt.meta.runner.get("preprocessing") {
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
                Error::Damaged(format!(
                    "the checkpoint of trial {} has unreadable preprocessing: {e}",
                    ckpt.meta.trial
                ))
            })?,
            None => fallback.cloned().ok_or_else(|| {
                Error::Damaged(format!(
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
            network: Network::of_checkpoint(&ckpt.weights, &ckpt.meta.runner).ok_or_else(|| {
                Error::Study(format!(
                    "the checkpoint of trial {trial} is not a network of the built-in trainer ({})",
                    Network::WHAT
                ))
            })?,
        };
        let ins = model.network.inputs();
        if ins != model.prep.inputs.len() {
            return Err(Error::Damaged(format!(
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
        self.network.outputs(&rows.x, rows.rows)
    }

    /// Loss and `metric` on the rows that have the target, when the file has it; `None` when no
    /// row has one. A label the model never saw (classification) has no output of its own: such
    /// rows are counted, and their labels kept, for [`Score::sentence`].
    pub fn score(&self, rows: &Prepared, out: &[f32], metric: MetricKind) -> Option<Score> {
        let y = rows.y.as_ref()?;
        let c = out.len() / rows.rows.max(1);
        let known: Vec<usize> = (0..rows.rows).filter(|&r| !y[r].is_nan()).collect();
        let (unknown, unknown_labels) = self.unknown_labels(rows);
        if known.is_empty() && unknown == 0 {
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
        let eval = (!known.is_empty()).then(|| evaluate(self.task(), metric, &o, &t, known.len()));
        Some(Score {
            metric,
            known: known.len(),
            unknown,
            unknown_labels,
            eval,
        })
    }

    /// The rows whose target is a label the model's classes lack, and those labels (in order of
    /// first appearance).
    fn unknown_labels(&self, rows: &Prepared) -> (usize, Vec<String>) {
        let target = rows.y.as_ref().and(rows.table.columns.last());
        let Some(Column::Text { codes, levels }) = target.and_then(|t| rows.table.column(t.0))
        else {
            return (0, vec![]);
        };
        let strange: Vec<bool> = levels
            .iter()
            .map(|l| !self.prep.classes.contains(l))
            .collect();
        let n = codes
            .iter()
            .filter(|&&c| c != MISSING_CODE && strange[c as usize])
            .count();
        let labels = levels
            .into_iter()
            .zip(strange)
            .filter_map(|(l, s)| s.then_some(l))
            .collect();
        (n, labels)
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

/// The score of predictions on the rows of a file that have the target ([`Model::score`]).
#[derive(Clone, Debug)]
pub struct Score {
    pub metric: MetricKind,
    /// Rows whose target the model knows: the loss and metric are theirs.
    pub known: usize,
    /// Rows whose label the model never saw, and those labels.
    pub unknown: usize,
    pub unknown_labels: Vec<String>,
    /// Loss and metric on the `known` rows (`None`: there are none).
    pub eval: Option<Eval>,
}

impl Score {
    /// The score in words, after "trial N at virtual epoch K, ". Rows with a label the model never
    /// saw are never left out unsaid: accuracy counts them as wrong (the model cannot give a class
    /// it does not have); the loss and the other metrics need the label's probability, which it
    /// has none for, so they are on the other rows, and the sentence says so.
    pub fn sentence(&self, file: &std::path::Path, target: &str) -> String {
        let (file, m) = (file.display(), self.metric.name());
        let n = self.known + self.unknown;
        let has = format!("of {file} that have \"{target}\"");
        let Some(eval) = self.eval else {
            return format!(
                "none of the {n} rows {has} has a label the model knows ({}): {}",
                labels(&self.unknown_labels),
                match self.metric {
                    MetricKind::Accuracy => "accuracy 0, every one counted as wrong",
                    _ => "no score",
                }
            );
        };
        if self.unknown == 0 {
            return format!(
                "on the {n} rows {has}: loss {}, {m} {}",
                eval.loss, eval.metric
            );
        }
        let strange = format!(
            "{} {} a label the study never saw ({})",
            self.unknown,
            if self.unknown == 1 {
                "row has"
            } else {
                "rows have"
            },
            labels(&self.unknown_labels)
        );
        match self.metric {
            MetricKind::Accuracy => format!(
                "on the {n} rows {has}: accuracy {} ({strange}: counted as wrong), loss {} on the {} rows with a label it knows",
                // Rows right among the known ones (an exact count), over all rows with a label.
                (eval.metric * self.known as f64).round() / n as f64,
                eval.loss,
                self.known
            ),
            _ => format!(
                "on the {} of the {n} rows {has} with a label the study knows: loss {}, {m} {}; {strange}: not scored, as the model gives no probability for it",
                self.known, eval.loss, eval.metric
            ),
        }
    }
}

/// Up to five labels, quoted and cut to 40 characters, and how many more.
fn labels(all: &[String]) -> String {
    let cut = |l: &String| match l.char_indices().nth(40) {
        Some((i, _)) => format!("\"{}…\"", &l[..i]),
        None => format!("\"{l}\""),
    };
    let mut s: Vec<String> = all.iter().take(5).map(cut).collect();
    if all.len() > 5 {
        s.push(format!("and {} more", all.len() - 5));
    }
    s.join(", ")
}

/// Probabilities of logits, computed in f64.
pub fn softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
    let e: Vec<f64> = logits.iter().map(|&l| (l as f64 - max).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}
