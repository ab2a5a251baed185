//! The endless batch stream: passes over the training rows, each shuffled from (seed, trial, pass).
//! Its whole state is (pass, position), so a checkpoint can restore it exactly.

use rand::RngCore;

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
        permute(
            &mut self.order,
            &mut seed::rng(self.seed, Purpose::Shuffle, self.trial, self.pass),
        );
    }

    /// The next `count` row indices, crossing into the next pass when this one runs out.
    pub fn next_rows(&mut self, count: usize, out: &mut Vec<usize>) {
        out.clear();
        while out.len() < count {
            let span = self.advance(count - out.len());
            out.extend_from_slice(&self.order[span]);
        }
    }

    /// The next at most `max` positions of the pass (a new pass when this one has run out), which
    /// index [`Stream::order`].
    pub fn advance(&mut self, max: usize) -> std::ops::Range<usize> {
        if self.pos == self.order.len() {
            self.pass += 1;
            self.pos = 0;
            self.shuffle();
        }
        let lo = self.pos;
        self.pos = (lo + max).min(self.order.len());
        lo..self.pos
    }

    /// Makes the stream at the start of the pass after this one (the shuffle happens in the call).
    pub fn following(&self) -> impl FnOnce() -> Stream + Send + 'static {
        let (seed, trial, rows, pass) = (self.seed, self.trial, self.order.len(), self.pass);
        move || Stream::at(seed, trial, rows, pass + 1, 0)
    }

    /// The rows left in this pass.
    pub fn left_in_pass(&self) -> usize {
        self.order.len() - self.pos
    }

    /// The current pass: row indices in their order.
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    /// (pass, position in the pass): all a checkpoint needs to continue the stream.
    pub fn position(&self) -> (u64, usize) {
        (self.pass, self.pos)
    }
}

/// Fisher–Yates from the back, each index drawn with Lemire's multiply-shift (with rejection, so
/// unbiased) from the generator's 32-bit words: written out here so that a pass's order depends on
/// the seed alone, not on a rand version's choice of algorithm.
fn permute(order: &mut [usize], rng: &mut impl RngCore) {
    for i in (1..order.len()).rev() {
        let j = below(rng, i as u32 + 1);
        order.swap(i, j as usize);
    }
}

/// A uniform draw from `0..n` (`n` ≥ 1).
fn below(rng: &mut impl RngCore, n: u32) -> u32 {
    let mut m = rng.next_u32() as u64 * n as u64;
    if (m as u32) < n {
        let threshold = n.wrapping_neg() % n;
        while (m as u32) < threshold {
            m = rng.next_u32() as u64 * n as u64;
        }
    }
    (m >> 32) as u32
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
    fn draws_below_n_are_uniform() {
        let mut rng = seed::rng(5, Purpose::Shuffle, 0, 0);
        let mut counts = [0u32; 6];
        for _ in 0..60_000 {
            counts[below(&mut rng, 6) as usize] += 1;
        }
        // Each count is 10,000 ± 5 standard deviations (about 91).
        assert!(
            counts.iter().all(|&c| (9_545..=10_455).contains(&c)),
            "{counts:?}"
        );
        assert_eq!(below(&mut rng, 1), 0);
    }

    #[test]
    fn every_position_is_equally_likely_for_every_row() {
        // 3 rows, 6,000 passes: each row lands in each position about 2,000 times.
        let mut counts = [[0u32; 3]; 3];
        for pass in 0..6_000 {
            let s = Stream::at(9, 1, 3, pass, 0);
            for (pos, &row) in s.order.iter().enumerate() {
                counts[row][pos] += 1;
            }
        }
        for row in counts {
            assert!(
                row.iter().all(|&c| (1_830..=2_170).contains(&c)),
                "{counts:?}"
            );
        }
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
