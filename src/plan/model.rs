//! The model sub-plan: the network and optimizer settings every trial shares, each number checked
//! as training will use it (f32).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::space::{self, ParamDecl, ParamDefault};
use crate::spec::ModelSpec;

/// The optimizer family; its learning rate (and tuned extras) come from the trial.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Adam,
    Sgd,
}

/// The network and optimizer settings every trial shares.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelPlan {
    pub hidden: Vec<usize>,
    pub optimizer: OptimizerKind,
    pub betas: [f64; 2],
    pub eps: f64,
    pub momentum: f64,
    pub weight_decay: f64,
}

impl ModelPlan {
    /// The model section of the spec in `file`, every number checked as training will use it
    /// (f32); a setting that is a default of a parameter among `params` as that one.
    pub(super) fn from_spec(file: &Path, m: &ModelSpec, params: &[ParamDecl]) -> Result<ModelPlan> {
        let bad = |path: &str, msg: String| Error::spec(file, path, msg);
        if let Some(i) = m.hidden.iter().position(|&h| h == 0) {
            return Err(bad(
                &format!("model.hidden[{i}]"),
                "a layer needs at least one unit".into(),
            ));
        }
        let optimizer = match m.optimizer.as_str() {
            "adam" => OptimizerKind::Adam,
            "sgd" => OptimizerKind::Sgd,
            other => {
                return Err(bad(
                    "model.optimizer",
                    format!("\"{other}\" is not an optimizer: use \"adam\" or \"sgd\""),
                ))
            }
        };
        check_numbers(file, m, params)?;
        Ok(ModelPlan {
            hidden: m.hidden.clone(),
            optimizer,
            betas: m.betas,
            eps: m.eps,
            momentum: m.momentum,
            weight_decay: m.weight_decay,
        })
    }
}

/// The optimizer's numbers: each in its range first (a parameter's default as the parameter
/// among `params`), then each within f32.
fn check_numbers(file: &Path, m: &ModelSpec, params: &[ParamDecl]) -> Result<()> {
    let bad = |path: &str, msg: String| Error::spec(file, path, msg);
    let valid = |path: &'static str, x: f64| {
        params
            .iter()
            .find(|p| p.default == ParamDefault::Setting(path))
            .is_none_or(|p| p.accepts(x))
    };
    for (i, b) in m.betas.iter().enumerate() {
        if !(0.0..1.0).contains(b) {
            return Err(bad(
                &format!("model.betas[{i}]"),
                format!("{} is not in [0, 1)", space::num(*b)),
            ));
        }
    }
    if !(m.eps > 0.0 && m.eps.is_finite()) {
        return Err(bad(
            "model.eps",
            format!("{} is not above 0", space::num(m.eps)),
        ));
    }
    if !valid("model.momentum", m.momentum) {
        return Err(bad(
            "model.momentum",
            format!("{} is not in [0, 1)", space::num(m.momentum)),
        ));
    }
    if !valid("model.weight_decay", m.weight_decay) {
        return Err(bad(
            "model.weight_decay",
            format!("{} is below 0", space::num(m.weight_decay)),
        ));
    }
    let floats = [
        ("model.betas[0]", m.betas[0], true),
        ("model.betas[1]", m.betas[1], true),
        ("model.eps", m.eps, false),
        ("model.momentum", m.momentum, true),
        ("model.weight_decay", m.weight_decay, false),
    ];
    for (path, x, below_one) in floats {
        if let Some(msg) = space::f32_problem(x, below_one) {
            return Err(bad(path, msg));
        }
    }
    Ok(())
}
