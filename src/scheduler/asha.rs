//! Asynchronous successive halving (Li et al., MLSys 2020) on virtual epochs: rungs at
//! `min × η^k` virtual epochs, the same example counts for every trial whatever its batch size.
//! `promote`: a trial trains to its rung and pauses; a paused trial in the top 1/η of its rung is
//! promoted and resumes exactly from its rung checkpoint; a free worker with nothing to promote
//! starts a new trial. `stop` (Ray's variant): trials run on unless they fall below the top 1/η of
//! a rung when they reach it.
//!
//! A study has a number of trials, where the paper's ASHA starts new ones for ever: once every
//! trial has started, a rung with fewer than η trials, whose top 1/η would stay empty, promotes
//! its best (see [`Asha::closing`]). So the best trial of the highest rung reached goes on to the
//! whole budget, as synchronous successive halving's last survivor does, instead of the study
//! ending with no trial trained to it.

use super::{Decision, Scheduler};
use crate::curve::{best_value, CurveRow};
use crate::objective::Metric;
use crate::pareto::Objectives;
use crate::storage::{History, Status, TrialRecord};

/// ASHA over a budget of `last` virtual epochs.
pub struct Asha {
    /// The rungs below the full budget, in virtual epochs, ascending.
    rungs: Vec<u32>,
    eta: u32,
    promote: bool,
    metric: Metric,
    /// Several objectives or constraints (`None`: one objective): a rung keeps its best by
    /// non-dominated sorting, then crowding distance (MOASHA).
    objectives: Option<Objectives>,
    /// The trials it compares (all of them, unless it is one of Hyperband's brackets).
    members: Option<Box<dyn Fn(u64) -> bool + Send + Sync>>,
    /// The study's number of trials (`None`: no end, as the paper's).
    trials: Option<u64>,
}

/// The version of promotion at a study's end, in the fingerprint of a study that promotes: a
/// study begun by a build that left a rung with fewer than η trials paused for good would go on
/// with other decisions.
pub const PROMOTION_VERSION: &str = "best of a rung under eta once every trial started";

impl Asha {
    pub fn new(eta: u32, min: u32, promote: bool, metric: Metric, last: u32) -> Asha {
        let mut rungs = vec![];
        let mut r = min.max(1) as u64;
        while r < last as u64 {
            rungs.push(r as u32);
            r *= eta.max(2) as u64;
        }
        Asha {
            rungs,
            eta: eta.max(2),
            promote,
            metric,
            objectives: None,
            members: None,
            trials: None,
        }
    }

    /// The same in a study of `trials` trials: once all of them have started (no new trial will
    /// join a rung), a rung with fewer than η trials promotes its best.
    pub fn closing(self, trials: u64) -> Asha {
        Asha {
            trials: Some(trials),
            ..self
        }
    }

    /// Compares trials by `objectives` when there are several or constraints (MOASHA, Schmucker
    /// et al. 2021): a rung's order is its trials' fronts, then their crowding distance within
    /// a front, then the infeasible by how far they break their constraints.
    pub fn objectives(self, objectives: &Objectives) -> Asha {
        Asha {
            objectives: (!objectives.plain()).then(|| objectives.clone()),
            ..self
        }
    }

    /// The same, comparing only the trials `members` takes (a bracket of Hyperband's).
    pub(super) fn among(self, members: impl Fn(u64) -> bool + Send + Sync + 'static) -> Asha {
        Asha {
            members: Some(Box::new(members)),
            ..self
        }
    }

    /// The rungs below the full budget, in virtual epochs.
    pub fn rungs(&self) -> &[u32] {
        &self.rungs
    }

    /// The trial's value at rung `r`: its best up to that boundary (its selected checkpoint there);
    /// `None` when it has not reached the rung.
    fn at(&self, t: &TrialRecord, r: u32) -> Option<f64> {
        let upto: &[CurveRow] = t.curve.get(..r as usize)?;
        if upto.last()?.virtual_epoch != r {
            return None;
        }
        let v = best_value(upto, self.metric);
        Some(v)
    }

    /// Several objectives' order of the trials that reached rung `r`, each at its selected
    /// checkpoint up to the rung, with its place (see [`Objectives::crowded_order`]).
    fn crowded(&self, o: &Objectives, history: &History, r: u32) -> Vec<(u64, f64)> {
        let reached: Vec<&TrialRecord> = history
            .trials
            .values()
            .filter(|t| self.members.as_ref().is_none_or(|m| m(t.trial)))
            .filter(|t| self.at(t, r).is_some())
            .collect();
        let outcomes: Vec<_> = reached
            .iter()
            .map(|t| o.outcome(&t.curve[..r as usize]))
            .collect();
        let refs: Vec<_> = outcomes.iter().map(Option::as_ref).collect();
        let order = o.crowded_order(&refs);
        order
            .into_iter()
            .enumerate()
            .map(|(place, i)| (reached[i].trial, place as f64))
            .collect()
    }

    /// The trials that reached rung `r`, best first (NaN last, ties to the earlier trial).
    fn ranked(&self, history: &History, r: u32) -> Vec<(u64, f64)> {
        if let Some(o) = &self.objectives {
            return self.crowded(o, history, r);
        }
        let mut at: Vec<(u64, f64)> = history
            .trials
            .values()
            .filter(|t| self.members.as_ref().is_none_or(|m| m(t.trial)))
            .filter_map(|t| Some((t.trial, self.at(t, r)?)))
            .collect();
        at.sort_by(|a, b| self.metric.order(a, b));
        at
    }

    /// How many of `n` trials at a rung go on: the top 1/η, at least one.
    fn top(&self, n: usize) -> usize {
        (n / self.eta as usize).max(1)
    }
}

impl Scheduler for Asha {
    fn decide(&self, trial: u64, history: &History) -> Decision {
        let Some(t) = history.trials.get(&trial) else {
            return Decision::Continue;
        };
        let at = t.curve.last().map_or(0, |r| r.virtual_epoch);
        if !self.rungs.contains(&at) {
            return Decision::Continue;
        }
        if self.promote {
            return Decision::Pause;
        }
        let ranked = self.ranked(history, at);
        let rank = ranked.iter().position(|(n, _)| *n == trial).unwrap_or(0);
        let top = self.top(ranked.len());
        if rank < top {
            Decision::Continue
        } else {
            Decision::Prune(format!(
                "ASHA: ranked {} of {} at the rung of virtual epoch {at}, below the top {top}",
                rank + 1,
                ranked.len()
            ))
        }
    }

    fn promote(&self, history: &History) -> Option<u64> {
        if !self.promote {
            return None;
        }
        let closing = self
            .trials
            .is_some_and(|n| history.trials.len() as u64 >= n);
        // The highest rung first, as the paper's algorithm.
        for &r in self.rungs.iter().rev() {
            let ranked = self.ranked(history, r);
            let top = self.top(ranked.len());
            // Fewer than η trials at a rung promote none: the top 1/η of them is empty. Unless
            // every trial has started: then none will join, and the best goes on.
            if ranked.is_empty() || (ranked.len() < self.eta as usize && !closing) {
                continue;
            }
            let waiting = ranked[..top].iter().find(|(n, _)| {
                let t = &history.trials[n];
                t.status == Status::Paused && t.curve.last().map(|c| c.virtual_epoch) == Some(r)
            });
            if let Some((n, _)) = waiting {
                return Some(*n);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::{Goal, MetricKind};
    use crate::scheduler::tests::{board, end};

    fn asha(promote: bool) -> Asha {
        let m = Metric {
            kind: MetricKind::ValLoss,
            goal: Goal::Min,
        };
        Asha::new(3, 1, promote, m, 10)
    }

    #[test]
    fn rungs_are_min_times_eta_to_the_k_below_the_budget() {
        assert_eq!(asha(true).rungs(), [1, 3, 9]);
        let m = asha(true).metric;
        assert_eq!(Asha::new(2, 3, true, m, 12).rungs(), [3, 6]);
        assert_eq!(Asha::new(3, 4, true, m, 5).rungs(), [4]);
    }

    #[test]
    fn stop_mode_prunes_below_the_top_third_at_a_rung() {
        let a = asha(false);
        // Trials 0..5 at virtual epoch 1 with losses 5, 4, 3, 2, 1.
        let h = board(&[&[5.0], &[4.0], &[3.0], &[2.0], &[1.0]]);
        // The top ⌊5/3⌋ = 1 goes on: trial 4.
        assert_eq!(a.decide(4, &h), Decision::Continue);
        assert!(matches!(a.decide(3, &h), Decision::Prune(r) if r.contains("ranked 2 of 5")));
        // Not at a rung: nothing to decide.
        let h = board(&[&[5.0, 9.0], &[1.0]]);
        assert_eq!(a.decide(0, &h), Decision::Continue);
        // The first trial at a rung always goes on.
        assert_eq!(a.decide(0, &board(&[&[9.0]])), Decision::Continue);
    }

    #[test]
    fn promote_mode_pauses_at_rungs_and_promotes_the_top_third_highest_rung_first() {
        let a = asha(true);
        let mut h = board(&[&[5.0], &[4.0], &[3.0], &[2.0], &[1.0]]);
        assert_eq!(a.decide(0, &h), Decision::Pause);
        // None paused yet: nothing to promote.
        assert_eq!(a.promote(&h), None);
        for n in 0..5 {
            end(&mut h, n, Status::Paused);
        }
        assert_eq!(a.promote(&h), Some(4));
        // Fewer than η trials at a rung promote none.
        let mut few = board(&[&[5.0], &[1.0]]);
        end(&mut few, 0, Status::Paused);
        end(&mut few, 1, Status::Paused);
        assert_eq!(a.promote(&few), None);
        // Unless the study's trials have all started: then the best of them goes on.
        assert_eq!(asha(true).closing(3).promote(&few), None);
        assert_eq!(asha(true).closing(2).promote(&few), Some(1));
        // A higher rung first: trials 5, 6, 7 reached virtual epoch 3, and 7 leads there.
        let mut h = board(&[
            &[5.0],
            &[4.0],
            &[3.0],
            &[2.0],
            &[1.0],
            &[1.0, 0.9, 0.8],
            &[1.0, 0.9, 0.7],
            &[1.0, 0.9, 0.6],
        ]);
        for n in 0..8 {
            end(&mut h, n, Status::Paused);
        }
        assert_eq!(a.promote(&h), Some(7));
    }
}
