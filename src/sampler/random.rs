//! Random search: trial n draws from its own stream (seed, trial n), so the sequence is the same
//! whatever order trials run or finish in, and after a resume.

use super::Sampler;
use crate::seed::{self, Purpose};
use crate::space::{Params, SearchSpace};
use crate::storage::History;

/// Independent draws from the space.
pub struct RandomSampler {
    space: SearchSpace,
    seed: u64,
    /// Points an earlier study ran (a warm start), as JSON: drawn again, they are redrawn.
    done: std::collections::HashSet<String>,
}

/// Draws of a trial before it takes a point an earlier study ran (a small space may hold no other).
const REDRAWS: u64 = 100;

impl RandomSampler {
    pub fn new(space: SearchSpace, seed: u64) -> Self {
        RandomSampler {
            space,
            seed,
            done: Default::default(),
        }
    }

    /// The same, redrawing the points of `done`.
    pub fn skipping(mut self, done: &[Params]) -> Self {
        self.done = done.iter().map(key).collect();
        self
    }
}

fn key(p: &Params) -> String {
    serde_json::to_string(p).expect("parameters serialise")
}

impl Sampler for RandomSampler {
    fn ask(&mut self, trial: u64, _: &History) -> Params {
        let mut p = self
            .space
            .sample(&mut seed::rng(self.seed, Purpose::Sample, trial, 0));
        let mut k = 1;
        while k <= REDRAWS && self.done.contains(&key(&p)) {
            p = self
                .space
                .sample(&mut seed::rng(self.seed, Purpose::Sample, trial, k));
            k += 1;
        }
        p
    }

    fn independent(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::{Kind, Param};

    #[test]
    fn same_seed_same_sequence_in_any_order() {
        let space = SearchSpace {
            params: vec![Param::range("learning_rate", Kind::Float, 1e-4, 1e-1, true)],
        };
        let h = History::default();
        let mut a = RandomSampler::new(space.clone(), 5);
        let mut b = RandomSampler::new(space.clone(), 5);
        let fwd: Vec<Params> = (0..10).map(|t| a.ask(t, &h)).collect();
        let back: Vec<Params> = (0..10).rev().map(|t| b.ask(t, &h)).collect();
        assert_eq!(fwd, back.into_iter().rev().collect::<Vec<_>>());
        assert_ne!(fwd[0], fwd[1]);
        crate::sampler::assert_inside(&space, &mut a, 100);
    }
}
