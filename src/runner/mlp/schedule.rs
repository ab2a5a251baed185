//! The learning rate a step uses, as a function of the examples seen before it (never of the step
//! count): every trial has the same budget of examples, so a schedule means the same curve at
//! every batch size. Warm-up from 0, then `constant`, `linear` or `cosine` decay to
//! `min_lr_fraction` × the peak at the budget's last example; the peak is the trial's learning
//! rate scaled by its batch size (`lr_scaling`, against `model.reference_batch_size`). The Python
//! client computes the same (`tune_client.learning_rate`); `client/tests/schedule_points.json`
//! holds points both are tested against.

use serde::{Deserialize, Serialize};

/// How the rate decays after the warm-up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    #[default]
    Constant,
    Linear,
    Cosine,
}

impl ScheduleKind {
    /// The names a spec may give, in the order a message lists them.
    pub const NAMES: [&'static str; 3] = ["constant", "linear", "cosine"];

    /// The schedule named `name`, if any.
    pub fn named(name: &str) -> Option<ScheduleKind> {
        let i = Self::NAMES.iter().position(|n| *n == name)?;
        Some([Self::Constant, Self::Linear, Self::Cosine][i])
    }
}

/// How the learning rate follows the batch size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LrScaling {
    #[default]
    None,
    /// × batch / reference (Goyal et al. 2017, for SGD).
    Linear,
    /// × √(batch / reference) (for Adam).
    Sqrt,
}

impl LrScaling {
    /// The names a spec may give, in the order a message lists them.
    pub const NAMES: [&'static str; 3] = ["none", "linear", "sqrt"];

    /// The scaling named `name`, if any.
    pub fn named(name: &str) -> Option<LrScaling> {
        let i = Self::NAMES.iter().position(|n| *n == name)?;
        Some([Self::None, Self::Linear, Self::Sqrt][i])
    }

    /// The factor on the learning rate at batch size `batch` (exactly 1 for `none`).
    pub fn factor(self, batch: usize, reference: usize) -> f64 {
        let r = batch as f64 / reference as f64;
        match self {
            LrScaling::None => 1.0,
            LrScaling::Linear => r,
            LrScaling::Sqrt => r.sqrt(),
        }
    }
}

/// A trial's learning rate over its budget.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    /// The learning rate after the warm-up, before any decay: the trial's, scaled.
    pub peak: f64,
    pub kind: ScheduleKind,
    /// The share of the budget's examples over which the rate rises from 0, in [0, 1).
    pub warmup: f64,
    /// Where the decay ends, as a share of the peak.
    pub min_lr_fraction: f64,
    /// The budget's examples.
    pub total: u64,
}

impl Schedule {
    /// The rate of a step taken after `seen` examples: exactly the peak for a constant schedule
    /// without warm-up (as before schedules were).
    pub fn rate(&self, seen: u64) -> f64 {
        self.peak
            * multiplier(
                self.kind,
                self.warmup,
                self.min_lr_fraction,
                seen,
                self.total,
            )
    }
}

/// The share of the peak rate after `seen` of `total` examples: `seen / (warmup·total)` during the
/// warm-up, then 1 (constant), or from 1 down to `min` at `total`, along a line or half a cosine.
pub fn multiplier(kind: ScheduleKind, warmup: f64, min: f64, seen: u64, total: u64) -> f64 {
    let (seen, total) = (seen as f64, total.max(1) as f64);
    let warm = warmup * total;
    if seen < warm {
        return seen / warm;
    }
    let p = ((seen - warm) / (total - warm)).clamp(0.0, 1.0);
    match kind {
        ScheduleKind::Constant => 1.0,
        ScheduleKind::Linear => 1.0 - (1.0 - min) * p,
        ScheduleKind::Cosine => min + (1.0 - min) * 0.5 * (1.0 + (std::f64::consts::PI * p).cos()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The points the Python client is tested against too: each row's multiplier and rate.
    #[test]
    fn reference_points_shared_with_the_client() {
        let text = include_str!("../../../client/tests/schedule_points.json");
        let points: Vec<serde_json::Value> = serde_json::from_str(text).unwrap();
        assert!(points.len() >= 10);
        for p in points {
            let s = |k: &str| p[k].as_str().unwrap();
            let f = |k: &str| p[k].as_f64().unwrap();
            let u = |k: &str| p[k].as_u64().unwrap();
            let kind = ScheduleKind::named(s("schedule")).unwrap();
            let scaling = LrScaling::named(s("lr_scaling")).unwrap();
            let peak = f("learning_rate")
                * scaling.factor(u("batch_size") as usize, u("reference_batch_size") as usize);
            let schedule = Schedule {
                peak,
                kind,
                warmup: f("warmup"),
                min_lr_fraction: f("min_lr_fraction"),
                total: u("total_examples"),
            };
            let rate = schedule.rate(u("examples_seen"));
            assert!(
                (rate - f("rate")).abs() <= 1e-12 * f("rate").abs().max(1e-300),
                "{p}"
            );
        }
    }

    #[test]
    fn warmup_rises_from_zero_and_decay_ends_at_the_minimum() {
        let s = |kind| Schedule {
            peak: 0.1,
            kind,
            warmup: 0.25,
            min_lr_fraction: 0.1,
            total: 1000,
        };
        for kind in [
            ScheduleKind::Constant,
            ScheduleKind::Linear,
            ScheduleKind::Cosine,
        ] {
            let s = s(kind);
            assert_eq!(s.rate(0), 0.0);
            assert!((s.rate(125) - 0.05).abs() < 1e-15);
            assert_eq!(s.rate(250), 0.1);
        }
        assert_eq!(s(ScheduleKind::Constant).rate(1000), 0.1);
        assert!((s(ScheduleKind::Linear).rate(1000) - 0.01).abs() < 1e-15);
        assert!((s(ScheduleKind::Cosine).rate(1000) - 0.01).abs() < 1e-15);
        // Half-way through the decay: the line and the cosine meet.
        let (l, c) = (s(ScheduleKind::Linear), s(ScheduleKind::Cosine));
        assert!((l.rate(625) - c.rate(625)).abs() < 1e-15);
        assert!((l.rate(625) - 0.055).abs() < 1e-15);
    }

    #[test]
    fn constant_without_warmup_is_the_rate_itself() {
        let s = Schedule {
            peak: 3e-3 * LrScaling::None.factor(256, 32),
            kind: ScheduleKind::Constant,
            warmup: 0.0,
            min_lr_fraction: 0.5,
            total: 100,
        };
        for seen in [0, 1, 50, 100, 200] {
            assert_eq!(s.rate(seen).to_bits(), 3e-3f64.to_bits());
        }
        assert_eq!(LrScaling::Linear.factor(64, 32), 2.0);
        assert_eq!(LrScaling::Sqrt.factor(128, 32), 2.0);
    }
}
