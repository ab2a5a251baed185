//! What the plan asks of a model family (the built-in trainer's is `runner::mlp::params::FAMILY`):
//! the parameters it accepts, which the space of a spec is checked against, and the memory the
//! largest model a study asks for needs. The runner reads plans, so the plan does not name it:
//! whoever makes a plan hands it the family.

use super::ModelPlan;
use crate::data::Dataset;
use crate::space::{ParamDecl, SearchSpace};

/// A model family: its parameters and its models' sizes.
pub trait ModelFamily: Sync {
    /// The parameters a space may tune, in the order messages and the live view list them.
    fn params(&self) -> &'static [ParamDecl];

    /// The largest model of `space` with the settings `model` on `data`, and what one trial
    /// needs to train it.
    fn footprint(&self, model: &ModelPlan, space: &SearchSpace, data: &Dataset) -> Footprint;
}

/// The largest model of a study, in f64 so that no size overflows.
#[derive(Clone, Debug, PartialEq)]
pub struct Footprint {
    /// Its parameters (weights).
    pub params: f64,
    /// The bytes one trial needs to train it.
    pub bytes: f64,
    /// The spec's path to blame when it does not fit (`model.hidden`).
    pub blame: String,
}
