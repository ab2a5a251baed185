//! The median rule (Optuna's MedianPruner, Google Vizier's median stopping rule) on virtual
//! epochs: after a warm-up, a trial whose best so far is worse than the median of the other
//! trials' values at the same boundary is pruned, once enough others have reached it.

use super::{Decision, Scheduler};
use crate::curve::best_value;
use crate::objective::Metric;
use crate::storage::History;

/// The median rule over a budget of `last` virtual epochs.
pub struct Median {
    warmup: u32,
    min_trials: usize,
    metric: Metric,
    last: u32,
}

impl Median {
    pub fn new(warmup: u32, min_trials: usize, metric: Metric, last: u32) -> Median {
        Median {
            warmup,
            min_trials,
            metric,
            last,
        }
    }
}

impl Scheduler for Median {
    fn decide(&self, trial: u64, history: &History) -> Decision {
        let Some(t) = history.trials.get(&trial) else {
            return Decision::Continue;
        };
        let Some(row) = t.curve.last() else {
            return Decision::Continue;
        };
        let k = row.virtual_epoch;
        if k <= self.warmup || k >= self.last {
            return Decision::Continue;
        }
        let mut others: Vec<f64> = history
            .trials
            .values()
            .filter(|o| o.trial != trial)
            .filter_map(|o| o.curve.get(k as usize - 1))
            .filter(|r| r.virtual_epoch == k)
            .map(|r| r.selection_value(self.metric))
            .filter(|v| !v.is_nan())
            .collect();
        if others.len() < self.min_trials {
            return Decision::Continue;
        }
        others.sort_by(f64::total_cmp);
        let n = others.len();
        let median = if n % 2 == 1 {
            others[n / 2]
        } else {
            (others[n / 2 - 1] + others[n / 2]) / 2.0
        };
        let best = best_value(&t.curve, self.metric);
        if best.is_nan() || self.metric.better(median, best, 0.0) {
            Decision::Prune(format!(
                "worse than the median of {n} other trials at virtual epoch {k}"
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

    #[test]
    fn prunes_a_best_worse_than_the_others_median_after_warmup_with_enough_trials() {
        let m = Metric {
            kind: MetricKind::ValLoss,
            goal: Goal::Min,
        };
        let rule = Median::new(1, 3, m, 10);
        // Others at virtual epoch 2: 2, 3, 4 (median 3).
        let others: [&[f64]; 3] = [&[5.0, 2.0], &[5.0, 3.0], &[5.0, 4.0]];
        let with = |me: &'static [f64]| {
            let mut all: Vec<&[f64]> = others.to_vec();
            all.push(me);
            board(&all)
        };
        assert!(
            matches!(rule.decide(3, &with(&[5.0, 3.5])), Decision::Prune(r) if r.contains("median of 3"))
        );
        // Its best so far counts, not its last value.
        assert_eq!(rule.decide(3, &with(&[2.5, 3.5])), Decision::Continue);
        assert_eq!(rule.decide(3, &with(&[5.0, 3.0])), Decision::Continue);
        // Within the warm-up, or with too few others, the rule waits.
        assert_eq!(rule.decide(3, &with(&[9.0])), Decision::Continue);
        let few = board(&[&[5.0, 2.0], &[5.0, 9.0]]);
        assert_eq!(rule.decide(1, &few), Decision::Continue);
    }
}
