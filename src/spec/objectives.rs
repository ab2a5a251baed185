//! The spec's `objectives` and `constraints`: several metrics a study trades off, and bounds a
//! trial must keep to be feasible (src/objective/several.rs reads them).

use serde::{Deserialize, Serialize};

/// One objective: a metric, its direction (default: the metric's own), and optionally the value
/// of the reference point the hypervolume is measured against.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ObjectiveSpec {
    pub metric: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<String>,
    /// The reference point's value for this objective (default: the worst value seen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<f64>,
}

/// A bound on a metric at each trial's selected checkpoint: `min`, `max` or both.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConstraintSpec {
    pub metric: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}
