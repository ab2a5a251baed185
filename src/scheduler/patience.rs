//! Per-trial patience (early stopping): a trial stops when its metric has not improved by more
//! than `min_delta` for `patience` virtual epochs. A pure function of the trial's own curve.

use super::{Decision, Scheduler};
use crate::curve::CurveRow;
use crate::objective::Metric;
use crate::plan::EarlyStopping;
use crate::storage::History;

/// Early stopping on one trial's curve.
pub struct Patience {
    es: EarlyStopping,
    metric: Metric,
    /// The budget's last virtual epoch: a trial that reaches it completes.
    last: u32,
}

impl Patience {
    pub fn new(es: EarlyStopping, metric: Metric, last: u32) -> Patience {
        Patience { es, metric, last }
    }

    /// Whether the curve has gone `patience` virtual epochs without improving on its best.
    pub fn exhausted(&self, curve: &[CurveRow]) -> bool {
        let mut reference: Option<f64> = None;
        let mut since = 0u32;
        for row in curve {
            let v = row.selection_value(self.metric);
            if reference.is_none_or(|r| self.metric.better(v, r, self.es.min_delta)) && !v.is_nan()
            {
                reference = Some(v);
                since = 0;
            } else {
                since += 1;
            }
        }
        since >= self.es.patience
    }
}

impl Scheduler for Patience {
    fn decide(&self, trial: u64, history: &History) -> Decision {
        let Some(t) = history.trials.get(&trial) else {
            return Decision::Continue;
        };
        let at = t.curve.last().map_or(0, |r| r.virtual_epoch);
        if at > 0 && at < self.last && self.exhausted(&t.curve) {
            Decision::Stop(format!(
                "no improvement for {} virtual epochs",
                self.es.patience
            ))
        } else {
            Decision::Continue
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::{Goal, MetricKind};
    use crate::scheduler::tests::board;

    fn history(vals: &[f64]) -> History {
        board(&[vals])
    }

    #[test]
    fn stops_after_patience_epochs_without_improvement_but_never_at_the_last() {
        let p = Patience::new(
            EarlyStopping {
                patience: 2,
                min_delta: 0.01,
            },
            Metric {
                kind: MetricKind::ValLoss,
                goal: Goal::Min,
            },
            6,
        );
        let go = |vals: &[f64]| p.decide(0, &history(vals));
        assert_eq!(go(&[1.0, 0.9, 0.895]), Decision::Continue);
        // 0.895 and 0.899 are within min_delta of 0.9: two epochs without improvement.
        let stop = Decision::Stop("no improvement for 2 virtual epochs".into());
        assert_eq!(go(&[1.0, 0.9, 0.895, 0.899]), stop);
        assert_eq!(go(&[1.0, f64::NAN, f64::NAN]), stop);
        assert_eq!(go(&[1.0, 0.9, 0.9, 0.9, 0.9, 0.9]), Decision::Continue);
        assert_eq!(p.decide(7, &history(&[1.0])), Decision::Continue);
    }
}
