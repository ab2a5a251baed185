//! The built-in trainer's parameters: what a space may tune ([`PARAMS`], its model family
//! [`FAMILY`]), and a trial's values read once into [`MlpParams`], from which the network is built.
//! A new parameter is declared here, read in [`MlpParams::of`], and used where the network is
//! built or trained; a trial's layer sizes and the largest ones of a space ([`largest_sizes`]) are
//! both [`hidden_widths`].

use crate::data::Dataset;
use std::path::Path;

use super::model::Activation;
use super::schedule::{LrScaling, Schedule, ScheduleKind};
use super::settings::{self, ModelPlan, OptimizerKind};
use crate::error::Result;
use crate::plan::{Footprint, InitPlan, ModelFamily, ModelSettings};
use crate::space::{Kind, ParamDecl, ParamDefault, Params, Role, SearchSpace, Value};

/// The parameters the built-in trainer accepts, in the order messages and the live view list them
/// (the batch size and the learning rate first: a cut line keeps them).
pub const PARAMS: &[ParamDecl] = &[
    ParamDecl {
        name: "batch_size",
        kind: Kind::Int,
        what: "an integer of at least 1",
        valid: |v| v >= 1.0,
        below_one: false,
        role: Role::Training,
        default: ParamDefault::Required,
        short: "bs",
    },
    ParamDecl {
        name: "learning_rate",
        kind: Kind::Float,
        what: "a number above 0",
        valid: |v| v > 0.0,
        below_one: false,
        role: Role::Training,
        default: ParamDefault::Required,
        short: "lr",
    },
    ParamDecl {
        name: "weight_decay",
        kind: Kind::Float,
        what: "a number of at least 0",
        valid: |v| v >= 0.0,
        below_one: false,
        role: Role::Optimizer,
        default: ParamDefault::Setting("model.weight_decay"),
        short: "wd",
    },
    ParamDecl {
        name: "momentum",
        kind: Kind::Float,
        what: "a number in [0, 1)",
        valid: |v| (0.0..1.0).contains(&v),
        below_one: true,
        role: Role::Optimizer,
        default: ParamDefault::Setting("model.momentum"),
        short: "mom",
    },
    ParamDecl {
        name: "hidden_width",
        kind: Kind::Int,
        what: "an integer of at least 1",
        valid: |v| v >= 1.0,
        below_one: false,
        role: Role::Shape,
        default: ParamDefault::Setting("model.hidden"),
        short: "width",
    },
    ParamDecl {
        name: "depth",
        kind: Kind::Int,
        what: "an integer from 1 to 16",
        valid: |v| (1.0..=16.0).contains(&v),
        below_one: false,
        role: Role::Shape,
        default: ParamDefault::Setting("model.depth"),
        short: "depth",
    },
    ParamDecl {
        name: "activation",
        kind: Kind::Cat(&Activation::NAMES),
        what: "one of \"relu\", \"gelu\", \"tanh\" or \"silu\"",
        valid: |_| true,
        below_one: false,
        role: Role::Shape,
        default: ParamDefault::Setting("model.activation"),
        short: "act",
    },
    ParamDecl {
        name: "optimizer",
        kind: Kind::Cat(&OptimizerKind::NAMES),
        what: "\"adam\" or \"sgd\"",
        valid: |_| true,
        below_one: false,
        role: Role::Optimizer,
        default: ParamDefault::Setting("model.optimizer"),
        short: "opt",
    },
    ParamDecl {
        name: "dropout",
        kind: Kind::Float,
        what: "a number in [0, 1)",
        valid: |v| (0.0..1.0).contains(&v),
        below_one: true,
        role: Role::Training,
        default: ParamDefault::Setting("model.dropout"),
        short: "drop",
    },
    ParamDecl {
        name: "schedule",
        kind: Kind::Cat(&ScheduleKind::NAMES),
        what: "one of \"constant\", \"linear\" or \"cosine\"",
        valid: |_| true,
        below_one: false,
        role: Role::Training,
        default: ParamDefault::Setting("model.schedule"),
        short: "sched",
    },
    ParamDecl {
        name: "warmup",
        kind: Kind::Float,
        what: "a number in [0, 1)",
        valid: |v| (0.0..1.0).contains(&v),
        below_one: true,
        role: Role::Training,
        default: ParamDefault::Setting("model.warmup"),
        short: "warm",
    },
    ParamDecl {
        name: "min_lr_fraction",
        kind: Kind::Float,
        what: "a number in [0, 1]",
        valid: |v| (0.0..=1.0).contains(&v),
        below_one: false,
        role: Role::Training,
        default: ParamDefault::Setting("model.min_lr_fraction"),
        short: "minlr",
    },
    ParamDecl {
        name: "lr_scaling",
        kind: Kind::Cat(&LrScaling::NAMES),
        what: "one of \"none\", \"linear\" or \"sqrt\"",
        valid: |_| true,
        below_one: false,
        role: Role::Training,
        default: ParamDefault::Setting("model.lr_scaling"),
        short: "scale",
    },
    ParamDecl {
        name: "max_grad_norm",
        kind: Kind::Float,
        what: "a number above 0",
        valid: |v| v > 0.0,
        below_one: false,
        role: Role::Optimizer,
        default: ParamDefault::Setting("model.max_grad_norm"),
        short: "clip",
    },
];

/// The width of a layer of a network given by its depth, when neither the space nor
/// `model.hidden` gives one (`model.hidden` is `[]`).
const DEPTH_WIDTH: usize = 64;

/// The built-in trainer's model family, which plans are made for.
pub struct Family;

/// The model family [`crate::plan::StudyPlan::load`] takes for the built-in trainer.
pub const FAMILY: Family = Family;

impl ModelFamily for Family {
    fn params(&self) -> &'static [ParamDecl] {
        PARAMS
    }

    fn settings(
        &self,
        file: &Path,
        section: Option<&serde_json::Value>,
        init: Option<&InitPlan>,
    ) -> Result<ModelSettings> {
        settings::read(file, section, init, PARAMS)
    }

    fn footprint(&self, model: &ModelSettings, space: &SearchSpace, data: &Dataset) -> Footprint {
        let model: &ModelPlan = model
            .typed
            .downcast_ref()
            .expect("the built-in family's settings");
        let sizes = largest_sizes(model, space, data.n_inputs(), data.n_outputs());
        let batch = largest(space, "batch_size").unwrap_or(1.0);
        let dropout = model.dropout > 0.0 || largest(space, "dropout").is_some_and(|d| d > 0.0);
        let val_rows = data.val.rows as f64;
        let (params, bytes) = super::memory::training_bytes(&sizes, batch, val_rows, dropout);
        // A tuned width sets every hidden layer: the space's is to blame, when there are any.
        let blame = match largest(space, "hidden_width") {
            Some(_) if !model.hidden.is_empty() || depth_set(model, space) => {
                "search.space.hidden_width"
            }
            _ if largest(space, "depth").is_some() => "search.space.depth",
            _ if model.depth.is_some() => "model.depth",
            _ => "model.hidden",
        };
        Footprint {
            params,
            bytes,
            blame: blame.into(),
        }
    }
}

/// A trial's parameters, each the space's value or its default.
#[derive(Clone, Debug, PartialEq)]
pub struct MlpParams {
    /// Rows a step trains on (1 where none is given: the space requires it of a trial).
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub momentum: f64,
    /// The width of every hidden layer; `None`: the widths of `model.hidden`.
    pub hidden_width: Option<usize>,
    /// The number of hidden layers, each `hidden_width` wide (or the first of `model.hidden`);
    /// `None`: the layers of `model.hidden`.
    pub depth: Option<usize>,
    pub activation: Activation,
    pub optimizer: OptimizerKind,
    /// Inverted dropout after each hidden activation, in training only.
    pub dropout: f64,
    pub schedule: ScheduleKind,
    pub warmup: f64,
    pub min_lr_fraction: f64,
    pub lr_scaling: LrScaling,
    /// Clip the gradients to this global norm.
    pub max_grad_norm: Option<f64>,
}

impl MlpParams {
    /// The trial's `params` (checked by the plan against [`PARAMS`]), with the settings of
    /// `model` for those the space does not tune, or that a trial lacks (a parameter of a
    /// conditional space inactive for it): never a panic on an absent one.
    pub fn of(model: &ModelPlan, params: &Params) -> MlpParams {
        let get = |name: &str| params.get(name).map(|v| v.as_f64());
        let label = |name: &str| match params.get(name) {
            Some(Value::Str(s)) => Some(*s),
            _ => None,
        };
        MlpParams {
            activation: label("activation")
                .and_then(Activation::named)
                .unwrap_or(model.activation),
            optimizer: label("optimizer")
                .and_then(OptimizerKind::named)
                .unwrap_or(model.optimizer),
            dropout: get("dropout").unwrap_or(model.dropout),
            schedule: label("schedule")
                .and_then(ScheduleKind::named)
                .unwrap_or(model.schedule),
            warmup: get("warmup").unwrap_or(model.warmup),
            min_lr_fraction: get("min_lr_fraction").unwrap_or(model.min_lr_fraction),
            lr_scaling: label("lr_scaling")
                .and_then(LrScaling::named)
                .unwrap_or(model.lr_scaling),
            max_grad_norm: get("max_grad_norm").or(model.max_grad_norm),
            batch_size: get("batch_size").map_or(1, |b| b as usize),
            learning_rate: get("learning_rate").unwrap_or(1e-3),
            weight_decay: get("weight_decay").unwrap_or(model.weight_decay),
            momentum: get("momentum").unwrap_or(model.momentum),
            hidden_width: get("hidden_width").map(|w| w as usize),
            depth: get("depth").map(|d| d as usize).or(model.depth),
        }
    }

    /// The trial's learning rate over a budget of `total` examples: its schedule, the rate scaled
    /// by the batch size against `model.reference_batch_size`.
    pub fn schedule(&self, model: &ModelPlan, total: u64) -> Schedule {
        let scale = self
            .lr_scaling
            .factor(self.batch_size, model.reference_batch_size);
        Schedule {
            peak: self.learning_rate * scale,
            kind: self.schedule,
            warmup: self.warmup,
            min_lr_fraction: self.min_lr_fraction,
            total,
        }
    }

    /// The network's layer sizes: `inputs`, the hidden widths, `outputs`.
    pub fn layer_sizes(&self, model: &ModelPlan, inputs: usize, outputs: usize) -> Vec<usize> {
        let width = self.hidden_width.map(|w| w as f64);
        let depth = self.depth.map(|d| d as f64);
        let hidden = hidden_widths(model, width, depth)
            .into_iter()
            .map(|h| h as usize);
        std::iter::once(inputs)
            .chain(hidden)
            .chain([outputs])
            .collect()
    }
}

/// The hidden layers' widths: `depth` layers `width` wide (else the first of `model.hidden`'s), or
/// without a depth `model.hidden`'s layers, each `width` wide when it is given. In f64, so that
/// the memory estimate's widths no usize could hold stay as large.
fn hidden_widths(model: &ModelPlan, width: Option<f64>, depth: Option<f64>) -> Vec<f64> {
    match depth {
        Some(depth) => {
            let first = model.hidden.first().copied().unwrap_or(DEPTH_WIDTH) as f64;
            vec![width.unwrap_or(first); depth as usize]
        }
        None => model
            .hidden
            .iter()
            .map(|&h| width.unwrap_or(h as f64))
            .collect(),
    }
}

/// The layer sizes of the largest network of `space` ([`MlpParams::layer_sizes`] at the largest
/// values), in f64: a width no usize could hold stays as large.
fn largest_sizes(
    model: &ModelPlan,
    space: &SearchSpace,
    inputs: usize,
    outputs: usize,
) -> Vec<f64> {
    let width = largest(space, "hidden_width");
    let depth = largest(space, "depth").or(model.depth.map(|d| d as f64));
    let hidden = hidden_widths(model, width, depth);
    std::iter::once(inputs as f64)
        .chain(hidden)
        .chain([outputs as f64])
        .collect()
}

/// Whether the network's depth is set (searched, or `model.depth`) rather than `model.hidden`'s.
fn depth_set(model: &ModelPlan, space: &SearchSpace) -> bool {
    model.depth.is_some() || largest(space, "depth").is_some()
}

/// The largest value parameter `name` takes in `space`, when the space tunes it.
fn largest(space: &SearchSpace, name: &str) -> Option<f64> {
    space
        .params
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.max())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::Value;

    fn model(hidden: Vec<usize>, depth: Option<usize>) -> ModelPlan {
        ModelPlan {
            hidden,
            depth,
            ..ModelPlan::default()
        }
    }

    fn sizes(model: &ModelPlan, params: &[(&str, Value)]) -> Vec<usize> {
        let params = params.iter().map(|(n, v)| (n.to_string(), *v));
        MlpParams::of(model, &params.collect()).layer_sizes(model, 3, 2)
    }

    #[test]
    fn depth_repeats_one_width() {
        let m = model(vec![16, 8], None);
        assert_eq!(sizes(&m, &[]), [3, 16, 8, 2]);
        assert_eq!(sizes(&m, &[("depth", Value::Int(3))]), [3, 16, 16, 16, 2]);
        let both = [("depth", Value::Int(2)), ("hidden_width", Value::Int(5))];
        assert_eq!(sizes(&m, &both), [3, 5, 5, 2]);
        let fixed = model(vec![16, 8], Some(4));
        assert_eq!(sizes(&fixed, &[]), [3, 16, 16, 16, 16, 2]);
        assert_eq!(sizes(&fixed, &[("depth", Value::Int(1))]), [3, 16, 2]);
        assert_eq!(sizes(&model(vec![], Some(2)), &[]), [3, 64, 64, 2]);
    }

    /// A trial that lacks a declared parameter (a conditional space's, inactive for it) takes
    /// the setting; labels pick their values; the schedule scales the rate by the batch size.
    #[test]
    fn absent_parameters_take_the_settings() {
        let mut m = model(vec![16], None);
        m.optimizer = OptimizerKind::Sgd;
        m.momentum = 0.5;
        m.dropout = 0.2;
        m.lr_scaling = LrScaling::Sqrt;
        let p = MlpParams::of(&m, &Params::new());
        assert_eq!(
            (p.optimizer, p.momentum, p.dropout),
            (OptimizerKind::Sgd, 0.5, 0.2)
        );
        assert_eq!((p.activation, p.max_grad_norm), (Activation::Relu, None));
        let given: Params = [
            ("optimizer", Value::Str("adam")),
            ("activation", Value::Str("gelu")),
            ("schedule", Value::Str("cosine")),
            ("batch_size", Value::Int(128)),
            ("learning_rate", Value::Float(0.01)),
            ("max_grad_norm", Value::Float(1.5)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let p = MlpParams::of(&m, &given);
        assert_eq!(
            (p.optimizer, p.activation),
            (OptimizerKind::Adam, Activation::Gelu)
        );
        assert_eq!(
            (p.schedule, p.max_grad_norm),
            (ScheduleKind::Cosine, Some(1.5))
        );
        let s = p.schedule(&m, 1000);
        assert_eq!(s.peak, 0.01 * 2.0);
        assert_eq!(s.rate(1000), 0.0);
    }
}
