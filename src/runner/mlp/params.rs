//! The built-in trainer's parameters: what a space may tune ([`PARAMS`], its model family
//! [`FAMILY`]), and a trial's values read once into [`MlpParams`], from which the network is built.
//! A new parameter is declared here, read in [`MlpParams::of`], and used where the network is
//! built or trained; a trial's layer sizes and the largest ones of a space ([`largest_sizes`]) are
//! both [`hidden_widths`].

use crate::data::Dataset;
use std::path::Path;

use super::settings::{self, ModelPlan};
use crate::error::Result;
use crate::plan::{Footprint, InitPlan, ModelFamily, ModelSettings};
use crate::space::{Kind, ParamDecl, ParamDefault, Params, Role, SearchSpace};

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
        let (params, bytes) = super::memory::training_bytes(&sizes, batch, data.val.rows as f64);
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
}

impl MlpParams {
    /// The trial's `params` (checked by the plan against [`PARAMS`]), with the settings of
    /// `model` for those the space does not tune.
    pub fn of(model: &ModelPlan, params: &Params) -> MlpParams {
        let get = |name: &str| params.get(name).map(|v| v.as_f64());
        MlpParams {
            batch_size: get("batch_size").map_or(1, |b| b as usize),
            learning_rate: get("learning_rate").unwrap_or(1e-3),
            weight_decay: get("weight_decay").unwrap_or(model.weight_decay),
            momentum: get("momentum").unwrap_or(model.momentum),
            hidden_width: get("hidden_width").map(|w| w as usize),
            depth: get("depth").map(|d| d as usize).or(model.depth),
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
    use crate::runner::mlp::settings::OptimizerKind;
    use crate::space::Value;

    fn model(hidden: Vec<usize>, depth: Option<usize>) -> ModelPlan {
        ModelPlan {
            hidden,
            optimizer: OptimizerKind::Adam,
            betas: [0.9, 0.999],
            eps: 1e-8,
            momentum: 0.9,
            weight_decay: 0.0,
            depth,
            activation: Default::default(),
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
}
