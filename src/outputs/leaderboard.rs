//! The leaderboard: one row per trial, best first, from the journal's history. Written as CSV and
//! printed as a table.

use std::path::Path;

use crate::curve::{reported_names, select_best};
use crate::durable::replace_with;
use crate::error::{Error, Result};
use crate::objective::{MetricKind, Standing};
use crate::outputs::scores::TestScores;
use crate::plan::StudyPlan;
use crate::storage::{History, Status, TrialRecord};

/// One leaderboard row.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub rank: usize,
    pub trial: u64,
    pub status: Status,
    /// Parameter values in the space's column order.
    pub params: Vec<String>,
    /// The optimiser steps at the last boundary; `None` when a program did not report them.
    pub steps: Option<u64>,
    pub examples_seen: u64,
    pub best_virtual_epoch: Option<u32>,
    pub best: f64,
    /// The validation loss at the selected checkpoint: it breaks ties of `best`.
    pub best_loss: f64,
    pub last: f64,
    pub seconds: f64,
    pub reason: String,
    /// Milliseconds the sampler took to suggest the trial's parameters.
    pub suggest_ms: Option<f64>,
    /// The selected checkpoint's scores on the test rows, one per [`test_columns`] (NaN: not
    /// scored, or not among the top [`StudyPlan::test_trials`]); empty without test rows.
    pub test: Vec<f64>,
    /// The numbers a program reported at the selected checkpoint, one per [`reported_columns`]
    /// (NaN: not reported there); empty for the built-in trainer.
    pub reported: Vec<f64>,
    /// With several objectives or constraints: the trial's front among the feasible trials not
    /// cut short (1: not dominated; `None`: on none), and whether it is feasible (`None`: no
    /// value yet). Both `None` for a study of one objective, whose leaderboard has no such columns.
    pub pareto_rank: Option<usize>,
    pub feasible: Option<bool>,
    /// Population-based training: the members that trained its state (see
    /// [`super::replay::ancestry`]); `None` in other studies.
    pub ancestry: Option<String>,
}

/// The rows, ranked by each trial's selected (best-checkpoint) metric; trials a scheduler pruned or
/// paused (short of the full budget, by comparison) after the others, trials without a metric
/// last; ties (frequent with accuracy on a small validation set) to the lower validation loss at
/// the selected checkpoint, then to the earlier trial.
pub fn rows(plan: &StudyPlan, history: &History) -> Vec<Row> {
    let metric = plan.metric;
    let scores = (plan.test_trials > 0).then(|| TestScores::load(&plan.out_dir));
    let names = reported_columns(plan, history);
    let mut rows: Vec<Row> = history
        .trials
        .values()
        .map(|t| row(plan, t, scores.as_ref(), &names))
        .map(|mut r| {
            if plan.pbt().is_some() {
                r.ancestry = Some(super::replay::ancestry(history, r.trial));
            }
            r
        })
        .collect();
    let standing = |r: &Row| Standing {
        value: r.best,
        cut_short: r.status.cut_short(),
        loss: r.best_loss,
        trial: r.trial,
    };
    if plan.objectives.plain() {
        rows.sort_by(|a, b| metric.rank(&standing(a), &standing(b)));
    } else {
        let fronts = crate::outputs::front::Fronts::of(plan, history);
        for r in rows.iter_mut() {
            r.pareto_rank = fronts.ranks[&r.trial];
            r.feasible = fronts.feasible(r.trial);
        }
        // Those on a front first, by front; then the feasible ones cut short, then the
        // infeasible; each group by the first objective, as a study of one ranks its trials.
        let group = |r: &Row| match (r.pareto_rank, r.feasible) {
            (Some(f), _) => (0, f),
            (None, Some(true)) => (1, 0),
            (None, Some(false)) => (2, 0),
            (None, None) => (3, 0),
        };
        rows.sort_by(|a, b| {
            group(a)
                .cmp(&group(b))
                .then_with(|| metric.rank(&standing(a), &standing(b)))
        });
    }
    for (i, r) in rows.iter_mut().enumerate() {
        r.rank = i + 1;
        // Only the top trials' scores are shown: a trial scored while it ranked among them (the
        // file keeps its score) may have been overtaken since.
        if r.rank > plan.test_trials {
            r.test.iter_mut().for_each(|x| *x = f64::NAN);
        }
    }
    rows
}

/// The names of the numbers the study's programs reported besides `steps` and the metric, each
/// shown as `best_<name>` (see [`header`]); none for the built-in trainer.
pub fn reported_columns(plan: &StudyPlan, history: &History) -> Vec<String> {
    let rows = history.trials.values().flat_map(|t| &t.curve);
    reported_names(rows, &["steps", plan.metric.kind.name()])
}

fn row(plan: &StudyPlan, t: &TrialRecord, scores: Option<&TestScores>, names: &[String]) -> Row {
    let best = select_best(&t.curve, plan.metric);
    let last = t.curve.last();
    // One value per test column (see `test_columns`), NaN where the checkpoint is not scored.
    let test = scores.map_or(vec![], |s| {
        let score = best.and_then(|i| s.get(t.trial, t.curve[i].virtual_epoch));
        let (metric, loss) = score.map_or((f64::NAN, f64::NAN), |s| (s.metric, s.loss));
        match plan.metric.kind {
            MetricKind::ValLoss => vec![loss],
            _ => vec![metric, loss],
        }
    });
    Row {
        rank: 0,
        trial: t.trial,
        status: t.status,
        params: plan
            .space
            .names()
            .map(|n| t.params.get(n).map(|v| v.to_string()).unwrap_or_default())
            .collect(),
        steps: last.map_or(Some(0), |r| r.steps_shown()),
        examples_seen: last.map_or(0, |r| r.examples_seen),
        best_virtual_epoch: best.map(|i| t.curve[i].virtual_epoch),
        best: best.map_or(f64::NAN, |i| t.curve[i].selection_value(plan.metric)),
        best_loss: best.map_or(f64::NAN, |i| t.curve[i].val_loss),
        last: last.map_or(f64::NAN, |r| r.selection_value(plan.metric)),
        seconds: t.seconds,
        reason: t.reason.clone().unwrap_or_default(),
        suggest_ms: t.suggest_ms,
        test,
        reported: names
            .iter()
            .map(|n| best.map_or(f64::NAN, |i| t.curve[i].value_of(n)))
            .collect(),
        pareto_rank: None,
        feasible: None,
        ancestry: None,
    }
}

/// The test rows' columns: `test_<metric>`, and `test_loss` unless the metric is the loss; none
/// without test rows (the leaderboard of such a study is as it always was).
pub fn test_columns(plan: &StudyPlan) -> Vec<String> {
    match (plan.test_trials, plan.metric.kind) {
        (0, _) => vec![],
        (_, MetricKind::ValLoss) => vec!["test_val_loss".into()],
        (_, m) => vec![format!("test_{}", m.name()), "test_loss".into()],
    }
}

/// Column names: rank, trial, status, the parameters, steps, examples_seen, best_virtual_epoch,
/// best_<metric>, final_<metric>, the [`test_columns`], seconds, reason, suggest_ms, then
/// `best_<name>` for each of a program's `reported` numbers (see [`reported_columns`]): its
/// value at the selected checkpoint, as `best_<metric>` is; last, `ancestry` with
/// population-based training.
pub fn header(plan: &StudyPlan, reported: &[String]) -> Vec<String> {
    let m = plan.metric.kind.name();
    let mut h: Vec<String> = ["rank", "trial", "status"].map(String::from).to_vec();
    h.extend(plan.space.names().map(String::from));
    h.extend(["steps", "examples_seen", "best_virtual_epoch"].map(String::from));
    h.push(format!("best_{m}"));
    h.push(format!("final_{m}"));
    h.extend(test_columns(plan));
    h.extend(["seconds", "reason", "suggest_ms"].map(String::from));
    h.extend(reported.iter().map(|n| format!("best_{n}")));
    if !plan.objectives.plain() {
        h.extend(["pareto_rank", "feasible"].map(String::from));
    }
    if plan.pbt().is_some() {
        h.push("ancestry".into());
    }
    h
}

pub fn fields(plan: &StudyPlan, r: &Row) -> Vec<String> {
    let num = |x: f64| {
        if x.is_nan() {
            String::new()
        } else {
            x.to_string()
        }
    };
    let mut f = vec![
        r.rank.to_string(),
        r.trial.to_string(),
        r.status.as_str().to_string(),
    ];
    f.extend(r.params.iter().cloned());
    f.push(r.steps.map_or(String::new(), |s| s.to_string()));
    f.push(r.examples_seen.to_string());
    f.push(
        r.best_virtual_epoch
            .map(|k| k.to_string())
            .unwrap_or_default(),
    );
    f.push(num(r.best));
    f.push(num(r.last));
    f.extend(r.test.iter().map(|&x| num(x)));
    f.push(format!("{:.3}", r.seconds));
    f.push(r.reason.clone());
    f.push(
        r.suggest_ms
            .map(|ms| format!("{ms:.3}"))
            .unwrap_or_default(),
    );
    f.extend(r.reported.iter().map(|&x| num(x)));
    if !plan.objectives.plain() {
        f.push(r.pareto_rank.map_or(String::new(), |k| k.to_string()));
        f.push(r.feasible.map_or(String::new(), |k| k.to_string()));
    }
    f.extend(r.ancestry.clone());
    f
}

/// Writes the leaderboard CSV atomically (not fsynced: the journal makes it again).
pub fn write_csv(plan: &StudyPlan, history: &History, path: &Path) -> Result<()> {
    replace_with(path, false, |f| write_csv_to(plan, history, f)).map_err(|e| Error::io(path, e))
}

/// The leaderboard as CSV, to `w`.
pub fn write_csv_to(
    plan: &StudyPlan,
    history: &History,
    w: impl std::io::Write,
) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(w);
    w.write_record(header(plan, &reported_columns(plan, history)))?;
    for r in &rows(plan, history) {
        w.write_record(fields(plan, r))?;
    }
    w.flush()
}

/// A number in at most 4 significant digits, for the terminal.
pub fn short(x: f64) -> String {
    if x.is_nan() {
        "-".into()
    } else if x != 0.0 && (x.abs() < 1e-3 || x.abs() >= 1e5) {
        format!("{x:.3e}")
    } else if x.fract() == 0.0 {
        format!("{x}")
    } else {
        let s = format!("{x:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// The top `n` rows as an aligned text table.
pub fn table(plan: &StudyPlan, history: &History, n: usize) -> String {
    let rows = rows(plan, history);
    let names = reported_columns(plan, history);
    let mut h = header(plan, &names);
    // Several objectives' columns and a population's ancestry last, as they are.
    let several = if plan.objectives.plain() { 0 } else { 2 } + plan.pbt().is_some() as usize;
    let last = h.split_off(h.len() - several);
    // Without reason and suggest_ms, which come before a program's own numbers.
    let own = h.split_off(h.len() - names.len());
    h.truncate(h.len() - 2);
    let mut cells: Vec<Vec<String>> = vec![h.into_iter().chain(own).chain(last).collect()];
    for r in rows.iter().take(n) {
        let mut f = fields(plan, r);
        let last = f.split_off(f.len() - several);
        f.truncate(f.len() - names.len() - 2);
        for (i, v) in r.params.iter().enumerate() {
            f[3 + i] = v.parse::<f64>().map_or(v.clone(), short);
        }
        let (k, t) = (f.len(), r.test.len());
        f[k - 3 - t] = short(r.best);
        f[k - 2 - t] = short(r.last);
        for (i, &x) in r.test.iter().enumerate() {
            f[k - 1 - t + i] = short(x);
        }
        f[k - 1] = format!("{:.2}", r.seconds);
        f.extend(r.reported.iter().map(|&x| short(x)));
        f.extend(last);
        cells.push(f);
    }
    let widths: Vec<usize> = (0..cells[0].len())
        .map(|c| cells.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &cells {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(s, w)| format!("{s:>w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    if rows.len() > n {
        out.push_str(&format!("... {} more in leaderboard.csv\n", rows.len() - n));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::curve::tests::row as curve_row;
    use crate::plan::Overrides;
    use crate::storage::Event;
    use crate::testutil::TempDir;

    /// A classification study ranked by accuracy, on a small CSV of two classes.
    fn accuracy_plan(dir: &TempDir) -> StudyPlan {
        let csv: String = std::iter::once("x,y\n".to_string())
            .chain((0..20).map(|i| format!("{i},{}\n", i % 2)))
            .collect();
        std::fs::write(dir.path().join("d.csv"), csv).unwrap();
        let spec = serde_json::json!({
            "name": "ranks",
            "data": { "path": "d.csv", "target": "y", "task": "classification" },
            "budget": { "total_examples": 100, "virtual_epochs": 2 },
            "search": { "method": "random", "trials": 5,
                "space": { "batch_size": [4], "learning_rate": [0.01] } },
            "metric": "accuracy"
        });
        let file = dir.path().join("s.json");
        std::fs::write(&file, spec.to_string()).unwrap();
        StudyPlan::load(
            &file,
            &Overrides::default(),
            &crate::runner::mlp::params::FAMILY,
        )
        .unwrap()
    }

    #[test]
    fn ties_go_to_the_lower_loss_then_the_earlier_trial() {
        let dir = TempDir::new();
        let plan = accuracy_plan(&dir);
        // (trial, [(accuracy, val_loss) per virtual epoch]).
        let trials: [(u64, &[(f64, f64)]); 5] = [
            (0, &[(0.9, 0.3)]),
            (1, &[(0.8, 0.1), (0.9, 0.2)]),
            (2, &[(0.95, 0.5)]),
            // Tied with trial 1 in accuracy and loss: after it. Its later epoch ties the
            // accuracy with a lower loss, and the earlier checkpoint stays selected.
            (3, &[(0.9, 0.2), (0.9, 0.1)]),
            (4, &[(f64::NAN, 0.05)]),
        ];
        let mut history = History::default();
        for (trial, curve) in trials {
            history.apply(&Event::TrialStarted {
                trial,
                params: Default::default(),
                suggest_ms: None,
            });
            for (k, &(acc, loss)) in curve.iter().enumerate() {
                let mut row = curve_row(k as u32 + 1, loss);
                row.metric = acc;
                history.apply(&Event::EpochDone {
                    trial,
                    row,
                    seconds: 1.0,
                    decision: None,
                });
            }
        }
        let ranked = rows(&plan, &history);
        let order: Vec<u64> = ranked.iter().map(|r| r.trial).collect();
        assert_eq!(order, [2, 1, 3, 0, 4]);
        assert_eq!(ranked[2].best_virtual_epoch, Some(1), "{:?}", ranked[2]);
        assert_eq!((ranked[2].best, ranked[2].best_loss), (0.9, 0.2));
    }
}
