//! The init sub-plan (`init`): fine-tuning. Every trial starts from one checkpoint of an earlier
//! study, its weights (and with `"optimizer": "keep"` its optimizer's state) instead of the seed's;
//! the data is prepared with that checkpoint's recorded preprocessing, so the weights see inputs
//! as they did; and the network's shape is the checkpoint's.

use std::path::Path;

use crate::artifacts::pick::{self, CheckpointPick};
use crate::artifacts::Checkpoint;
use crate::backend::Location;
use crate::curve::select_best;
use crate::data::Preprocessing;
use crate::error::{Error, Result};
use crate::objective::{Metric, Standing};
use crate::spec::InitSpec;
use crate::storage::History;

/// The checkpoint every trial starts from, read and checked.
#[derive(Clone, Debug)]
pub struct InitPlan {
    /// The earlier study, as shown (its folder, or its name and database).
    pub from: String,
    pub trial: u64,
    pub virtual_epoch: u32,
    pub checkpoint: Checkpoint,
    /// How the checkpoint's inputs were prepared.
    pub prep: Preprocessing,
    /// Whether the optimizer's state comes along (`"optimizer": "keep"`).
    pub keep_optimizer: bool,
    /// CRC-32 of the checkpoint's metadata, weights and optimizer state, for the fingerprint.
    pub crc32: u32,
}

/// The spec's `init` (in `file`, relative paths from `base`), read and checked.
pub(super) fn load(file: &Path, spec: &InitSpec, base: &Path) -> Result<InitPlan> {
    let bad = |path: &str, msg: String| Error::spec(file, format!("init.{path}"), msg);
    let loc = Location::parse(&spec.from, base).map_err(|msg| bad("from", msg))?;
    let shown = loc.shown();
    let keep_optimizer = match spec.optimizer.as_str() {
        "reset" => false,
        "keep" => true,
        other => {
            return Err(bad(
                "optimizer",
                format!("\"{other}\" is not a choice: use \"reset\" or \"keep\""),
            ))
        }
    };
    let which = checkpoint_pick(&spec.checkpoint).ok_or_else(|| {
        bad(
            "checkpoint",
            "is neither \"best\", \"last\" nor a virtual epoch's number".into(),
        )
    })?;
    // Only the built-in trainer's checkpoints start a study: no program's files are unpacked.
    let (history, store) = crate::backend::read(&loc, base, None)
        .map_err(|e| bad("from", format!("{shown} cannot be read: {e}")))?
        .ok_or_else(|| match &loc {
            Location::Folder(_) => {
                bad("from", format!("{shown} holds no study (no journal.jsonl)"))
            }
            Location::Postgres { .. } => bad("from", format!("{shown} holds no study")),
        })?;
    let trial = match &spec.trial {
        serde_json::Value::String(s) if s == "best" => {
            leaders_first(&loc, &history).ok_or_else(|| {
                bad(
                    "trial",
                    format!("{shown} has no trial with a selected checkpoint: give a trial number"),
                )
            })?
        }
        v => match v.as_u64() {
            Some(n) if history.trials.contains_key(&n) => n,
            Some(n) => return Err(bad("trial", format!("{shown} has no trial {n}"))),
            None => {
                return Err(bad(
                    "trial",
                    "is neither \"best\" nor a trial number".into(),
                ))
            }
        },
    };
    let has_best = history
        .trials
        .get(&trial)
        .is_some_and(|t| !t.curve.is_empty());
    let checkpoint = pick::read(&*store, trial, which, has_best)
        .map_err(|e| bad("checkpoint", e.to_string()))?;
    let field = |key: &str| checkpoint.meta.runner.get(key).cloned();
    let not_mlp = || {
        bad("from", format!("trial {trial} of {shown} is not a model of the built-in trainer (a program's checkpoint cannot be the start of one)"))
    };
    // A built-in model's checkpoint holds its weights (its family reads their shape).
    if checkpoint.weights.is_empty() {
        return Err(not_mlp());
    }
    let prep: Preprocessing = field("preprocessing")
        .and_then(|v| serde_json::from_value(v).ok())
        .ok_or_else(|| bad("from", format!("the checkpoint of trial {trial} in {shown} does not record how its inputs were prepared (an earlier build wrote it): run that study again with this build")))?;
    Ok(InitPlan {
        from: shown,
        trial,
        virtual_epoch: checkpoint.meta.virtual_epoch,
        crc32: content_crc(&checkpoint),
        checkpoint,
        prep,
        keep_optimizer,
    })
}

/// The pick a JSON value names: `"best"`, `"last"` or a virtual epoch's number.
fn checkpoint_pick(v: &serde_json::Value) -> Option<CheckpointPick> {
    match v {
        serde_json::Value::String(s) => s.parse().ok(),
        v => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(CheckpointPick::Epoch),
    }
}

/// The first trial of the study's leaderboard (as its own metric ranked them) that has a
/// selected checkpoint: a folder's `leaderboard.csv`; in PostgreSQL, the first by the same ranking
/// (`Metric::rank`) of the metric its fingerprint records.
fn leaders_first(loc: &Location, history: &History) -> Option<u64> {
    let dir = match loc {
        Location::Folder(dir) => dir,
        Location::Postgres { .. } => {
            let fp = history.fingerprint.as_ref();
            let field = |k: &str| fp.and_then(|f| f.get(k)).and_then(|v| v.as_str());
            let metric = Metric::recorded(field("metric"), field("goal"));
            if let Some(o) = recorded_objectives(fp, metric) {
                // Several objectives: the front's trial with the best first objective.
                let (outcomes, ranks) = o.standings(history);
                let first = ranks.iter().filter(|(_, r)| **r == Some(1));
                let value = |t: &u64| outcomes[t].as_ref().map_or(f64::NAN, |o| o.values[0]);
                return first
                    .map(|(t, _)| (*t, value(t)))
                    .min_by(|a, b| metric.order(a, b))
                    .map(|(t, _)| t);
            }
            // As the leaderboard ranks them (Metric::rank), among those with a selected value.
            let standing = |(&trial, t): (&u64, &crate::storage::TrialRecord)| {
                let best = select_best(&t.curve, metric);
                Standing {
                    value: best.map_or(f64::NAN, |i| t.curve[i].selection_value(metric)),
                    cut_short: t.status.cut_short(),
                    loss: best.map_or(f64::NAN, |i| t.curve[i].val_loss),
                    trial,
                }
            };
            return history
                .trials
                .iter()
                .map(standing)
                .filter(|s| !s.value.is_nan())
                .min_by(|a, b| metric.rank(a, b))
                .map(|s| s.trial);
        }
    };
    let mut r = csv::Reader::from_path(dir.join("leaderboard.csv")).ok()?;
    let h = r.headers().ok()?.clone();
    let trial = h.iter().position(|c| c == "trial")?;
    let epoch = h.iter().position(|c| c == "best_virtual_epoch")?;
    r.records()
        .flatten()
        .find(|row| !row[epoch].is_empty())
        .and_then(|row| row[trial].parse().ok())
}

/// The objectives and constraints a study's fingerprint `fp` records, when it has several or
/// constraints (the first objective is `metric`); `None` for a study of one objective.
fn recorded_objectives(
    fp: Option<&crate::storage::Fingerprint>,
    metric: Metric,
) -> Option<crate::pareto::Objectives> {
    let fp = fp?;
    let name = |v: &serde_json::Value| v.get("metric").and_then(|m| m.as_str()).map(String::from);
    let list = fp.get("objectives").and_then(|v| v.as_array());
    let constraints = fp.get("constraints").and_then(|v| v.as_array());
    if list.is_none() && constraints.is_none() {
        return None;
    }
    let mut o = crate::pareto::Objectives::single(metric, metric.kind);
    for v in list.into_iter().flatten().skip(1) {
        let goal = v.get("goal").and_then(|g| g.as_str());
        o.list.push(Metric::recorded(name(v).as_deref(), goal));
        o.references.push(None);
    }
    for v in constraints.into_iter().flatten() {
        let bound = |k: &str, none: f64| v.get(k).and_then(|b| b.as_f64()).unwrap_or(none);
        o.constraints.push(crate::pareto::Constraint {
            kind: Metric::recorded(name(v).as_deref(), None).kind,
            min: bound("min", f64::NEG_INFINITY),
            max: bound("max", f64::INFINITY),
        });
    }
    Some(o)
}

/// CRC-32 of what a trial starting from `c` takes from it.
fn content_crc(c: &Checkpoint) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(
        serde_json::to_string(&c.meta)
            .expect("serialises")
            .as_bytes(),
    );
    h.update(&c.optimizer.t.to_le_bytes());
    let mut all: Vec<_> = c.weights.iter().collect();
    let mut moments: Vec<_> = c.optimizer.m.iter().chain(&c.optimizer.v).collect();
    all.sort_by_key(|t| &t.name);
    moments.sort_by_key(|t| &t.name);
    for t in all.into_iter().chain(moments) {
        h.update(t.name.as_bytes());
        for v in &t.data {
            h.update(&v.to_le_bytes());
        }
    }
    h.finalize()
}
