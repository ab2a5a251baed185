//! The report's plots of a user's program's own numbers (those besides the study's metric and
//! `steps`, see [`leaderboard::reported_columns`]): one plot per name, every trial's values
//! against examples seen, each trial's selected checkpoint marked. None for the built-in trainer.

use std::fmt::Write as _;

use super::charts::trial_title;
use super::plot::{colour, esc, Axis, Plot, Scale};
use crate::curve::select_best;
use crate::outputs::leaderboard;
use crate::plan::StudyPlan;
use crate::storage::{History, TrialRecord};

/// The section of plots, empty when the study's programs reported nothing else.
pub(super) fn section(plan: &StudyPlan, history: &History) -> String {
    let names = leaderboard::reported_columns(plan, history);
    if names.is_empty() {
        return String::new();
    }
    let trials: Vec<&TrialRecord> = history.trials.values().collect();
    let svg: String = names.iter().map(|n| plot(plan, &trials, n)).collect();
    format!("<h2>Other numbers</h2>\n<div class=\"plots\" id=\"reported\">{svg}</div>\n")
}

/// The plot of the number `name` of every trial.
fn plot(plan: &StudyPlan, trials: &[&TrialRecord], name: &str) -> String {
    let total = plan.budget.total_examples as f64;
    let x = Axis::fit([0.0, total].into_iter(), Scale::Linear);
    let values = trials
        .iter()
        .flat_map(|t| t.curve.iter().map(|r| r.value_of(name)));
    // A loss or an error on the axis the metric's would have; a score on a linear one.
    let scale = match name.ends_with("loss") || name.ends_with("error") {
        true => Scale::Auto,
        false => Scale::Linear,
    };
    let id = format!("reported-{}", name.replace(char::is_whitespace, "_"));
    let title = format!("{name} (● selected checkpoint)");
    let mut p = Plot::new(
        &id,
        &title,
        x,
        Axis::fit(values, scale),
        "examples seen",
        name,
    );
    for (i, t) in trials.iter().enumerate() {
        let c = colour(i, trials.len());
        let at = |p: &Plot, k: usize| {
            let r = &t.curve[k];
            let v = r.value_of(name);
            let seen = r.examples_seen as f64;
            p.ok(seen, v).then(|| (p.px(seen), p.py(v)))
        };
        let pts: Vec<String> = (0..t.curve.len())
            .filter_map(|k| at(&p, k))
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect();
        let _ = write!(
            p.svg,
            r#"<g class="series" data-trial="{}"><title>{}</title><polyline points="{}" fill="none" stroke="{c}" stroke-width="1.6"/>"#,
            t.trial,
            esc(&trial_title(plan, t)),
            pts.join(" ")
        );
        if let Some((cx, cy)) = select_best(&t.curve, plan.metric).and_then(|b| at(&p, b)) {
            let _ = write!(
                p.svg,
                r##"<circle class="selected" cx="{cx:.1}" cy="{cy:.1}" r="4" fill="{c}" stroke="#fff"/>"##
            );
        }
        p.svg.push_str("</g>\n");
    }
    p.finish()
}
