//! What the plan asks of a model family (the built-in trainer's is `runner::mlp::params::FAMILY`):
//! the parameters it accepts, which the space of a spec is checked against, and the memory the
//! largest model a study asks for needs. The runner reads plans, so the plan does not name it:
//! whoever makes a plan hands it the family.

use std::any::Any;
use std::path::Path;
use std::sync::Arc;

use super::InitPlan;
use crate::data::Dataset;
use crate::error::Result;
use crate::space::{ParamDecl, SearchSpace};

/// A model family: its parameters and its models' sizes.
pub trait ModelFamily: Sync {
    /// The parameters a space may tune, in the order messages and the live view list them.
    fn params(&self) -> &'static [ParamDecl];

    /// The spec's `model` section in `file` (`None`: absent), read and checked into the settings
    /// every trial shares; with `init`, fitted to the checkpoint every trial starts from.
    fn settings(
        &self,
        file: &Path,
        section: Option<&serde_json::Value>,
        init: Option<&InitPlan>,
    ) -> Result<ModelSettings>;

    /// The largest model of `space` with the settings `model` on `data`, and what one trial
    /// needs to train it.
    fn footprint(&self, model: &ModelSettings, space: &SearchSpace, data: &Dataset) -> Footprint;
}

/// A family's settings of a study's model, which the plan carries and its runner reads.
#[derive(Clone)]
pub struct ModelSettings {
    /// The spec's section with every default filled in: the study's fingerprint holds it.
    pub fingerprint: serde_json::Value,
    /// The family's own typed settings.
    pub typed: Arc<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for ModelSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ModelSettings({})", self.fingerprint)
    }
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
