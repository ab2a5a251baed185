//! The Gaussian process: s² times a Matérn 5/2 kernel with one length scale per coordinate
//! (inputs in the unit cube; a categorical coordinate's distance is 0 for the same level and 1 for
//! any other, so no order of levels exists), plus noise, fitted by maximum a posteriori. Each
//! length scale has Optuna's GPSampler's prior on its inverse square λ = ℓ⁻², log density
//! -0.1/λ - 0.1λ (mode ℓ = 1, the unit cube's width; the fit starts there), which on the sampler
//! suite (benches/suite.sh, 14 problems, 10 seeds) did better at 40 trials than the
//! dimension-scaled prior of Hvarfner et al. (2024, BoTorch's default): within 10 % of the better
//! Optuna sampler on 10 problems against 8 (docs/benchmarks.md). The signal variance s² and the
//! noise have Optuna's priors too (Gamma(2, 1), Gamma(1.1, 30)) and the noise its floor of 1e-6,
//! which only keeps the factorisation well conditioned. The objective is standardised.

use super::lbfgs::{self, Stop};

/// The smallest noise variance (of the standardised objective).
const MIN_NOISE: f64 = 1e-6;

/// The negative log prior density (up to a constant) of the length scale e^u, and its
/// derivative in u: 0.1/λ + 0.1λ with λ = e^(-2u).
fn length_prior(u: f64) -> (f64, f64) {
    let (up, down) = ((2.0 * u).exp(), (-2.0 * u).exp());
    (0.1 * up + 0.1 * down, 0.2 * up - 0.2 * down)
}

/// The log prior density of noise variance `v` (up to a constant) and its derivative in `v`:
/// Optuna's Gamma(1.1, 30), mode 0.0033. BoTorch's LogNormal(-4, 1) (mode 0.0067) measured worse
/// at 40 trials on Hartmann-3, Hartmann-6, Michalewicz-5 and Levy-6 (`benches/gp.rs`, 10 seeds).
fn noise_prior(v: f64) -> (f64, f64) {
    (0.1 * v.ln() - 30.0 * v, 0.1 / v - 30.0)
}

/// Where the fit starts the log noise variance: the prior's mode.
const NOISE_START: f64 = -5.7;

/// The Matérn 5/2 correlation at squared distance `r2`, and its derivative in `r2`.
fn matern52(r2: f64) -> (f64, f64) {
    let s = (5.0 * r2).sqrt();
    let e = (-s).exp();
    (e * (1.0 + s + s * s / 3.0), -5.0 / 6.0 * (1.0 + s) * e)
}

/// The training inputs: rows in the unit cube, and which coordinates are categorical.
#[derive(Clone, Debug)]
pub struct Inputs {
    pub rows: Vec<Vec<f64>>,
    pub categorical: Vec<bool>,
}

impl Inputs {
    /// Per coordinate, the squared distance between `a` and `b` (0 or 1 for a categorical).
    fn sqd(&self, a: &[f64], b: &[f64], out: &mut [f64]) {
        for j in 0..a.len() {
            out[j] = if self.categorical[j] {
                f64::from(a[j] != b[j])
            } else {
                (a[j] - b[j]).powi(2)
            };
        }
    }
}

/// A fitted GP: its hyperparameters and the factorisation they give on the training points.
pub struct Gp {
    inputs: Inputs,
    /// The signal variance s².
    scale: f64,
    /// 1/ℓ² per coordinate.
    inv_sq_len: Vec<f64>,
    /// The Cholesky factor of K + σ²I (lower, row-major).
    chol: Vec<f64>,
    /// (K + σ²I)⁻¹ y.
    alpha: Vec<f64>,
}

/// The hyperparameters in the fit's coordinates: ln ℓ per coordinate, then ln(σ² - MIN_NOISE).
type Raw = Vec<f64>;

/// Lower-triangular Cholesky factor of the `n`×`n` matrix `a` (row-major), or `None` when `a` is
/// not positive definite.
pub fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= l[i * n + k] * l[j * n + k];
            }
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return None;
                }
                l[i * n + i] = s.sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    Some(l)
}

/// Solves L v = b in place (L lower, row-major).
fn solve_lower(l: &[f64], n: usize, b: &mut [f64]) {
    for i in 0..n {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i * n + k] * b[k];
        }
        b[i] = s / l[i * n + i];
    }
}

/// Solves Lᵀ v = b in place.
fn solve_upper(l: &[f64], n: usize, b: &mut [f64]) {
    for i in (0..n).rev() {
        let mut s = b[i];
        for k in i + 1..n {
            s -= l[k * n + i] * b[k];
        }
        b[i] = s / l[i * n + i];
    }
}

/// What the fit needs of the data, computed once: every pair's per-coordinate squared distances.
struct FitData<'a> {
    inputs: &'a Inputs,
    y: &'a [f64],
    sqd: Vec<f64>,
}

impl FitData<'_> {
    /// The negative log posterior of `raw` and its gradient (into `grad`); infinite when the
    /// kernel matrix does not factor.
    fn loss(&self, raw: &[f64], grad: &mut [f64]) -> f64 {
        let (n, d) = (self.y.len(), self.inputs.categorical.len());
        let inv: Vec<f64> = raw[..d].iter().map(|u| (-2.0 * u).exp()).collect();
        let noise = raw[d].exp() + MIN_NOISE;
        let scale = raw[d + 1].exp();
        let mut k = vec![0.0; n * n];
        let mut dk = vec![0.0; n * n];
        for a in 0..n {
            for b in 0..=a {
                let s = &self.sqd[(a * n + b) * d..(a * n + b + 1) * d];
                let r2: f64 = s.iter().zip(&inv).map(|(x, w)| x * w).sum();
                let (v, dv) = matern52(r2);
                k[a * n + b] = scale * v;
                k[b * n + a] = scale * v;
                dk[a * n + b] = scale * dv;
                dk[b * n + a] = scale * dv;
            }
            k[a * n + a] += noise;
        }
        let Some(l) = cholesky(&k, n) else {
            return f64::INFINITY;
        };
        let mut alpha = self.y.to_vec();
        solve_lower(&l, n, &mut alpha);
        let quad: f64 = alpha.iter().map(|v| v * v).sum();
        solve_upper(&l, n, &mut alpha);
        let logdet: f64 = (0..n).map(|i| l[i * n + i].ln()).sum();
        // W = ααᵀ - K⁻¹: the gradient of the log likelihood is ½ Σ W ∘ ∂K.
        let kinv = inverse(&l, n);
        let w = |a: usize, b: usize| alpha[a] * alpha[b] - kinv[a * n + b];
        let mut loss = 0.5 * quad + logdet;
        for j in 0..d {
            let mut g = 0.0;
            for a in 0..n {
                for b in 0..a {
                    g += w(a, b) * dk[a * n + b] * self.sqd[(a * n + b) * d + j];
                }
            }
            // ∂K/∂ln ℓ = k'(r²) · sqd · (-2/ℓ²); the pairs below the diagonal count twice.
            let (prior, dprior) = length_prior(raw[j]);
            grad[j] = -(g * -2.0 * inv[j]) + dprior;
            loss += prior;
        }
        let trace_w: f64 = (0..n).map(|a| w(a, a)).sum();
        let dnoise = raw[d].exp();
        let (prior, dprior) = noise_prior(noise);
        loss -= prior;
        grad[d] = -0.5 * trace_w * dnoise - dprior * dnoise;
        // ∂K/∂ln s² = K - σ²I; the prior on s² is Optuna's, Gamma(2, 1).
        let wk: f64 = (0..n * n).map(|i| w(i / n, i % n) * k[i]).sum();
        grad[d + 1] = -0.5 * (wk - noise * trace_w) + scale - 1.0;
        loss -= scale.ln() - scale;
        loss
    }
}

/// (L Lᵀ)⁻¹ from the lower factor L.
fn inverse(l: &[f64], n: usize) -> Vec<f64> {
    let mut inv = vec![0.0; n * n];
    let mut col = vec![0.0; n];
    for c in 0..n {
        col.iter_mut().for_each(|v| *v = 0.0);
        col[c] = 1.0;
        solve_lower(l, n, &mut col);
        solve_upper(l, n, &mut col);
        for r in 0..n {
            inv[r * n + c] = col[r];
        }
    }
    inv
}

/// The hyperparameters that maximise the posterior given `inputs` and standardised `y`, searched
/// from the prior's mode; `None` when no kernel matrix factors.
pub fn fit_hyper(inputs: &Inputs, y: &[f64], iterations: usize) -> Option<Raw> {
    let (n, d) = (y.len(), inputs.categorical.len());
    let mut sqd = vec![0.0; n * n * d];
    for a in 0..n {
        for b in 0..n {
            let (ra, rb) = (&inputs.rows[a], &inputs.rows[b]);
            inputs.sqd(ra, rb, &mut sqd[(a * n + b) * d..(a * n + b + 1) * d]);
        }
    }
    let data = FitData { inputs, y, sqd };
    // From the priors' modes: length scales of 1, as Optuna starts its fit.
    let mut x0 = vec![0.0; d];
    x0.push(NOISE_START);
    x0.push(0.0);
    // Length scales from 1/100 to 1000 unit cubes; noise variance up to the objective's.
    let mut bounds = vec![(0.01f64.ln(), 1000f64.ln()); d];
    bounds.push((-25.0, 0.0));
    bounds.push((-5.0, 5.0));
    let stop = Stop {
        iterations,
        gradient: 1e-3,
    };
    let (raw, loss) = lbfgs::minimise(&mut |x, g| data.loss(x, g), &x0, &bounds, stop);
    loss.is_finite().then_some(raw)
}

impl Gp {
    /// The GP on `inputs` and standardised `y` with hyperparameters `raw` (from [`fit_hyper`]).
    pub fn new(inputs: Inputs, y: &[f64], raw: &[f64]) -> Option<Gp> {
        let (n, d) = (y.len(), inputs.categorical.len());
        let inv_sq_len: Vec<f64> = raw[..d].iter().map(|u| (-2.0 * u).exp()).collect();
        let noise = raw[d].exp() + MIN_NOISE;
        let scale = raw[d + 1].exp();
        let mut k = vec![0.0; n * n];
        let mut s = vec![0.0; d];
        for a in 0..n {
            for b in 0..=a {
                inputs.sqd(&inputs.rows[a], &inputs.rows[b], &mut s);
                let r2: f64 = s.iter().zip(&inv_sq_len).map(|(x, w)| x * w).sum();
                let v = scale * matern52(r2).0;
                k[a * n + b] = v;
                k[b * n + a] = v;
            }
            k[a * n + a] += noise;
        }
        let chol = cholesky(&k, n)?;
        let mut alpha = y.to_vec();
        solve_lower(&chol, n, &mut alpha);
        solve_upper(&chol, n, &mut alpha);
        Some(Gp {
            inputs,
            scale,
            inv_sq_len,
            chol,
            alpha,
        })
    }

    /// The length scale of each coordinate (in unit-cube widths; a categorical's in Hamming units).
    pub fn length_scales(&self) -> Vec<f64> {
        self.inv_sq_len.iter().map(|w| w.sqrt().recip()).collect()
    }

    /// The posterior mean and variance at `x`; with `grad`, their gradients in `x` too (zero on
    /// categorical coordinates).
    pub fn posterior(&self, x: &[f64], grad: Option<(&mut [f64], &mut [f64])>) -> (f64, f64) {
        let n = self.alpha.len();
        let d = x.len();
        let mut s = vec![0.0; d];
        let mut kx = vec![0.0; n];
        let mut dkx = vec![0.0; n];
        for (i, row) in self.inputs.rows.iter().enumerate() {
            self.inputs.sqd(x, row, &mut s);
            let r2: f64 = s.iter().zip(&self.inv_sq_len).map(|(a, w)| a * w).sum();
            let (v, dv) = matern52(r2);
            (kx[i], dkx[i]) = (self.scale * v, self.scale * dv);
        }
        let mean: f64 = kx.iter().zip(&self.alpha).map(|(a, b)| a * b).sum();
        let mut v = kx.clone();
        solve_lower(&self.chol, n, &mut v);
        let var = (self.scale - v.iter().map(|a| a * a).sum::<f64>()).max(1e-12);
        if let Some((gm, gv)) = grad {
            solve_upper(&self.chol, n, &mut v);
            // ∂k_i/∂x_j = k'(r²) · 2 (x_j - X_ij) / ℓ_j²; var = 1 - kᵀK⁻¹k.
            for j in 0..d {
                let (mut m, mut w) = (0.0, 0.0);
                if !self.inputs.categorical[j] {
                    for (i, row) in self.inputs.rows.iter().enumerate() {
                        let dk = dkx[i] * 2.0 * (x[j] - row[j]) * self.inv_sq_len[j];
                        m += self.alpha[i] * dk;
                        w += v[i] * dk;
                    }
                }
                gm[j] = m;
                gv[j] = -2.0 * w;
            }
        }
        (mean, var)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> (Inputs, Vec<f64>) {
        let rows: Vec<Vec<f64>> = (0..12)
            .map(|i| {
                vec![
                    (i as f64 * 0.37) % 1.0,
                    (i as f64 * 0.61) % 1.0,
                    (i % 3) as f64,
                ]
            })
            .collect();
        let y: Vec<f64> = rows
            .iter()
            .map(|r| (r[0] - 0.4).powi(2) - r[1] + if r[2] == 1.0 { 0.5 } else { 0.0 })
            .collect();
        let inputs = Inputs {
            rows,
            categorical: vec![false, false, true],
        };
        (inputs, y)
    }

    #[test]
    fn the_fits_gradient_is_the_losss() {
        let (inputs, y) = data();
        let (n, d) = (y.len(), 3);
        let mut sqd = vec![0.0; n * n * d];
        for a in 0..n {
            for b in 0..n {
                let (ra, rb) = (&inputs.rows[a], &inputs.rows[b]);
                inputs.sqd(ra, rb, &mut sqd[(a * n + b) * d..(a * n + b + 1) * d]);
            }
        }
        let data = FitData {
            inputs: &inputs,
            y: &y,
            sqd,
        };
        let raw = vec![-0.5, 0.3, 0.1, -3.0, 0.4];
        let mut g = vec![0.0; 5];
        data.loss(&raw, &mut g);
        for j in 0..5 {
            let (mut a, mut b) = (raw.clone(), raw.clone());
            a[j] += 1e-6;
            b[j] -= 1e-6;
            let mut scratch = vec![0.0; 5];
            let numeric = (data.loss(&a, &mut scratch) - data.loss(&b, &mut scratch)) / 2e-6;
            assert!(
                (numeric - g[j]).abs() < 1e-4 * numeric.abs().max(1.0),
                "{j}: {numeric} {}",
                g[j]
            );
        }
    }

    #[test]
    fn the_posteriors_gradient_is_its_values() {
        let (inputs, y) = data();
        let raw = fit_hyper(&inputs, &y, 50).unwrap();
        let gp = Gp::new(inputs, &y, &raw).unwrap();
        let x = [0.3, 0.55, 1.0];
        let (mut gm, mut gv) = (vec![0.0; 3], vec![0.0; 3]);
        gp.posterior(&x, Some((&mut gm, &mut gv)));
        for j in 0..2 {
            let (mut a, mut b) = (x, x);
            a[j] += 1e-6;
            b[j] -= 1e-6;
            let (ma, va) = gp.posterior(&a, None);
            let (mb, vb) = gp.posterior(&b, None);
            assert!(((ma - mb) / 2e-6 - gm[j]).abs() < 1e-5, "mean {j}");
            assert!(((va - vb) / 2e-6 - gv[j]).abs() < 1e-5, "var {j}");
        }
        // At a training point the GP knows the value: small variance, mean near it.
        let (m, v) = gp.posterior(&gp.inputs.rows[4].clone(), None);
        assert!(v < 0.05 && (m - y[4]).abs() < 0.1, "{m} {v}");
    }
}
