//! The selection sub-plan: the metric that picks a trial's best checkpoint and ranks the trials,
//! its direction, early stopping, and how many checkpoints a trial keeps.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::budget::Budget;
use crate::data::{Dataset, Task};
use crate::error::{Error, Result};
use crate::objective::{Goal, Metric, MetricKind, CLASSIFICATION, REGRESSION};
use crate::pareto::Objectives;
use crate::space;
use crate::spec::{EarlyStoppingSpec, StudySpec};

use super::scheduler::{self, SchedulerPlan};

impl MetricKind {
    /// The metric a user's program reports as `name` (a command trainer's), at `path`.
    pub(super) fn of_program(file: &Path, path: &str, name: &str) -> Result<MetricKind> {
        match name {
            "" => Err(Error::spec(file, path, "names no metric")),
            "val_loss" => Ok(MetricKind::ValLoss),
            _ => Ok(MetricKind::Reported(crate::intern::intern(name))),
        }
    }

    /// The metric named `name` for `data` (whose task the spec spells `task_name`), at `path`.
    pub(super) fn from_spec(
        file: &Path,
        path: &str,
        name: &str,
        data: &Dataset,
        task_name: &str,
    ) -> Result<MetricKind> {
        let bad = |msg: String| Err(Error::spec(file, path, msg));
        let kinds: &[MetricKind] = match data.task {
            Task::Regression => &REGRESSION,
            Task::Classification => &CLASSIFICATION,
        };
        let Some(&kind) = kinds.iter().find(|k| k.name() == name) else {
            let names: Vec<String> = kinds.iter().map(|k| format!("\"{}\"", k.name())).collect();
            let (last, rest) = names.split_last().expect("every task has metrics");
            return bad(format!(
                "\"{name}\" is not a metric of a {task_name} task: use {} or {last}",
                rest.join(", ")
            ));
        };
        let val = &data.val;
        match kind {
            MetricKind::Auc if data.classes.len() != 2 => bad(format!(
                "\"auc\" is for two classes and the data has {}: use \"f1\", \"accuracy\", \"log_loss\" or \"val_loss\"",
                data.classes.len()
            )),
            MetricKind::Auc if val.y.iter().all(|&k| k == val.y[0]) => bad(format!(
                "\"auc\" needs both classes among the validation rows, and all {} are \"{}\": use more validation rows or \"log_loss\"",
                val.rows,
                data.classes[val.y[0] as usize]
            )),
            MetricKind::R2 if val.y.iter().all(|&t| t == val.y[0]) => bad(format!(
                "\"r2\" needs validation targets that vary, and all {} are {}: use \"mae\" or \"rmse\"",
                val.rows, val.y[0]
            )),
            kind => Ok(kind),
        }
    }
}

impl Goal {
    /// The spec's `goal` for `kind`: absent, the metric's own direction; given, it must be that one.
    pub(super) fn from_spec(
        file: &Path,
        path: &str,
        goal: Option<&str>,
        kind: MetricKind,
    ) -> Result<Goal> {
        let bad = |msg: String| Error::spec(file, path, msg);
        let given = match goal {
            None => {
                return kind.natural_goal().ok_or_else(|| {
                    bad(format!(
                        "\"{}\" is your program's own metric: say whether lower or higher is better with \"goal\": \"min\" or \"max\"",
                        kind.name()
                    ))
                })
            }
            Some("min") => Goal::Min,
            Some("max") => Goal::Max,
            Some(other) => {
                return Err(bad(format!(
                    "\"{other}\" is not a goal: use \"min\" or \"max\""
                )))
            }
        };
        let Some(natural) = kind.natural_goal() else {
            return Ok(given);
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

/// How trials are compared and which of their checkpoints survive.
pub(super) struct SelectionPlan {
    pub metric: Metric,
    pub objectives: Objectives,
    pub early_stopping: Option<EarlyStopping>,
    pub scheduler: Option<SchedulerPlan>,
    /// The spec's `scheduler` section with its defaults, as the fingerprint holds it.
    pub scheduler_section: serde_json::Value,
    pub keep: usize,
}

impl SelectionPlan {
    /// The metric, goal, early stopping and keep of `spec` (read from `file`), for `data` whose
    /// trials train on `budget`; problems are reported in that order.
    pub(super) fn from_spec(
        file: &Path,
        spec: &StudySpec,
        data: Option<&Dataset>,
        budget: &Budget,
    ) -> Result<SelectionPlan> {
        let objectives = super::objectives::read(file, spec, data)?;
        let early_stopping = match &spec.early_stopping {
            Some(e) => Some(EarlyStopping::from_spec(file, e)?),
            None => None,
        };
        let (scheduler, scheduler_section) =
            scheduler::read(file, spec.scheduler.as_ref(), budget.virtual_epochs)?;
        if spec.keep == 0 {
            return Err(Error::spec(
                file,
                "keep",
                "must be at least 1: resuming needs the last checkpoint",
            ));
        }
        if objectives.list.len() > 1 && matches!(scheduler, Some(SchedulerPlan::Median { .. })) {
            return Err(Error::spec(
                file,
                "scheduler.kind",
                "the median rule compares one metric and this study has several objectives: use \"asha\" (which keeps a rung's best by non-dominated sorting) or no scheduler",
            ));
        }
        if !objectives.plain() && matches!(scheduler, Some(SchedulerPlan::Pbt(_))) {
            return Err(Error::spec(
                file,
                "scheduler.kind",
                "population-based training ranks its members by one metric and this study has several objectives or constraints: use \"asha\" or no scheduler",
            ));
        }
        Ok(SelectionPlan {
            metric: objectives.first(),
            objectives,
            early_stopping,
            scheduler,
            scheduler_section,
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
        let goal = |g, k| Goal::from_spec(f, "goal", g, k).map_err(|e| e.to_string());
        assert_eq!(goal(None, MetricKind::Accuracy), Ok(Goal::Max));
        assert_eq!(goal(None, MetricKind::Rmse), Ok(Goal::Min));
        assert_eq!(goal(Some("min"), MetricKind::ValLoss), Ok(Goal::Min));
        let e = goal(Some("min"), MetricKind::Accuracy).unwrap_err();
        assert!(e.ends_with("goal: accuracy is better when higher"), "{e}");
        let e = goal(Some("max"), MetricKind::Rmse).unwrap_err();
        assert!(e.ends_with("goal: rmse is better when lower"), "{e}");
    }

    /// A data set of `task` whose validation targets are `val` (class indices of `classes`).
    fn data(task: Task, classes: usize, val: &[f32]) -> Dataset {
        Dataset {
            task,
            features: vec!["x".into()],
            classes: (0..classes).map(|k| format!("c{k}")).collect(),
            train: Default::default(),
            val: crate::data::Split {
                x: vec![0.0; val.len()].into(),
                y: val.to_vec().into(),
                rows: val.len(),
                source_rows: (0..val.len()).collect(),
            },
            test: Default::default(),
            prep: Default::default(),
        }
    }

    #[test]
    fn metrics_belong_to_their_task() {
        let f = Path::new("s.json");
        let kind = |m, d: &Dataset| {
            let n = format!("{:?}", d.task).to_lowercase();
            MetricKind::from_spec(f, "metric", m, d, &n).map_err(|e| e.to_string())
        };
        let (reg, two, three) = (
            data(Task::Regression, 0, &[1.0, 2.5]),
            data(Task::Classification, 2, &[0.0, 1.0, 1.0]),
            data(Task::Classification, 3, &[0.0, 1.0, 2.0]),
        );
        for (name, d, want) in [
            ("val_loss", &reg, MetricKind::ValLoss),
            ("rmse", &reg, MetricKind::Rmse),
            ("mae", &reg, MetricKind::Mae),
            ("r2", &reg, MetricKind::R2),
            ("accuracy", &three, MetricKind::Accuracy),
            ("f1", &three, MetricKind::F1),
            ("log_loss", &three, MetricKind::LogLoss),
            ("auc", &two, MetricKind::Auc),
        ] {
            assert_eq!(kind(name, d), Ok(want), "{name}");
            assert_eq!(want.name(), name);
        }
        let e = kind("accuracy", &reg).unwrap_err();
        assert!(
            e.ends_with("metric: \"accuracy\" is not a metric of a regression task: use \"val_loss\", \"rmse\", \"mae\" or \"r2\""),
            "{e}"
        );
        let e = kind("r2", &two).unwrap_err();
        assert!(
            e.ends_with("use \"val_loss\", \"accuracy\", \"f1\", \"auc\" or \"log_loss\""),
            "{e}"
        );
        let e = kind("auc", &three).unwrap_err();
        assert!(e.ends_with("metric: \"auc\" is for two classes and the data has 3: use \"f1\", \"accuracy\", \"log_loss\" or \"val_loss\""), "{e}");
        let e = kind("auc", &data(Task::Classification, 2, &[1.0, 1.0])).unwrap_err();
        assert!(e.ends_with("metric: \"auc\" needs both classes among the validation rows, and all 2 are \"c1\": use more validation rows or \"log_loss\""), "{e}");
        let e = kind("r2", &data(Task::Regression, 0, &[4.0, 4.0, 4.0])).unwrap_err();
        assert!(e.ends_with("metric: \"r2\" needs validation targets that vary, and all 3 are 4: use \"mae\" or \"rmse\""), "{e}");
    }

    #[test]
    fn each_metric_improves_in_its_own_direction() {
        use MetricKind::*;
        let max = [Accuracy, R2, F1, Auc];
        let min = [ValLoss, Rmse, Mae, LogLoss];
        assert!(max.iter().all(|k| k.natural_goal() == Some(Goal::Max)));
        assert!(min.iter().all(|k| k.natural_goal() == Some(Goal::Min)));
        let f = Path::new("s.json");
        let program = |m: &str, g: Option<&str>| {
            let k = MetricKind::of_program(f, "metric", m).unwrap();
            Goal::from_spec(f, "goal", g, k).map_err(|e| e.to_string())
        };
        assert_eq!(program("val_loss", None), Ok(Goal::Min));
        assert_eq!(program("accuracy", None), Ok(Goal::Max));
        assert_eq!(program("word_error", None), Ok(Goal::Min));
        assert_eq!(program("bleu", Some("max")), Ok(Goal::Max));
        let e = program("bleu", None).unwrap_err();
        assert!(e.contains("\"bleu\" is your program's own metric"), "{e}");
        assert!(program("accuracy", Some("min")).is_err());
        assert_eq!(
            max.len() + min.len(),
            REGRESSION.len() + CLASSIFICATION.len() - 1
        );
        assert_eq!(
            MetricKind::ValLoss.in_curve(Task::Regression),
            MetricKind::Rmse
        );
        assert_eq!(
            MetricKind::ValLoss.in_curve(Task::Classification),
            MetricKind::Accuracy
        );
        assert_eq!(
            MetricKind::F1.in_curve(Task::Classification),
            MetricKind::F1
        );
    }
}
