//! The report's plots of the study's trials in time: validation curves against examples seen and
//! the optimisation history; and the legend of their lines and colours. Every trial's marks sit in one
//! `<g class="series" data-trial="…">` with the trial described in its `<title>`.

use std::fmt::Write as _;

use super::plot::{colour, esc, ramp, Axis, Plot, Scale};
use crate::curve::{best_value, select_best};
use crate::objective::{Goal, Metric};
use crate::outputs::leaderboard::short;
use crate::plan::{SchedulerPlan, StudyPlan};
use crate::scheduler::Asha;
use crate::storage::{Status, TrialRecord};

/// The plots of a study's trials, which share the metric's scale.
pub(super) struct Charts<'a> {
    plan: &'a StudyPlan,
    trials: &'a [&'a TrialRecord],
}

impl<'a> Charts<'a> {
    /// The plots of `trials` in `plan`'s study.
    pub(super) fn new(plan: &'a StudyPlan, trials: &'a [&'a TrialRecord]) -> Charts<'a> {
        Charts { plan, trials }
    }

    /// Validation curves against examples seen, each trial's selected checkpoint marked.
    pub(super) fn curves(&self) -> String {
        let metric = self.plan.metric;
        let x = Axis::fit(
            std::iter::once(0.0).chain(std::iter::once(self.plan.budget.total_examples as f64)),
            Scale::Linear,
        );
        let y = Axis::fit(all_values(self.trials, metric), metric_scale(metric));
        let mut curves = Plot::new(
            "curves",
            "Validation curves (● selected checkpoint)",
            x,
            y,
            "examples seen",
            metric.kind.name(),
        );
        if let Some(&SchedulerPlan::Asha { eta, min, promote }) = self.plan.scheduler.as_ref() {
            let budget = &self.plan.budget;
            let asha = Asha::new(eta, min, promote, metric, budget.virtual_epochs);
            for &r in asha.rungs() {
                curves.marker(budget.boundary(r) as f64, &format!("rung {r}"));
            }
        }
        for (i, t) in self.trials.iter().enumerate() {
            self.curve(&mut curves, t, &colour(i, self.trials.len()));
        }
        curves.finish()
    }

    /// Trial `t`'s curve in colour `c`: a line dashed by how the trial ended (a pruned one thin and
    /// faint), a dot at its selected checkpoint, and a cross where it failed.
    fn curve(&self, curves: &mut Plot, t: &TrialRecord, c: &str) {
        let metric = self.plan.metric;
        let dash = dash(t.status);
        let pts: Vec<String> = t
            .curve
            .iter()
            .filter(|r| curves.ok(r.examples_seen as f64, r.selection_value(metric)))
            .map(|r| {
                format!(
                    "{:.1},{:.1}",
                    curves.px(r.examples_seen as f64),
                    curves.py(r.selection_value(metric))
                )
            })
            .collect();
        let _ = write!(
            curves.svg,
            r#"<g class="series" data-trial="{}" data-status="{}"><title>{}</title><polyline points="{}" fill="none" stroke="{c}" stroke-width="1.6"{dash}/>"#,
            t.trial,
            t.status.as_str(),
            esc(&trial_title(self.plan, t)),
            pts.join(" ")
        );
        if let Some(b) = select_best(&t.curve, metric) {
            let r = &t.curve[b];
            let _ = write!(
                curves.svg,
                r##"<circle class="selected" cx="{:.1}" cy="{:.1}" r="4" fill="{c}" stroke="#fff"/>"##,
                curves.px(r.examples_seen as f64),
                curves.py(r.selection_value(metric))
            );
        }
        self.jumps(curves, t, c);
        if t.status == Status::Failed {
            if let Some(r) = t.curve.last() {
                let (cx, cy) = (
                    curves.px(r.examples_seen as f64),
                    curves.py(r.selection_value(metric)),
                );
                let _ = write!(
                    curves.svg,
                    r#"<path class="failed" d="M{} {}l8 8m0 -8l-8 8" stroke="crimson" stroke-width="2"/>"#,
                    cx - 4.0,
                    cy - 4.0
                );
            }
        }
        curves.svg.push_str("</g>\n");
    }

    /// Population-based training: at each of `t`'s exploits, a dotted line from its value to the
    /// value of the member it copied, whose state its curve goes on from.
    fn jumps(&self, curves: &mut Plot, t: &TrialRecord, c: &str) {
        let metric = self.plan.metric;
        for x in &t.exploits {
            let at = |m: u64| {
                let s = self.trials.iter().find(|s| s.trial == m)?;
                let r = s.curve.get(x.virtual_epoch as usize - 1)?;
                let (ex, v) = (r.examples_seen as f64, r.selection_value(metric));
                curves.ok(ex, v).then(|| (curves.px(ex), curves.py(v)))
            };
            if let (Some((x0, y0)), Some((x1, y1))) = (at(t.trial), at(x.source)) {
                let _ = write!(
                    curves.svg,
                    r#"<path class="exploit" d="M{x0:.1} {y0:.1}L{x1:.1} {y1:.1}" stroke="{c}" stroke-dasharray="2 2"><title>exploits member {} at virtual epoch {}</title></path>"#,
                    x.source, x.virtual_epoch
                );
            }
        }
    }

    /// The optimisation history: each trial's selected metric, and the best so far.
    pub(super) fn history(&self) -> String {
        let metric = self.plan.metric;
        let trials = self.trials;
        let hx = Axis::fit(trials.iter().map(|t| t.trial as f64), Scale::Linear);
        let hy = Axis::fit(
            trials.iter().map(|t| best_of(t, metric)),
            metric_scale(metric),
        );
        let mut hist = Plot::new(
            "history",
            "Optimisation history",
            hx,
            hy,
            "trial",
            &format!("selected {}", metric.kind.name()),
        );
        let mut best_so_far = f64::NAN;
        let mut steps = vec![];
        for (i, t) in trials.iter().enumerate() {
            let v = best_of(t, metric);
            if metric.better(v, best_so_far, 0.0) {
                best_so_far = v;
            }
            if hist.ok(t.trial as f64, best_so_far) {
                steps.push(format!(
                    "{:.1},{:.1}",
                    hist.px(t.trial as f64),
                    hist.py(best_so_far)
                ));
            }
            if hist.ok(t.trial as f64, v) {
                let _ = write!(
                    hist.svg,
                    r#"<g class="series" data-trial="{}"><title>{}</title><circle cx="{:.1}" cy="{:.1}" r="4.5" fill="{}"/></g>"#,
                    t.trial,
                    esc(&trial_title(self.plan, t)),
                    hist.px(t.trial as f64),
                    hist.py(v),
                    colour(i, trials.len())
                );
            } else {
                let _ = write!(
                    hist.svg,
                    r#"<g class="series" data-trial="{}" data-missing="1"><title>{}</title></g>"#,
                    t.trial,
                    esc(&trial_title(self.plan, t))
                );
            }
        }
        let _ = write!(
            hist.svg,
            r##"<polyline class="best" points="{}" fill="none" stroke="#222" stroke-width="1.5" stroke-dasharray="4 2"/>"##,
            steps.join(" ")
        );
        hist.finish()
    }
}

/// The dashes of a trial's line by how it ended (a pruned one faint too).
fn dash(status: Status) -> &'static str {
    match status {
        Status::Stopped => r#" stroke-dasharray="6 3""#,
        Status::Failed => r#" stroke-dasharray="2 3""#,
        Status::Running | Status::Paused => r#" stroke-dasharray="10 3 2 3""#,
        Status::Pruned => r#" stroke-dasharray="1 2" stroke-opacity="0.55""#,
        Status::Complete => "",
    }
}

/// What the lines' dashes and the colours mean, with a sample of each.
pub(super) fn legend() -> String {
    let mut html = String::from(r#"<div class="legend" id="legend"><b>Lines</b> "#);
    let kinds = [
        (Status::Complete, "complete"),
        (Status::Stopped, "stopped early (patience)"),
        (Status::Pruned, "pruned (by comparison)"),
        (Status::Failed, "failed (✕ where)"),
        (Status::Running, "running or interrupted"),
    ];
    for (status, words) in kinds {
        let _ = write!(
            html,
            r##"<span class="key" data-status="{}"><svg width="34" height="10"><line x1="1" x2="33" y1="5" y2="5" stroke="#444" stroke-width="2"{}/></svg>{words}</span>"##,
            status.as_str(),
            dash(status)
        );
    }
    let stops: Vec<String> = (0..=4).map(|i| ramp(i as f64 / 4.0)).collect();
    let _ = writeln!(
        html,
        r#"<b>Colours</b> <span class="key">curves and history: one hue per trial (hover one to find it everywhere)</span><span class="key">slices, parallel coordinates: rank of the selected metric <span class="ramp" style="background:linear-gradient(90deg,{})"></span> worst → best; grey: no result</span></div>"#,
        stops.join(",")
    );
    html
}

/// Where `v` ranks among the sorted `finite` values, from 0 (worst) to 1 (best) for `goal`.
fn rank_score(finite: &[f64], v: f64, goal: Goal) -> f64 {
    let below = finite.iter().filter(|&&x| x < v).count() as f64;
    let score = if finite.len() > 1 {
        below / (finite.len() - 1) as f64
    } else {
        1.0
    };
    if goal == Goal::Min {
        1.0 - score
    } else {
        score
    }
}

/// Each trial's colour by the rank of its selected metric (grey without one).
pub(super) fn rank_colour<'a>(
    plan: &StudyPlan,
    trials: &[&TrialRecord],
) -> impl Fn(&TrialRecord) -> String + 'a {
    let metric = plan.metric;
    // By rank, so that one diverged trial does not wash out the differences among the rest.
    let mut finite: Vec<f64> = trials
        .iter()
        .map(|t| best_of(t, metric))
        .filter(|v| v.is_finite())
        .collect();
    finite.sort_by(f64::total_cmp);
    move |t| {
        let v = best_of(t, metric);
        if v.is_finite() {
            ramp(rank_score(&finite, v, metric.goal))
        } else {
            "#bbb".to_string()
        }
    }
}

/// The metric's axis: fitted to the values for a loss or an error (log over more than a decade);
/// linear for a score where higher is better (accuracy, F1, AUC, R²), which a log axis would
/// stretch at its worst values.
pub(super) fn metric_scale(metric: Metric) -> Scale {
    match metric.goal {
        Goal::Min => Scale::Auto,
        Goal::Max => Scale::Linear,
    }
}

/// Every value of the selection metric in every trial's curve.
fn all_values<'a>(trials: &'a [&'a TrialRecord], metric: Metric) -> impl Iterator<Item = f64> + 'a {
    trials
        .iter()
        .flat_map(move |t| t.curve.iter().map(move |r| r.selection_value(metric)))
}

/// The trial's value of the selection metric at its selected checkpoint; NaN without one.
pub(super) fn best_of(t: &TrialRecord, metric: Metric) -> f64 {
    best_value(&t.curve, metric)
}

/// A trial as its marks' tooltip describes it: number, status, parameters and best value.
pub(super) fn trial_title(plan: &StudyPlan, t: &TrialRecord) -> String {
    let best = select_best(&t.curve, plan.metric).map(|i| t.curve[i].selection_value(plan.metric));
    format!(
        "trial {} ({}): {}; best {} = {}",
        t.trial,
        t.status.as_str(),
        crate::outputs::describe(&t.params),
        plan.metric.kind.name(),
        best.map_or("-".into(), short)
    )
}
