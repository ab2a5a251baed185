//! The network on host copies of its weights: the forward pass validation runs on the CPU, and the
//! loss and metric of predictions, in f64.

use super::backend::bias_and_relu;
use crate::artifacts::HostTensor;
use crate::data::Task;

/// Validation results, computed on the host in f64.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Eval {
    /// MSE (regression) or mean cross-entropy (classification).
    pub loss: f64,
    /// RMSE (regression) or accuracy (classification).
    pub metric: f64,
}

/// The outputs of the network whose host weights are `weights` (from [`Mlp::to_host`](super::Mlp::to_host)) for `rows`
/// rows of inputs `x`: what [`Mlp::forward`](super::Mlp::forward) computes on the CPU, bit for bit (the same products,
/// by matrixmultiply, which dfdx's CPU matmul also calls, then the bias and ReLU).
pub fn host_forward(weights: &[HostTensor], x: &[f32], rows: usize) -> Vec<f32> {
    let layers = weights.len() / 2;
    let mut h = x.to_vec();
    for (i, pair) in weights.chunks_exact(2).enumerate() {
        let (w, b) = (&pair[0], &pair[1]);
        let (ins, outs) = (w.shape[0], w.shape[1]);
        let mut out = vec![0.0f32; rows * outs];
        // SAFETY: `h` is rows × ins, `w` ins × outs and `out` rows × outs, all row-major.
        unsafe {
            matrixmultiply::sgemm(
                rows,
                ins,
                outs,
                1.0,
                h.as_ptr(),
                ins as isize,
                1,
                w.data.as_ptr(),
                outs as isize,
                1,
                0.0,
                out.as_mut_ptr(),
                outs as isize,
                1,
            );
        }
        bias_and_relu(&mut out, &b.data, i + 1 < layers);
        h = out;
    }
    h
}

/// Loss and metric of predictions `out` against targets `y` (one-hot for classification).
pub fn evaluate(task: Task, out: &[f32], y: &[f32], rows: usize) -> Eval {
    let c = out.len() / rows;
    match task {
        Task::Regression => {
            let sse: f64 = out
                .iter()
                .zip(y)
                .map(|(&p, &t)| (p as f64 - t as f64).powi(2))
                .sum();
            let mse = sse / rows as f64;
            Eval {
                loss: mse,
                metric: mse.sqrt(),
            }
        }
        Task::Classification => {
            let mut ce = 0.0;
            let mut correct = 0usize;
            for r in 0..rows {
                let logits = &out[r * c..(r + 1) * c];
                let target = &y[r * c..(r + 1) * c];
                let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
                let lse = max
                    + logits
                        .iter()
                        .map(|&z| (z as f64 - max).exp())
                        .sum::<f64>()
                        .ln();
                let k = target.iter().position(|&t| t == 1.0).unwrap_or(0);
                ce += lse - logits[k] as f64;
                // The first of equal maxima wins, as in argmax.
                let pred =
                    logits
                        .iter()
                        .enumerate()
                        .fold(0, |best, (j, &z)| if z > logits[best] { j } else { best });
                correct += (pred == k) as usize;
            }
            Eval {
                loss: ce / rows as f64,
                metric: correct as f64 / rows as f64,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::mlp::model::Mlp;
    use dfdx::prelude::*;
    use rand::SeedableRng;

    #[test]
    fn host_forward_is_the_cpu_forward_bit_for_bit() {
        let dev = Cpu::default();
        let sizes = [5, 16, 8, 3];
        let mlp = Mlp::init(&dev, &sizes, &mut rand_chacha::ChaCha8Rng::seed_from_u64(3));
        for rows in [1, 37, 300] {
            let x: Vec<f32> = (0..rows * 5)
                .map(|i| (i as f32 * 0.71).sin() * 2.0)
                .collect();
            let want = mlp
                .forward(dev.tensor_from_vec(x.clone(), (rows, 5)))
                .as_vec();
            let got = host_forward(&mlp.to_host(), &x, rows);
            assert_eq!(got, want, "{rows} rows");
            assert!(got.iter().any(|&v| v < 0.0) && got.iter().any(|&v| v > 0.0));
        }
    }

    #[test]
    fn evaluate_classification() {
        let out = [2.0, 1.0, 0.0, 3.0];
        let y = [1.0, 0.0, 1.0, 0.0];
        let e = evaluate(Task::Classification, &out, &y, 2);
        assert_eq!(e.metric, 0.5);
        let ce0 = (1.0f64 + (-1.0f64).exp()).ln();
        let ce1 = 3.0 + (1.0f64 + (-3.0f64).exp()).ln();
        assert!((e.loss - (ce0 + ce1) / 2.0).abs() < 1e-12);
    }
}
