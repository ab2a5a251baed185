//! The selection sub-plan: the metric that picks a trial's best checkpoint and ranks the trials,
//! its direction, early stopping, and how many checkpoints a trial keeps.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::budget::Budget;
use crate::data::Task;
use crate::error::{Error, Result};
use crate::space;
use crate::spec::{EarlyStoppingSpec, SchedulerSpec, StudySpec};

/// What selects a trial's best checkpoint and ranks the trials.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    ValLoss,
    Rmse,
    Accuracy,
}

impl MetricKind {
    /// The column name of the metric.
    pub fn name(self) -> &'static str {
        match self {
            MetricKind::ValLoss => "val_loss",
            MetricKind::Rmse => "rmse",
            MetricKind::Accuracy => "accuracy",
        }
    }

    /// The metric named `name` for a `task` (spelt `task_name` in the spec).
    fn from_spec(file: &Path, name: &str, task: Task, task_name: &str) -> Result<MetricKind> {
        match (name, task) {
            ("val_loss", _) => Ok(MetricKind::ValLoss),
            ("rmse", Task::Regression) => Ok(MetricKind::Rmse),
            ("accuracy", Task::Classification) => Ok(MetricKind::Accuracy),
            (other, _) => {
                let ok = match task {
                    Task::Regression => "\"val_loss\" or \"rmse\"",
                    Task::Classification => "\"val_loss\" or \"accuracy\"",
                };
                Err(Error::spec(
                    file,
                    "metric",
                    format!("\"{other}\" is not a metric of a {task_name} task: use {ok}"),
                ))
            }
        }
    }

    /// The direction in which the metric improves.
    fn natural_goal(self) -> Goal {
        match self {
            MetricKind::Accuracy => Goal::Max,
            MetricKind::ValLoss | MetricKind::Rmse => Goal::Min,
        }
    }
}

/// Whether lower or higher is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Goal {
    Min,
    Max,
}

impl Goal {
    /// The spec's `goal` for `kind`: absent, the metric's own direction; given, it must be that one.
    fn from_spec(file: &Path, goal: Option<&str>, kind: MetricKind) -> Result<Goal> {
        let bad = |msg: String| Error::spec(file, "goal", msg);
        let natural = kind.natural_goal();
        let given = match goal {
            None => return Ok(natural),
            Some("min") => Goal::Min,
            Some("max") => Goal::Max,
            Some(other) => {
                return Err(bad(format!(
                    "\"{other}\" is not a goal: use \"min\" or \"max\""
                )))
            }
        };
        if given != natural {
            let better = match natural {
                Goal::Min => "lower",
                Goal::Max => "higher",
            };
            return Err(bad(format!("{} is better when {better}", kind.name())));
        }
        Ok(given)
    }
}

/// The selection metric and its direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metric {
    pub kind: MetricKind,
    pub goal: Goal,
}

impl Metric {
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

/// Early stopping settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    pub patience: u32,
    pub min_delta: f64,
}

impl EarlyStopping {
    /// The spec's `early_stopping` section, checked.
    fn from_spec(file: &Path, e: &EarlyStoppingSpec) -> Result<EarlyStopping> {
        if e.patience == 0 {
            return Err(Error::spec(
                file,
                "early_stopping.patience",
                "must be at least 1",
            ));
        }
        if !(e.min_delta >= 0.0 && e.min_delta.is_finite()) {
            return Err(Error::spec(
                file,
                "early_stopping.min_delta",
                format!("{} is not a number of at least 0", space::num(e.min_delta)),
            ));
        }
        Ok(EarlyStopping {
            patience: e.patience,
            min_delta: e.min_delta,
        })
    }
}

/// A scheduler that compares trials at their boundaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchedulerPlan {
    /// Successive halving: rungs at `min × eta^k` virtual epochs; `promote` pauses at each rung and
    /// resumes the top 1/eta, otherwise trials below it are pruned.
    Asha { eta: u32, min: u32, promote: bool },
    /// The median rule after `warmup` boundaries, once `min_trials` others reached a boundary.
    Median { warmup: u32, min_trials: usize },
}

impl SchedulerPlan {
    /// The spec's `scheduler` section, checked against the budget's virtual epochs.
    fn from_spec(file: &Path, s: &SchedulerSpec, epochs: u32) -> Result<SchedulerPlan> {
        let bad =
            |path: &str, msg: String| Err(Error::spec(file, format!("scheduler.{path}"), msg));
        match s {
            SchedulerSpec::Asha {
                reduction_factor,
                min_virtual_epochs,
                mode,
            } => {
                if !(2..=100).contains(reduction_factor) {
                    return bad(
                        "reduction_factor",
                        format!("{reduction_factor} is not a whole number from 2 to 100"),
                    );
                }
                if *min_virtual_epochs == 0 || *min_virtual_epochs >= epochs {
                    return bad("min_virtual_epochs", format!("{min_virtual_epochs} must be at least 1 and below the budget's {epochs} virtual epochs, where the first rung is"));
                }
                let promote = match mode.as_str() {
                    "promote" => true,
                    "stop" => false,
                    m => {
                        return bad(
                            "mode",
                            format!("\"{m}\" is not a mode: use \"promote\" or \"stop\""),
                        )
                    }
                };
                Ok(SchedulerPlan::Asha {
                    eta: *reduction_factor,
                    min: *min_virtual_epochs,
                    promote,
                })
            }
            SchedulerSpec::Median {
                warmup_virtual_epochs,
                min_trials,
            } => {
                if *warmup_virtual_epochs >= epochs {
                    return bad("warmup_virtual_epochs", format!("{warmup_virtual_epochs} leaves none of the budget's {epochs} virtual epochs to the rule"));
                }
                if *min_trials == 0 {
                    return bad("min_trials", "must be at least 1".into());
                }
                Ok(SchedulerPlan::Median {
                    warmup: *warmup_virtual_epochs,
                    min_trials: *min_trials,
                })
            }
        }
    }
}

/// How trials are compared and which of their checkpoints survive.
pub(super) struct SelectionPlan {
    pub metric: Metric,
    pub early_stopping: Option<EarlyStopping>,
    pub scheduler: Option<SchedulerPlan>,
    pub keep: usize,
}

impl SelectionPlan {
    /// The metric, goal, early stopping and keep of `spec` (read from `file`), for a `task` whose
    /// trials train on `budget`; problems are reported in that order.
    pub(super) fn from_spec(
        file: &Path,
        spec: &StudySpec,
        task: Task,
        budget: &Budget,
    ) -> Result<SelectionPlan> {
        let kind = MetricKind::from_spec(file, &spec.metric, task, &spec.data.task)?;
        let goal = Goal::from_spec(file, spec.goal.as_deref(), kind)?;
        let early_stopping = match &spec.early_stopping {
            Some(e) => Some(EarlyStopping::from_spec(file, e)?),
            None => None,
        };
        let scheduler = match &spec.scheduler {
            Some(s) => Some(SchedulerPlan::from_spec(file, s, budget.virtual_epochs)?),
            None => None,
        };
        if spec.keep == 0 {
            return Err(Error::spec(
                file,
                "keep",
                "must be at least 1: resuming needs the last checkpoint",
            ));
        }
        Ok(SelectionPlan {
            metric: Metric { kind, goal },
            early_stopping,
            scheduler,
            // Keeping more than every checkpoint keeps every checkpoint: capped, the count fits
            // the u32 of a virtual epoch's number.
            keep: spec.keep.min(budget.virtual_epochs as usize + 1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_goal_must_be_the_metrics_own_direction() {
        let f = Path::new("s.json");
        let goal = |g, k| Goal::from_spec(f, g, k).map_err(|e| e.to_string());
        assert_eq!(goal(None, MetricKind::Accuracy), Ok(Goal::Max));
        assert_eq!(goal(None, MetricKind::Rmse), Ok(Goal::Min));
        assert_eq!(goal(Some("min"), MetricKind::ValLoss), Ok(Goal::Min));
        let e = goal(Some("min"), MetricKind::Accuracy).unwrap_err();
        assert!(e.ends_with("goal: accuracy is better when higher"), "{e}");
        let e = goal(Some("max"), MetricKind::Rmse).unwrap_err();
        assert!(e.ends_with("goal: rmse is better when lower"), "{e}");
    }

    #[test]
    fn metrics_belong_to_their_task() {
        let f = Path::new("s.json");
        let kind = |m, t, n| MetricKind::from_spec(f, m, t, n).map_err(|e| e.to_string());
        assert_eq!(
            kind("accuracy", Task::Classification, "classification"),
            Ok(MetricKind::Accuracy)
        );
        let e = kind("accuracy", Task::Regression, "regression").unwrap_err();
        assert!(
            e.ends_with(
                "\"accuracy\" is not a metric of a regression task: use \"val_loss\" or \"rmse\""
            ),
            "{e}"
        );
    }
}
