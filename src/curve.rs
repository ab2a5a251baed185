//! A trial's validation curve: one row per virtual epoch, and which row is the trial's best. A leaf
//! module: the history, the checkpoints, the runner and the outputs all speak of rows.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::objective::Metric;

/// Floats that may be NaN or infinite, which JSON cannot hold: written as strings, read back exactly.
pub mod float {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_str(&v.to_string())
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum F {
            N(f64),
            S(String),
        }
        match F::deserialize(d)? {
            F::N(v) => Ok(v),
            F::S(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// One row of a trial's validation curve: the state at the end of a virtual epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurveRow {
    pub virtual_epoch: u32,
    pub examples_seen: u64,
    pub steps: u64,
    #[serde(with = "crate::curve::float")]
    pub train_loss: f64,
    #[serde(with = "crate::curve::float")]
    pub val_loss: f64,
    /// The study's metric; with `val_loss`, RMSE (regression) or accuracy (classification).
    #[serde(with = "crate::curve::float")]
    pub metric: f64,
    /// The learning rate in effect at this boundary (the next step's: the schedule's at the
    /// examples seen), for the built-in trainer; absent for a program's rows and in rows
    /// journalled before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning_rate: Option<f64>,
    /// Every number a user's program reported at this boundary, by name (`val_loss`, `steps`,
    /// the study's metric and its own, each finite: a program's non-finite number fails its
    /// trial); empty for the built-in trainer, whose rows and journals are as they always were.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reported: BTreeMap<String, f64>,
}

/// The columns every curve has; a program's other numbers come after them.
pub const COLUMNS: [&str; 5] = [
    "virtual_epoch",
    "examples_seen",
    "steps",
    "train_loss",
    "val_loss",
];

impl CurveRow {
    /// The value that selects checkpoints under `metric`.
    pub fn selection_value(&self, metric: Metric) -> f64 {
        match metric.kind {
            crate::objective::MetricKind::ValLoss => self.val_loss,
            _ => self.metric,
        }
    }

    /// `value` of the column `name`, or `None` where a program did not report it (its
    /// `steps`, `train_loss` or `val_loss` are optional). The built-in trainer's are all there.
    pub fn shown(&self, name: &str, value: f64) -> Option<f64> {
        let absent = !self.reported.is_empty() && !self.reported.contains_key(name);
        (!absent).then_some(value)
    }

    /// The optimiser steps so far, `None` where a program did not report them.
    pub fn steps_shown(&self) -> Option<u64> {
        self.shown("steps", 0.0).map(|_| self.steps)
    }

    /// The value of the column or reported number `name`; NaN where a program did not report it
    /// (a row journalled before programs' numbers were kept has its columns' values).
    pub fn value_of(&self, name: &str) -> f64 {
        let column = match name {
            "steps" => self.steps_shown().map(|s| s as f64),
            "train_loss" => self.shown(name, self.train_loss),
            "val_loss" => self.shown(name, self.val_loss),
            _ => self.reported.get(name).copied(),
        };
        column.unwrap_or(f64::NAN)
    }
}

/// The names the rows' programs reported, sorted, each once, but those in `shown`: the columns
/// a curve or the leaderboard adds for them (none for the built-in trainer).
pub fn reported_names<'a>(
    rows: impl IntoIterator<Item = &'a CurveRow>,
    shown: &[&str],
) -> Vec<String> {
    let mut names = std::collections::BTreeSet::new();
    for r in rows {
        names.extend(r.reported.keys().filter(|k| !shown.contains(&k.as_str())));
    }
    names.into_iter().cloned().collect()
}

/// Whether row `a` ranks before row `b` (of another trial, or the same): better by `metric`, or
/// tied and with the lower validation loss, as the leaderboard ranks trials. Ties beyond that go
/// to whichever was first.
pub fn ranks_before(metric: Metric, a: &CurveRow, b: &CurveRow) -> bool {
    let (x, y) = (a.selection_value(metric), b.selection_value(metric));
    metric.better(x, y, 0.0)
        || (!x.is_nan() && !metric.better(y, x, 0.0) && a.val_loss < b.val_loss)
}

/// The selected value of a curve: its best row's (see [`select_best`]), NaN when no row has one.
pub fn best_value(curve: &[CurveRow], metric: Metric) -> f64 {
    select_best(curve, metric).map_or(f64::NAN, |i| curve[i].selection_value(metric))
}

/// The best virtual epoch of a curve (index into it): NaN never wins, ties go to the earlier.
pub fn select_best(curve: &[CurveRow], metric: Metric) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, row) in curve.iter().enumerate() {
        let v = row.selection_value(metric);
        if v.is_nan() {
            continue;
        }
        if best.is_none_or(|b| metric.better(v, curve[b].selection_value(metric), 0.0)) {
            best = Some(i);
        }
    }
    best
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::objective::{Goal, MetricKind};

    /// A row of virtual epoch `k` whose validation loss and metric are `val`.
    pub(crate) fn row(k: u32, val: f64) -> CurveRow {
        CurveRow {
            virtual_epoch: k,
            examples_seen: k as u64,
            steps: k as u64,
            train_loss: 1.0,
            val_loss: val,
            metric: val,
            learning_rate: None,
            reported: Default::default(),
        }
    }

    #[test]
    fn rows_without_reported_numbers_read_and_write_as_before() {
        let old = r#"{"virtual_epoch":1,"examples_seen":1,"steps":1,"train_loss":"NaN","val_loss":0.5,"metric":0.5}"#;
        let r: CurveRow = serde_json::from_str(old).unwrap();
        assert!(r.reported.is_empty() && r.train_loss.is_nan());
        assert_eq!(
            r.learning_rate, None,
            "a row journalled before rates were recorded"
        );
        assert_eq!(serde_json::to_string(&r).unwrap(), old);
        // The built-in trainer's rows show every column, NaN included.
        assert_eq!(r.steps_shown(), Some(1));
        assert!(r.shown("train_loss", r.train_loss).unwrap().is_nan());
        let mut p = row(2, 0.4);
        p.reported = [("val_loss".to_string(), 0.4), ("acc".to_string(), 0.9)].into();
        let back: CurveRow = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(back, p);
        assert_eq!((p.steps_shown(), p.shown("train_loss", 1.0)), (None, None));
        assert_eq!(
            (p.shown("val_loss", 0.4), p.value_of("acc")),
            (Some(0.4), 0.9)
        );
        assert!(p.value_of("f1").is_nan() && p.value_of("train_loss").is_nan());
        assert_eq!((r.value_of("val_loss"), r.value_of("steps")), (0.5, 1.0));
        let names = reported_names([&r, &p], &["val_loss"]);
        assert_eq!(names, ["acc"]);
    }

    #[test]
    fn selection_skips_nan_and_prefers_the_earlier_tie() {
        let min = Metric {
            kind: MetricKind::ValLoss,
            goal: Goal::Min,
        };
        let curve = [
            row(1, f64::NAN),
            row(2, 0.5),
            row(3, 0.4),
            row(4, 0.4),
            row(5, f64::NAN),
        ];
        assert_eq!(select_best(&curve, min), Some(2));
        let max = Metric {
            kind: MetricKind::Accuracy,
            goal: Goal::Max,
        };
        assert_eq!(select_best(&curve, max), Some(1));
        assert_eq!(select_best(&[row(1, f64::NAN)], min), None);
    }

    #[test]
    fn ranking_rows_breaks_ties_by_the_loss() {
        let acc = Metric {
            kind: MetricKind::Accuracy,
            goal: Goal::Max,
        };
        let with = |metric: f64, val_loss: f64| CurveRow {
            metric,
            val_loss,
            ..row(1, 0.0)
        };
        assert!(ranks_before(acc, &with(0.9, 0.5), &with(0.8, 0.1)));
        assert!(ranks_before(acc, &with(0.9, 0.1), &with(0.9, 0.5)));
        assert!(!ranks_before(acc, &with(0.9, 0.5), &with(0.9, 0.5)));
        assert!(!ranks_before(acc, &with(f64::NAN, 0.1), &with(0.9, 0.5)));
        assert!(ranks_before(acc, &with(0.1, 9.0), &with(f64::NAN, 0.1)));
    }
}
