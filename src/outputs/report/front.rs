//! The report's section on several objectives: the trials' values at their selected checkpoints
//! with the front joined (two objectives: one plot; three or more: a plot per pair), and the
//! hypervolume of the front of the first trials against the study's reference point.

use std::fmt::Write as _;

use super::charts::trial_title;
use super::plot::{esc, Axis, Plot, Scale};
use crate::outputs::front::Fronts;
use crate::pareto::Outcome;
use crate::plan::StudyPlan;
use crate::storage::History;

/// The section, empty for a study of one objective without constraints.
pub(super) fn section(plan: &StudyPlan, history: &History) -> String {
    if plan.objectives.plain() {
        return String::new();
    }
    let fronts = Fronts::of(plan, history);
    let m = plan.objectives.list.len();
    let mut svg = String::new();
    for a in 0..m {
        for b in a + 1..m {
            svg.push_str(&pair(plan, history, &fronts, (a, b)));
        }
    }
    svg.push_str(&hypervolume(plan, history, &fronts));
    format!(
        "<h2>The Pareto front</h2>\n<p>Each trial at its selected checkpoint: ● on the front (joined), ○ dominated, × infeasible or cut short.</p>\n<div class=\"plots\" id=\"front\">{svg}</div>\n"
    )
}

/// Objectives `a` and `b` of every trial with values, the first front joined in order of `a`.
fn pair(plan: &StudyPlan, history: &History, fronts: &Fronts, (a, b): (usize, usize)) -> String {
    let names: Vec<&str> = plan.objectives.list.iter().map(|m| m.kind.name()).collect();
    let shown: Vec<(u64, &Outcome)> = fronts
        .outcomes
        .iter()
        .filter_map(|(t, o)| Some((*t, o.as_ref()?)))
        .filter(|(_, o)| o.values[a].is_finite() && o.values[b].is_finite())
        .collect();
    let x = Axis::fit(shown.iter().map(|(_, o)| o.values[a]), Scale::Auto);
    let y = Axis::fit(shown.iter().map(|(_, o)| o.values[b]), Scale::Auto);
    let id = format!("front-{}-{}", names[a], names[b]);
    let title = format!("{} against {}", names[b], names[a]);
    let mut p = Plot::new(&id, &title, x, y, names[a], names[b]);
    let mut on: Vec<(f64, f64)> = vec![];
    for (t, o) in &shown {
        let (vx, vy) = (o.values[a], o.values[b]);
        if !p.ok(vx, vy) {
            continue;
        }
        let (cx, cy) = (p.px(vx), p.py(vy));
        let rank = fronts.ranks[t];
        let title = esc(&trial_title(plan, &history.trials[t]));
        let mark = match rank {
            Some(1) => {
                on.push((cx, cy));
                format!(r##"<circle cx="{cx:.1}" cy="{cy:.1}" r="4.5" fill="#1f6fb4"/>"##)
            }
            Some(_) => format!(
                r##"<circle cx="{cx:.1}" cy="{cy:.1}" r="4" fill="none" stroke="#1f6fb4"/>"##
            ),
            None => format!(
                r##"<path d="M{:.1},{:.1}l6,6m0,-6l-6,6" stroke="#b44" stroke-width="1.4"/>"##,
                cx - 3.0,
                cy - 3.0
            ),
        };
        let _ = write!(
            p.svg,
            r#"<g class="trial" data-trial="{t}"><title>{title}</title>{mark}</g>"#
        );
    }
    on.sort_by(|p, q| p.0.total_cmp(&q.0));
    let pts: Vec<String> = on.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
    let _ = write!(
        p.svg,
        r##"<polyline class="front" points="{}" fill="none" stroke="#1f6fb4" stroke-width="1.2"/>"##,
        pts.join(" ")
    );
    p.finish()
}

/// The hypervolume of the front of trials 0..=k for each k, against the whole study's
/// reference point.
fn hypervolume(plan: &StudyPlan, history: &History, fronts: &Fronts) -> String {
    let (_, reference) = fronts.hypervolume(plan);
    let o = &plan.objectives;
    // The first front of the trials so far, kept as trials come (each once: the report of a
    // large study stays linear in its trials).
    let mut front: Vec<Vec<f64>> = vec![];
    let mut line: Vec<(f64, f64)> = vec![];
    for t in history.trials.keys() {
        let on_one = fronts.ranks[t].is_some();
        if let Some(out) = fronts.outcomes[t].as_ref().filter(|_| on_one) {
            let p = o.point(&out.values);
            if !front
                .iter()
                .any(|q| q == &p || crate::pareto::dominates(q, &p))
            {
                front.retain(|q| !crate::pareto::dominates(&p, q));
                front.push(p);
            }
        }
        line.push((*t as f64, crate::pareto::hypervolume(&front, &reference)));
    }
    let x = Axis::fit(line.iter().map(|p| p.0), Scale::Linear);
    let y = Axis::fit(line.iter().map(|p| p.1), Scale::Linear);
    let mut p = Plot::new(
        "hypervolume",
        "hypervolume of the front so far",
        x,
        y,
        "trial",
        "hypervolume",
    );
    let pts: Vec<String> = line
        .iter()
        .filter(|(t, v)| p.ok(*t, *v))
        .map(|(t, v)| format!("{:.1},{:.1}", p.px(*t), p.py(*v)))
        .collect();
    let _ = write!(
        p.svg,
        r##"<polyline points="{}" fill="none" stroke="#1f6fb4" stroke-width="1.6"/>"##,
        pts.join(" ")
    );
    p.finish()
}
