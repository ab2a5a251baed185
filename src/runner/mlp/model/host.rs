//! The network on host copies of its weights: the forward pass validation runs on the CPU, and the
//! loss and metric of predictions, in f64.

use super::backend::bias_and_relu;
use super::Activation;
use crate::artifacts::HostTensor;
use crate::data::Task;
use crate::metrics;
use crate::objective::MetricKind;

/// Validation results, computed on the host in f64.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Eval {
    /// MSE (regression) or mean cross-entropy (classification).
    pub loss: f64,
    /// The metric the curve holds: the study's, or with `val_loss` RMSE (regression) or accuracy
    /// (classification).
    pub metric: f64,
}

/// The outputs of the network whose host weights are `weights` (from [`Mlp::to_host`](super::Mlp::to_host)) for `rows`
/// rows of inputs `x`: what [`Mlp::forward`](super::Mlp::forward) computes on the CPU, bit for bit (the same products,
/// by matrixmultiply, which dfdx's CPU matmul also calls, then the bias and `activation`).
pub fn host_forward(
    weights: &[HostTensor],
    activation: Activation,
    x: &[f32],
    rows: usize,
) -> Vec<f32> {
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
        let hidden = i + 1 < layers;
        bias_and_relu(&mut out, &b.data, hidden && activation.is_relu());
        if hidden && !activation.is_relu() {
            activation.host(&mut out);
        }
        h = out;
    }
    h
}

/// The tensors of a network (`layers.<i>.weight` and `layers.<i>.bias`, as
/// [`Mlp::to_host`](super::Mlp::to_host) names them) in the order [`host_forward`] takes them,
/// from a checkpoint read back, which holds them in name order; None unless they are all there
/// and chain (each weight inputs × outputs, its bias of its outputs, each layer taking the last
/// one's outputs).
pub fn in_layer_order(tensors: &[HostTensor]) -> Option<Vec<HostTensor>> {
    let find = |name: String| tensors.iter().find(|t| t.name == name).cloned();
    let mut out = Vec::with_capacity(tensors.len());
    let mut width = None;
    for i in 0..tensors.len() / 2 {
        let (w, b) = (
            find(format!("layers.{i}.weight"))?,
            find(format!("layers.{i}.bias"))?,
        );
        let chained = width.is_none_or(|n| w.shape.first() == Some(&n));
        if w.shape.len() != 2 || b.shape != [w.shape[1]] || !chained {
            return None;
        }
        width = Some(w.shape[1]);
        out.extend([w, b]);
    }
    (!out.is_empty() && out.len() == tensors.len()).then_some(out)
}

/// Loss and metric of predictions `out` against targets `y` (one-hot for classification): the
/// loss, and `metric` (the one the curve holds, see [`MetricKind::in_curve`]).
pub fn evaluate(task: Task, metric: MetricKind, out: &[f32], y: &[f32], rows: usize) -> Eval {
    match task {
        Task::Regression => {
            let loss = metrics::mse(out, y, rows);
            let metric = match metric {
                MetricKind::Mae => metrics::mae(out, y, rows),
                MetricKind::R2 => metrics::r2(out, y),
                _ => loss.sqrt(),
            };
            Eval { loss, metric }
        }
        Task::Classification => {
            let c = out.len() / rows;
            let classes: Vec<usize> = y
                .chunks_exact(c)
                .map(|t| t.iter().position(|&t| t == 1.0).unwrap_or(0))
                .collect();
            let (loss, preds) = metrics::cross_entropy(out, &classes);
            let metric = match metric {
                MetricKind::F1 => metrics::macro_f1(&preds, &classes, c),
                MetricKind::Auc => metrics::binary_auc(out, &classes),
                MetricKind::LogLoss => loss,
                _ => metrics::accuracy(&preds, &classes),
            };
            Eval { loss, metric }
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
        for a in Activation::NAMES {
            same_forward(Activation::named(a).unwrap());
        }
    }

    fn same_forward(activation: Activation) {
        let dev = Cpu::default();
        let sizes = [5, 16, 8, 3];
        let mlp = Mlp::init(&dev, &sizes, &mut rand_chacha::ChaCha8Rng::seed_from_u64(3))
            .with_activation(activation);
        for rows in [1, 37, 300] {
            let x: Vec<f32> = (0..rows * 5)
                .map(|i| (i as f32 * 0.71).sin() * 2.0)
                .collect();
            let want = mlp
                .forward(dev.tensor_from_vec(x.clone(), (rows, 5)))
                .as_vec();
            let got = host_forward(&mlp.to_host(), activation, &x, rows);
            assert_eq!(got, want, "{activation:?}, {rows} rows");
            assert!(got.iter().any(|&v| v < 0.0) && got.iter().any(|&v| v > 0.0));
        }
    }

    #[test]
    fn evaluate_classification() {
        let out = [2.0, 1.0, 0.0, 3.0];
        let y = [1.0, 0.0, 1.0, 0.0];
        let e = evaluate(Task::Classification, MetricKind::Accuracy, &out, &y, 2);
        assert_eq!(e.metric, 0.5);
        let ce0 = (1.0f64 + (-1.0f64).exp()).ln();
        let ce1 = 3.0 + (1.0f64 + (-3.0f64).exp()).ln();
        assert!((e.loss - (ce0 + ce1) / 2.0).abs() < 1e-12);
        // Row 0 predicts class 0 (right), row 1 class 1 (wrong): class 0 has F1 2/3, class 1 0.
        let f1 = evaluate(Task::Classification, MetricKind::F1, &out, &y, 2);
        assert_eq!((f1.loss, f1.metric), (e.loss, (2.0 / 3.0) / 2.0));
        let auc = evaluate(Task::Classification, MetricKind::Auc, &out, &y, 2);
        assert!(auc.metric.is_nan(), "both rows are of class 0");
        let ll = evaluate(Task::Classification, MetricKind::LogLoss, &out, &y, 2);
        assert_eq!(ll.metric, e.loss);
    }

    #[test]
    fn evaluate_regression() {
        let (out, y) = ([2.0, 0.0, 3.5, 4.0], [1.0, 2.0, 3.0, 4.0]);
        let rmse = evaluate(Task::Regression, MetricKind::Rmse, &out, &y, 4);
        assert_eq!(
            (rmse.loss, rmse.metric),
            (5.25 / 4.0, (5.25f64 / 4.0).sqrt())
        );
        let mae = evaluate(Task::Regression, MetricKind::Mae, &out, &y, 4);
        assert_eq!((mae.loss, mae.metric), (rmse.loss, 3.5 / 4.0));
        let r2 = evaluate(Task::Regression, MetricKind::R2, &out, &y, 4);
        assert_eq!(r2.metric, 1.0 - 5.25 / 5.0);
    }
}
