//! The memory one trial needs to train the MLP: its weights and optimizer state, the activations a
//! batch keeps for the backward pass, and validation's chunk; the plan refuses a study whose
//! largest model would not fit ([`super::params::Family`]).

/// Bytes each parameter costs a training trial: the weights, their gradients and Adam's two
/// moments on the device (16), the host copy of weights and moments for a checkpoint (12), and
/// that checkpoint's serialised bytes waiting for the disk (12). SGD needs less; this is the most.
const BYTES_PER_PARAM: f64 = 40.0;

/// Bytes each unit of a layer costs per row of a training batch: its output before and after the
/// ReLU, and their gradients, in f32, all kept for the backward pass.
const BYTES_PER_UNIT_ROW: f64 = 16.0;

/// Bytes each hidden unit costs per row of a training batch with dropout: its mask, and the
/// masked values with their gradient, in f32.
const BYTES_PER_MASKED_UNIT_ROW: f64 = 12.0;

/// Bytes a layer costs whatever its width (dfdx's tensors and tape entries, the checkpoint's
/// names): above what 100,000 one-unit layers measured, so that a very deep net is counted too.
const BYTES_PER_LAYER: f64 = 16384.0;

/// Rows validation computes at once (the trainer's chunk), one layer's input and output at a time.
const EVAL_ROWS: f64 = 4096.0;

/// The parameters of an MLP with layer `sizes`, and the bytes one trial needs to train it with
/// batches of `batch` rows (with dropout's masks when `dropout`) and validate it on `val_rows`
/// rows; in f64, so that no size overflows.
pub(super) fn training_bytes(
    sizes: &[f64],
    batch: f64,
    val_rows: f64,
    dropout: bool,
) -> (f64, f64) {
    let params: f64 = sizes.windows(2).map(|w| w[0] * w[1] + w[1]).sum();
    let units: f64 = sizes.iter().sum();
    let widest_pair = sizes.windows(2).map(|w| w[0] + w[1]).fold(0.0, f64::max);
    let hidden: f64 = sizes
        .get(1..sizes.len().saturating_sub(1))
        .map_or(0.0, |h| h.iter().sum());
    let masks = if dropout {
        batch * hidden * BYTES_PER_MASKED_UNIT_ROW
    } else {
        0.0
    };
    let train = batch * units * BYTES_PER_UNIT_ROW + masks;
    let validate = val_rows.min(EVAL_ROWS) * widest_pair * 4.0;
    let layers = sizes.len().saturating_sub(1) as f64;
    (
        params,
        params * BYTES_PER_PARAM + layers * BYTES_PER_LAYER + train + validate,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_bytes_count_parameters_and_activations() {
        // 11 inputs, 8 hidden, 1 output: 11·8 + 8 + 8·1 + 1 = 105 parameters.
        let (params, bytes) = training_bytes(&[11.0, 8.0, 1.0], 32.0, 100.0, false);
        assert_eq!(params, 105.0);
        let want = 105.0 * BYTES_PER_PARAM
            + 2.0 * BYTES_PER_LAYER
            + 32.0 * 20.0 * BYTES_PER_UNIT_ROW
            + 100.0 * 19.0 * 4.0;
        assert_eq!(bytes, want);
        // Dropout keeps a mask and the masked values of each hidden unit of a batch's rows.
        let (_, masked) = training_bytes(&[11.0, 8.0, 1.0], 32.0, 100.0, true);
        assert_eq!(masked - bytes, 32.0 * 8.0 * BYTES_PER_MASKED_UNIT_ROW);
        // Widths no usize product could hold stay finite and huge.
        let (params, bytes) = training_bytes(&[11.0, 1.8e19, 1.8e19, 1.0], 64.0, 1e6, true);
        assert!(
            params > 3e38 && bytes.is_finite() && bytes > params,
            "{params} {bytes}"
        );
    }
}
