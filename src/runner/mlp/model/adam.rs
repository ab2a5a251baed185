//! Adam's update on the CPU: the arithmetic of dfdx 0.13's CPU kernel, element for element and bit
//! for bit (tested against it), but compiled for AVX where the processor has it (dfdx's is built
//! for the baseline SSE2 target: four lanes, and its square roots and divisions bound a w512 step,
//! a third of it at batch 16) and split across the trial's threads when it has more than one.
//! Each element's update depends on that element alone, so neither the lanes nor the threads
//! change a value.

use dfdx::prelude::{AdamConfig, WeightDecay};
use rayon::prelude::*;

/// Elements per thread below which the update stays on one thread: a rayon task costs about
/// as much as updating this many.
const MIN_PER_THREAD: usize = 1 << 14;

/// The constants of one update, converted as dfdx converts them.
#[derive(Clone, Copy)]
struct Step {
    b0: f32,
    b1: f32,
    /// `1 / (1 - beta^t)`, Adam's bias corrections.
    c0: f32,
    c1: f32,
    lr: f32,
    eps: f32,
    /// L2 weight decay (added to the gradient) and decoupled weight decay times the learning rate.
    l2: Option<f32>,
    decoupled: Option<f32>,
}

impl Step {
    fn new(cfg: &AdamConfig, t: i32) -> Step {
        let b0 = cfg.betas[0] as f32;
        let b1 = cfg.betas[1] as f32;
        Step {
            b0,
            b1,
            c0: (1.0 - b0.powi(t)).recip(),
            c1: (1.0 - b1.powi(t)).recip(),
            lr: cfg.lr as f32,
            eps: cfg.eps as f32,
            l2: match cfg.weight_decay {
                Some(WeightDecay::L2(wd)) => Some(wd as f32),
                _ => None,
            },
            decoupled: match cfg.weight_decay {
                Some(WeightDecay::Decoupled(wd)) => Some((wd * cfg.lr) as f32),
                _ => None,
            },
        }
    }

    /// Updates `p`, `m` and `v` (the moments) from the gradient `g`, all of one length.
    #[inline(always)]
    fn apply(&self, p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32]) {
        let s = *self;
        for (((p, m), v), &g) in p.iter_mut().zip(m).zip(v).zip(g) {
            let mut g = g;
            if let Some(wd) = s.l2 {
                g += wd * *p;
            }
            *m = *m * s.b0 + g * (1.0 - s.b0);
            *v = *v * s.b1 + (g * g) * (1.0 - s.b1);
            let m_hat = *m * s.c0;
            let v_hat = *v * s.c1;
            g = s.lr * m_hat / (v_hat.sqrt() + s.eps);
            if let Some(wd) = s.decoupled {
                g += wd * *p;
            }
            *p -= g;
        }
    }

    /// [`Step::apply`] compiled with AVX (eight lanes).
    ///
    /// # Safety
    /// The processor must support AVX.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx")]
    unsafe fn apply_avx(&self, p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32]) {
        self.apply(p, m, v, g)
    }

    fn apply_fastest(&self, p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: AVX is there.
            return unsafe { self.apply_avx(p, m, v, g) };
        }
        self.apply(p, m, v, g)
    }
}

/// One Adam update of `p` with moments `m`, `v` and gradient `g` (dfdx's `AdamConfig::try_update`
/// on the CPU, same values), on the trial's threads ([`super::threads`]) when the tensor is large.
pub fn update(cfg: &AdamConfig, t: i32, p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32]) {
    assert!(p.len() == m.len() && p.len() == v.len() && p.len() == g.len());
    let step = Step::new(cfg, t);
    let threads = super::threads().min(p.len() / MIN_PER_THREAD);
    if threads <= 1 {
        return step.apply_fastest(p, m, v, g);
    }
    // Pieces of whole 64-byte lines, one per thread.
    let per = p.len().div_ceil(threads).next_multiple_of(16);
    p.par_chunks_mut(per)
        .zip(m.par_chunks_mut(per))
        .zip(v.par_chunks_mut(per))
        .zip(g.par_chunks(per))
        .for_each(|(((p, m), v), g)| step.apply_fastest(p, m, v, g));
}

#[cfg(test)]
mod tests {
    use super::*;
    use dfdx::prelude::*;

    fn values(n: usize, seed: u32, scale: f32) -> Vec<f32> {
        (0..n)
            .map(|i| ((i as u32).wrapping_mul(2654435761) ^ seed) as f32 / u32::MAX as f32 - 0.5)
            .map(|x| x * scale)
            .collect()
    }

    /// Our update and dfdx's CPU kernel, several steps from the same state, with each kind of weight
    /// decay, on one thread and on three (a length that leaves a short last piece): the same bits.
    #[test]
    fn is_dfdx_adam_bit_for_bit_on_any_number_of_threads() {
        let n = 3 * MIN_PER_THREAD + 37;
        let dev: Cpu = Default::default();
        for weight_decay in [
            None,
            Some(WeightDecay::L2(1e-2)),
            Some(WeightDecay::Decoupled(3e-2)),
        ] {
            let cfg = AdamConfig {
                lr: 3e-3,
                betas: [0.9, 0.999],
                eps: 1e-8,
                weight_decay,
            };
            for threads in [1, 3] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let mut p = values(n, 1, 2.0);
                let (mut m, mut v) = (vec![0.0f32; n], vec![0.0f32; n]);
                let mut theirs = dev.tensor_from_vec(p.clone(), (n,));
                let mut grads = Gradients::leaky();
                let mut mt = grads.get_or_alloc_mut(&theirs).unwrap().clone();
                let mut vt = mt.clone();
                for t in 1..=4 {
                    let g = values(n, t as u32 * 7919, 0.1 * t as f32);
                    pool.install(|| update(&cfg, t, &mut p, &mut m, &mut v, &g));
                    let gt = dev.tensor_from_vec(g, (n,));
                    let gbuf = {
                        let mut gs = Gradients::leaky();
                        let b = gs.get_or_alloc_mut(&gt).unwrap();
                        b.copy_from_slice(&gt.as_vec());
                        b.clone()
                    };
                    cfg.try_update(t, &mut theirs, &mut mt, &mut vt, &gbuf)
                        .unwrap();
                    let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&p), bits(&theirs.as_vec()), "{weight_decay:?} t={t}");
                    assert_eq!(bits(&m), bits(&mt), "{weight_decay:?} t={t}");
                    assert_eq!(bits(&v), bits(&vt), "{weight_decay:?} t={t}");
                }
            }
        }
    }
}
