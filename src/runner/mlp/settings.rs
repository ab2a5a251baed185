//! The built-in trainer's model settings: the spec's `model` section (the network's hidden widths
//! and its optimizer), read and checked by the family ([`super::params::FAMILY`]) into a
//! [`ModelPlan`], which the plan carries without naming ([`ModelSettings`]); with `init`, fitted to
//! the checkpoint's network.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::model::Activation;
use super::schedule::{LrScaling, ScheduleKind};
use crate::error::{Error, Result};
use crate::plan::{InitPlan, ModelSettings, StudyPlan};
use crate::space::{self, ParamDecl, ParamDefault};

/// The spec's `model` section: the network and its optimizer.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Hidden layer widths of the built-in trainer's MLP (default [64, 64]).
    #[serde(default = "default_hidden")]
    pub hidden: Vec<usize>,
    /// `adam` (default) or `sgd`.
    #[serde(default = "default_optimizer")]
    pub optimizer: String,
    /// Adam's betas (default [0.9, 0.999]).
    #[serde(default = "default_betas")]
    pub betas: [f64; 2],
    /// Adam's epsilon (default 1e-8).
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// SGD's momentum (default 0.9) when not tuned in the space.
    #[serde(default = "default_momentum")]
    pub momentum: f64,
    /// Weight decay (decoupled for Adam, L2 for SGD; default 0) when not tuned in the space.
    #[serde(default)]
    pub weight_decay: f64,
    /// The number of hidden layers, each as wide as `hidden_width` or the first of `hidden`
    /// (absent: the layers of `hidden`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<f64>,
    /// After each hidden layer: `relu` (default), `gelu`, `tanh` or `silu`.
    #[serde(default = "default_activation", skip_serializing_if = "is_relu")]
    pub activation: String,
    /// Inverted dropout after each hidden activation, in training only (default 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropout: f64,
    /// The learning rate's decay: `constant` (default), `linear` or `cosine`.
    #[serde(default = "default_schedule", skip_serializing_if = "is_constant")]
    pub schedule: String,
    /// The share of the budget's examples over which the rate rises from 0 (default 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub warmup: f64,
    /// Where the decay ends, as a share of the learning rate (default 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub min_lr_fraction: f64,
    /// How the learning rate follows the batch size: `none` (default), `linear` or `sqrt`.
    #[serde(default = "default_scaling", skip_serializing_if = "is_unscaled")]
    pub lr_scaling: String,
    /// The batch size at which the learning rate is the one given (default 32).
    #[serde(
        default = "default_reference_batch",
        skip_serializing_if = "is_default_reference_batch"
    )]
    pub reference_batch_size: usize,
    /// Clip the gradients to this global norm (absent: no clipping).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_grad_norm: Option<f64>,
}

// Each new field left out of what is written at its default: the fingerprint of a study begun
// before it is the same (docs/design.md, "A model setting").
fn is_zero(x: &f64) -> bool {
    *x == 0.0
}
fn default_schedule() -> String {
    "constant".into()
}
fn is_constant(name: &str) -> bool {
    name == "constant"
}
fn default_scaling() -> String {
    "none".into()
}
fn is_unscaled(name: &str) -> bool {
    name == "none"
}
fn default_reference_batch() -> usize {
    32
}
fn is_default_reference_batch(b: &usize) -> bool {
    *b == 32
}

fn default_activation() -> String {
    "relu".into()
}
fn is_relu(name: &str) -> bool {
    name == "relu"
}

fn default_hidden() -> Vec<usize> {
    vec![64, 64]
}
fn default_optimizer() -> String {
    "adam".into()
}
fn default_betas() -> [f64; 2] {
    [0.9, 0.999]
}
fn default_eps() -> f64 {
    1e-8
}
fn default_momentum() -> f64 {
    0.9
}

/// The optimizer family; its learning rate (and tuned extras) come from the trial.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Adam,
    Sgd,
}

impl OptimizerKind {
    /// The names a spec may give, in the order a message lists them.
    pub const NAMES: [&'static str; 2] = ["adam", "sgd"];

    /// The optimizer named `name`, if any.
    pub fn named(name: &str) -> Option<OptimizerKind> {
        match name {
            "adam" => Some(OptimizerKind::Adam),
            "sgd" => Some(OptimizerKind::Sgd),
            _ => None,
        }
    }
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
    /// `model.depth`: hidden layers of one width; `None`: the layers of `hidden`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<usize>,
    /// `model.activation`.
    #[serde(default, skip_serializing_if = "Activation::is_relu")]
    pub activation: Activation,
    /// `model.dropout`, `model.schedule`, `model.warmup`, `model.min_lr_fraction`,
    /// `model.lr_scaling`, `model.reference_batch_size` and `model.max_grad_norm`: each trial's
    /// unless its space tunes it (the reference batch size is every trial's).
    #[serde(default)]
    pub dropout: f64,
    #[serde(default)]
    pub schedule: ScheduleKind,
    #[serde(default)]
    pub warmup: f64,
    #[serde(default)]
    pub min_lr_fraction: f64,
    #[serde(default)]
    pub lr_scaling: LrScaling,
    #[serde(default = "default_reference_batch")]
    pub reference_batch_size: usize,
    #[serde(default)]
    pub max_grad_norm: Option<f64>,
}

impl Default for ModelPlan {
    /// The settings of a spec without a `model` section.
    fn default() -> ModelPlan {
        let m: ModelSpec = serde_json::from_value(serde_json::json!({})).expect("every default");
        ModelPlan::from_spec(Path::new("-"), &m, &[]).expect("the defaults are valid")
    }
}

/// The settings of `plan`, which the built-in family made.
pub fn of(plan: &StudyPlan) -> &ModelPlan {
    plan.model
        .typed
        .downcast_ref()
        .expect("a plan of the built-in trainer holds its settings")
}

/// The spec's `model` section in `file` (`None`: absent, every default), read and checked as
/// training will use it (f32), a setting that is a default of one of `params` as that one; with
/// `init`, the network's shape is the checkpoint's.
pub fn read(
    file: &Path,
    section: Option<&serde_json::Value>,
    init: Option<&InitPlan>,
    params: &[ParamDecl],
) -> Result<ModelSettings> {
    let m: ModelSpec = match section {
        None => serde_json::from_value(serde_json::json!({})).expect("every field has a default"),
        Some(v) => crate::spec::read_section(file, "model", v)?,
    };
    let given = |f: &str| section.is_some_and(|v| v.get(f).is_some());
    let shape_given = (given("hidden"), given("activation"));
    let mut plan = ModelPlan::from_spec(file, &m, params)?;
    if let Some(i) = init {
        fit_init(file, &mut plan, shape_given, i)?;
    }
    Ok(ModelSettings {
        fingerprint: serde_json::to_value(&m).expect("model settings serialise"),
        typed: Arc::new(plan),
    })
}

impl ModelPlan {
    fn from_spec(file: &Path, m: &ModelSpec, params: &[ParamDecl]) -> Result<ModelPlan> {
        let bad = |path: &str, msg: String| Error::spec(file, path, msg);
        if let Some(i) = m.hidden.iter().position(|&h| h == 0) {
            return Err(bad(
                &format!("model.hidden[{i}]"),
                "a layer needs at least one unit".into(),
            ));
        }
        let optimizer = OptimizerKind::named(&m.optimizer).ok_or_else(|| {
            bad(
                "model.optimizer",
                format!(
                    "\"{}\" is not an optimizer: use \"adam\" or \"sgd\"",
                    m.optimizer
                ),
            )
        })?;
        check_numbers(file, m, params)?;
        check_training(file, m, params)?;
        let depth = check_depth(file, m.depth, params)?;
        let activation = Activation::named(&m.activation).ok_or_else(|| {
            bad(
                "model.activation",
                format!(
                    "\"{}\" is not an activation: use \"relu\", \"gelu\", \"tanh\" or \"silu\"",
                    m.activation
                ),
            )
        })?;
        let schedule = ScheduleKind::named(&m.schedule).ok_or_else(|| {
            bad(
                "model.schedule",
                format!(
                    "\"{}\" is not a schedule: use \"constant\", \"linear\" or \"cosine\"",
                    m.schedule
                ),
            )
        })?;
        let lr_scaling = LrScaling::named(&m.lr_scaling).ok_or_else(|| {
            bad(
                "model.lr_scaling",
                format!(
                    "\"{}\" is not an lr_scaling: use \"none\", \"linear\" or \"sqrt\"",
                    m.lr_scaling
                ),
            )
        })?;
        Ok(ModelPlan {
            dropout: m.dropout,
            schedule,
            warmup: m.warmup,
            min_lr_fraction: m.min_lr_fraction,
            lr_scaling,
            reference_batch_size: m.reference_batch_size,
            max_grad_norm: m.max_grad_norm,
            activation,
            depth,
            hidden: m.hidden.clone(),
            optimizer,
            betas: m.betas,
            eps: m.eps,
            momentum: m.momentum,
            weight_decay: m.weight_decay,
        })
    }
}

/// With `init`, the network's shape is the checkpoint's (`model.hidden`, when given, must be it),
/// and its optimizer state is kept only for the optimizer it belongs to.
fn fit_init(
    file: &Path,
    model: &mut ModelPlan,
    (hidden_given, activation_given): (bool, bool),
    i: &InitPlan,
) -> Result<()> {
    let sizes: Vec<usize> = i
        .checkpoint
        .meta
        .runner
        .get("layer_sizes")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .filter(|s: &Vec<usize>| s.len() >= 2)
        .ok_or_else(|| {
            Error::spec(file, "init.from", format!("trial {} of {} is not a model of the built-in trainer (a program's checkpoint cannot be the start of one)", i.trial, i.from))
        })?;
    let hidden = &sizes[1..sizes.len() - 1];
    if hidden_given && model.hidden != hidden {
        return Err(Error::spec(
            file,
            "model.hidden",
            format!(
                "{:?} is not the checkpoint's {:?}: with init the network's shape is the checkpoint's (leave model.hidden out)",
                model.hidden, hidden
            ),
        ));
    }
    if let Some(d) = model.depth.filter(|&d| d != hidden.len()) {
        return Err(Error::spec(
            file,
            "model.depth",
            format!(
                "{d} is not the checkpoint's {}: with init the network's shape is the checkpoint's (leave model.depth out)",
                hidden.len()
            ),
        ));
    }
    model.hidden = hidden.to_vec();
    model.depth = None;
    let runner = i.checkpoint.meta.runner.iter();
    let activation = Activation::of_runner(runner).unwrap_or_default();
    if activation_given && model.activation != activation {
        return Err(Error::spec(
            file,
            "model.activation",
            format!(
                "\"{}\" is not the checkpoint's \"{}\": with init the network is the checkpoint's (leave model.activation out)",
                model.activation.name(),
                activation.name()
            ),
        ));
    }
    model.activation = activation;
    let adam_state = !i.checkpoint.optimizer.v.is_empty();
    if i.keep_optimizer && adam_state != (model.optimizer == OptimizerKind::Adam) {
        return Err(Error::spec(
            file,
            "init.optimizer",
            "\"keep\" takes the checkpoint's optimizer state, and it is not of this study's optimizer (model.optimizer): use \"reset\"",
        ));
    }
    Ok(())
}

/// `model.depth`, when given: as the `depth` parameter among `params` takes it.
fn check_depth(file: &Path, depth: Option<f64>, params: &[ParamDecl]) -> Result<Option<usize>> {
    let Some(d) = depth else { return Ok(None) };
    let decl = params
        .iter()
        .find(|p| p.default == ParamDefault::Setting("model.depth"));
    let whole = d.fract() == 0.0;
    match decl {
        Some(p) if !(whole && p.accepts(d)) => Err(Error::spec(
            file,
            "model.depth",
            format!("{} is not {}", space::num(d), p.what),
        )),
        _ => Ok(Some(d as usize)),
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

/// The training settings that a parameter among `params` may tune (`model.dropout`, the
/// schedule's numbers, `model.max_grad_norm`), each as the parameter takes it, and the reference
/// batch size.
fn check_training(file: &Path, m: &ModelSpec, params: &[ParamDecl]) -> Result<()> {
    if m.reference_batch_size == 0 {
        return Err(Error::spec(
            file,
            "model.reference_batch_size",
            "0 is not an integer of at least 1",
        ));
    }
    let numbers = [
        ("model.dropout", Some(m.dropout)),
        ("model.warmup", Some(m.warmup)),
        ("model.min_lr_fraction", Some(m.min_lr_fraction)),
        ("model.max_grad_norm", m.max_grad_norm),
    ];
    for (path, x) in numbers {
        let (Some(x), Some(p)) = (
            x,
            params
                .iter()
                .find(|p| p.default == ParamDefault::Setting(path)),
        ) else {
            continue;
        };
        if !p.accepts(x) {
            return Err(Error::spec(
                file,
                path,
                format!("{} is not {}", space::num(x), p.what),
            ));
        }
        if let Some(msg) = space::f32_problem(x, p.below_one) {
            return Err(Error::spec(file, path, msg));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fingerprint(section: serde_json::Value) -> serde_json::Value {
        let params = super::super::params::PARAMS;
        read(Path::new("s.json"), Some(&section), None, params)
            .unwrap()
            .fingerprint
    }

    /// A study begun before issue 32's settings keeps its fingerprint (each left out at its
    /// default), and setting any of them changes it.
    #[test]
    fn the_new_settings_change_the_fingerprint_only_when_set() {
        let before = serde_json::json!({
            "hidden": [16], "optimizer": "adam", "betas": [0.9, 0.999], "eps": 1e-8,
            "momentum": 0.9, "weight_decay": 0.0
        });
        assert_eq!(fingerprint(serde_json::json!({ "hidden": [16] })), before);
        let defaults = serde_json::json!({
            "hidden": [16], "dropout": 0.0, "schedule": "constant", "warmup": 0,
            "min_lr_fraction": 0, "lr_scaling": "none", "reference_batch_size": 32
        });
        assert_eq!(fingerprint(defaults), before);
        for (k, v) in [
            ("dropout", serde_json::json!(0.1)),
            ("schedule", serde_json::json!("cosine")),
            ("warmup", serde_json::json!(0.1)),
            ("min_lr_fraction", serde_json::json!(0.1)),
            ("lr_scaling", serde_json::json!("sqrt")),
            ("reference_batch_size", serde_json::json!(64)),
            ("max_grad_norm", serde_json::json!(1.0)),
        ] {
            let mut s = serde_json::json!({ "hidden": [16] });
            s[k] = v.clone();
            let f = fingerprint(s);
            assert_ne!(f, before, "{k}");
            assert_eq!(f[k], v, "{k}");
        }
    }
}
