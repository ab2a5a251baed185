//! `tune retrain`: a trial's parameters trained again on other data with the same budget (total
//! examples and virtual epochs, whatever the new data's size), so that what the new data does can
//! be told apart from what training longer does; then its validation curve beside the old one.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::plan::{Overrides, StudyPlan};
use crate::spec::{BudgetSpec, SearchSpec};
use crate::storage::{History, TrialRecord};

/// The folder of trial `trial` retrained on `data`, inside the study folder `out`.
pub fn folder(out: &Path, trial: u64, data: &Path) -> PathBuf {
    out.join("retrain").join(label(trial, data))
}

/// `trial-N-<the data file's name>`, in characters any file system and study name take; a name
/// longer than [`LABEL_STEM`] is cut there and followed by its CRC-32, so that the folder and the
/// study's name (the spec's `name` before it) stay within 255 bytes and apart.
fn label(trial: u64, data: &Path) -> String {
    let stem = data
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let safe: String = stem
        .chars()
        .map(
            |c| match c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                true => c,
                false => '_',
            },
        )
        .collect();
    if safe.len() > LABEL_STEM {
        let crc = crc32fast::hash(stem.as_bytes());
        return format!("trial-{trial}-{}-{crc:08x}", &safe[..LABEL_STEM]);
    }
    format!("trial-{trial}-{safe}")
}

/// The most of a data file's name a retraining's folder and name take.
const LABEL_STEM: usize = 100;

/// The retraining's study name: `<name>-retrain-<label>`, the spec's `name` cut short where the
/// whole would be longer than a folder's name may be (255 bytes).
fn study_name(name: &str, label: &str) -> String {
    let tail = format!("-retrain-{label}");
    let mut keep = 255usize.saturating_sub(tail.len()).min(name.len());
    while !name.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}{tail}", &name[..keep])
}

/// The plan of the retraining: `plan`'s study with its data file `data`, trial `trial`'s
/// parameters as a grid of one point, the budget in examples `plan` gave each trial, and no
/// scheduler (one trial compares with none); `ov`'s device, cores and parallelism.
pub fn plan(
    plan: &StudyPlan,
    history: &History,
    trial: u64,
    data: &Path,
    ov: &Overrides,
) -> Result<StudyPlan> {
    let t = history
        .trials
        .get(&trial)
        .ok_or_else(|| Error::Study(format!("study {} has no trial {trial}", plan.name)))?;
    let mut spec = plan.spec.clone();
    let Some(d) = spec.data.as_mut() else {
        return Err(Error::Study(format!(
            "{}: the study names no data file (\"data\"), so there is none to replace",
            plan.spec_file.display()
        )));
    };
    let abs = std::path::absolute(data).map_err(|err| Error::Read {
        file: data.to_path_buf(),
        err,
    })?;
    d.path = abs.to_string_lossy().into_owned();
    // The study's features, not whatever columns the new file has.
    if d.features.is_none() {
        if let Some(data) = &plan.dataset {
            d.features = Some(
                data.prep
                    .columns
                    .iter()
                    .map(|c| c.name().to_string())
                    .collect(),
            );
        }
    }
    spec.budget = BudgetSpec {
        total_examples: Some(plan.budget.total_examples),
        stop_point: None,
        virtual_epochs: plan.budget.virtual_epochs as u64,
    };
    let space = t
        .params
        .iter()
        .map(|(k, v)| {
            let v = serde_json::to_value(v).expect("a value serialises");
            (k.clone(), serde_json::Value::Array(vec![v]))
        })
        .collect();
    spec.search = SearchSpec {
        method: "grid".into(),
        trials: Some(1),
        parallel: Some(1),
        startup_trials: None,
        space,
        warm_start: None,
    };
    spec.scheduler = None;
    // Another study (in a shared storage too) for each trial and data file.
    spec.name = study_name(&spec.name, &label(trial, data));
    let ov = Overrides {
        out: Some(folder(&plan.out_dir, trial, data)),
        ..ov.clone()
    };
    StudyPlan::from_spec(
        &plan.spec_file,
        spec,
        &ov,
        &crate::runner::mlp::params::FAMILY,
    )
}

/// The old and the new validation curves side by side, a row per virtual epoch: examples seen,
/// then each one's validation loss and metric (and the selected checkpoints marked `*`).
pub fn table(plan: &StudyPlan, old: &TrialRecord, new: &TrialRecord) -> String {
    let m = plan.curve_metric().name();
    let best = |t: &TrialRecord| crate::curve::select_best(&t.curve, plan.metric);
    let (bo, bn) = (best(old), best(new));
    let mut s = format!(
        "{:>5}  {:>13}  {:>12}  {:>12}  {:>12}  {:>12}\n",
        "epoch",
        "examples_seen",
        "old val_loss",
        format!("old {m}"),
        "new val_loss",
        format!("new {m}")
    );
    let n = old.curve.len().max(new.curve.len());
    for i in 0..n {
        let (o, w) = (old.curve.get(i), new.curve.get(i));
        let k = o.or(w).map_or(0, |r| r.virtual_epoch);
        let seen = o.or(w).map_or(0, |r| r.examples_seen);
        let cell = |r: Option<&crate::curve::CurveRow>, loss: bool, mark: bool| match r {
            None => String::new(),
            Some(r) => {
                let v = if loss { r.val_loss } else { r.metric };
                format!("{}{}", super::short(v), if mark { "*" } else { "" })
            }
        };
        let _ = writeln!(
            s,
            "{k:>5}  {seen:>13}  {:>12}  {:>12}  {:>12}  {:>12}",
            cell(o, true, bo == Some(i)),
            cell(o, false, bo == Some(i)),
            cell(w, true, bn == Some(i)),
            cell(w, false, bn == Some(i)),
        );
    }
    s.push_str("(* the selected checkpoint)\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_data_file_names_and_study_names_fit_a_folder() {
        assert_eq!(label(3, Path::new("a/new data.csv")), "trial-3-new_data");
        let long = format!("{}.csv", "d".repeat(250));
        let l = label(0, Path::new(&long));
        assert!(
            l.starts_with(&format!("trial-0-{}-", "d".repeat(100))),
            "{l}"
        );
        assert_eq!(l.len(), "trial-0-".len() + 100 + 9);
        // Names that differ only after the cut stay apart.
        assert_ne!(l, label(0, Path::new(&format!("{}e.csv", "d".repeat(250)))));
        assert_eq!(study_name("tiny", &l), format!("tiny-retrain-{l}"));
        let name = study_name(&"é".repeat(127), &l);
        assert!(
            name.len() <= 255 && name.ends_with(&format!("-retrain-{l}")),
            "{name}"
        );
    }
}
