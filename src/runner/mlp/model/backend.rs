//! What a dfdx device must provide to train on: the [`Backend`] trait, with dfdx's own kernels as
//! defaults, the CPU's faster bias-and-ReLU and Adam (bit for bit the same values), and CUDA's.

use dfdx::prelude::*;

use super::{adam, backend, Matrix, Vector};
use crate::error::Result;

/// A dfdx device we can train on. `write` fills a device buffer from the host, which dfdx keeps private.
pub trait Backend: Device<f32> + dfdx::tensor::Cache + Clone + 'static {
    /// Whether validation runs on the host copy of the weights ([`host_forward`](super::host_forward)) rather than on
    /// the device: on the CPU it is the same arithmetic without building a dfdx graph, and the
    /// host copy is made for the checkpoint anyway.
    const VALIDATE_ON_HOST: bool;

    /// Copies `src` into the device buffer `dst` of the same length.
    fn write(&self, dst: &mut <Self as Storage<f32>>::Vec, src: &[f32]) -> Result<()>;

    /// `h + b` with `b` added to every row, then the ReLU when `relu`, on the tape of `h`: dfdx's
    /// broadcast add and ReLU unless the device has a faster kernel for them.
    fn add_bias<T: Tape<f32, Self> + Merge<NoneTape>>(
        h: Matrix<Self, T>,
        b: &Vector<Self>,
        relu: bool,
    ) -> Matrix<Self, T> {
        dfdx_bias(h, b, relu)
    }

    /// One Adam update of `p` from its moments `m`, `v` and gradient `g`: dfdx's kernel unless the
    /// device has a faster one for the same values.
    fn adam<S: Shape>(
        cfg: &AdamConfig,
        t: i32,
        p: &mut Tensor<S, f32, Self>,
        m: &mut <Self as Storage<f32>>::Vec,
        v: &mut <Self as Storage<f32>>::Vec,
        g: &<Self as Storage<f32>>::Vec,
    ) -> Result<()> {
        cfg.try_update(t, p, m, v, g).map_err(backend)
    }
}

/// Adds `bias` to every row of the row-major `rows`, then applies the ReLU when `relu`: the
/// arithmetic of dfdx's broadcast add and ReLU, shared by the CPU's training pass and the host
/// validation.
pub(super) fn bias_and_relu(rows: &mut [f32], bias: &[f32], relu: bool) {
    for row in rows.chunks_exact_mut(bias.len()) {
        for (v, &c) in row.iter_mut().zip(bias) {
            *v += c;
            if relu {
                *v = v.max(0.0);
            }
        }
    }
}

/// Calls `f` with this thread's scratch buffer cut to `n` values (left as the last user left
/// them: `f` overwrites what it reads). The CPU's passes copy tensors through it, since dfdx keeps
/// a tensor's buffer to itself; it only grows (a shrink and regrow would zero it each time). One
/// user at a time: `f` and the rayon jobs it may run while it waits must not call it again.
fn with_scratch<R>(n: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCRATCH.with_borrow_mut(|buf| {
        if buf.len() < n {
            buf.resize(n, 0.0);
        }
        f(&mut buf[..n])
    })
}

/// `h + b`, then the ReLU when `relu`, by dfdx's broadcast add and ReLU.
fn dfdx_bias<D: Backend, T: Tape<f32, D> + Merge<NoneTape>>(
    h: Matrix<D, T>,
    b: &Vector<D>,
    relu: bool,
) -> Matrix<D, T> {
    let shape = *h.shape();
    let h = h + b.clone().broadcast_like::<(usize, usize), Axis<0>>(&shape);
    if relu {
        h.relu()
    } else {
        h
    }
}

impl Backend for Cpu {
    const VALIDATE_ON_HOST: bool = true;

    fn write(&self, dst: &mut <Self as Storage<f32>>::Vec, src: &[f32]) -> Result<()> {
        dst.copy_from_slice(src);
        Ok(())
    }

    /// The same values as dfdx's broadcast add and ReLU, forward and backward (bit for bit,
    /// tested), in one pass over contiguous rows: dfdx's CPU kernels index every element of a
    /// broadcast through `NdIndex` (a fifth of a w128/b64 step), and its ReLU copies its input to
    /// keep it for the backward pass. The result goes back into `h`'s own buffer and keeps its id,
    /// so the two share one gradient buffer: the backward pass zeroes it where the ReLU was off,
    /// which turns the result's gradient into `h`'s, and adds its column sums to the bias's.
    fn add_bias<T: Tape<f32, Self> + Merge<NoneTape>>(
        h: Matrix<Self, T>,
        b: &Vector<Self>,
        relu: bool,
    ) -> Matrix<Self, T> {
        let (mut h, mut tape) = h.split_tape();
        let cols = h.shape().1;
        // Where the ReLU passed its input on (dfdx: input > 0), for the backward pass.
        let mut on = Vec::new();
        with_scratch(h.shape().0 * cols, |sum| {
            h.copy_into(sum);
            let mut bias = vec![0.0f32; cols];
            b.copy_into(&mut bias);
            bias_and_relu(sum, &bias, relu);
            if relu {
                // Positive after the ReLU exactly where its input was (a NaN input gives 0).
                on = sum.iter().map(|&v| v > 0.0).collect();
            }
            // In place: the tape keeps only a ghost of `h`, so its buffer is not shared.
            h.copy_from(sum);
        });
        let (g, b) = (h.ghost(), b.ghost());
        tape.add_backward_op(move |grads| {
            let grad = grads.get_or_alloc_mut(&g)?;
            if relu {
                // dfdx's ReLU backward gives 0 + 0 × gradient (+0 for a finite one) where it was
                // off. A select, not a branch: the mask is as good as random.
                for (x, &on) in grad.iter_mut().zip(&on) {
                    *x = if on { *x } else { 0.0 };
                }
            }
            let mut sums = vec![0.0f32; cols];
            for row in grad.chunks_exact(cols) {
                for (acc, &v) in sums.iter_mut().zip(row) {
                    *acc += v;
                }
            }
            for (acc, v) in grads.get_or_alloc_mut(&b)?.iter_mut().zip(sums) {
                *acc += v;
            }
            Ok(())
        });
        h.put_tape(tape)
    }

    /// [`adam::update`]: dfdx's arithmetic with AVX and the trial's threads. dfdx keeps a tensor's
    /// buffer to itself, so the weights go through a scratch copy: at w512/b16 the two copies
    /// take 9 % of a step, the update 20 % where dfdx's took 38 % (`perf record`).
    fn adam<S: Shape>(
        cfg: &AdamConfig,
        t: i32,
        p: &mut Tensor<S, f32, Self>,
        m: &mut <Self as Storage<f32>>::Vec,
        v: &mut <Self as Storage<f32>>::Vec,
        g: &<Self as Storage<f32>>::Vec,
    ) -> Result<()> {
        with_scratch(g.len(), |w| {
            p.copy_into(w);
            adam::update(cfg, t, w, m, v, g);
            p.copy_from(w);
        });
        Ok(())
    }
}

#[cfg(feature = "cuda")]
impl Backend for Cuda {
    const VALIDATE_ON_HOST: bool = false;

    fn write(&self, dst: &mut <Self as Storage<f32>>::Vec, src: &[f32]) -> Result<()> {
        let dev = dst.device();
        dev.htod_sync_copy_into(src, &mut **dst).map_err(backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_bias_and_relu_are_dfdx_broadcast_add_and_relu_bit_for_bit() {
        let dev = Cpu::default();
        let (rows, cols) = (37, 6);
        let x: Vec<f32> = (0..rows * 4).map(|i| (i as f32 * 0.37).sin()).collect();
        let w: Vec<f32> = (0..4 * cols).map(|i| (i as f32 * 0.91).cos()).collect();
        let b: Vec<f32> = (0..cols).map(|i| i as f32 * 0.3 - 0.7).collect();
        let w = dev.tensor_from_vec(w, (4, cols));
        let b = dev.tensor_from_vec(b, (cols,));
        // (x·w + b)² summed (after the ReLU, or not): every output's gradient differs, so a wrong
        // row, column or mask shows.
        let run = |fast: bool, relu: bool| {
            let x = dev.tensor_from_vec(x.clone(), (rows, 4)).leaky_traced();
            let h = x.matmul(w.clone());
            let out = if fast {
                Cpu::add_bias(h, &b, relu)
            } else {
                dfdx_bias(h, &b, relu)
            };
            let values = out.as_vec();
            let grads = out.square().sum().backward();
            (values, grads.get(&w).as_vec(), grads.get(&b).as_vec())
        };
        for relu in [false, true] {
            let (fast, slow) = (run(true, relu), run(false, relu));
            assert_eq!(fast, slow, "relu {relu}");
            assert!(fast.2.iter().all(|&g| g != 0.0));
            // The ReLU is on somewhere and off somewhere.
            let zeros = fast.0.iter().filter(|&&v| v == 0.0).count();
            assert_eq!(relu, zeros > 0 && zeros < fast.0.len(), "relu {relu}");
        }
    }
}
