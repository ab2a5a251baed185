//! The train/validation/test split: the order of the rows drawn from the seed, written out here (as the
//! data stream's shuffle is) so that it depends on the seed alone, not on a `rand` version's choice
//! of algorithm. It reproduces what `rand` 0.8's `SliceRandom::shuffle` did, which studies made
//! before it was written out used; [`SPLIT_VERSION`] names it in the fingerprint.

use rand::RngCore;

use crate::seed::{self, Purpose};

/// How the rows are split into training and validation, for the fingerprint: Fisher–Yates from the
/// back with `rand` 0.8's draws (a widening multiply, rejecting low words above a zone) from
/// ChaCha8.
pub const SPLIT_VERSION: &str = "fisher-yates-rand-0.8-chacha8";

/// The rows `0..n` in the split's order (the study takes test, then validation rows from its
/// front: see [`sides`]).
pub fn split_order(n: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = seed::rng(seed, Purpose::Split, 0, 0);
    for i in (1..n).rev() {
        let j = draw(&mut rng, i as u32 + 1);
        order.swap(i, j as usize);
    }
    order
}

/// How many of `n` rows go to test and to validation: `floor(fraction × n)` each, of all the rows
/// (so that a study without test rows keeps the validation rows it always had).
pub fn side_sizes(n: usize, validation_fraction: f64, test_fraction: f64) -> (usize, usize) {
    let share = |f: f64| (f * n as f64).floor() as usize;
    (share(test_fraction), share(validation_fraction))
}

/// The split's three sides of `order` (from [`split_order`]): test rows from its front, then
/// validation rows, then training rows. Without test rows the validation rows are where they
/// always were.
pub fn sides(order: &[usize], n_test: usize, n_val: usize) -> [&[usize]; 3] {
    let (test, rest) = order.split_at(n_test);
    let (val, train) = rest.split_at(n_val);
    [test, val, train]
}

/// A uniform draw from `0..n` (`n` ≥ 1) as `rand` 0.8 makes it for `u32`: the high word of
/// `word × n`, taken when the low word is within the largest multiple of `n` shifted to the top
/// (a conservative zone: slightly more rejections than the exact one, the same values otherwise).
fn draw(rng: &mut impl RngCore, n: u32) -> u32 {
    let zone = (n << n.leading_zeros()).wrapping_sub(1);
    loop {
        let m = rng.next_u32() as u64 * n as u64;
        if (m as u32) <= zone {
            return (m >> 32) as u32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::seq::SliceRandom;

    #[test]
    fn the_split_is_what_rand_0_8_shuffled() {
        // Studies made before the split was written out resume with the same rows.
        for seed in [0u64, 1, 7, 42, 12345, u64::MAX] {
            for n in (0..200).chain([1599, 1797, 65_537]) {
                let mut want: Vec<usize> = (0..n).collect();
                want.shuffle(&mut seed::rng(seed, Purpose::Split, 0, 0));
                assert_eq!(split_order(n, seed), want, "seed {seed}, {n} rows");
            }
        }
    }

    #[test]
    fn test_rows_come_first_and_the_sides_partition_the_rows() {
        for (n, seed) in [(1599usize, 5u64), (10, 1), (3, 9)] {
            let order = split_order(n, seed);
            // Without test rows: the validation and training rows of before.
            let (_, n_val) = side_sizes(n, 0.2, 0.0);
            let [test, val, train] = sides(&order, 0, n_val);
            let (old_val, old_train) = order.split_at((0.2 * n as f64).floor() as usize);
            assert!(test.is_empty());
            assert_eq!((val, train), (old_val, old_train));
            // With them: disjoint, and every row on one side.
            let (n_test, n_val) = side_sizes(n, 0.2, 0.34);
            assert_eq!(n_test, (0.34 * n as f64).floor() as usize);
            let [test, val, train] = sides(&order, n_test, n_val);
            assert_eq!((test.len(), val.len()), (n_test, n_val));
            let mut all: Vec<usize> = [test, val, train].concat();
            all.sort_unstable();
            assert_eq!(all, (0..n).collect::<Vec<_>>());
        }
    }

    #[test]
    fn draws_are_uniform_and_in_range() {
        let mut rng = seed::rng(3, Purpose::Split, 0, 0);
        let n = 7u32;
        let mut counts = [0u32; 7];
        for _ in 0..70_000 {
            counts[draw(&mut rng, n) as usize] += 1;
        }
        for c in counts {
            assert!((9_400..10_600).contains(&c), "{counts:?}");
        }
    }
}
