//! The scheduler sub-plan: the spec's `scheduler` section (a scheduler that compares trials at
//! their boundaries, by `kind`), read and checked against the budget into a [`SchedulerPlan`],
//! which `scheduler::for_plan` builds. A new scheduler is a `SchedulerSpec` variant and its check
//! here, its `Scheduler` in `src/scheduler/`, and its arm in `for_plan`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A scheduler that compares trials, by `kind`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum SchedulerSpec {
    /// Asynchronous successive halving.
    Asha(Halving),
    /// Hyperband: brackets of asynchronous successive halving, the first with ASHA's rungs, each
    /// next with its first rung η times later (the last prunes nothing); each trial's bracket drawn
    /// from the study's seed, as many trials to a bracket as Hyperband starts in it.
    Hyperband(Halving),
    /// The median rule.
    Median(MedianSpec),
    /// Population-based training: `search.trials` members train at once; at each interval the
    /// bottom quantile copies the top's checkpoints and explores their parameters.
    Pbt(PbtSpec),
}

/// The median rule's settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MedianSpec {
    /// Boundaries before the rule applies (default 2).
    #[serde(default = "two_u32")]
    warmup_virtual_epochs: u32,
    /// Other trials that must have reached a boundary before it applies there (default 5).
    #[serde(default = "five")]
    min_trials: usize,
}

/// Population-based training's settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PbtSpec {
    /// Virtual epochs between exploits (default 1).
    #[serde(default = "one_u32")]
    interval_virtual_epochs: u32,
    /// The share of members at the bottom that exploit, and at the top that are copied (default
    /// 0.25).
    #[serde(default = "quarter")]
    quantile: f64,
    /// The chance that an explored parameter is drawn from the space anew (default 0.25).
    #[serde(default = "quarter")]
    resample_probability: f64,
    /// The factors an explored parameter is multiplied by, one drawn (default [0.8, 1.2]).
    #[serde(default = "factors")]
    perturb: Vec<f64>,
    /// Searched parameters an exploiting member copies and never explores (default: with the
    /// built-in trainer, the network's shape and the optimizer; with a program, none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fixed: Option<Vec<String>>,
}

fn quarter() -> f64 {
    0.25
}
fn factors() -> Vec<f64> {
    vec![0.8, 1.2]
}

/// Successive halving's settings, ASHA's and each of Hyperband's brackets'.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Halving {
    /// η: each rung keeps the top 1/η (default 3).
    #[serde(default = "three")]
    reduction_factor: u32,
    /// The first rung, in virtual epochs (default 1); the next ones at η times the last.
    #[serde(default = "one_u32")]
    min_virtual_epochs: u32,
    /// `promote` (default: pause at each rung, resume the top 1/η) or `stop`.
    #[serde(default = "promote")]
    mode: String,
}

fn one_u32() -> u32 {
    1
}
fn two_u32() -> u32 {
    2
}
fn three() -> u32 {
    3
}
fn five() -> usize {
    5
}
fn promote() -> String {
    "promote".into()
}

/// A scheduler that compares trials at their boundaries.
#[derive(Clone, Debug, PartialEq)]
pub enum SchedulerPlan {
    /// Successive halving: rungs at `min × eta^k` virtual epochs; `promote` pauses at each rung and
    /// resumes the top 1/eta, otherwise trials below it are pruned.
    Asha { eta: u32, min: u32, promote: bool },
    /// Hyperband: ASHA's brackets, the first with rungs from `min`, each next from η times its
    /// first rung; trials drawn to brackets from the study's seed.
    Hyperband { eta: u32, min: u32, promote: bool },
    /// The median rule after `warmup` boundaries, once `min_trials` others reached a boundary.
    Median { warmup: u32, min_trials: usize },
    /// Population-based training.
    Pbt(PbtPlan),
}

/// Population-based training, checked: every `interval` virtual epochs the bottom `quantile` of
/// the members exploit the top `quantile`'s and explore (each parameter drawn anew with
/// probability `resample`, else multiplied by one of `perturb`); `fixed` parameters (the
/// network's shape, the optimizer's kind) are the copied member's, never explored.
#[derive(Clone, Debug, PartialEq)]
pub struct PbtPlan {
    pub interval: u32,
    pub quantile: f64,
    pub resample: f64,
    pub perturb: Vec<f64>,
    pub fixed: Vec<String>,
}

impl SchedulerPlan {
    /// The spec's `scheduler` section, checked against the budget's virtual epochs.
    fn from_spec(file: &Path, s: &SchedulerSpec, epochs: u32) -> Result<SchedulerPlan> {
        let bad =
            |path: &str, msg: String| Err(Error::spec(file, format!("scheduler.{path}"), msg));
        match s {
            SchedulerSpec::Asha(h) | SchedulerSpec::Hyperband(h) => {
                let (eta, min, promote) = halving(file, h, epochs)?;
                Ok(match s {
                    SchedulerSpec::Asha(_) => SchedulerPlan::Asha { eta, min, promote },
                    _ => SchedulerPlan::Hyperband { eta, min, promote },
                })
            }
            SchedulerSpec::Median(MedianSpec {
                warmup_virtual_epochs,
                min_trials,
            }) => {
                if *warmup_virtual_epochs >= epochs {
                    return bad("warmup_virtual_epochs", format!("{warmup_virtual_epochs} leaves none of the budget's {epochs} virtual epochs to the rule"));
                }
                if *min_trials == 0 {
                    return bad("min_trials", "must be at least 1".into());
                }
                Ok(SchedulerPlan::Median {
                    warmup: *warmup_virtual_epochs,
                    min_trials: *min_trials,
                })
            }
            SchedulerSpec::Pbt(p) => pbt(file, p, epochs),
        }
    }
}

/// Population-based training's settings checked against the budget's `epochs`.
fn pbt(file: &Path, p: &PbtSpec, epochs: u32) -> Result<SchedulerPlan> {
    let bad = |path: &str, msg: String| Err(Error::spec(file, format!("scheduler.{path}"), msg));
    let interval = p.interval_virtual_epochs;
    if interval == 0 || interval >= epochs {
        return bad(
            "interval_virtual_epochs",
            format!("{interval} must be at least 1 and below the budget's {epochs} virtual epochs"),
        );
    }
    if !(p.quantile > 0.0 && p.quantile <= 0.5) {
        return bad(
            "quantile",
            format!("{} is not a share above 0 and at most 0.5 (the bottom and the top must not overlap)", p.quantile),
        );
    }
    if !(0.0..=1.0).contains(&p.resample_probability) {
        return bad(
            "resample_probability",
            format!(
                "{} is not a probability from 0 to 1",
                p.resample_probability
            ),
        );
    }
    if p.perturb.is_empty() {
        return bad("perturb", "needs at least one factor".into());
    }
    if let Some(i) = p.perturb.iter().position(|f| !(f.is_finite() && *f > 0.0)) {
        return bad(
            &format!("perturb[{i}]"),
            format!("{} is not a positive factor", p.perturb[i]),
        );
    }
    Ok(SchedulerPlan::Pbt(PbtPlan {
        interval,
        quantile: p.quantile,
        resample: p.resample_probability,
        perturb: p.perturb.clone(),
        fixed: p.fixed.clone().unwrap_or_default(),
    }))
}

/// Successive halving's settings checked against the budget's `epochs`: (η, the first rung,
/// whether it pauses and promotes).
fn halving(file: &Path, h: &Halving, epochs: u32) -> Result<(u32, u32, bool)> {
    let Halving {
        reduction_factor,
        min_virtual_epochs,
        ref mode,
    } = *h;
    let bad = |path: &str, msg: String| Err(Error::spec(file, format!("scheduler.{path}"), msg));
    if !(2..=100).contains(&reduction_factor) {
        return bad(
            "reduction_factor",
            format!("{reduction_factor} is not a whole number from 2 to 100"),
        );
    }
    if min_virtual_epochs == 0 || min_virtual_epochs >= epochs {
        return bad("min_virtual_epochs", format!("{min_virtual_epochs} must be at least 1 and below the budget's {epochs} virtual epochs, where the first rung is"));
    }
    let promote = match mode.as_str() {
        "promote" => true,
        "stop" => false,
        m => {
            return bad(
                "mode",
                format!("\"{m}\" is not a mode: use \"promote\" or \"stop\""),
            )
        }
    };
    Ok((reduction_factor, min_virtual_epochs, promote))
}

impl SchedulerPlan {
    /// Whether it pauses trials and promotes them (ASHA's promote mode: not shared across workers
    /// yet; population-based training: shared).
    pub fn promotes(&self) -> bool {
        match *self {
            SchedulerPlan::Asha { promote, .. } | SchedulerPlan::Hyperband { promote, .. } => {
                promote
            }
            SchedulerPlan::Median { .. } => false,
            SchedulerPlan::Pbt(_) => true,
        }
    }
}

impl super::StudyPlan {
    /// Population-based training's plan, when the study's scheduler is that.
    pub fn pbt(&self) -> Option<&PbtPlan> {
        match &self.scheduler {
            Some(SchedulerPlan::Pbt(p)) => Some(p),
            _ => None,
        }
    }
}

/// The section read by its `kind`: the other fields as that kind's settings, so that an error names
/// the field (`scheduler.reduction_factor`), which a tagged enum's error does not; a missing or
/// unknown kind as the enum, whose error lists the kinds.
fn by_kind(file: &Path, v: &serde_json::Value) -> Result<SchedulerSpec> {
    use crate::spec::read_section;
    if !v.is_object() {
        let why = format!("{v} is not an object: give {{\"kind\": \"asha\"}} and its settings");
        return Err(Error::spec(file, "scheduler", why));
    }
    let mut rest = v.clone();
    let kind = rest.as_object_mut().and_then(|o| o.remove("kind"));
    let at = "scheduler";
    Ok(match kind.as_ref().and_then(|k| k.as_str()) {
        Some("asha") => SchedulerSpec::Asha(read_section(file, at, &rest)?),
        Some("hyperband") => SchedulerSpec::Hyperband(read_section(file, at, &rest)?),
        Some("median") => SchedulerSpec::Median(read_section(file, at, &rest)?),
        Some("pbt") => SchedulerSpec::Pbt(read_section(file, at, &rest)?),
        _ => read_section(file, at, v)?,
    })
}

/// The spec's `scheduler` section in `file` (`None`: absent), checked against the budget's
/// `epochs`: its plan, and the section with its defaults (the study's fingerprint holds it).
pub(super) fn read(
    file: &Path,
    section: Option<&serde_json::Value>,
    epochs: u32,
) -> Result<(Option<SchedulerPlan>, serde_json::Value)> {
    let Some(v) = section else {
        return Ok((None, serde_json::Value::Null));
    };
    let s = by_kind(file, v)?;
    let plan = SchedulerPlan::from_spec(file, &s, epochs)?;
    let shown = serde_json::to_value(&s).expect("scheduler settings serialise");
    Ok((Some(plan), shown))
}
