//! The built-in runner: a ReLU MLP built on dfdx, trained on the study's tabular data with Adam or
//! SGD. Everything that names the network (layer sizes, devices, tensors) stays inside this module.

pub mod check;
mod memory;
pub mod model;
pub mod network;
pub mod params;
pub mod schedule;
pub mod settings;
mod trainer;

use crate::error::{Error, Result};
use crate::plan::{DeviceKind, StudyPlan};
use crate::space::Params;

use super::{Job, RunnerWorker, TrialHost, TrialOutcome, TrialRunner};
use model::Backend;

/// Loss and metric (`metric`, the study's) of the network of checkpoint `ckpt` on the rows `rows`
/// of `data`, computed exactly as validation computes them: the test rows' final score. A
/// checkpoint whose tensors are not a network's is refused, naming it.
pub fn score(
    data: &crate::data::Dataset,
    rows: &crate::data::Split,
    metric: crate::objective::MetricKind,
    ckpt: &crate::artifacts::Checkpoint,
) -> Result<model::Eval> {
    let weights = model::in_layer_order(&ckpt.weights).ok_or_else(|| {
        Error::Damaged(format!(
            "trial {}'s checkpoint at virtual epoch {} holds no network's weights",
            ckpt.meta.trial, ckpt.meta.virtual_epoch
        ))
    })?;
    let activation = model::Activation::of_runner(ckpt.meta.runner.iter()).ok_or_else(|| {
        Error::Damaged(format!(
            "trial {}'s checkpoint at virtual epoch {} records an activation this build does not know",
            ckpt.meta.trial, ckpt.meta.virtual_epoch
        ))
    })?;
    Ok(trainer::score(data, rows, metric, (&weights, activation)))
}

/// The MLP runner of a study.
pub struct MlpRunner<'a> {
    plan: &'a StudyPlan,
}

impl<'a> MlpRunner<'a> {
    pub fn new(plan: &'a StudyPlan) -> MlpRunner<'a> {
        MlpRunner { plan }
    }
}

/// The trainable weights and the multiply-adds of one example's forward pass of an MLP with
/// layer `sizes` (inputs, hidden widths, outputs), exact in f64 for any network that fits in memory.
pub(crate) fn weights_and_products(sizes: &[usize]) -> (f64, f64) {
    let products: f64 = sizes.windows(2).map(|w| (w[0] * w[1]) as f64).sum();
    let biases: f64 = sizes[1..].iter().map(|&b| b as f64).sum();
    (products + biases, products)
}

impl TrialRunner for MlpRunner<'_> {
    /// Steps × (per-step cost + batch × per-example cost), in nanoseconds of this project's 2-core
    /// machine on the CPU, fitted to the wine study's trial times (the leaderboard's `seconds`,
    /// batch 16 to 256): a step costs about 12 µs plus 1 ns per weight (the optimizer), an example
    /// 0.14 ns per multiply-add of its forward pass (forward and backward; 0.08 at width 512, 0.2 at
    /// width 32).
    fn estimated_cost(&self, params: &Params) -> f64 {
        let plan = self.plan;
        let data = plan.data();
        let p = params::MlpParams::of(settings::of(plan), params);
        let sizes = p.layer_sizes(settings::of(plan), data.n_inputs(), data.n_outputs());
        let (_, macs) = weights_and_products(&sizes);
        let batch = p.batch_size.max(1) as f64;
        let steps = (plan.budget.total_examples as f64 / batch).ceil();
        steps * (12_000.0 + macs + 0.14 * batch * macs)
    }

    fn worker(&self) -> Result<Box<dyn RunnerWorker + '_>> {
        match self.plan.device {
            DeviceKind::Cpu => Ok(Box::new(MlpWorker {
                plan: self.plan,
                dev: dfdx::tensor::Cpu::default(),
            })),
            DeviceKind::Cuda(i) => cuda::worker(self.plan, i),
        }
    }
}

/// The validation loss and metric, on this study's validation rows, of the checkpoint a
/// fine-tuned study (`init`) starts every trial from: where its curves start. `None` without
/// `init`.
pub fn init_eval(plan: &StudyPlan) -> Result<Option<model::Eval>> {
    let Some(init) = &plan.init else {
        return Ok(None);
    };
    let data = plan.data();
    score(data, &data.val, plan.metric.kind, &init.checkpoint).map(Some)
}

/// One worker's device.
struct MlpWorker<'a, D: Backend> {
    plan: &'a StudyPlan,
    dev: D,
}

impl<D: Backend> RunnerWorker for MlpWorker<'_, D> {
    fn run(&mut self, job: Job, host: &mut dyn TrialHost) -> Result<TrialOutcome> {
        trainer::run_trial(self.dev.clone(), self.plan, job, host)
    }
}

/// CUDA workers: a device each, built in the worker's thread.
#[cfg(feature = "cuda")]
mod cuda {
    use super::*;

    pub fn worker(plan: &StudyPlan, i: usize) -> Result<Box<dyn RunnerWorker + '_>> {
        let dev = dfdx::tensor::Cuda::try_build(i, plan.seed)
            .map_err(|e| Error::System(format!("cannot open CUDA device {i}: {e:?}")))?;
        Ok(Box::new(MlpWorker { plan, dev }))
    }
}

/// Without the `cuda` feature, CUDA answers that it is not there (the plan refuses a CUDA device
/// first; this keeps the rest of the code free of `#[cfg]` branches).
#[cfg(not(feature = "cuda"))]
mod cuda {
    use super::*;

    pub fn worker(_: &StudyPlan, i: usize) -> Result<Box<dyn RunnerWorker + '_>> {
        Err(Error::Backend(format!(
            "cannot open CUDA device {i}: this build was not compiled with CUDA support (cargo build --release --features cuda)"
        )))
    }
}
