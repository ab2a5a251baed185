//! The endless batch stream: passes over the training rows, each shuffled from (seed, trial, pass).
//! Its whole state is (pass, position), so a checkpoint can restore it exactly.

use rand::seq::SliceRandom;

use crate::seed::{self, Purpose};

/// Row indices, pass after pass, each pass a fresh seeded permutation.
#[derive(Clone, Debug)]
pub struct Stream {
    seed: u64,
    trial: u64,
    order: Vec<usize>,
    pass: u64,
    pos: usize,
}

impl Stream {
    /// The stream of trial `trial` over `rows` training rows, positioned at `pass`, `pos`.
    pub fn at(seed: u64, trial: u64, rows: usize, pass: u64, pos: usize) -> Stream {
        let mut s = Stream {
            seed,
            trial,
            order: (0..rows).collect(),
            pass,
            pos,
        };
        s.shuffle();
        s
    }

    fn shuffle(&mut self) {
        // Back to 0..rows (what sorting would give, in linear time), then this pass's permutation.
        for (i, o) in self.order.iter_mut().enumerate() {
            *o = i;
        }
        self.order.shuffle(&mut seed::rng(
            self.seed,
            Purpose::Shuffle,
            self.trial,
            self.pass,
        ));
    }

    /// The next `count` row indices, crossing into the next pass when this one runs out.
    pub fn next_rows(&mut self, count: usize, out: &mut Vec<usize>) {
        out.clear();
        while out.len() < count {
            if self.pos == self.order.len() {
                self.pass += 1;
                self.pos = 0;
                self.shuffle();
            }
            let take = (count - out.len()).min(self.order.len() - self.pos);
            out.extend_from_slice(&self.order[self.pos..self.pos + take]);
            self.pos += take;
        }
    }

    /// (pass, position in the pass): all a checkpoint needs to continue the stream.
    pub fn position(&self) -> (u64, usize) {
        (self.pass, self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pass_is_a_permutation_and_passes_differ() {
        let mut s = Stream::at(1, 2, 10, 0, 0);
        let mut a = Vec::new();
        let mut b = Vec::new();
        s.next_rows(10, &mut a);
        s.next_rows(10, &mut b);
        let mut sa = a.clone();
        sa.sort();
        assert_eq!(sa, (0..10).collect::<Vec<_>>());
        assert_ne!(a, b);
    }

    #[test]
    fn restoring_a_position_continues_identically() {
        let mut s = Stream::at(3, 4, 7, 0, 0);
        let mut buf = Vec::new();
        s.next_rows(11, &mut buf); // crosses a pass
        let (pass, pos) = s.position();
        let mut restored = Stream::at(3, 4, 7, pass, pos);
        let mut x = Vec::new();
        let mut y = Vec::new();
        for n in [3, 9, 1, 14] {
            s.next_rows(n, &mut x);
            restored.next_rows(n, &mut y);
            assert_eq!(x, y);
        }
    }
}
