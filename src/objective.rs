//! What a study optimises: the metric that selects each trial's best checkpoint and ranks the
//! trials, its direction, and which of two values is better. A leaf: the curve, the samplers,
//! the schedulers, recovery and the outputs rank through it; the plan reads it from the spec.

use serde::{Deserialize, Serialize};

use crate::data::Task;

/// What selects a trial's best checkpoint and ranks the trials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// A metric a user's program reports under this name (a command trainer), other than
    /// `val_loss`.
    Reported(&'static str),
    ValLoss,
    Rmse,
    Accuracy,
    /// Mean absolute error (regression).
    Mae,
    /// The coefficient of determination (regression).
    R2,
    /// Macro-averaged F1 (classification).
    F1,
    /// Area under the ROC curve (classification into two classes).
    Auc,
    /// Mean cross-entropy (classification): the validation loss under its usual name.
    LogLoss,
}

/// The built-in trainer's cost metrics: its trainable weights, and the multiply-adds of one
/// example's forward pass. Both lower is better.
pub const PARAMETERS: &str = "parameters";
pub const FLOPS: &str = "flops";

/// The metrics of each task, as the spec names them, the task's own (the curve's with
/// `val_loss`) first after `val_loss`.
pub const REGRESSION: [MetricKind; 4] = [
    MetricKind::ValLoss,
    MetricKind::Rmse,
    MetricKind::Mae,
    MetricKind::R2,
];
pub const CLASSIFICATION: [MetricKind; 5] = [
    MetricKind::ValLoss,
    MetricKind::Accuracy,
    MetricKind::F1,
    MetricKind::Auc,
    MetricKind::LogLoss,
];

impl MetricKind {
    /// The column name of the metric.
    pub fn name(self) -> &'static str {
        match self {
            MetricKind::ValLoss => "val_loss",
            MetricKind::Rmse => "rmse",
            MetricKind::Accuracy => "accuracy",
            MetricKind::Mae => "mae",
            MetricKind::R2 => "r2",
            MetricKind::F1 => "f1",
            MetricKind::Auc => "auc",
            MetricKind::LogLoss => "log_loss",
            MetricKind::Reported(name) => name,
        }
    }

    /// The metric a curve's `metric` column holds when this one is chosen: itself, or with
    /// `val_loss` (which has its own column) the task's: RMSE or accuracy.
    pub fn in_curve(self, task: Task) -> MetricKind {
        match (self, task) {
            (MetricKind::ValLoss, Task::Regression) => MetricKind::Rmse,
            (MetricKind::ValLoss, Task::Classification) => MetricKind::Accuracy,
            (kind, _) => kind,
        }
    }

    /// The direction in which the metric improves; for a program's own metric, the direction of
    /// the well-known names (the metrics above, and names ending in `loss` or `error`), else
    /// unknown.
    pub fn natural_goal(self) -> Option<Goal> {
        Some(match self {
            MetricKind::Accuracy | MetricKind::R2 | MetricKind::F1 | MetricKind::Auc => Goal::Max,
            MetricKind::ValLoss | MetricKind::Rmse | MetricKind::Mae | MetricKind::LogLoss => {
                Goal::Min
            }
            MetricKind::Reported(name) => {
                let known = REGRESSION
                    .iter()
                    .chain(&CLASSIFICATION)
                    .find(|k| k.name() == name);
                if let Some(k) = known {
                    return k.natural_goal();
                }
                if name.ends_with("loss")
                    || name.ends_with("error")
                    || name == PARAMETERS
                    || name == FLOPS
                {
                    Goal::Min
                } else {
                    return None;
                }
            }
        })
    }
}

impl Metric {
    /// The metric a study's fingerprint records (`metric`, `goal`: the spec's, either absent):
    /// the built-in names, else a program's own; its goal as recorded, else its natural one, else
    /// lower is better.
    pub fn recorded(metric: Option<&str>, goal: Option<&str>) -> Metric {
        let name = metric.unwrap_or("val_loss");
        let kind = REGRESSION
            .iter()
            .chain(&CLASSIFICATION)
            .find(|k| k.name() == name)
            .copied()
            .unwrap_or_else(|| MetricKind::Reported(crate::intern::intern(name)));
        let goal = match goal {
            Some("max") => Goal::Max,
            Some("min") => Goal::Min,
            _ => kind.natural_goal().unwrap_or(Goal::Min),
        };
        Metric { kind, goal }
    }
}

/// A trial as the ranking compares it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Standing {
    /// Its selected value of the metric (NaN: none).
    pub value: f64,
    /// Whether it was cut short: pruned, or paused short of the full budget.
    pub cut_short: bool,
    /// Its validation loss at the selected checkpoint (NaN: none).
    pub loss: f64,
    pub trial: u64,
}

impl Metric {
    /// The order of two trials, best first: those with a value, not cut short, before the rest;
    /// then by the value; ties (frequent with accuracy on a small validation set) to the lower
    /// validation loss at the selected checkpoint, then to the earlier trial.
    pub fn rank(self, a: &Standing, b: &Standing) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        let key = |s: &Standing| (s.value.is_nan(), s.cut_short);
        let loss = |s: &Standing| (s.loss.is_nan(), s.loss);
        key(a).cmp(&key(b)).then_with(|| {
            if self.better(a.value, b.value, 0.0) {
                Ordering::Less
            } else if self.better(b.value, a.value, 0.0) {
                Ordering::Greater
            } else {
                let (a_loss, b_loss) = (loss(a), loss(b));
                a_loss
                    .0
                    .cmp(&b_loss.0)
                    .then(a_loss.1.partial_cmp(&b_loss.1).unwrap_or(Ordering::Equal))
                    .then(a.trial.cmp(&b.trial))
            }
        })
    }
}

/// Whether lower or higher is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Goal {
    Min,
    Max,
}

/// The selection metric and its direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metric {
    pub kind: MetricKind,
    pub goal: Goal,
}

impl Metric {
    /// The order of two (trial, value) pairs, best first: NaN last, ties to the earlier trial
    /// (how ASHA's rungs and PBT's members are ranked, and the best of a front).
    pub fn order(self, a: &(u64, f64), b: &(u64, f64)) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        a.1.is_nan().cmp(&b.1.is_nan()).then_with(|| {
            if self.better(a.1, b.1, 0.0) {
                Ordering::Less
            } else if self.better(b.1, a.1, 0.0) {
                Ordering::Greater
            } else {
                a.0.cmp(&b.0)
            }
        })
    }

    /// Whether `a` is better than `b` by more than `min_delta`. NaN is never better; ties are not better,
    /// so the earlier of two equal values wins.
    pub fn better(self, a: f64, b: f64, min_delta: f64) -> bool {
        if a.is_nan() {
            return false;
        }
        if b.is_nan() {
            return true;
        }
        match self.goal {
            Goal::Min => a < b - min_delta,
            Goal::Max => a > b + min_delta,
        }
    }
}
