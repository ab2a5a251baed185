//! Hyperband (Li et al., JMLR 2018) made asynchronous as Syne Tune and Ray make it: brackets of
//! [`Asha`], the first with rungs from `min` virtual epochs, each next one with its first rung η
//! times later, the last with none (every trial in it trains its whole budget). It hedges ASHA's
//! bet that a trial's early rank is its final one. Each trial's bracket is drawn from the study's
//! seed and the trial's number alone (a resumed study draws the same), with as many trials to a
//! bracket, in proportion, as Hyperband starts in it: η^k / (k + 1) for a bracket of k rungs. A
//! trial is compared only with the trials of its bracket; pause and promotion are ASHA's, exact.
//!
//! One bracket per rung of ASHA's and one without: where the budget is not `min` × η^s, that is
//! one more than Li et al.'s ⌊log_η(budget / min)⌋ + 1 (Optuna's count), the extra one pruning
//! late (at 9 of 10 virtual epochs). Li et al.'s count, rungs counted down from the budget, no
//! bracket whose first rung is within η of the budget, no bracket without rungs, weights for
//! equal examples per bracket and Ray's e^k were measured against this rule (docs/benchmarks.md,
//! "Hyperband against ASHA"): the rules as safe as this one cost as many examples, and those that
//! cost fewer lost the full budget's best as often as ASHA does. Decisions changed by a new rule
//! would need a version in the study's fingerprint (as `bayes` has), so that an older study is
//! not resumed with other brackets.

use super::{Asha, Decision, Scheduler};
use crate::objective::Metric;
use crate::storage::History;

/// Hyperband over a budget of `last` virtual epochs.
pub struct Hyperband {
    /// The brackets, most rungs first.
    brackets: Vec<Asha>,
    /// The bracket each trial is drawn to (see [`bracket`]).
    draw: Draw,
}

/// How a trial's bracket is drawn: from the study's seed and the trial's number, by the
/// brackets' weights.
#[derive(Clone)]
struct Draw {
    seed: u64,
    /// The brackets' cumulative weights, ending at 1.
    cumulative: Vec<f64>,
}

impl Draw {
    /// The bracket of trial `trial`.
    fn bracket(&self, trial: u64) -> usize {
        let u = unit(self.seed, trial);
        self.cumulative
            .iter()
            .position(|c| u < *c)
            .unwrap_or(self.cumulative.len() - 1)
    }
}

/// A number in [0, 1) from `seed` and `trial` alone (SplitMix64 of both): the trial's bracket
/// does not depend on the order trials start in, nor on anything else the study draws.
fn unit(seed: u64, trial: u64) -> f64 {
    let mut z = seed ^ trial.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x4879_7065_7262_616E;
    for _ in 0..2 {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
    }
    (z >> 11) as f64 / (1u64 << 53) as f64
}

impl Hyperband {
    pub fn new(eta: u32, min: u32, promote: bool, metric: Metric, last: u32, seed: u64) -> Self {
        let one = crate::pareto::Objectives::single(metric, metric.kind);
        Self::with(eta, min, promote, (&one, last), seed)
    }

    /// The same, comparing trials by `objectives` (several: MOASHA's order within each bracket).
    pub fn with(
        eta: u32,
        min: u32,
        promote: bool,
        (objectives, last): (&crate::pareto::Objectives, u32),
        seed: u64,
    ) -> Self {
        let metric = objectives.first();
        let eta = eta.max(2);
        let rungs = Asha::new(eta, min, promote, metric, last).rungs().len();
        // Bracket i starts its rungs at min × η^i and has `rungs - i` of them.
        let weights: Vec<f64> = (0..=rungs)
            .map(|i| {
                let k = (rungs - i) as i32;
                (eta as f64).powi(k) / (k + 1) as f64
            })
            .collect();
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let mut cumulative: Vec<f64> = weights
            .iter()
            .map(|w| {
                acc += w / total;
                acc
            })
            .collect();
        *cumulative.last_mut().expect("one bracket at least") = 1.0;
        let draw = Draw { seed, cumulative };
        let brackets = (0..=rungs)
            .map(|i| {
                let first = (min.max(1) as u64) * (eta as u64).pow(i as u32);
                let first = first.min(last as u64) as u32;
                let d = draw.clone();
                Asha::new(eta, first, promote, metric, last)
                    .objectives(objectives)
                    .among(move |t| d.bracket(t) == i)
            })
            .collect();
        Hyperband { brackets, draw }
    }

    /// The same in a study of `trials` trials: once all have started, each bracket's rung with
    /// fewer than η trials promotes its best ([`Asha::closing`]), so every bracket that has a
    /// trial trains its best to the whole budget, as Li et al.'s brackets do.
    pub fn closing(self, trials: u64) -> Self {
        Hyperband {
            brackets: self
                .brackets
                .into_iter()
                .map(|b| b.closing(trials))
                .collect(),
            ..self
        }
    }

    /// Each bracket's rungs, most rungs first.
    pub fn brackets(&self) -> Vec<&[u32]> {
        self.brackets.iter().map(|b| b.rungs()).collect()
    }

    /// The bracket trial `trial` is in.
    pub fn bracket(&self, trial: u64) -> usize {
        self.draw.bracket(trial)
    }
}

impl Scheduler for Hyperband {
    fn decide(&self, trial: u64, history: &History) -> Decision {
        let b = self.bracket(trial);
        match self.brackets[b].decide(trial, history) {
            Decision::Prune(why) => Decision::Prune(format!(
                "Hyperband bracket {b}: {}",
                why.trim_start_matches("ASHA: ")
            )),
            d => d,
        }
    }

    fn promote(&self, history: &History) -> Option<u64> {
        self.brackets.iter().find_map(|b| b.promote(history))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::{Goal, MetricKind};
    use crate::scheduler::tests::{board, end};
    use crate::storage::Status;

    fn metric() -> Metric {
        Metric {
            kind: MetricKind::ValLoss,
            goal: Goal::Min,
        }
    }

    #[test]
    fn brackets_start_eta_times_later_and_the_last_prunes_nothing() {
        let h = Hyperband::new(3, 1, true, metric(), 27, 7);
        assert_eq!(
            h.brackets(),
            [&[1, 3, 9][..], &[3, 9][..], &[9][..], &[][..]]
        );
    }

    #[test]
    fn a_bracket_for_each_of_ashas_rungs_and_one_without_whatever_the_budget() {
        let at = |last| Hyperband::new(3, 1, true, metric(), last, 7);
        // 10 virtual epochs: ASHA's rungs 1, 3 and 9, so four brackets (Li et al. count three).
        assert_eq!(
            at(10).brackets(),
            [&[1, 3, 9][..], &[3, 9][..], &[9][..], &[][..]]
        );
        assert_eq!(at(9).brackets(), [&[1, 3][..], &[3][..], &[][..]]);
        let late = Hyperband::new(3, 2, true, metric(), 20, 7);
        assert_eq!(
            late.brackets(),
            [&[2, 6, 18][..], &[6, 18][..], &[18][..], &[][..]]
        );
    }

    #[test]
    fn trials_go_to_brackets_by_the_seed_in_hyperbands_proportions() {
        let h = Hyperband::new(3, 1, true, metric(), 27, 7);
        let again = Hyperband::new(3, 1, true, metric(), 27, 7);
        let other = Hyperband::new(3, 1, true, metric(), 27, 8);
        let mut count = [0usize; 4];
        for t in 0..20_000 {
            count[h.bracket(t)] += 1;
            assert_eq!(h.bracket(t), again.bracket(t));
        }
        assert!((0..200).any(|t| h.bracket(t) != other.bracket(t)));
        // Weights 27/4, 9/3, 3/2, 1/1 of 12.25: 55 %, 24 %, 12 %, 8 %.
        let share = |i: usize| count[i] as f64 / 20_000.0;
        for (i, want) in [0.551, 0.245, 0.122, 0.082].into_iter().enumerate() {
            assert!((share(i) - want).abs() < 0.015, "bracket {i}: {}", share(i));
        }
    }

    #[test]
    fn a_trial_is_compared_only_with_its_brackets_trials() {
        let h = Hyperband::new(3, 1, false, metric(), 9, 3);
        // Trials of bracket 0 (rungs 1 and 3), each at virtual epoch 1.
        let first: Vec<u64> = (0..200).filter(|t| h.bracket(*t) == 0).take(6).collect();
        let others: Vec<u64> = (0..200).filter(|t| h.bracket(*t) != 0).take(3).collect();
        let n = *first.iter().chain(&others).max().unwrap() as usize + 1;
        // Losses: bracket 0's trials 6, 5, …, 1; the other brackets' trials far better.
        let mut curves: Vec<Vec<f64>> = vec![vec![100.0]; n];
        for (i, t) in first.iter().enumerate() {
            curves[*t as usize] = vec![6.0 - i as f64];
        }
        for t in &others {
            curves[*t as usize] = vec![0.001];
        }
        let refs: Vec<&[f64]> = curves.iter().map(|c| c.as_slice()).collect();
        let b = board(&refs);
        // Only bracket 0's trials count there: the best of them (loss 1) goes on, the rest not,
        // though the other brackets' trials are better.
        let best = *first.last().unwrap();
        let worst = first[0];
        let members: Vec<u64> = (0..n as u64).filter(|t| h.bracket(*t) == 0).collect();
        assert_eq!(h.decide(best, &b), Decision::Continue, "{members:?}");
        assert!(
            matches!(h.decide(worst, &b), Decision::Prune(r) if r.starts_with("Hyperband bracket 0: ranked"))
        );
    }

    #[test]
    fn promotion_is_ashas_within_a_bracket() {
        let h = Hyperband::new(3, 1, true, metric(), 9, 5);
        let first: Vec<u64> = (0..200).filter(|t| h.bracket(*t) == 0).take(3).collect();
        let n = *first.iter().max().unwrap() as usize + 1;
        let mut curves: Vec<Vec<f64>> = vec![vec![]; n];
        for (i, t) in first.iter().enumerate() {
            curves[*t as usize] = vec![3.0 - i as f64];
        }
        let refs: Vec<&[f64]> = curves.iter().map(|c| c.as_slice()).collect();
        let mut b = board(&refs);
        for t in &first {
            assert_eq!(h.decide(*t, &b), Decision::Pause);
            end(&mut b, *t, Status::Paused);
        }
        assert_eq!(h.promote(&b), Some(*first.last().unwrap()));
    }

    #[test]
    fn once_every_trial_started_each_brackets_lone_trials_go_on() {
        let h = Hyperband::new(3, 1, true, metric(), 9, 5);
        // Two of bracket 0's trials (rungs 1 and 3) paused at virtual epoch 1: too few to promote.
        let two: Vec<u64> = (0..200).filter(|t| h.bracket(*t) == 0).take(2).collect();
        let n = two[1] as usize + 1;
        let mut curves: Vec<Vec<f64>> = vec![vec![]; n];
        curves[two[0] as usize] = vec![1.0];
        curves[two[1] as usize] = vec![2.0];
        let refs: Vec<&[f64]> = curves.iter().map(|c| c.as_slice()).collect();
        let mut b = board(&refs);
        for t in &two {
            end(&mut b, *t, Status::Paused);
        }
        assert_eq!(h.promote(&b), None);
        // More trials to come: they may yet join the rung.
        let h = h.closing(n as u64 + 1);
        assert_eq!(h.promote(&b), None);
        // None to come: the better of the two goes on.
        let h = Hyperband::new(3, 1, true, metric(), 9, 5).closing(n as u64);
        assert_eq!(h.promote(&b), Some(two[0]));
    }
}
