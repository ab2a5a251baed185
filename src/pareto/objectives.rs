//! Several objectives and constraints: the values a trial's selected checkpoint holds for each
//! objective and constrained metric, whether it is feasible, the order of a set of trials by
//! non-dominated sorting, and the single number a sampler learns from (ParEGO's random
//! scalarisation). With one objective and no constraint every function here reduces to the
//! single metric's own ranking, so such studies run as they always did.

use crate::curve::{select_best, CurveRow};
use crate::objective::{Goal, Metric, MetricKind};
use crate::pareto;
use crate::storage::History;
use std::collections::BTreeMap;

/// A bound on a metric at each trial's selected checkpoint (`min`, `max`: −∞ and ∞ when absent).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Constraint {
    pub kind: MetricKind,
    pub min: f64,
    pub max: f64,
}

/// What a study optimises: one or several objectives, the first of which selects each trial's
/// checkpoint, and the constraints a feasible trial keeps there.
#[derive(Clone, Debug, PartialEq)]
pub struct Objectives {
    /// At least one; the first is the plan's `metric`.
    pub list: Vec<Metric>,
    /// Each objective's value of the hypervolume's reference point, where the spec gives one.
    pub references: Vec<Option<f64>>,
    pub constraints: Vec<Constraint>,
    /// The metric a curve's `metric` column holds (see [`MetricKind::in_curve`]).
    pub in_curve: MetricKind,
}

/// A trial as several objectives see it, at its selected checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The selected row (index into the curve given).
    pub row: usize,
    /// Each objective's value there (NaN: not reported).
    pub values: Vec<f64>,
    /// How far it breaks its constraints: 0 when feasible; a missing constrained value counts
    /// as infinitely far.
    pub violation: f64,
}

impl Outcome {
    pub fn feasible(&self) -> bool {
        self.violation == 0.0
    }
}

impl Objectives {
    /// One objective, no constraint: a study as every study was before `objectives`.
    pub fn single(metric: Metric, in_curve: MetricKind) -> Objectives {
        Objectives {
            list: vec![metric],
            references: vec![None],
            constraints: vec![],
            in_curve,
        }
    }

    /// Whether the study is a plain single-metric one (its outputs are as they always were).
    pub fn plain(&self) -> bool {
        self.list.len() == 1 && self.constraints.is_empty()
    }

    /// The metric that selects each trial's checkpoint.
    pub fn first(&self) -> Metric {
        self.list[0]
    }

    /// The value of metric `kind` in `row`: the validation loss, the curve's metric, or a number
    /// reported beside them (NaN when absent).
    pub fn value(&self, row: &CurveRow, kind: MetricKind) -> f64 {
        match kind {
            MetricKind::ValLoss => row.value_of("val_loss"),
            k if k == self.in_curve => row.metric,
            k => row.value_of(k.name()),
        }
    }

    /// The metrics the objectives and constraints read besides the validation loss and the
    /// curve's metric, each once, in order: what the built-in trainer must compute too.
    pub fn extra(&self) -> Vec<MetricKind> {
        let mut out: Vec<MetricKind> = vec![];
        let all = self.list.iter().map(|m| m.kind);
        for k in all.chain(self.constraints.iter().map(|c| c.kind)) {
            if k != MetricKind::ValLoss && k != self.in_curve && !out.contains(&k) {
                out.push(k);
            }
        }
        out
    }

    /// The trial whose curve is `curve` (or its rows up to a rung), at its selected checkpoint;
    /// `None` before it has one.
    pub fn outcome(&self, curve: &[CurveRow]) -> Option<Outcome> {
        let i = select_best(curve, self.first())?;
        let row = &curve[i];
        // The first as it selected the row (a program's `val_loss` column included).
        let values = std::iter::once(row.selection_value(self.first()))
            .chain(self.list[1..].iter().map(|m| self.value(row, m.kind)))
            .collect();
        let violation = self
            .constraints
            .iter()
            .map(|c| {
                let v = self.value(row, c.kind);
                let scale = |b: f64| b.abs().max(1e-12);
                if v.is_nan() {
                    f64::INFINITY
                } else if v < c.min {
                    (c.min - v) / scale(c.min)
                } else if v > c.max {
                    (v - c.max) / scale(c.max)
                } else {
                    0.0
                }
            })
            .sum();
        Some(Outcome {
            row: i,
            values,
            violation,
        })
    }

    /// The value of each constrained metric in `row` (NaN when absent), in the constraints' order.
    pub fn bounded(&self, row: &CurveRow) -> Vec<f64> {
        self.constraints
            .iter()
            .map(|c| self.value(row, c.kind))
            .collect()
    }

    /// `values` as a point to minimise (each maximised objective negated).
    pub fn point(&self, values: &[f64]) -> Vec<f64> {
        values
            .iter()
            .zip(&self.list)
            .map(|(&v, m)| match m.goal {
                Goal::Min => v,
                Goal::Max => -v,
            })
            .collect()
    }

    /// The front each of `outcomes` is on among the feasible ones with every value (1: not
    /// dominated by any); `None` for the infeasible and those without a value.
    pub fn fronts(&self, outcomes: &[Option<&Outcome>]) -> Vec<Option<usize>> {
        let ranked: Vec<usize> = (0..outcomes.len())
            .filter(|&i| {
                outcomes[i].is_some_and(|o| o.feasible() && o.values.iter().all(|v| !v.is_nan()))
            })
            .collect();
        let points: Vec<Vec<f64>> = ranked
            .iter()
            .map(|&i| self.point(&outcomes[i].expect("filtered").values))
            .collect();
        let mut out = vec![None; outcomes.len()];
        for (&i, r) in ranked.iter().zip(pareto::ranks(&points)) {
            out[i] = Some(r);
        }
        out
    }

    /// The outcome and the front of each of `history`'s trials: a trial a scheduler cut short is
    /// on none, its values being of a smaller budget.
    #[allow(clippy::type_complexity)]
    pub fn standings(
        &self,
        history: &History,
    ) -> (BTreeMap<u64, Option<Outcome>>, BTreeMap<u64, Option<usize>>) {
        let mut outcomes = BTreeMap::new();
        let mut eligible = vec![];
        for t in history.trials.values() {
            outcomes.insert(t.trial, self.outcome(&t.curve));
            if !t.status.cut_short() {
                eligible.push(t.trial);
            }
        }
        let shown: Vec<Option<&Outcome>> = eligible.iter().map(|t| outcomes[t].as_ref()).collect();
        let mut ranks: BTreeMap<u64, Option<usize>> = outcomes.keys().map(|&t| (t, None)).collect();
        for (t, r) in eligible.iter().zip(self.fronts(&shown)) {
            ranks.insert(*t, r);
        }
        (outcomes, ranks)
    }

    /// The order of `outcomes`, best first, as MOASHA keeps a rung's trials: the feasible by
    /// front, then by crowding distance within it (largest first); then the infeasible, least
    /// violation first; then those without a value; ties to the earlier index.
    pub fn crowded_order(&self, outcomes: &[Option<&Outcome>]) -> Vec<usize> {
        let fronts = self.fronts(outcomes);
        let mut dist = vec![0.0; outcomes.len()];
        for r in 1..=fronts.iter().flatten().copied().max().unwrap_or(0) {
            let members: Vec<usize> = (0..outcomes.len())
                .filter(|&i| fronts[i] == Some(r))
                .collect();
            let front: Vec<Vec<f64>> = members
                .iter()
                .map(|&i| self.point(&outcomes[i].expect("ranked").values))
                .collect();
            for (&i, c) in members.iter().zip(pareto::crowding(&front)) {
                dist[i] = c;
            }
        }
        let mut order: Vec<usize> = (0..outcomes.len()).collect();
        order.sort_by(|&a, &b| {
            self.group(outcomes[a], fronts[a])
                .cmp(&self.group(outcomes[b], fronts[b]))
                .then(fronts[a].cmp(&fronts[b]))
                .then(dist[b].total_cmp(&dist[a]))
                .then(violation(outcomes[a]).total_cmp(&violation(outcomes[b])))
                .then(a.cmp(&b))
        });
        order
    }

    /// 0: on a front; 1: infeasible with every value; 2: without a value.
    fn group(&self, o: Option<&Outcome>, front: Option<usize>) -> u8 {
        match (o, front) {
            (_, Some(_)) => 0,
            (Some(o), None) if o.values.iter().all(|v| !v.is_nan()) && !o.violation.is_nan() => 1,
            _ => 2,
        }
    }

    /// The hypervolume of the first front of `outcomes` (of those on it), against the
    /// reference point: each objective's `reference` where the spec gives one, else the worst
    /// value among the feasible ones. With the point used.
    pub fn hypervolume(&self, outcomes: &[Option<&Outcome>]) -> (f64, Vec<f64>) {
        let fronts = self.fronts(outcomes);
        let points: Vec<Vec<f64>> = (0..outcomes.len())
            .filter(|&i| fronts[i].is_some())
            .map(|i| self.point(&outcomes[i].expect("ranked").values))
            .collect();
        let reference: Vec<f64> = (0..self.list.len())
            .map(|m| match self.references[m] {
                Some(r) => self.point(&vec![r; self.list.len()])[m],
                None => points
                    .iter()
                    .map(|p| p[m])
                    .fold(f64::NEG_INFINITY, f64::max),
            })
            .collect();
        let front: Vec<Vec<f64>> = (0..outcomes.len())
            .filter(|&i| fronts[i] == Some(1))
            .map(|i| self.point(&outcomes[i].expect("ranked").values))
            .collect();
        (pareto::hypervolume(&front, &reference), reference)
    }
}

/// ParEGO's augmentation: the weighted sum's share beside the weighted maximum.
const RHO: f64 = 0.05;

impl Objectives {
    /// The numbers a single-objective sampler learns from when it suggests trial `trial`, one
    /// per outcome, smaller better (NaN: none). One objective without constraints: its selected
    /// value, negated when higher is better, exactly as before. Otherwise ParEGO (Knowles 2006):
    /// each objective is scaled to [0, 1] over the feasible outcomes, and weighed by weights
    /// drawn uniformly from the simplex for this trial (so that successive trials aim at other
    /// parts of the front), in the augmented Chebyshev scalarisation `max_m w_m f_m + ρ Σ w_m f_m`
    /// (at most 1 + ρ); an infeasible outcome scores above every feasible one, by its violation.
    pub fn scalars(&self, outcomes: &[Option<&Outcome>], seed: u64, trial: u64) -> Vec<f64> {
        if self.plain() {
            let sign = match self.first().goal {
                Goal::Min => 1.0,
                Goal::Max => -1.0,
            };
            return outcomes
                .iter()
                .map(|o| o.map_or(f64::NAN, |o| sign * o.values[0]))
                .collect();
        }
        let weights = self.weights(seed, trial);
        let points: Vec<Option<Vec<f64>>> = outcomes
            .iter()
            .map(|o| o.map(|o| self.point(&o.values)))
            .collect();
        let m = self.list.len();
        let feasible = |i: usize| outcomes[i].is_some_and(|o| o.feasible());
        let (mut lo, mut hi) = (vec![f64::INFINITY; m], vec![f64::NEG_INFINITY; m]);
        for (i, p) in points.iter().enumerate() {
            for (j, &x) in p.iter().flatten().enumerate() {
                if feasible(i) && x.is_finite() {
                    lo[j] = lo[j].min(x);
                    hi[j] = hi[j].max(x);
                }
            }
        }
        points
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let Some(p) = p else { return f64::NAN };
                if p.iter().any(|x| x.is_nan()) {
                    return f64::NAN;
                }
                if !feasible(i) {
                    let v = outcomes[i].map_or(f64::INFINITY, |o| o.violation);
                    return 1.0 + RHO + 1.0 + v.min(1e6);
                }
                let (mut most, mut sum) = (f64::NEG_INFINITY, 0.0);
                for j in 0..m {
                    let span = hi[j] - lo[j];
                    let f = if span > 0.0 {
                        (p[j] - lo[j]) / span
                    } else {
                        0.0
                    };
                    most = most.max(weights[j] * f);
                    sum += weights[j] * f;
                }
                most + RHO * sum
            })
            .collect()
    }

    /// Weights uniform on the simplex (normalised exponential draws), from trial `trial`'s stream.
    fn weights(&self, seed: u64, trial: u64) -> Vec<f64> {
        use rand::Rng;
        let mut rng = crate::seed::rng(seed, crate::seed::Purpose::Scalarise, trial, 0);
        let e: Vec<f64> = (0..self.list.len())
            .map(|_| -(1.0 - rng.gen::<f64>()).ln())
            .collect();
        let total: f64 = e.iter().sum();
        e.iter().map(|x| x / total).collect()
    }
}

fn violation(o: Option<&Outcome>) -> f64 {
    o.map_or(f64::INFINITY, |o| o.violation)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn min(kind: MetricKind) -> Metric {
        Metric {
            kind,
            goal: Goal::Min,
        }
    }

    /// Two objectives: the validation loss (min) and accuracy (max), which the curve holds.
    fn two() -> Objectives {
        let acc = Metric {
            kind: MetricKind::Accuracy,
            goal: Goal::Max,
        };
        Objectives {
            list: vec![min(MetricKind::ValLoss), acc],
            references: vec![None, None],
            constraints: vec![],
            in_curve: MetricKind::Accuracy,
        }
    }

    fn out(values: &[f64], violation: f64) -> Outcome {
        Outcome {
            row: 0,
            values: values.to_vec(),
            violation,
        }
    }

    #[test]
    fn the_selected_row_gives_every_objective_and_the_constraints() {
        let mut o = two();
        o.constraints.push(Constraint {
            kind: MetricKind::Accuracy,
            min: 0.8,
            max: f64::INFINITY,
        });
        let mut a = crate::curve::tests::row(1, 0.5);
        a.metric = 0.7;
        let mut b = crate::curve::tests::row(2, 0.4);
        b.metric = 0.9;
        let mut c = crate::curve::tests::row(3, 0.45);
        c.metric = 0.95;
        // Selected by the loss (row 2), accuracy read there, not at its own best (row 3).
        let got = o.outcome(&[a.clone(), b, c]).unwrap();
        assert_eq!(
            (got.row, got.values.clone(), got.violation),
            (1, vec![0.4, 0.9], 0.0)
        );
        // Up to row 1 only: accuracy 0.7 breaks the bound 0.8 by an eighth of it.
        let got = o.outcome(&[a]).unwrap();
        assert!((got.violation - 0.1 / 0.8).abs() < 1e-12 && !got.feasible());
        assert_eq!(o.extra(), vec![]);
        assert_eq!(o.point(&[0.4, 0.9]), vec![0.4, -0.9]);
    }

    /// Worked by hand: (loss, accuracy) points A (0.3, 0.9), B (0.2, 0.8), C (0.4, 0.7) dominated
    /// by A, D (0.1, 0.6), E infeasible (0.05, 0.99), F without a value.
    #[test]
    fn fronts_and_moashas_order_worked_by_hand() {
        let o = two();
        let pts = [
            Some(out(&[0.3, 0.9], 0.0)),
            Some(out(&[0.2, 0.8], 0.0)),
            Some(out(&[0.4, 0.7], 0.0)),
            Some(out(&[0.1, 0.6], 0.0)),
            Some(out(&[0.05, 0.99], 0.5)),
            None,
        ];
        let refs: Vec<Option<&Outcome>> = pts.iter().map(Option::as_ref).collect();
        assert_eq!(
            o.fronts(&refs),
            vec![Some(1), Some(1), Some(2), Some(1), None, None]
        );
        // Front 1 sorted by loss: D, B, A; the ends D and A are infinitely crowded, B in between.
        // Then C (front 2), then the infeasible E, then F.
        assert_eq!(o.crowded_order(&refs), vec![0, 3, 1, 2, 4, 5]);
        // The hypervolume of A, B, D against the worst feasible values (0.4, 0.6) in minimised
        // coordinates (loss, −accuracy) = (0.4, −0.6): sweep by loss:
        // D (0.1, −0.6) adds nothing; B (0.2, −0.8): 0.2 × 0.2; A (0.3, −0.9): 0.1 × 0.3.
        let (hv, reference) = o.hypervolume(&refs);
        assert_eq!(reference, vec![0.4, -0.6]);
        assert!((hv - (0.2 * 0.2 + 0.1 * 0.1)).abs() < 1e-12, "{hv}");
    }

    #[test]
    fn one_objective_scalarises_to_its_signed_value_and_several_to_parego() {
        let one = Objectives::single(
            Metric {
                kind: MetricKind::Accuracy,
                goal: Goal::Max,
            },
            MetricKind::Accuracy,
        );
        let a = out(&[0.7], 0.0);
        assert_eq!(one.scalars(&[Some(&a), None], 1, 2)[0], -0.7);
        assert!(one.scalars(&[Some(&a), None], 1, 2)[1].is_nan());
        let o = two();
        let pts = [
            out(&[0.3, 0.9], 0.0),
            out(&[0.1, 0.6], 0.0),
            out(&[0.0, 1.0], 2.0),
        ];
        let refs: Vec<Option<&Outcome>> = pts.iter().map(Some).collect();
        let w = o.weights(9, 4);
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12 && w.iter().all(|&x| x > 0.0));
        let s = o.scalars(&refs, 9, 4);
        // Scaled to [0, 1] over the feasible: A = (1, 0), D = (0, 1).
        let want_a = w[0].max(0.0) + RHO * w[0];
        let want_d = w[1] + RHO * w[1];
        assert!(
            (s[0] - want_a).abs() < 1e-12 && (s[1] - want_d).abs() < 1e-12,
            "{s:?}"
        );
        // The infeasible one, above every feasible value, whatever its own values.
        assert_eq!(s[2], 1.0 + RHO + 1.0 + 2.0);
        // Other trials draw other weights; the same trial the same.
        assert_eq!(o.weights(9, 4), w);
        assert_ne!(o.weights(9, 5), w);
    }
}
