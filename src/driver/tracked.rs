//! The study's storage with its trackers beside it: every group of events is passed on to the
//! trackers ([`crate::tracking`]) once the storage made it durable, so that MLflow and TensorBoard
//! show what the journal holds, no more; opening the study passes on its history so far, which
//! a tracker turned on at a resume catches up with (each adds only what it lacks).

use crate::curve::CurveRow;
use crate::error::Result;
use crate::objective::MetricKind;
use crate::plan::StudyPlan;
use crate::space::Value;
use crate::storage::{Event, Fingerprint, History, Opened, Orphans, Status, Storage};
use crate::tracking::{Hub, Note, Param, Point, Settings};

use super::RunOptions;

/// The trackers the spec's `tracking` and `--mlflow` ask for; `--mlflow` checked here, before
/// anything is written (the spec's section is checked with the rest of the spec).
pub(super) fn settings(plan: &StudyPlan, opts: &RunOptions) -> Result<Option<Settings>> {
    let spec = plan.spec.tracking.as_ref();
    crate::tracking::check(&plan.spec_file, spec, opts.mlflow.as_deref())?;
    let print = serde_json::to_string(&super::fingerprint(plan)).expect("JSON");
    Ok(Settings::new(
        spec,
        opts.mlflow.as_deref(),
        &plan.name,
        format!("{:08x}", crc32fast::hash(print.as_bytes())),
        &plan.out_dir,
    ))
}

/// A storage whose appended events also go to the trackers of `hub`.
pub(super) struct Tracked<'a, 'h> {
    pub inner: &'a mut dyn Storage,
    pub hub: &'a Hub<'h>,
    pub plan: &'a StudyPlan,
}

impl Tracked<'_, '_> {
    /// What the trackers hear of `events`.
    fn notes(&self, events: &[Event]) -> Vec<Note> {
        let metric = self.plan.curve_metric();
        events
            .iter()
            .filter_map(|e| match e {
                Event::TrialStarted { trial, params, .. } => Some(Note::Started {
                    trial: *trial,
                    params: params.iter().map(|(k, v)| (k.clone(), param(*v))).collect(),
                }),
                Event::EpochDone { trial, row, .. } => Some(Note::Point {
                    trial: *trial,
                    point: point(row, metric),
                }),
                Event::TrialPromoted { trial } => Some(self.status(*trial, Status::Running, None)),
                Event::TrialEnded {
                    trial,
                    status,
                    reason,
                    ..
                } => Some(self.status(*trial, *status, reason.clone())),
                // A member's new parameters after an exploit are not logged (MLflow's parameters
                // cannot change); its run goes on with the copied curve's points.
                Event::StudyCreated { .. }
                | Event::CodeChanged { .. }
                | Event::TrialExploited { .. } => None,
            })
            .collect()
    }

    fn status(&self, trial: u64, status: Status, reason: Option<String>) -> Note {
        let dir = self.plan.out_dir.join("trials").join(trial.to_string());
        Note::Status {
            trial,
            status: status.as_str().to_string(),
            reason,
            checkpoint: status.ended().then(|| dir.join("best.safetensors")),
        }
    }

    /// The study so far, as the events that made it.
    fn replay(&self, history: &History) -> Vec<Note> {
        let mut events = vec![];
        for t in history.trials.values() {
            events.push(Event::TrialStarted {
                trial: t.trial,
                params: t.params.clone(),
                suggest_ms: None,
            });
            events.extend(t.curve.iter().map(|row| Event::EpochDone {
                trial: t.trial,
                row: row.clone(),
                seconds: 0.0,
                decision: None,
            }));
            if t.status != Status::Running {
                events.push(Event::TrialEnded {
                    trial: t.trial,
                    status: t.status,
                    reason: t.reason.clone(),
                    seconds: t.seconds,
                });
            }
        }
        self.notes(&events)
    }
}

fn param(v: Value) -> Param {
    match v {
        Value::Str(s) => Param::Text(s.to_string()),
        v => Param::Num(v.as_f64()),
    }
}

/// A boundary's numbers, at the examples seen: the curve's columns a trainer reported, the
/// study's metric, the learning rate, and a program's own numbers.
fn point(row: &CurveRow, metric: MetricKind) -> Point {
    let mut values: Vec<(String, f64)> = vec![("virtual_epoch".into(), row.virtual_epoch.into())];
    for name in ["steps", "train_loss", "val_loss"] {
        let v = row.value_of(name);
        if !v.is_nan() {
            values.push((name.into(), v));
        }
    }
    if metric != MetricKind::ValLoss {
        values.push((metric.name().into(), row.metric));
    }
    values.extend(row.learning_rate.map(|lr| ("learning_rate".into(), lr)));
    for (k, v) in &row.reported {
        if !values.iter().any(|(n, _)| n == k) {
            values.push((k.clone(), *v));
        }
    }
    Point {
        step: row.examples_seen,
        values,
    }
}

impl Storage for Tracked<'_, '_> {
    fn open(&mut self, name: &str, fingerprint: &Fingerprint) -> Result<Opened> {
        let opened = self.inner.open(name, fingerprint)?;
        self.hub.note(&self.replay(&opened.history));
        Ok(opened)
    }

    fn claim(&mut self, trial: Option<u64>) -> Result<Option<u64>> {
        self.inner.claim(trial)
    }

    fn append(&mut self, events: &[Event]) -> Result<()> {
        self.inner.append(events)?;
        self.hub.note(&self.notes(events));
        Ok(())
    }

    fn read_after(&self, cursor: u64) -> Result<(Vec<Event>, u64)> {
        self.inner.read_after(cursor)
    }

    fn promote(&mut self, events: &[Event], seen: u64) -> Result<bool> {
        let won = self.inner.promote(events, seen)?;
        if won {
            self.hub.note(&self.notes(events));
        }
        Ok(won)
    }

    fn shared(&self) -> bool {
        self.inner.shared()
    }

    fn resume(&mut self, trial: u64) -> Result<bool> {
        self.inner.resume(trial)
    }

    fn orphans(&mut self) -> Result<Orphans> {
        self.inner.orphans()
    }

    fn lost(&self, trial: u64) -> bool {
        self.inner.lost(trial)
    }

    fn suggesting(&mut self, lock: bool) -> Result<()> {
        self.inner.suggesting(lock)
    }

    fn reread(&self) -> Result<Option<History>> {
        self.inner.reread()
    }
}
