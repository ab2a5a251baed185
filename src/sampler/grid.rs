//! Grid search: trial n takes the n-th point of the grid (the last parameter varying fastest).

use super::Sampler;
use crate::space::{Grid, Params, SearchSpace};
use crate::storage::History;

/// Every combination of the listed values, in order, each computed when asked: a huge grid capped
/// at a few trials costs only those.
pub struct GridSampler {
    grid: Grid,
    /// Indices of the points an earlier study ran (a warm start), in order: skipped.
    done: Vec<u64>,
}

impl GridSampler {
    /// The plan checked that the grid can be built.
    pub fn new(space: &SearchSpace) -> Self {
        GridSampler {
            grid: space.grid().expect("the plan checked the grid"),
            done: vec![],
        }
    }

    /// The same, skipping the points at `done` (sorted grid indices).
    pub fn skipping(mut self, done: Vec<u64>) -> Self {
        self.done = done;
        self
    }
}

impl Sampler for GridSampler {
    fn ask(&mut self, trial: u64, _: &History) -> Params {
        // The plan caps the trials at the grid's size; past it, the grid starts over.
        let left = self.grid.size().map(|n| n - self.done.len() as u64);
        let mut i = match left {
            Some(n) if n > 0 => trial % n,
            _ => trial,
        };
        // The i-th point not done: every done index at or below it moves it one further.
        for &d in &self.done {
            if d <= i {
                i += 1;
            } else {
                break;
            }
        }
        self.grid.point(i)
    }

    fn independent(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::{Kind, Param, Value};

    #[test]
    fn walks_the_grid_in_order() {
        let space = SearchSpace {
            params: vec![
                Param::list("batch_size", Kind::Int, &[8.0, 16.0]),
                Param::list("learning_rate", Kind::Float, &[0.1, 0.01, 0.001]),
            ],
        };
        let mut s = GridSampler::new(&space);
        let h = History::default();
        let asked: Vec<Params> = (0..6).map(|t| s.ask(t, &h)).collect();
        assert_eq!(asked[0]["batch_size"], Value::Int(8));
        assert_eq!(asked[2]["learning_rate"], Value::Float(0.001));
        assert_eq!(asked[3]["batch_size"], Value::Int(16));
        let mut uniq = asked.clone();
        uniq.dedup();
        assert_eq!(uniq.len(), 6);
        crate::sampler::assert_inside(&space, &mut s, 6);
    }
}
