//! What the GP learns from: the trials observed (at which budget) and the ones pending.

use super::multi::Seen;
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

    /// Several objectives or constraints: a GP of each objective and constrained metric for two
    /// objectives or one with constraints (`multi.rs`); for more, or when those GPs cannot model
    /// the history, one GP of their scalarisation (ParEGO's, see [`Objectives::scalars`]), with
    /// weights drawn afresh for each trial.
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

    /// What the GP learns from when it suggests trial `trial`: each observed trial's value (one
    /// number, see [`GpSampler::values`]) and the pending trials.
    pub(super) fn observed(
        &self,
        trial: u64,
        history: &History,
    ) -> (Vec<(Params, f64)>, Vec<Params>) {
        let (curves, pending) = self.curves(history);
        let values = self.values(trial, &curves.iter().map(|c| c.1).collect::<Vec<_>>());
        let params = curves.into_iter().map(|c| c.0);
        (params.zip(values).collect(), pending)
    }

    /// The same for a GP per objective and constrained metric: each observed trial's objectives
    /// (to minimise) and constrained metrics at its selected checkpoint.
    pub(super) fn seen(&self, history: &History) -> (Vec<Seen>, Vec<Params>) {
        let (curves, pending) = self.curves(history);
        let o = &self.objectives;
        let seen = curves
            .into_iter()
            .map(|(params, curve)| match o.outcome(curve) {
                Some(out) => Seen {
                    params,
                    values: o.point(&out.values),
                    bounded: o.bounded(&curve[out.row]),
                    feasible: out.feasible(),
                },
                None => Seen {
                    params,
                    values: vec![f64::NAN; o.list.len()],
                    bounded: vec![f64::NAN; o.constraints.len()],
                    feasible: false,
                },
            })
            .collect();
        (seen, pending)
    }

    /// The observed trials' curves (whole, or up to the level [`GpSampler::at_level`] picks) and
    /// the pending trials.
    #[allow(clippy::type_complexity)]
    fn curves<'h>(&self, history: &'h History) -> (Vec<(Params, &'h [CurveRow])>, Vec<Params>) {
        match self.pruning {
            false => Self::whole(history),
            true => self.at_level(history),
        }
    }

    /// Every ended trial observed at its best; running ones pending (the constant liar).
    #[allow(clippy::type_complexity)]
    fn whole(history: &History) -> (Vec<(Params, &[CurveRow])>, Vec<Params>) {
        let mut observed = vec![];
        let mut pending = vec![];
        for t in history.trials.values() {
            if t.status == Status::Running {
                pending.push(t.params.clone());
            } else {
                observed.push((t.params.clone(), &t.curve[..]));
            }
        }
        (observed, pending)
    }

    /// BOHB's rule on virtual epochs: the level is the largest virtual epoch that at least
    /// `dimensions + 2` trials reached (the first, while fewer did); each trial that reached it is
    /// observed at its best up to it, whatever its status; running and paused trials short of it
    /// are pending (the constant liar); failed ones short of it are observed as failures; pruned
    /// and stopped ones short of it belong to lower levels and are left out.
    #[allow(clippy::type_complexity)]
    fn at_level<'h>(&self, history: &'h History) -> (Vec<(Params, &'h [CurveRow])>, Vec<Params>) {
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
        let mut pending = vec![];
        for t in history.trials.values() {
            if t.curve.len() >= level {
                observed.push((t.params.clone(), &t.curve[..level]));
            } else if matches!(t.status, Status::Running | Status::Paused) {
                pending.push(t.params.clone());
            } else if t.status == Status::Failed {
                observed.push((t.params.clone(), &[][..]));
            }
        }
        (observed, pending)
    }
}
