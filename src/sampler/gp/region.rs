//! The trust region the acquisition is searched in (TuRBO: Eriksson et al. 2019, "Scalable global
//! optimization via local Bayesian optimization"): a box around the best point tried, its sides
//! in proportion to the GP's length scales, whose size doubles after 3 improvements in a row and
//! halves after max(4, d) suggestions without one. A GP whose posterior reverts to its mean far
//! from the points tried sees the box's corners (the farthest from every point) as the most
//! uncertain and so, under expected improvement, as promising whatever the function does there:
//! the suggestions piled onto the bounds. Searched inside the region, they go to a face only when
//! the best point is near it. When the region has shrunk below TuRBO's smallest size, it starts
//! over at its first size (TuRBO restarts its GP too; here the GP keeps every point).
//! The constants are TuRBO's published defaults, not tuned here.

use super::encode::Code;

/// The region's first side, in unit-cube widths (scaled by the length scales' weights).
const INITIAL: f64 = 0.8;
/// Below this side the region starts over.
const SMALLEST: f64 = 1.0 / 128.0;
/// The largest side.
const LARGEST: f64 = 1.6;
/// Improvements in a row that double the side.
const SUCCESSES: usize = 3;
/// An improvement: below the best by this share of its size.
const MARGIN: f64 = 1e-3;

/// The region's side after the values `ys` of the GP's suggestions (in order), starting from
/// `best`, the best value before them, in a space of `d` coordinates.
pub fn side(mut best: f64, ys: &[f64], d: usize) -> f64 {
    let failures_to_halve = d.max(4);
    let (mut side, mut good, mut bad) = (INITIAL, 0, 0);
    for &y in ys {
        if y < best - MARGIN * best.abs() {
            (good, bad) = (good + 1, 0);
        } else {
            (good, bad) = (0, bad + 1);
        }
        best = best.min(y);
        if good == SUCCESSES {
            (side, good) = ((2.0 * side).min(LARGEST), 0);
        } else if bad == failures_to_halve {
            (side, bad) = (side / 2.0, 0);
        }
        if side < SMALLEST {
            side = INITIAL;
        }
    }
    side
}

/// A box of the unit cube, per coordinate.
#[derive(Clone, Debug)]
pub struct Region {
    pub lo: Vec<f64>,
    pub hi: Vec<f64>,
}

impl Region {
    /// The whole unit cube of `d` coordinates.
    pub fn whole(d: usize) -> Region {
        Region {
            lo: vec![0.0; d],
            hi: vec![1.0; d],
        }
    }

    /// The box of side `side` around `center`, each ordered coordinate's side in proportion to
    /// its length scale (divided by their geometric mean); labels keep every level.
    pub fn around(center: &[f64], lengths: &[f64], codes: &[Code], side: f64) -> Region {
        let ordered: Vec<usize> = (0..codes.len())
            .filter(|&j| !codes[j].categorical())
            .collect();
        // TuRBO's GP keeps its length scales within [0.005, 2]: so do the weights here, else one
        // coordinate the GP finds irrelevant would stretch the box across the whole range.
        let ln = |j: usize| lengths[j].clamp(0.005, 2.0).ln();
        let mean_ln = ordered.iter().map(|&j| ln(j)).sum::<f64>() / ordered.len().max(1) as f64;
        let (mut lo, mut hi) = (vec![0.0; codes.len()], vec![1.0; codes.len()]);
        for &j in &ordered {
            let half = 0.5 * side * (ln(j) - mean_ln).exp();
            lo[j] = (center[j] - half).max(0.0);
            hi[j] = (center[j] + half).min(1.0);
        }
        Region { lo, hi }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_side_doubles_after_three_improvements_and_halves_after_d_failures() {
        assert_eq!(side(1.0, &[0.9, 0.8, 0.7], 2), 1.6);
        assert_eq!(side(1.0, &[1.0; 4], 2), 0.4);
        assert_eq!(side(1.0, &[1.0; 6], 6), 0.4);
        assert_eq!(side(1.0, &[1.0; 5], 6), 0.8);
        // Seven halvings take it below 1/128: it starts over.
        assert_eq!(side(1.0, &[1.0; 28], 2), 0.8);
    }
}
