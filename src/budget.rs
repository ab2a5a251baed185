//! Virtual-epoch arithmetic: every trial trains on the same number of examples whatever its batch size.
//!
//! Rules (docs/design.md, "Budget rules"):
//! - the budget is `total` training examples; boundary `k` of `V` virtual epochs sits at
//!   `round(k × total / V)` examples (halves round up);
//! - within a virtual epoch, batches have the trial's batch size except the last one before the boundary,
//!   which may be smaller; a trial's steps are the number of batches that takes.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::space::num;
use crate::spec::BudgetSpec;

/// The most examples a trial may train on: 2^53, below which every count is exact as a double
/// (how JSON readers other than ours, and our own cost estimates, hold numbers).
pub const MAX_EXAMPLES: u64 = 1 << 53;

/// The most virtual epochs a trial may have: each keeps a row of the curve in memory and writes a
/// checkpoint.
pub const MAX_VIRTUAL_EPOCHS: u64 = 1_000_000;

/// The example budget of every trial, split into virtual epochs. Built once by the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    /// Training examples every trial sees.
    pub total_examples: u64,
    /// How many validate-and-checkpoint points the budget is split into.
    pub virtual_epochs: u32,
}

impl Budget {
    /// The budget `spec` gives for `n_train` training rows; errors name the spec `file`.
    pub fn from_spec(file: &Path, b: &BudgetSpec, n_train: usize) -> Result<Budget> {
        let bad = |path: &str, msg: String| Error::spec(file, path, msg);
        let total = total_examples(file, b, n_train)?;
        let v = b.virtual_epochs;
        if v == 0 {
            return Err(bad("budget.virtual_epochs", "must be at least 1".into()));
        }
        if v > MAX_VIRTUAL_EPOCHS {
            return Err(bad(
                "budget.virtual_epochs",
                format!(
                    "{v} is more than the {MAX_VIRTUAL_EPOCHS} virtual epochs a trial may have"
                ),
            ));
        }
        if v > total {
            return Err(bad(
                "budget.virtual_epochs",
                format!("{v} virtual epochs cannot split a budget of {total} examples: each needs at least one"),
            ));
        }
        Ok(Budget {
            total_examples: total,
            virtual_epochs: v as u32,
        })
    }

    /// Examples seen at the end of virtual epoch `k` (0 ≤ k ≤ V): round(k × total / V).
    pub fn boundary(&self, k: u32) -> u64 {
        let (t, v, k) = (
            self.total_examples as u128,
            self.virtual_epochs as u128,
            k.min(self.virtual_epochs) as u128,
        );
        ((2 * k * t + v) / (2 * v)) as u64
    }

    /// Examples in virtual epoch `k` (1-based).
    pub fn examples_in(&self, k: u32) -> u64 {
        self.boundary(k) - self.boundary(k - 1)
    }

    /// Batch sizes of virtual epoch `k` for a trial with batch size `batch`, in order.
    pub fn batches_in(&self, k: u32, batch: usize) -> impl Iterator<Item = usize> {
        let n = self.examples_in(k);
        let batch = batch as u64;
        let steps = n.div_ceil(batch);
        (0..steps).map(move |i| (batch.min(n - i * batch)) as usize)
    }

    /// Steps (batches) of virtual epoch `k`.
    pub fn steps_in(&self, k: u32, batch: usize) -> u64 {
        self.examples_in(k).div_ceil(batch as u64)
    }

    /// Steps of the whole budget for batch size `batch` (the tests' check of the steps' sum).
    #[cfg(test)]
    fn total_steps(&self, batch: usize) -> u64 {
        (1..=self.virtual_epochs)
            .map(|k| self.steps_in(k, batch))
            .sum()
    }

    /// Steps done by the end of virtual epoch `k` (the tests' check of each boundary).
    #[cfg(test)]
    fn steps_until(&self, k: u32, batch: usize) -> u64 {
        (1..=k).map(|j| self.steps_in(j, batch)).sum()
    }
}

/// The examples every trial trains on: `total_examples`, or `stop_point` passes over `n_train`
/// rows; exactly one of them given.
fn total_examples(file: &Path, b: &BudgetSpec, n_train: usize) -> Result<u64> {
    let bad = |path: &str, msg: String| Error::spec(file, path, msg);
    match (b.total_examples, b.stop_point) {
        (Some(_), Some(_)) => Err(bad(
            "budget",
            "give total_examples or stop_point, not both".into(),
        )),
        (None, None) => Err(bad("budget", "give total_examples or stop_point".into())),
        (Some(0), None) => Err(bad("budget.total_examples", "must be at least 1".into())),
        (Some(t), None) if t > MAX_EXAMPLES => Err(bad(
            "budget.total_examples",
            format!("{t} is more than the {MAX_EXAMPLES} examples a trial may train on"),
        )),
        (Some(t), None) => Ok(t),
        (None, Some(s)) if !(s > 0.0 && s.is_finite()) => Err(bad(
            "budget.stop_point",
            format!("{} is not above 0", num(s)),
        )),
        (None, Some(s)) => {
            // In f64, so that no product overflows; compared before it becomes an integer.
            let t = (s * n_train as f64).floor();
            if t > MAX_EXAMPLES as f64 {
                return Err(bad(
                    "budget.stop_point",
                    format!("{} × {n_train} training rows is more than the {MAX_EXAMPLES} examples a trial may train on", num(s)),
                ));
            }
            if t < 1.0 {
                return Err(bad(
                    "budget.stop_point",
                    format!(
                        "{} × {n_train} training rows is less than one example",
                        num(s)
                    ),
                ));
            }
            Ok(t as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn wine_example() {
        // 50 passes over 1,280 rows, 10 virtual epochs.
        let b = Budget {
            total_examples: 64_000,
            virtual_epochs: 10,
        };
        assert_eq!(b.boundary(1), 6_400);
        assert_eq!(b.total_steps(64), 1_000);
        assert_eq!(b.total_steps(256), 250);
        // 6,400 / 48 = 133.33: 134 batches, the last of 16 examples.
        assert_eq!(b.steps_in(1, 48), 134);
        assert_eq!(b.batches_in(1, 48).last(), Some(16));
    }

    #[test]
    fn boundaries_round_half_up() {
        let b = Budget {
            total_examples: 5,
            virtual_epochs: 2,
        };
        assert_eq!(b.boundary(1), 3); // 2.5 rounds up
        assert_eq!(b.boundary(2), 5);
    }

    /// The budget rules, checked over many random budgets, virtual-epoch counts and batch sizes.
    #[test]
    fn every_trial_sees_exactly_the_budget() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2024);
        for case in 0..3000 {
            let total: u64 = if case % 3 == 0 {
                rng.gen_range(1..200)
            } else {
                rng.gen_range(1..5_000_000)
            };
            let v = rng.gen_range(1..=total.min(500)) as u32;
            let batch: usize = if case % 2 == 0 {
                rng.gen_range(1..64)
            } else {
                rng.gen_range(1..5_000)
            };
            check(
                Budget {
                    total_examples: total,
                    virtual_epochs: v,
                },
                batch,
            );
        }
    }

    fn check(b: Budget, batch: usize) {
        let (total, v) = (b.total_examples, b.virtual_epochs);
        let ctx = format!("{b:?}, batch {batch}");
        assert_eq!(b.boundary(0), 0, "{ctx}");
        assert_eq!(b.boundary(v), total, "{ctx}");
        let mut seen = 0u64;
        let mut steps = 0u64;
        for k in 1..=v {
            // Each boundary is round(k × total / V), within half an example of the exact split.
            let exact = k as f64 * total as f64 / v as f64;
            assert!(
                (b.boundary(k) as f64 - exact).abs() <= 0.5 + 1e-9,
                "{ctx}, k {k}"
            );
            assert!(b.examples_in(k) >= 1, "virtual epoch {k} is empty: {ctx}");
            let sizes: Vec<usize> = b.batches_in(k, batch).collect();
            assert_eq!(sizes.len() as u64, b.steps_in(k, batch), "{ctx}");
            // Full batches, except the last one before the boundary.
            assert!(
                sizes[..sizes.len() - 1].iter().all(|&s| s == batch),
                "{ctx}, k {k}"
            );
            let last = *sizes.last().unwrap();
            assert!(last >= 1 && last <= batch, "{ctx}");
            seen += sizes.iter().map(|&s| s as u64).sum::<u64>();
            steps += sizes.len() as u64;
            assert_eq!(seen, b.boundary(k), "{ctx}");
            assert_eq!(steps, b.steps_until(k, batch), "{ctx}");
        }
        assert_eq!(seen, total, "{ctx}");
        assert_eq!(steps, b.total_steps(batch), "{ctx}");
        // No fewer steps than the budget needs at this batch size, at most one partial batch per epoch more.
        assert!(steps >= total.div_ceil(batch as u64), "{ctx}");
        assert!(steps <= total.div_ceil(batch as u64) + v as u64, "{ctx}");
    }
}
