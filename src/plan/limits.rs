//! What a study may ask of the machine, checked before anything is written: how many trials (the
//! grid's size counted, never built), how many at once, and the memory its largest model needs.

use std::path::Path;

use super::{Method, ModelPlan};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::space::{self, SearchSpace};

/// The most trials a study may run: the driver holds a few numbers for each before the first starts.
pub const MAX_TRIALS: usize = 1_000_000;

/// The most trials a Bayesian search may have (its start design included): each suggestion
/// factorises a matrix of the trials so far squared, in time growing with their cube.
pub const MAX_BAYES_TRIALS: usize = 10_000;

/// The most trials that may run at once (as `--cores`): each is a thread.
pub const MAX_PARALLEL: usize = 1024;

/// The trials a study runs: `given` (random and bayes: 20 by default), or the grid's points, capped
/// at `given`. The grid's size is counted, never built.
pub(super) fn trials(
    file: &Path,
    method: Method,
    given: Option<usize>,
    space: &SearchSpace,
) -> Result<usize> {
    let bad = |path: &str, msg: String| Error::spec(file, path, msg);
    let limit = match method {
        Method::Bayes => MAX_BAYES_TRIALS,
        Method::Grid | Method::Random => MAX_TRIALS,
    };
    match given {
        Some(0) => return Err(bad("search.trials", "must be at least 1".into())),
        Some(t) if t > limit => {
            return Err(bad(
                "search.trials",
                format!(
                    "{t} is more than the {limit} trials a {} search may run",
                    method_name(method)
                ),
            ))
        }
        _ => {}
    }
    if method != Method::Grid {
        return Ok(given.unwrap_or(20));
    }
    let grid = space
        .grid()
        .map_err(|(name, msg)| bad(&format!("search.space.{name}"), msg))?;
    let size = grid.size().and_then(|n| usize::try_from(n).ok());
    match (given, size) {
        (Some(t), Some(n)) => Ok(t.min(n)),
        (Some(t), None) => Ok(t),
        (None, Some(n)) if n <= limit => Ok(n),
        (None, n) => Err(bad(
            "search.space",
            format!(
                "the grid has {} points, more than the {limit} trials a study may run: give search.trials to run its first ones, or fewer values",
                n.map_or("more than 2^64".to_string(), |n| n.to_string())
            ),
        )),
    }
}

fn method_name(m: Method) -> &'static str {
    match m {
        Method::Grid => "grid",
        Method::Random => "random",
        Method::Bayes => "Bayesian",
    }
}

/// Bytes each parameter costs a training trial: the weights, their gradients and Adam's two
/// moments on the device (16), the host copy of weights and moments for a checkpoint (12), and
/// that checkpoint's serialised bytes waiting for the disk (12). SGD needs less; this is the most.
const BYTES_PER_PARAM: f64 = 40.0;

/// Bytes each unit of a layer costs per row of a training batch: its output before and after the
/// ReLU, and their gradients, in f32, all kept for the backward pass.
const BYTES_PER_UNIT_ROW: f64 = 16.0;

/// Bytes a layer costs whatever its width (dfdx's tensors and tape entries, the checkpoint's
/// names): above what 100,000 one-unit layers measured, so that a very deep net is counted too.
const BYTES_PER_LAYER: f64 = 16384.0;

/// Rows validation computes at once (the trainer's chunk), one layer's input and output at a time.
const EVAL_ROWS: f64 = 4096.0;

/// Parameters assumed to fit when the machine's memory cannot be read (/proc/meminfo).
const FALLBACK_PARAMS: f64 = (1u64 << 31) as f64;

/// Refuses a study whose largest model, `at_once` trials at a time, needs more memory than the
/// machine has: dfdx aborts the process when an allocation fails, after the study folder is made.
pub(super) fn check_memory(
    file: &Path,
    model: &ModelPlan,
    space: &SearchSpace,
    data: &Dataset,
    at_once: usize,
) -> Result<()> {
    let largest = |name: &str| {
        space
            .params
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.max())
    };
    // Every hidden layer takes the tuned width when there is one (model::layer_sizes).
    let width = largest("hidden_width");
    let mut sizes = vec![data.n_inputs() as f64];
    sizes.extend(model.hidden.iter().map(|&h| width.unwrap_or(h as f64)));
    sizes.push(data.n_outputs() as f64);
    let batch = largest("batch_size").unwrap_or(1.0);
    let (params, bytes) = training_bytes(&sizes, batch, data.val.rows as f64);
    let (available, what) = match available_memory() {
        Some(m) => (m, "of memory available"),
        None => (
            FALLBACK_PARAMS * BYTES_PER_PARAM,
            "a machine is assumed to have",
        ),
    };
    let needed = bytes * at_once as f64;
    if needed <= available {
        return Ok(());
    }
    let path = match width {
        Some(_) if !model.hidden.is_empty() => "search.space.hidden_width",
        _ => "model.hidden",
    };
    let times = match at_once {
        1 => String::new(),
        n => format!(", {} for {n} trials at once", gb(needed)),
    };
    Err(Error::spec(
        file,
        path,
        format!(
            "the largest model has {} parameters and needs about {} to train{times}, more than the {} {what}",
            space::num(params),
            gb(bytes),
            gb(available)
        ),
    ))
}

/// The parameters of an MLP with layer `sizes`, and the bytes one trial needs to train it with
/// batches of `batch` rows and validate it on `val_rows` rows; in f64, so that no size overflows.
fn training_bytes(sizes: &[f64], batch: f64, val_rows: f64) -> (f64, f64) {
    let params: f64 = sizes.windows(2).map(|w| w[0] * w[1] + w[1]).sum();
    let units: f64 = sizes.iter().sum();
    let widest_pair = sizes.windows(2).map(|w| w[0] + w[1]).fold(0.0, f64::max);
    let train = batch * units * BYTES_PER_UNIT_ROW;
    let validate = val_rows.min(EVAL_ROWS) * widest_pair * 4.0;
    let layers = sizes.len().saturating_sub(1) as f64;
    (
        params,
        params * BYTES_PER_PARAM + layers * BYTES_PER_LAYER + train + validate,
    )
}

/// `bytes` in GB, to a tenth, in exponent notation past a million.
fn gb(bytes: f64) -> String {
    match bytes / 1e9 {
        g if g < 1e6 => format!("{g:.1} GB"),
        g => format!("{g:.1e} GB"),
    }
}

/// The memory this machine has free for us, in bytes: MemAvailable (else MemTotal) of /proc/meminfo.
fn available_memory() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| {
        info.lines().find_map(|l| {
            l.strip_prefix(name)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse::<f64>()
                .ok()
        })
    };
    field("MemAvailable:")
        .or_else(|| field("MemTotal:"))
        .map(|kb| kb * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::{Kind, Param};

    fn grid_of(batch_high: f64, width_high: f64) -> SearchSpace {
        SearchSpace {
            params: vec![
                Param::range("batch_size", Kind::Int, 1.0, batch_high, false),
                Param::range("hidden_width", Kind::Int, 1.0, width_high, false),
                Param::list("learning_rate", Kind::Float, &[0.01]),
            ],
        }
    }

    fn trials_of(method: Method, given: Option<usize>, space: &SearchSpace) -> Result<usize> {
        trials(Path::new("s.json"), method, given, space)
    }

    #[test]
    fn a_grid_runs_its_points_capped_at_the_trials_given() {
        let small = grid_of(4.0, 5.0);
        assert_eq!(trials_of(Method::Grid, None, &small).unwrap(), 20);
        assert_eq!(trials_of(Method::Grid, Some(7), &small).unwrap(), 7);
        assert_eq!(trials_of(Method::Grid, Some(70), &small).unwrap(), 20);
        let huge = grid_of(1280.0, 9999.0);
        assert_eq!(trials_of(Method::Grid, Some(2), &huge).unwrap(), 2);
        let err = trials_of(Method::Grid, None, &huge)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("search.space: the grid has 12798720 points"),
            "{err}"
        );
    }

    #[test]
    fn trials_are_bounded_by_method() {
        let s = grid_of(4.0, 5.0);
        assert_eq!(trials_of(Method::Random, None, &s).unwrap(), 20);
        assert!(trials_of(Method::Random, Some(MAX_TRIALS), &s).is_ok());
        assert!(trials_of(Method::Random, Some(MAX_TRIALS + 1), &s).is_err());
        assert!(trials_of(Method::Bayes, Some(MAX_BAYES_TRIALS + 1), &s).is_err());
        assert!(trials_of(Method::Random, Some(0), &s).is_err());
    }

    #[test]
    fn training_bytes_count_parameters_and_activations() {
        // 11 inputs, 8 hidden, 1 output: 11·8 + 8 + 8·1 + 1 = 105 parameters.
        let (params, bytes) = training_bytes(&[11.0, 8.0, 1.0], 32.0, 100.0);
        assert_eq!(params, 105.0);
        let want = 105.0 * BYTES_PER_PARAM
            + 2.0 * BYTES_PER_LAYER
            + 32.0 * 20.0 * BYTES_PER_UNIT_ROW
            + 100.0 * 19.0 * 4.0;
        assert_eq!(bytes, want);
        // Widths no usize product could hold stay finite and huge.
        let (params, bytes) = training_bytes(&[11.0, 1.8e19, 1.8e19, 1.0], 64.0, 1e6);
        assert!(
            params > 3e38 && bytes.is_finite() && bytes > params,
            "{params} {bytes}"
        );
    }

    #[test]
    fn gigabytes_read_short() {
        assert_eq!(gb(24.3e9), "24.3 GB");
        assert_eq!(gb(6.6e22), "6.6e13 GB");
    }
}
