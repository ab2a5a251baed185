//! Population-based training (Jaderberg et al. 2017) on virtual epochs: `search.trials` members
//! train, each pausing every `interval` virtual epochs (as ASHA's promote mode pauses at a rung).
//! Once every member reached a boundary (or ended before it), the members there are ranked by
//! their metric at it; each of the bottom quantile exploits a member of the top quantile drawn
//! from its own seeded stream (study seed, member, boundary) and explores its parameters. The
//! driver journals the exploit and the member goes on from the copied member's checkpoint of that
//! boundary, with the explored parameters. Every decision is a pure function of the history, so
//! a resumed study takes the same ones, whatever the order members were promoted in.

use rand::Rng;

use super::{Decision, Exploit, Scheduler};
use crate::objective::Metric;
use crate::plan::PbtPlan;
use crate::seed::{self, Purpose};
use crate::space::{Domain, Kind, Param, Params, SearchSpace, Value};
use crate::storage::{History, Status};

/// Population-based training of members `0..population` over `last` virtual epochs.
pub struct Pbt {
    plan: PbtPlan,
    population: u64,
    metric: Metric,
    last: u32,
    seed: u64,
    space: SearchSpace,
}

impl Pbt {
    pub fn new(
        plan: PbtPlan,
        population: usize,
        metric: Metric,
        last: u32,
        seed: u64,
        space: SearchSpace,
    ) -> Pbt {
        Pbt {
            plan,
            population: population as u64,
            metric,
            last,
            seed,
            space,
        }
    }

    /// Whether virtual epoch `k` is an interval boundary where members pause.
    fn boundary(&self, k: u32) -> bool {
        k > 0 && k.is_multiple_of(self.plan.interval.max(1)) && k < self.last
    }

    /// Whether every member reached virtual epoch `k` durably (its pause or end recorded, or
    /// promoted past it), or ended before it: only then may its checkpoint there be copied.
    fn reached(&self, h: &History, k: u32) -> bool {
        (0..self.population).all(|m| {
            h.trials.get(&m).is_some_and(|t| {
                let settled = t.status != Status::Running || t.decision == Some(Decision::Continue);
                let at = t.curve.len().cmp(&(k as usize));
                t.status.ended() || at.is_gt() || (at.is_eq() && settled)
            })
        })
    }

    /// The members with a row at virtual epoch `k`, best first by their metric there (NaN last,
    /// ties to the lower number).
    fn ranked(&self, h: &History, k: u32) -> Vec<u64> {
        let mut at: Vec<(u64, f64)> = h
            .trials
            .values()
            .filter(|t| t.trial < self.population)
            .filter_map(|t| {
                let row = t.curve.get(k as usize - 1)?;
                (row.virtual_epoch == k).then_some((t.trial, row.selection_value(self.metric)))
            })
            .collect();
        at.sort_by(|a, b| self.metric.order(a, b));
        at.into_iter().map(|(m, _)| m).collect()
    }

    /// How many of `n` ranked members are the top (and the bottom): the quantile rounded up,
    /// at most half.
    fn quantile(&self, n: usize) -> usize {
        ((n as f64 * self.plan.quantile).ceil() as usize).min(n / 2)
    }

    /// Member `m`'s decision at boundary `k`, every member having reached it: the exploit when it
    /// is in the bottom quantile, `None` when it goes on as it is.
    pub fn decision(&self, h: &History, m: u64, k: u32) -> Option<Exploit> {
        let ranked = self.ranked(h, k);
        let q = self.quantile(ranked.len());
        if q == 0 || !ranked[ranked.len() - q..].contains(&m) {
            return None;
        }
        let mut rng = seed::rng(self.seed, Purpose::Pbt, m, k as u64);
        let source = ranked[rng.gen_range(0..q)];
        let copied = h.trials[&source].params_at(k);
        Some(Exploit {
            trial: m,
            virtual_epoch: k,
            source,
            old: h.trials[&m].params.clone(),
            new: self.explore(copied, &mut rng),
        })
    }

    /// `params` explored: each active parameter of the space (in draw order, so that a condition
    /// sees its parent's new value) drawn anew with the resample probability, else moved by one
    /// of the factors; a parameter newly active is drawn; a fixed one is kept.
    fn explore(&self, params: &Params, rng: &mut impl Rng) -> Params {
        let mut out = Params::new();
        for i in self.space.draw_order() {
            let p = &self.space.params[i];
            if !p.when.holds(&out) {
                continue;
            }
            let v = match params.get(&p.name) {
                None => p.sample(rng),
                Some(&v) if self.plan.fixed.contains(&p.name) => v,
                Some(&v) => {
                    let u: f64 = rng.gen();
                    let f = self.plan.perturb[rng.gen_range(0..self.plan.perturb.len())];
                    match u < self.plan.resample {
                        true => p.sample(rng),
                        false => perturbed(p, v, f),
                    }
                }
            };
            out.insert(p.name.clone(), v);
        }
        out
    }

    /// The paused member at boundary `k` exploiting now, if its exploit is not journalled yet.
    fn due(&self, h: &History, m: u64) -> Option<Exploit> {
        let t = h.trials.get(&m)?;
        let k = t.curve.last()?.virtual_epoch;
        let done = t.exploits.last().is_some_and(|x| x.virtual_epoch == k);
        if m >= self.population || done || !self.boundary(k) || !self.reached(h, k) {
            return None;
        }
        self.decision(h, m, k)
    }
}

/// `v` moved by factor `f`: a float multiplied, an integer multiplied and rounded (at least one
/// step), a list's value to its neighbour (down when `f` < 1, up when above), within the domain.
pub(super) fn perturbed(p: &Param, v: Value, f: f64) -> Value {
    let x = p.number(v);
    let step = |d: f64| {
        if f > 1.0 {
            d
        } else if f < 1.0 {
            -d
        } else {
            0.0
        }
    };
    match &p.domain {
        Domain::List(xs) => {
            // Labels in the order given; numbers in their order.
            let mut order: Vec<f64> = xs.clone();
            if !matches!(p.kind, Kind::Cat(_)) {
                order.sort_by(f64::total_cmp);
                order.dedup();
            }
            let Some(i) = order.iter().position(|&y| p.value(y) == v) else {
                return v;
            };
            let j = (i as f64 + step(1.0)).clamp(0.0, (order.len() - 1) as f64);
            p.value(order[j as usize])
        }
        Domain::Range { low, high, .. } => {
            let mut y = x * f;
            if !matches!(p.kind, Kind::Float) {
                y = y.round();
                if y == x {
                    y += step(1.0);
                }
            }
            p.value(y.clamp(*low, *high))
        }
    }
}

impl Scheduler for Pbt {
    fn decide(&self, trial: u64, history: &History) -> Decision {
        let at = history
            .trials
            .get(&trial)
            .and_then(|t| t.curve.last())
            .map_or(0, |r| r.virtual_epoch);
        match trial < self.population && self.boundary(at) {
            true => Decision::Pause,
            false => Decision::Continue,
        }
    }

    fn promote(&self, history: &History) -> Option<u64> {
        history
            .trials
            .values()
            .filter(|t| t.status == Status::Paused && t.trial < self.population)
            .filter_map(|t| Some((t.curve.last()?.virtual_epoch, t.trial)))
            .filter(|&(k, _)| self.reached(history, k))
            .min()
            .map(|(_, m)| m)
    }

    fn exploit(&self, trial: u64, history: &History) -> Option<Exploit> {
        self.due(history, trial)
    }

    fn referenced(&self, trial: u64, history: &History) -> Vec<u32> {
        let mut out: Vec<u32> = history
            .trials
            .values()
            .filter_map(|t| {
                let at = t.curve.len() as u32;
                let made = t.exploits.last().cloned();
                let x = match t.status {
                    // Exploited and not yet durably at its next boundary.
                    Status::Running => made.filter(|x| at <= x.virtual_epoch + self.plan.interval),
                    // Exploited and not yet promoted (a torn group), or to exploit once promoted.
                    Status::Paused => made
                        .filter(|x| x.virtual_epoch == at)
                        .or_else(|| self.due(history, t.trial)),
                    _ => None,
                }?;
                (x.source == trial).then_some(x.virtual_epoch)
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    fn waits(&self, history: &History) -> bool {
        let any = |s: Status| history.trials.values().any(|t| t.status == s);
        any(Status::Paused) && any(Status::Running)
    }

    fn waits_durable(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests;
