//! What a study shows: the leaderboard, the report, `tune status`, each trial's `curve.csv`, and
//! the few formatting helpers they share. Everything here reads a history; nothing here trains.

use std::path::Path;

use crate::curve::CurveRow;
use crate::durable::replace_with;
use crate::error::{Error, Result};
use crate::objective::MetricKind;
use crate::plan::StudyPlan;
use crate::space::Params;

pub mod destination;
pub mod front;
pub mod leaderboard;
pub mod live;
pub mod onnx;
pub mod predict;
pub mod program_predict;
pub mod replay;
pub mod report;
pub mod retrain;
pub mod scores;
pub mod serve;
pub mod status;
pub mod test_scores;

pub use leaderboard::short;

/// Writes `split.json`: which data rows (0 = the first row after the header) are training, which
/// validation and which test rows, so that other tools can use exactly this split.
/// A study without data (a command trainer's) writes none.
pub fn write_split(plan: &StudyPlan) -> Result<()> {
    let path = plan.out_dir.join("split.json");
    let Some(bytes) = split_json(plan) else {
        return Ok(());
    };
    crate::durable::write_derived(&path, &bytes).map_err(|e| Error::io(&path, e))
}

/// The text of `split.json`, for a study with data.
pub fn split_json(plan: &StudyPlan) -> Option<Vec<u8>> {
    let d = plan.dataset.as_ref()?;
    let mut json = serde_json::json!({
        "data": plan.data_file,
        "train_rows": d.train.source_rows,
        "validation_rows": d.val.source_rows,
    });
    // Only when there are some: a study without test rows writes the file it always wrote.
    if d.test.rows > 0 {
        json["test_rows"] = serde_json::json!(d.test.source_rows);
    }
    Some(json.to_string().into_bytes())
}

/// `batch_size=32 learning_rate=0.001`, for progress lines.
pub fn describe(params: &Params) -> String {
    params
        .iter()
        .map(|(k, v)| match v {
            crate::space::Value::Str(s) => format!("{k}={s}"),
            v => format!("{k}={}", short(v.as_f64())),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The trial's validation curve, in its folder.
const CURVE_FILE: &str = "curve.csv";

/// Writes `curve.csv` in the trial's folder when the trial leaves its runner: atomically (a crash
/// of the process leaves the old file or the new one) and fsynced before it takes its name (the
/// persister fsyncs the folder). After [`crate::curve::COLUMNS`] comes `metric` (see
/// [`MetricKind::in_curve`]) unless it is `val_loss`, then each other number a program reported,
/// by name; a program's `steps`, `train_loss` or `val_loss` it did not report are blank. Last,
/// `learning_rate` where rows record it (the built-in trainer's; blank in a row journalled before).
pub fn write_curve(trial_dir: &Path, curve: &[CurveRow], metric: MetricKind) -> Result<()> {
    let path = trial_dir.join(CURVE_FILE);
    // A store that keeps checkpoints elsewhere made no folder for the trial.
    std::fs::create_dir_all(trial_dir).map_err(|e| Error::io(trial_dir, e))?;
    let mut header: Vec<&str> = crate::curve::COLUMNS.to_vec();
    let own = metric != MetricKind::ValLoss;
    if own {
        header.push(metric.name());
    }
    let extra = crate::curve::reported_names(curve, &header);
    let rate = curve.iter().any(|r| r.learning_rate.is_some());
    let blank = |x: Option<f64>| x.map_or(String::new(), |x| x.to_string());
    replace_with(&path, true, |f| {
        let mut w = csv::Writer::from_writer(f);
        w.write_record(
            header
                .iter()
                .copied()
                .chain(extra.iter().map(|s| s.as_str()))
                .chain(rate.then_some("learning_rate")),
        )?;
        for r in curve {
            let mut fields = vec![
                r.virtual_epoch.to_string(),
                r.examples_seen.to_string(),
                r.steps_shown().map_or(String::new(), |s| s.to_string()),
                blank(r.shown("train_loss", r.train_loss)),
                blank(r.shown("val_loss", r.val_loss)),
            ];
            if own {
                fields.push(r.metric.to_string());
            }
            fields.extend(extra.iter().map(|n| blank(r.reported.get(n).copied())));
            if rate {
                fields.push(blank(r.learning_rate));
            }
            w.write_record(fields)?;
        }
        w.flush()
    })
    .map_err(|e| Error::io(&path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::curve::tests::row;

    /// A resumed trial whose first rows were journalled before rates were recorded: the column
    /// is there, blank in those rows; a curve without rates (a program's) has no column.
    #[test]
    fn curve_csv_has_the_rate_last_and_blank_where_a_row_lacks_it() {
        let dir = crate::testutil::TempDir::new();
        let old: CurveRow =
            serde_json::from_str(r#"{"virtual_epoch":1,"examples_seen":1,"steps":1,"train_loss":1,"val_loss":0.5,"metric":0.5}"#)
                .unwrap();
        let new = CurveRow {
            learning_rate: Some(0.25),
            ..row(2, 0.4)
        };
        write_curve(dir.path(), &[old.clone(), new], MetricKind::ValLoss).unwrap();
        let text = std::fs::read_to_string(dir.path().join(CURVE_FILE)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "virtual_epoch,examples_seen,steps,train_loss,val_loss,learning_rate",
                "1,1,1,1,0.5,",
                "2,2,2,1,0.4,0.25"
            ]
        );
        write_curve(dir.path(), &[old], MetricKind::ValLoss).unwrap();
        let text = std::fs::read_to_string(dir.path().join(CURVE_FILE)).unwrap();
        assert!(text.starts_with("virtual_epoch,examples_seen,steps,train_loss,val_loss\n"));
    }
}
