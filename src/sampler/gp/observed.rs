//! What the GP learns from: the trials observed (at which budget) and the ones pending.

use super::GpSampler;
use crate::curve::CurveRow;
use crate::pareto::Objectives;
use crate::space::Params;
use crate::storage::{History, Status};

impl GpSampler {
    /// For a study whose trials a scheduler cuts short (ASHA, the median rule): the GP models the
    /// largest virtual epoch enough trials reached, BOHB's rule (see [`GpSampler::at_level`]).
    pub fn pruning(mut self) -> Self {
        self.pruning = true;
        self
    }

    /// Several objectives or constraints: the GP models their scalarisation (ParEGO's, see
    /// [`Objectives::scalars`]), with weights drawn afresh for each trial.
    pub fn objectives(mut self, objectives: Objectives) -> Self {
        self.objectives = objectives;
        self
    }

    /// The values the GP learns from, one per curve (each a trial's, or its rows up to a level),
    /// smaller better, when it suggests trial `trial`.
    fn values(&self, trial: u64, curves: &[&[CurveRow]]) -> Vec<f64> {
        let outcomes: Vec<_> = curves.iter().map(|c| self.objectives.outcome(c)).collect();
        let refs: Vec<_> = outcomes.iter().map(Option::as_ref).collect();
        self.objectives.scalars(&refs, self.seed, trial)
    }

    /// Every ended trial observed at its best; running ones pending (the constant liar).
    pub(super) fn whole(&self, trial: u64, history: &History) -> (Vec<(Params, f64)>, Vec<Params>) {
        let mut observed = vec![];
        let mut curves = vec![];
        let mut pending = vec![];
        for t in history.trials.values() {
            if t.status == Status::Running {
                pending.push(t.params.clone());
            } else {
                observed.push(t.params.clone());
                curves.push(&t.curve[..]);
            }
        }
        let values = self.values(trial, &curves);
        (observed.into_iter().zip(values).collect(), pending)
    }

    /// BOHB's rule on virtual epochs: the level is the largest virtual epoch that at least
    /// `dimensions + 2` trials reached (the first, while fewer did); each trial that reached it is
    /// observed at its best up to it, whatever its status; running and paused trials short of it
    /// are pending (the constant liar); failed ones short of it are observed as failures; pruned
    /// and stopped ones short of it belong to lower levels and are left out.
    pub(super) fn at_level(
        &self,
        trial: u64,
        history: &History,
    ) -> (Vec<(Params, f64)>, Vec<Params>) {
        let need = self.space.params.len() + 2;
        let mut reached: Vec<usize> = vec![];
        for t in history.trials.values() {
            for e in 0..t.curve.len() {
                if reached.len() <= e {
                    reached.push(0);
                }
                reached[e] += 1;
            }
        }
        let level = reached.iter().rposition(|&n| n >= need).unwrap_or(0) + 1;
        let mut observed = vec![];
        let mut curves = vec![];
        let mut pending = vec![];
        for t in history.trials.values() {
            if t.curve.len() >= level {
                observed.push(t.params.clone());
                curves.push(&t.curve[..level]);
            } else if matches!(t.status, Status::Running | Status::Paused) {
                pending.push(t.params.clone());
            } else if t.status == Status::Failed {
                observed.push(t.params.clone());
                curves.push(&[][..]);
            }
        }
        let values = self.values(trial, &curves);
        (observed.into_iter().zip(values).collect(), pending)
    }
}
