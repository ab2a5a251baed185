//! The criteria of a study with two objectives or with constraints, as Optuna's GPSampler chooses
//! them (a GP per objective and per constrained metric, each independent): the log expected
//! hypervolume improvement of two objectives, here in closed form rather than by quasi-random
//! samples; the log expected improvement of one; and, with constraints, the log probability that
//! each constrained metric lies within its bounds added to either (constrained expected
//! improvement, Gardner et al. 2014). With no feasible trial yet, the probabilities alone.
//!
//! The closed form: with the front sorted by the first objective, a₁ < … < aₙ, b₁ > … > bₙ, the
//! reference (r₁, r₂), a₀ = -∞, aₙ₊₁ = r₁, b₀ = r₂, the region a point y improves is the staircase
//! ⋃ᵢ [max(y₁, aᵢ), aᵢ₊₁) × [y₂, bᵢ), so its improvement is Σᵢ (aᵢ₊₁ - max(y₁, aᵢ))⁺ (bᵢ - y₂)⁺ and,
//! the objectives independent, its expectation Σᵢ (G₁(aᵢ₊₁) - G₁(aᵢ)) G₂(bᵢ) with
//! G(c) = E[(c - Y)⁺] = σ ψ((c - μ)/σ), ψ(z) = zΦ(z) + φ(z). Each term is taken in logarithms, so
//! that the criterion keeps a slope far from the front where it underflows.

use super::acquire::{log_h, Criterion, LogEi};
use super::model::Gp;

const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// What the objectives contribute.
pub enum Objective<'a> {
    /// No feasible trial yet: only the constraints count.
    None,
    /// One objective: the log expected improvement below the best feasible value.
    Ei(LogEi<'a>),
    /// Two objectives: the log expected hypervolume improvement over `front` (non-dominated,
    /// sorted by the first objective, every point below `reference`).
    Ehvi {
        gps: [&'a Gp; 2],
        front: Vec<(f64, f64)>,
        reference: (f64, f64),
    },
}

/// A constrained metric's GP and its bounds, in the GP's units.
pub struct Bound<'a> {
    pub gp: &'a Gp,
    pub lo: f64,
    pub hi: f64,
}

/// The objectives' part plus each constraint's log probability of holding.
pub struct Constrained<'a> {
    pub objective: Objective<'a>,
    pub bounds: Vec<Bound<'a>>,
    /// The length scales the local searches step in (the GPs' mean, as Optuna takes).
    pub scales: Vec<f64>,
}

impl Criterion for Constrained<'_> {
    fn length_scales(&self) -> Vec<f64> {
        self.scales.clone()
    }

    fn value(&self, x: &[f64], mut grad: Option<&mut [f64]>) -> f64 {
        if let Some(g) = grad.as_deref_mut() {
            g.fill(0.0);
        }
        let mut total = match &self.objective {
            Objective::None => 0.0,
            // It writes the whole gradient: the first part.
            Objective::Ei(ei) => ei.value(x, grad.as_deref_mut()),
            Objective::Ehvi {
                gps,
                front,
                reference,
            } => {
                let want = grad.is_some();
                let a = Posterior::at(gps[0], x, want);
                let b = Posterior::at(gps[1], x, want);
                let (v, dmu, dsd) = log_ehvi(front, *reference, [a.mu, b.mu], [a.sd, b.sd]);
                if let Some(g) = grad.as_deref_mut() {
                    a.chain(g, dmu[0], dsd[0]);
                    b.chain(g, dmu[1], dsd[1]);
                }
                v
            }
        };
        for bound in &self.bounds {
            let p = Posterior::at(bound.gp, x, grad.is_some());
            let (v, dmu, dsd) = log_within(bound.lo, bound.hi, p.mu, p.sd);
            if let Some(g) = grad.as_deref_mut() {
                p.chain(g, dmu, dsd);
            }
            total += v;
        }
        total
    }
}

/// A GP's posterior mean and standard deviation at a point, with their gradients on request.
struct Posterior {
    mu: f64,
    sd: f64,
    dmu: Vec<f64>,
    dsd: Vec<f64>,
}

impl Posterior {
    fn at(gp: &Gp, x: &[f64], grad: bool) -> Posterior {
        let d = x.len();
        let (mut dmu, mut dvar) = (vec![0.0; d], vec![0.0; d]);
        let (mu, var) = gp.posterior(x, grad.then_some((&mut dmu[..], &mut dvar[..])));
        let sd = var.sqrt();
        let dsd = dvar.iter().map(|v| v / (2.0 * sd)).collect();
        Posterior { mu, sd, dmu, dsd }
    }

    /// Adds to `g` the gradient in x of a function whose derivatives in μ and σ are given.
    fn chain(&self, g: &mut [f64], d_mu: f64, d_sd: f64) {
        for ((g, m), s) in g.iter_mut().zip(&self.dmu).zip(&self.dsd) {
            *g += d_mu * m + d_sd * s;
        }
    }
}

/// ln G(c) = ln E[(c - Y)⁺] for Y ~ N(μ, σ²), and its derivatives in μ and σ.
fn log_g(c: f64, mu: f64, sd: f64) -> (f64, f64, f64) {
    let z = (c - mu) / sd;
    let (lh, ratio) = log_h(z);
    (sd.ln() + lh, -ratio / sd, (1.0 - ratio * z) / sd)
}

/// The log expected hypervolume improvement of a point whose two objectives are independent
/// normals (`mu`, `sd`) over `front` (non-dominated, sorted by the first objective, every point
/// below `reference`), and its derivatives in the means and the deviations.
pub fn log_ehvi(
    front: &[(f64, f64)],
    reference: (f64, f64),
    mu: [f64; 2],
    sd: [f64; 2],
) -> (f64, [f64; 2], [f64; 2]) {
    let n = front.len();
    // Term i: (ln, ∂/∂μ₁, ∂/∂μ₂, ∂/∂σ₁, ∂/∂σ₂).
    let mut terms: Vec<[f64; 5]> = Vec::with_capacity(n + 1);
    let upper = |i: usize| if i < n { front[i].0 } else { reference.0 };
    for i in 0..=n {
        let (lh, mh, sh) = log_g(upper(i), mu[0], sd[0]);
        let (ld, md, sdd) = if i == 0 {
            (lh, mh, sh)
        } else {
            let (ll, ml, sl) = log_g(front[i - 1].0, mu[0], sd[0]);
            let gap = ll - lh;
            if gap >= 0.0 {
                continue; // an empty strip
            }
            let e = gap.exp();
            let keep = -gap.exp_m1();
            (lh + keep.ln(), (mh - e * ml) / keep, (sh - e * sl) / keep)
        };
        let b = if i == 0 { reference.1 } else { front[i - 1].1 };
        let (l2, m2, s2) = log_g(b, mu[1], sd[1]);
        terms.push([ld + l2, md, m2, sdd, s2]);
    }
    let top = terms.iter().map(|t| t[0]).fold(f64::NEG_INFINITY, f64::max);
    if !top.is_finite() {
        return (f64::NEG_INFINITY, [0.0; 2], [0.0; 2]);
    }
    let weights: Vec<f64> = terms.iter().map(|t| (t[0] - top).exp()).collect();
    let sum: f64 = weights.iter().sum();
    let (mut dmu, mut dsd) = ([0.0; 2], [0.0; 2]);
    for (t, w) in terms.iter().zip(&weights) {
        let w = w / sum;
        dmu[0] += w * t[1];
        dmu[1] += w * t[2];
        dsd[0] += w * t[3];
        dsd[1] += w * t[4];
    }
    (top + sum.ln(), dmu, dsd)
}

/// ln Φ(z) and φ(z)/Φ(z), accurate far in the lower tail (erfc keeps its relative precision down
/// to -30; the Mills ratio's series below).
fn log_cdf(z: f64) -> (f64, f64) {
    if z == f64::NEG_INFINITY {
        return (f64::NEG_INFINITY, f64::INFINITY);
    }
    if z > -30.0 {
        let cdf = 0.5 * libm::erfc(-z / std::f64::consts::SQRT_2);
        let pdf = (-0.5 * z * z - LN_SQRT_2PI).exp();
        (cdf.ln(), pdf / cdf)
    } else {
        let t = -z;
        let u = 1.0 / (t * t);
        let series = 1.0 - u + 3.0 * u * u - 15.0 * u * u * u;
        (
            -0.5 * z * z - LN_SQRT_2PI - t.ln() + series.ln(),
            t / series,
        )
    }
}

/// ln P(lo ≤ Y ≤ hi) for Y ~ N(μ, σ²) (either bound may be infinite), and its derivatives in μ
/// and σ. The difference of the two tails is taken on the side where both are small.
pub fn log_within(lo: f64, hi: f64, mu: f64, sd: f64) -> (f64, f64, f64) {
    let (za, zb) = ((lo - mu) / sd, (hi - mu) / sd);
    // P = Φ(p) - Φ(q), p > q; flipped: Φ(-za) - Φ(-zb).
    let flipped = za + zb > 0.0;
    let (p, q) = if flipped { (-za, -zb) } else { (zb, za) };
    let (lp, rp) = log_cdf(p);
    let (lq, rq) = log_cdf(q);
    let gap = lq - lp;
    let ln = if q == f64::NEG_INFINITY {
        lp
    } else {
        lp + (-gap.exp_m1()).max(f64::MIN_POSITIVE).ln()
    };
    // φ(·)/P for p and q: (φ/Φ) Φ/P.
    let rho_p = rp * (lp - ln).exp();
    let rho_q = if q == f64::NEG_INFINITY {
        0.0
    } else {
        rq * (lq - ln).exp()
    };
    let (rho_a, rho_b) = if flipped {
        (rho_p, rho_q)
    } else {
        (rho_q, rho_p)
    };
    // ∂lnP/∂zb = ρb, ∂lnP/∂za = -ρa; ∂z/∂μ = -1/σ, ∂z/∂σ = -z/σ.
    let za_term = if za.is_finite() { rho_a * za } else { 0.0 };
    let zb_term = if zb.is_finite() { rho_b * zb } else { 0.0 };
    (ln, (rho_a - rho_b) / sd, (za_term - zb_term) / sd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The improvement of `y` over `front` against `reference`: the hypervolume it adds.
    fn improvement(front: &[(f64, f64)], reference: (f64, f64), y: (f64, f64)) -> f64 {
        let hv = |pts: &[(f64, f64)]| {
            let pts: Vec<Vec<f64>> = pts.iter().map(|p| vec![p.0, p.1]).collect();
            crate::pareto::hypervolume(&pts, &[reference.0, reference.1])
        };
        let mut with = front.to_vec();
        with.push(y);
        hv(&with) - hv(front)
    }

    #[test]
    fn the_closed_form_equals_a_monte_carlo_estimate_and_its_derivatives_its_slopes() {
        let front = [(0.1, 2.0), (0.5, 1.0), (1.2, 0.4)];
        let reference = (2.0, 3.0);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let normal = |rng: &mut rand_chacha::ChaCha8Rng| {
            let (u, v): (f64, f64) = (rng.gen(), rng.gen());
            (-2.0 * (1.0 - u).ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        };
        for (mu, sd) in [
            ([0.7, 1.5], [0.3, 0.5]),
            ([0.0, 0.0], [1.0, 1.0]),
            ([1.5, 2.5], [0.2, 0.2]),
        ] {
            let (v, dmu, dsd) = log_ehvi(&front, reference, mu, sd);
            let n = 200_000;
            let mc: f64 = (0..n)
                .map(|_| {
                    let y = (
                        mu[0] + sd[0] * normal(&mut rng),
                        mu[1] + sd[1] * normal(&mut rng),
                    );
                    improvement(&front, reference, y)
                })
                .sum::<f64>()
                / n as f64;
            assert!(
                (v.exp() - mc).abs() < 0.02 * mc + 1e-4,
                "{mu:?}: {} {mc}",
                v.exp()
            );
            let h = 1e-6;
            for k in 0..2 {
                let (mut m2, mut s2) = (mu, sd);
                m2[k] += h;
                s2[k] += h;
                let slope_mu = (log_ehvi(&front, reference, m2, sd).0 - v) / h;
                let slope_sd = (log_ehvi(&front, reference, mu, s2).0 - v) / h;
                assert!(
                    (slope_mu - dmu[k]).abs() < 1e-4 * (1.0 + dmu[k].abs()),
                    "{k}"
                );
                assert!(
                    (slope_sd - dsd[k]).abs() < 1e-4 * (1.0 + dsd[k].abs()),
                    "{k}"
                );
            }
        }
        // Far beyond the reference it underflows as a number but not as a logarithm.
        let (far, dmu, _) = log_ehvi(&front, reference, [40.0, 60.0], [0.5, 0.5]);
        assert!(far.is_finite() && far < -1000.0 && dmu[0] < 0.0 && dmu[1] < 0.0);
        // An empty front: the improvement of the whole box below the reference.
        let (v, _, _) = log_ehvi(&[], reference, [0.0, 0.0], [1e-9, 1e-9]);
        assert!((v.exp() - 6.0).abs() < 1e-6);
    }

    #[test]
    fn the_probability_within_bounds_matches_the_normal_and_its_slopes() {
        let phi = |z: f64| 0.5 * libm::erfc(-z / std::f64::consts::SQRT_2);
        let inf = f64::INFINITY;
        for (lo, hi, mu, sd) in [
            (-inf, 1.0, 0.3, 0.7),
            (0.5, inf, 0.3, 0.7),
            (-0.2, 0.4, 0.1, 0.3),
            (2.0, 3.0, -1.0, 0.5),
            (-3.0, -2.0, 1.0, 0.5),
            (-inf, -30.0, 0.0, 1.0),
        ] {
            let (v, dmu, dsd) = log_within(lo, hi, mu, sd);
            let (za, zb) = ((lo - mu) / sd, (hi - mu) / sd);
            // erfc keeps its precision in each tail: subtract in the smaller one.
            let exact = (phi(zb) - phi(za)).min(phi(-za) - phi(-zb));
            if exact > 1e-300 {
                assert!(
                    (v.exp() - exact).abs() < 1e-9 * exact.max(1e-12) + 1e-15,
                    "{lo} {hi}: {} {exact}",
                    v.exp()
                );
            }
            assert!(v.is_finite());
            let h = 1e-7;
            let slope_mu = (log_within(lo, hi, mu + h, sd).0 - v) / h;
            let slope_sd = (log_within(lo, hi, mu, sd + h).0 - v) / h;
            assert!(
                (slope_mu - dmu).abs() < 1e-3 * (1.0 + dmu.abs()),
                "{lo} {hi}: {slope_mu} {dmu}"
            );
            assert!(
                (slope_sd - dsd).abs() < 1e-3 * (1.0 + dsd.abs()),
                "{lo} {hi}: {slope_sd} {dsd}"
            );
        }
        assert_eq!(log_within(-inf, inf, 0.0, 1.0).0, 0.0);
    }
}
