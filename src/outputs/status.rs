//! The `tune status` text: what a study has done, read from its history and its checkpoints (the
//! selected ones verified), changing nothing.

use super::{describe, leaderboard};
use crate::artifacts::recover::{self, BestFile};
use crate::artifacts::ArtifactStore;
use crate::plan::StudyPlan;
use crate::storage::{History, Status};

/// The `tune status` text: counts by status, the best trial so far, and each trial's use of its budget.
pub fn status(plan: &StudyPlan, history: &History, store: &dyn ArtifactStore) -> String {
    let count = |st: Status| history.trials.values().filter(|t| t.status == st).count();
    let mut out = format!(
        "study {}: {} of {} trials started; {} complete, {} stopped early, {} failed, {} running or interrupted\n",
        plan.name,
        history.trials.len(),
        plan.trials,
        count(Status::Complete),
        count(Status::Stopped),
        count(Status::Failed),
        count(Status::Running)
    );
    // Only studies with a scheduler that compares trials have these.
    let (pruned, paused) = (count(Status::Pruned), count(Status::Paused));
    if pruned + paused > 0 {
        out.insert_str(
            out.len() - 1,
            &format!("; {pruned} pruned, {paused} paused"),
        );
    }
    let rows = leaderboard::rows(plan, history);
    if let Some(best) = rows.first().filter(|r| !r.best.is_nan()) {
        out += &format!(
            "best so far: trial {} with {} = {} at virtual epoch {} ({})\n",
            best.trial,
            plan.metric.kind.name(),
            leaderboard::short(best.best),
            best.best_virtual_epoch.unwrap_or(0),
            describe(&history.trials[&best.trial].params)
        );
    }
    if !plan.objectives.plain() {
        out += &super::front::status_line(plan, history);
    }
    for (trial, state) in recover::check_ended(store, history, plan.metric, false) {
        match state {
            Ok(BestFile::Lost(why)) => out += &format!("damaged: trial {trial}: {why}\n"),
            Err(e) => out += &format!("damaged: trial {trial}: {e}\n"),
            Ok(_) => {}
        }
    }
    let total = plan.budget.total_examples;
    // Which version of a program's files each trial ran, when it varies.
    let code = |t: u64| match history.code_varies() {
        true => history
            .code_label(t)
            .map_or(String::new(), |l| format!("  code {l}")),
        false => String::new(),
    };
    for t in history.trials.values() {
        let seen = t.curve.last().map_or(0, |r| r.examples_seen);
        out += &format!(
            "  trial {:>3}  {:<8}  {:>6.1}% of the budget ({seen}/{total} examples, virtual epoch {}/{})  {}{}\n",
            t.trial,
            t.status.as_str(),
            100.0 * seen as f64 / total as f64,
            t.curve.last().map_or(0, |r| r.virtual_epoch),
            plan.budget.virtual_epochs,
            describe(&t.params),
            code(t.trial)
        );
    }
    out
}
