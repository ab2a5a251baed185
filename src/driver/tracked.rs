//! The study's storage with its trackers beside it: every group of events is passed on to the
//! trackers ([`crate::tracking`]) once the storage made it durable, so that MLflow and TensorBoard
//! show what the journal holds, no more; opening the study passes on its history so far, which
//! a tracker turned on at a resume catches up with (each adds only what it lacks).

use crate::curve::CurveRow;
use crate::error::Result;
use crate::objective::MetricKind;
use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::plan::{SchedulerPlan, StudyPlan};
use crate::space::{Params, Value};
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
    /// Population-based training: each member's parameters now (its start's, then each
    /// exploit's), which its boundaries carry as `param.<name>` series.
    pub members: RefCell<BTreeMap<u64, Params>>,
}

impl Tracked<'_, '_> {
    /// What the trackers hear of `events`.
    fn notes(&self, events: &[Event]) -> Vec<Note> {
        let metric = self.plan.curve_metric();
        let pbt = matches!(self.plan.scheduler, Some(SchedulerPlan::Pbt(_)));
        let mut members = self.members.borrow_mut();
        events
            .iter()
            .filter_map(|e| match e {
                Event::TrialStarted { trial, params, .. } => {
                    if pbt {
                        members.insert(*trial, params.clone());
                    }
                    Some(Note::Started {
                        trial: *trial,
                        params: params.iter().map(|(k, v)| (k.clone(), param(*v))).collect(),
                    })
                }
                Event::TrialExploited { trial, new, .. } => {
                    members.insert(*trial, new.clone());
                    None
                }
                Event::EpochDone { trial, row, .. } => {
                    let mut point = point(row, metric);
                    // A member's numeric parameters as series, which its exploits change (its
                    // MLflow parameters are its first ones and cannot change).
                    for (k, v) in members.get(trial).into_iter().flatten() {
                        if !matches!(v, Value::Str(_)) {
                            point.values.push((format!("param.{k}"), v.as_f64()));
                        }
                    }
                    Some(Note::Point {
                        trial: *trial,
                        point,
                    })
                }
                Event::TrialPromoted { trial } => Some(self.status(*trial, Status::Running, None)),
                Event::TrialEnded {
                    trial,
                    status,
                    reason,
                    ..
                } => Some(self.status(*trial, *status, reason.clone())),
                Event::StudyCreated { .. } | Event::CodeChanged { .. } => None,
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
            // Its first parameters, then each exploit before the boundaries it trained.
            events.push(Event::TrialStarted {
                trial: t.trial,
                params: t.exploits.first().map_or(&t.params, |x| &x.old).clone(),
                suggest_ms: None,
            });
            let mut exploits = t.exploits.iter().peekable();
            for row in &t.curve {
                while let Some(x) = exploits.next_if(|x| x.virtual_epoch < row.virtual_epoch) {
                    events.push(x.event());
                }
                events.push(Event::EpochDone {
                    trial: t.trial,
                    row: row.clone(),
                    seconds: 0.0,
                    decision: None,
                });
            }
            events.extend(exploits.map(|x| x.event()));
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
