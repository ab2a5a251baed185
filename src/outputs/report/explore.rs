//! The report's views of the search space: a slice plot of the selected metric against each searched
//! parameter (small multiples, a log axis for a log range), and parallel coordinates over every
//! parameter and the metric. Marks are coloured by the trial's rank, as in the legend.

use std::fmt::Write as _;

use super::charts::{best_of, metric_scale, rank_colour, trial_title};
use super::plot::{esc, Axis, Labels, Plot, Scale, SMALL};
use crate::plan::StudyPlan;
use crate::space::{Domain, Kind, Param};
use crate::storage::TrialRecord;

/// The axis scale a parameter is drawn on: log for a log range, else fitted to the values.
fn scale(p: &Param) -> Scale {
    match p.domain {
        Domain::Range { log: true, .. } => Scale::Log,
        _ => Scale::Auto,
    }
}

/// The axis of parameter `p` over `trials`' values: its labels for a categorical one.
fn param_axis(p: &Param, trials: &[&TrialRecord]) -> Axis {
    match p.kind {
        Kind::Cat(labels) => Axis::categories(labels),
        _ => Axis::fit(trials.iter().map(|t| value(t, p)), scale(p)),
    }
}

/// `t`'s value of parameter `p` (a label's index for a categorical one); NaN when it has none.
fn value(t: &TrialRecord, p: &Param) -> f64 {
    t.params.get(&p.name).map_or(f64::NAN, |v| p.number(*v))
}

/// One small plot per searched parameter: the selected metric against the parameter's value.
pub(super) fn slices(plan: &StudyPlan, trials: &[&TrialRecord]) -> String {
    let metric = plan.metric;
    let y = Axis::fit(
        trials.iter().map(|t| best_of(t, metric)),
        metric_scale(metric),
    );
    let colour = rank_colour(plan, trials);
    let mut html = format!(
        "<h2>Slices: selected {} against each parameter</h2>\n<div class=\"plots\" id=\"slices\">\n",
        esc(metric.kind.name())
    );
    for p in &plan.space.params {
        let x = param_axis(p, trials);
        let id = format!("slice-{}", p.name);
        let log = if x.is_log() { " (log)" } else { "" };
        let labels = Labels {
            id: &id,
            title: &p.name,
            x: &format!("{}{log}", p.name),
            y: metric.kind.name(),
        };
        let mut plot = Plot::framed(&labels, x, y, SMALL);
        for t in trials {
            let (px, py) = (value(t, p), best_of(t, metric));
            if !plot.ok(px, py) {
                // Still a series, for the hover and the self-check, without a mark.
                let _ = write!(
                    plot.svg,
                    r#"<g class="series" data-trial="{}" data-missing="1"><title>{}</title></g>"#,
                    t.trial,
                    esc(&trial_title(plan, t))
                );
                continue;
            }
            let _ = write!(
                plot.svg,
                r##"<g class="series" data-trial="{}"><title>{}</title><circle cx="{:.1}" cy="{:.1}" r="4.5" fill="{}" stroke="#333" stroke-width="0.5"/></g>"##,
                t.trial,
                esc(&trial_title(plan, t)),
                plot.px(px),
                plot.py(py),
                colour(t)
            );
        }
        html.push_str(&plot.finish());
    }
    html.push_str("</div>\n");
    html
}

// The parallel-coordinates plot's size: as wide as the page allows at 1,280 px.
const PW: f64 = 1232.0;
const PH: f64 = 340.0;
const PX0: f64 = 70.0;
const PX1: f64 = 90.0;
const PTOP: f64 = 40.0;
const PBOTTOM: f64 = 30.0;

/// One axis of the parallel coordinates: its name, its scale, and each trial's value on it.
type Column = (String, Axis, Box<dyn Fn(&TrialRecord) -> f64>);

/// Parallel coordinates: one vertical axis per parameter and one for the metric, one polyline per
/// trial through its values, coloured by rank, the best drawn last (on top).
pub(super) fn parallel(plan: &StudyPlan, trials: &[&TrialRecord]) -> String {
    let metric = plan.metric;
    let mut axes: Vec<Column> = vec![];
    for p in &plan.space.params {
        let param = p.clone();
        let axis = param_axis(p, trials);
        axes.push((p.name.clone(), axis, Box::new(move |t| value(t, &param))));
    }
    let m = metric.kind.name().to_string();
    let axis = Axis::fit(
        trials.iter().map(|t| best_of(t, metric)),
        metric_scale(metric),
    );
    axes.push((m, axis, Box::new(move |t| best_of(t, metric))));
    let gap = (PW - PX0 - PX1) / (axes.len().max(2) - 1) as f64;
    let ax_x = |i: usize| PX0 + gap * i as f64;
    let ax_y = |a: &Axis, v: f64| PTOP + (1.0 - a.frac(v).clamp(0.0, 1.0)) * (PH - PTOP - PBOTTOM);
    let mut svg = format!(
        r#"<svg class="plot" id="parallel" viewBox="0 0 {PW} {PH}" width="{PW}" height="{PH}" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="parallel coordinates"><text x="{}" y="22" class="title">Parallel coordinates (colour: rank of the selected metric)</text>"#,
        PW / 2.0
    );
    // The lines first, so that the axes' labels stay readable over them.
    let colour = rank_colour(plan, trials);
    let mut order: Vec<&&TrialRecord> = trials.iter().collect();
    order.sort_by(|a, b| rank_key(plan, a).total_cmp(&rank_key(plan, b)));
    for t in order {
        let pts: Vec<String> = axes
            .iter()
            .enumerate()
            .filter(|(_, (_, a, get))| a.ok(get(t)))
            .map(|(i, (_, a, get))| format!("{:.1},{:.1}", ax_x(i), ax_y(a, get(t))))
            .collect();
        let _ = write!(
            svg,
            r#"<g class="series" data-trial="{}"><title>{}</title><polyline points="{}" fill="none" stroke="{}" stroke-width="1.6" stroke-opacity="0.85"/></g>"#,
            t.trial,
            esc(&trial_title(plan, t)),
            pts.join(" "),
            colour(t)
        );
    }
    for (i, (name, a, _)) in axes.iter().enumerate() {
        svg.push_str(&vertical_axis(ax_x(i), name, a, |v| ax_y(a, v)));
    }
    svg.push_str("</svg>\n");
    format!("<h2>Parallel coordinates</h2>\n<div class=\"plots\">{svg}</div>\n")
}

/// Sorts the worst trials first (and those without a result before all).
fn rank_key(plan: &StudyPlan, t: &TrialRecord) -> f64 {
    let v = best_of(t, plan.metric);
    match (v.is_finite(), plan.metric.goal) {
        (false, _) => f64::NEG_INFINITY,
        (true, crate::objective::Goal::Min) => -v,
        (true, crate::objective::Goal::Max) => v,
    }
}

/// One axis of the parallel coordinates at `x`: a line, its ticks and its name.
fn vertical_axis(x: f64, name: &str, a: &Axis, y: impl Fn(f64) -> f64) -> String {
    let mut svg = format!(
        r##"<g class="axis"><line x1="{x:.1}" x2="{x:.1}" y1="{PTOP}" y2="{}" stroke="#666"/><text x="{x:.1}" y="{}" class="label" text-anchor="middle">{}{}</text>"##,
        PH - PBOTTOM,
        PH - 10.0,
        esc(name),
        if a.is_log() { " (log)" } else { "" }
    );
    for (v, label) in a.ticks() {
        let _ = write!(
            svg,
            r##"<line x1="{:.1}" x2="{x:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#666"/><text x="{:.1}" y="{:.1}" class="tick halo">{label}</text>"##,
            x - 4.0,
            x + 4.0,
            y(v) + 4.0,
            y = y(v)
        );
    }
    svg.push_str("</g>");
    svg
}
