//! The warm-start sub-plan (`search.warm_start`): an earlier study's finished trials on the same
//! space, which a Bayesian study's GP starts from (Optuna's `add_trials`) and which grid and random
//! search do not run again.

use std::path::Path;

use crate::backend::Location;
use crate::curve::best_value;
use crate::error::{Error, Result};
use crate::objective::Metric;
use crate::space::{Params, SearchSpace};
use crate::storage::Status;

/// Trials of an earlier study: each one's parameters and its selected value of the study's metric
/// (NaN: it failed, or reached no value).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WarmStart {
    pub trials: Vec<(Params, f64)>,
    /// CRC-32 of what was taken, for the fingerprint.
    pub crc32: u32,
}

/// The finished trials of the study at `loc` (a folder, or a study in PostgreSQL; from the spec
/// `file`; `metric_json` and `goal_json` are this spec's, which the earlier study must share)
/// that lie in `space`.
pub(super) fn load(
    file: &Path,
    loc: &Location,
    space: &SearchSpace,
    metric: Metric,
    metric_json: &serde_json::Value,
    goal_json: &serde_json::Value,
) -> Result<WarmStart> {
    let bad = |msg: String| Error::spec(file, "search.warm_start", msg);
    let shown = loc.shown();
    let history = crate::backend::history(loc)
        .map_err(|e| bad(format!("{shown} cannot be read: {e}")))?
        .ok_or_else(|| match loc {
            Location::Folder(_) => bad(format!("{shown} holds no study (no journal.jsonl)")),
            Location::Postgres { .. } => bad(format!("{shown} holds no study")),
        })?;
    if let Some(fp) = &history.fingerprint {
        for (key, ours) in [("metric", metric_json), ("goal", goal_json)] {
            if let Some(theirs) = fp.get(key).filter(|t| *t != ours) {
                return Err(bad(format!(
                    "{shown} was judged by {key} {theirs}, this study by {ours}: their values do not compare"
                )));
            }
        }
    }
    let trials: Vec<(Params, f64)> = history
        .trials
        .values()
        .filter(|t| !matches!(t.status, Status::Running | Status::Paused))
        .filter(|t| space.contains(&t.params))
        .map(|t| {
            let v = best_value(&t.curve, metric);
            (t.params.clone(), v)
        })
        .collect();
    if trials.is_empty() {
        return Err(bad(format!(
            "{shown} has no finished trial whose parameters lie in this study's space"
        )));
    }
    let text = serde_json::to_string(
        &trials
            .iter()
            .map(|(p, v)| (p, v.to_string()))
            .collect::<Vec<_>>(),
    )
    .expect("parameters serialise");
    Ok(WarmStart {
        crc32: crc32fast::hash(text.as_bytes()),
        trials,
    })
}
