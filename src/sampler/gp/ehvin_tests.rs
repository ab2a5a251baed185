use super::*;
use crate::pareto::hypervolume;
use rand::{Rng, SeedableRng};

type Rng8 = rand_chacha::ChaCha8Rng;

fn normal(rng: &mut Rng8) -> f64 {
    let (u, v): (f64, f64) = (rng.gen(), rng.gen());
    (-2.0 * (1.0 - u).ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// A front of `n` points on the simplex Σ = 1 in `m` objectives (non-dominated), all below 1.
fn simplex(rng: &mut Rng8, n: usize, m: usize) -> Vec<Vec<f64>> {
    (0..n)
        .map(|_| {
            let w: Vec<f64> = (0..m).map(|_| -rng.gen::<f64>().ln()).collect();
            let s: f64 = w.iter().sum();
            w.iter().map(|v| v / s).collect()
        })
        .collect()
}

#[test]
fn the_closed_form_equals_a_monte_carlo_estimate_in_three_and_four_objectives() {
    let mut rng = Rng8::seed_from_u64(3);
    for m in [3, 4] {
        let front = simplex(&mut rng, 6, m);
        let reference = vec![1.2; m];
        let boxes = Boxes::new(&front, &reference).unwrap();
        let base = hypervolume(&front, &reference);
        let mut points = vec![(vec![0.3; m], vec![0.3; m]), (vec![0.0; m], vec![1.0; m])];
        let mut skew = vec![0.2; m];
        skew[0] = 0.9;
        points.push((skew, vec![0.15; m]));
        for (mu, sd) in points {
            let (v, _, _) = boxes.log_ehvi(&mu, &sd);
            let n = 100_000;
            let mut with = front.clone();
            with.push(vec![0.0; m]);
            let mc: f64 = (0..n)
                .map(|_| {
                    for k in 0..m {
                        with[front.len()][k] = mu[k] + sd[k] * normal(&mut rng);
                    }
                    hypervolume(&with, &reference) - base
                })
                .sum::<f64>()
                / n as f64;
            assert!(
                (v.exp() - mc).abs() < 0.02 * mc,
                "{m} objectives at {mu:?}: {} against {mc}",
                v.exp()
            );
        }
    }
}

#[test]
fn the_derivatives_equal_finite_differences_and_the_slope_stays_far_away() {
    let mut rng = Rng8::seed_from_u64(8);
    for m in [3, 4] {
        let front = simplex(&mut rng, 5, m);
        let reference = vec![1.1; m];
        let boxes = Boxes::new(&front, &reference).unwrap();
        for _ in 0..4 {
            let mu: Vec<f64> = (0..m).map(|_| rng.gen_range(-0.2..1.0)).collect();
            let sd: Vec<f64> = (0..m).map(|_| rng.gen_range(0.05..0.6)).collect();
            let (v, dmu, dsd) = boxes.log_ehvi(&mu, &sd);
            let h = 1e-6;
            for k in 0..m {
                let (mut m2, mut s2) = (mu.clone(), sd.clone());
                m2[k] += h;
                s2[k] += h;
                let slope_mu = (boxes.log_ehvi(&m2, &sd).0 - v) / h;
                let slope_sd = (boxes.log_ehvi(&mu, &s2).0 - v) / h;
                assert!(
                    (slope_mu - dmu[k]).abs() < 1e-4 * (1.0 + dmu[k].abs()),
                    "{m}/{k}: {slope_mu} {}",
                    dmu[k]
                );
                assert!(
                    (slope_sd - dsd[k]).abs() < 1e-4 * (1.0 + dsd[k].abs()),
                    "{m}/{k}: {slope_sd} {}",
                    dsd[k]
                );
            }
        }
        // Far beyond the reference it underflows as a number but not as a logarithm, and still
        // points back.
        let (far, dmu, _) = boxes.log_ehvi(&vec![30.0; m], &vec![0.5; m]);
        assert!(far.is_finite() && far < -1000.0, "{far}");
        assert!(dmu.iter().all(|d| *d < 0.0), "{dmu:?}");
    }
    // An empty front: the whole box below the reference.
    let boxes = Boxes::new(&[], &[1.0, 2.0, 3.0]).unwrap();
    let (v, _, _) = boxes.log_ehvi(&[0.0; 3], &[1e-9; 3]);
    assert!((v.exp() - 6.0).abs() < 1e-6);
}

#[test]
fn the_boxes_fill_the_reference_box_less_the_fronts_hypervolume() {
    let mut rng = Rng8::seed_from_u64(11);
    for (m, n) in [(3, 1), (3, 12), (4, 9), (5, 5)] {
        let mut front = simplex(&mut rng, n, m);
        // A repeated point and a dominated one change nothing.
        front.push(front[0].clone());
        front.push(front[0].iter().map(|v| v + 0.01).collect());
        let front = super::front(&front, &vec![1.0; m]);
        assert_eq!(front.len(), n);
        let reference: Vec<f64> = (0..m).map(|k| 1.0 + 0.1 * k as f64).collect();
        let boxes = Boxes::new(&front, &reference).unwrap();
        // Clipped below at the origin (the front lies above it).
        let mut free = 0.0;
        for b in 0..boxes.len() {
            let (lo, hi) = boxes.corners(b);
            assert!(lo.iter().zip(&hi).all(|(l, h)| l < h));
            free += lo
                .iter()
                .zip(&hi)
                .map(|(l, h)| h - l.max(0.0))
                .product::<f64>();
        }
        let whole: f64 = reference.iter().product();
        let expect = whole - hypervolume(&front, &reference);
        assert!(
            (free - expect).abs() < 1e-9 * whole,
            "{m} objectives, {n} points: {free} against {expect}"
        );
    }
    // Past the cap the caller scalarises.
    let big = simplex(&mut rng, 60, 4);
    assert!(Boxes::new(&big, &[1.0; 4]).is_none());
}

#[test]
fn the_front_keeps_the_non_dominated_points_below_the_reference_once() {
    let pts = vec![
        vec![0.5, 0.5, 0.5],
        vec![0.6, 0.6, 0.6],
        vec![0.5, 0.5, 0.5],
        vec![0.1, 0.9, 0.9],
        vec![0.0, 0.0, 2.0],
        vec![0.5, 0.5, 0.4],
    ];
    assert_eq!(
        front(&pts, &[1.0, 1.0, 1.0]),
        vec![vec![0.1, 0.9, 0.9], vec![0.5, 0.5, 0.4]]
    );
}
