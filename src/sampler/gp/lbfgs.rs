//! A small box-constrained quasi-Newton minimiser (projected L-BFGS, after Bertsekas' two-metric
//! projection): the GP's hyperparameter fit and its acquisition search both use it, where Optuna
//! uses SciPy's L-BFGS-B. A coordinate at a bound whose gradient pushes outward is held there; the
//! others take an L-BFGS step, projected back into the box, with a backtracking (Armijo) search.

/// How long to search.
#[derive(Clone, Copy, Debug)]
pub struct Stop {
    /// The most iterations.
    pub iterations: usize,
    /// Converged when the projected gradient's largest component is below this.
    pub gradient: f64,
}

/// The L-BFGS memory: how many recent steps shape the direction.
const MEMORY: usize = 8;

/// The point of `[lo, hi]` (per coordinate) that `f` (value and gradient) takes lowest, searching
/// from `x0`, and its value. `f` may return a non-finite value to refuse a point: the step is
/// shortened.
pub fn minimise(
    f: &mut dyn FnMut(&[f64], &mut [f64]) -> f64,
    x0: &[f64],
    bounds: &[(f64, f64)],
    stop: Stop,
) -> (Vec<f64>, f64) {
    let n = x0.len();
    let project = |x: &mut [f64]| {
        for (v, (lo, hi)) in x.iter_mut().zip(bounds) {
            *v = v.clamp(*lo, *hi);
        }
    };
    let mut x = x0.to_vec();
    project(&mut x);
    let mut g = vec![0.0; n];
    let mut fx = f(&x, &mut g);
    if !fx.is_finite() {
        return (x, fx);
    }
    let mut memory: Vec<(Vec<f64>, Vec<f64>, f64)> = vec![];
    let (mut x_new, mut g_new) = (vec![0.0; n], vec![0.0; n]);
    for _ in 0..stop.iterations {
        // Coordinates held at a bound: the gradient pushes them out of the box.
        let held: Vec<bool> = (0..n)
            .map(|j| (x[j] <= bounds[j].0 && g[j] > 0.0) || (x[j] >= bounds[j].1 && g[j] < 0.0))
            .collect();
        let pg = (0..n)
            .filter(|&j| !held[j])
            .map(|j| g[j].abs())
            .fold(0.0, f64::max);
        if pg < stop.gradient {
            break;
        }
        let mut d = direction(&g, &held, &memory);
        let slope: f64 = d.iter().zip(&g).map(|(a, b)| a * b).sum();
        if slope >= 0.0 {
            d = (0..n).map(|j| if held[j] { 0.0 } else { -g[j] }).collect();
            memory.clear();
        }
        let Some(f_new) = line_search(f, &x, fx, &g, &d, &project, &mut x_new, &mut g_new) else {
            break;
        };
        let s: Vec<f64> = x_new.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy: f64 = s.iter().zip(&y).map(|(a, b)| a * b).sum();
        if sy > 1e-12 {
            if memory.len() == MEMORY {
                memory.remove(0);
            }
            memory.push((s, y, 1.0 / sy));
        }
        let gain = fx - f_new;
        std::mem::swap(&mut x, &mut x_new);
        std::mem::swap(&mut g, &mut g_new);
        fx = f_new;
        if gain <= 1e-12 * fx.abs().max(1.0) {
            break;
        }
    }
    (x, fx)
}

/// The L-BFGS direction (two-loop recursion) on the coordinates not `held`.
fn direction(g: &[f64], held: &[bool], memory: &[(Vec<f64>, Vec<f64>, f64)]) -> Vec<f64> {
    let free = |v: &[f64]| -> Vec<f64> {
        v.iter()
            .zip(held)
            .map(|(a, h)| if *h { 0.0 } else { *a })
            .collect()
    };
    let dot = |a: &[f64], b: &[f64]| -> f64 { a.iter().zip(b).map(|(x, y)| x * y).sum() };
    let mut q = free(g);
    let mut alphas = vec![0.0; memory.len()];
    for (k, (s, y, rho)) in memory.iter().enumerate().rev() {
        let a = rho * dot(&free(s), &q);
        alphas[k] = a;
        for (qj, yj) in q.iter_mut().zip(free(y)) {
            *qj -= a * yj;
        }
    }
    if let Some((s, y, _)) = memory.last() {
        let (s, y) = (free(s), free(y));
        let yy = dot(&y, &y);
        if yy > 0.0 {
            let gamma = dot(&s, &y) / yy;
            if gamma > 0.0 {
                q.iter_mut().for_each(|v| *v *= gamma);
            }
        }
    }
    for (k, (s, y, rho)) in memory.iter().enumerate() {
        let b = rho * dot(&free(y), &q);
        for (qj, sj) in q.iter_mut().zip(free(s)) {
            *qj += (alphas[k] - b) * sj;
        }
    }
    free(&q).into_iter().map(|v| -v).collect()
}

/// Backtracks along the projected path `x + t d` until Armijo's condition holds; the value there,
/// with the point and gradient in `x_new`, `g_new`; `None` when no step decreases `f`.
#[allow(clippy::too_many_arguments)]
fn line_search(
    f: &mut dyn FnMut(&[f64], &mut [f64]) -> f64,
    x: &[f64],
    fx: f64,
    g: &[f64],
    d: &[f64],
    project: &dyn Fn(&mut [f64]),
    x_new: &mut [f64],
    g_new: &mut [f64],
) -> Option<f64> {
    let mut t = 1.0;
    for _ in 0..30 {
        for j in 0..x.len() {
            x_new[j] = x[j] + t * d[j];
        }
        project(x_new);
        let decrease: f64 = x_new
            .iter()
            .zip(x)
            .zip(g)
            .map(|((a, b), gj)| (a - b) * gj)
            .sum();
        if decrease < 0.0 {
            let f_new = f(x_new, g_new);
            if f_new.is_finite() && f_new <= fx + 1e-4 * decrease {
                return Some(f_new);
            }
        } else if x_new.iter().zip(x).all(|(a, b)| a == b) {
            return None;
        }
        t *= 0.5;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_an_interior_minimum_and_one_on_a_bound() {
        // A badly scaled bowl at (0.3, 0.7): interior.
        let mut bowl = |x: &[f64], g: &mut [f64]| {
            g[0] = 2.0 * (x[0] - 0.3);
            g[1] = 200.0 * (x[1] - 0.7);
            (x[0] - 0.3).powi(2) + 100.0 * (x[1] - 0.7).powi(2)
        };
        let stop = Stop {
            iterations: 100,
            gradient: 1e-9,
        };
        let (x, _) = minimise(&mut bowl, &[0.9, 0.1], &[(0.0, 1.0); 2], stop);
        assert!(
            (x[0] - 0.3).abs() < 1e-6 && (x[1] - 0.7).abs() < 1e-6,
            "{x:?}"
        );
        // The same bowl in a box that ends at 0.5 on the first axis: the minimum is on that bound,
        // exactly.
        let (x, _) = minimise(&mut bowl, &[0.9, 0.1], &[(0.5, 1.0), (0.0, 1.0)], stop);
        assert_eq!(x[0], 0.5);
        assert!((x[1] - 0.7).abs() < 1e-6, "{x:?}");
    }
}
