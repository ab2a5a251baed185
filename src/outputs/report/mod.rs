//! `report.html`: one self-contained page (inline SVG and script, no network) with the validation
//! curves against examples seen, the optimisation history, learning rate against batch size, and the
//! leaderboard. Hand-written SVG rather than a plotting crate: every trial's marks carry
//! `data-trial`, which the page's hover highlighting and its self-check (and our browser test) use.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::leaderboard::{self, short};
use crate::curve::select_best;
use crate::durable::write_derived;
use crate::error::{Error, Result};
use crate::plan::{Goal, MetricKind, StudyPlan};
use crate::storage::{History, Status, TrialRecord};

const W: f64 = 640.0;
const H: f64 = 380.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 36.0;
const BOTTOM: f64 = 50.0;

/// A plot axis: linear or logarithmic (base 10 or 2) between `lo` and `hi`.
#[derive(Clone, Copy, Debug)]
struct Axis {
    lo: f64,
    hi: f64,
    log: Option<f64>,
}

impl Axis {
    fn fit(values: impl Iterator<Item = f64>, log: Option<f64>) -> Axis {
        let vs: Vec<f64> = values
            .filter(|v| v.is_finite() && (log.is_none() || *v > 0.0))
            .collect();
        let (mut lo, mut hi) = vs
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        if !lo.is_finite() {
            (lo, hi) = (1.0, 10.0);
        }
        if let Some(b) = log {
            let (l, h) = (lo.log(b).floor(), hi.log(b).ceil());
            let h = if h <= l { l + 1.0 } else { h };
            return Axis {
                lo: b.powf(l),
                hi: b.powf(h),
                log,
            };
        }
        if hi <= lo {
            (lo, hi) = (lo - 0.5, hi + 0.5);
        }
        let pad = (hi - lo) * 0.05;
        Axis {
            lo: lo - pad,
            hi: hi + pad,
            log: None,
        }
    }

    /// Where `v` falls, from 0 (lo) to 1 (hi).
    fn frac(&self, v: f64) -> f64 {
        match self.log {
            Some(b) => (v.log(b) - self.lo.log(b)) / (self.hi.log(b) - self.lo.log(b)),
            None => (v - self.lo) / (self.hi - self.lo),
        }
    }

    fn ticks(&self) -> Vec<(f64, String)> {
        match self.log {
            Some(b) => {
                let (l, h) = (self.lo.log(b).round() as i32, self.hi.log(b).round() as i32);
                let step = ((h - l) as f64 / 8.0).ceil().max(1.0) as i32;
                (l..=h)
                    .step_by(step as usize)
                    .map(|e| (b.powi(e), short(b.powi(e))))
                    .collect()
            }
            None => {
                let raw = (self.hi - self.lo) / 6.0;
                let mag = 10f64.powf(raw.log10().floor());
                let step = [1.0, 2.0, 5.0, 10.0]
                    .iter()
                    .map(|m| m * mag)
                    .find(|s| *s >= raw)
                    .unwrap_or(mag * 10.0);
                let mut t = (self.lo / step).ceil() * step;
                let mut out = vec![];
                while t <= self.hi + 1e-12 {
                    // `+ 0.0` turns -0 into 0.
                    out.push((t, short((t / step).round() * step + 0.0)));
                    t += step;
                }
                out
            }
        }
    }
}

/// One SVG plot being drawn.
struct Plot {
    x: Axis,
    y: Axis,
    svg: String,
}

impl Plot {
    fn new(id: &'static str, title: &str, x: Axis, y: Axis, xlabel: &str, ylabel: &str) -> Plot {
        let mut p = Plot {
            x,
            y,
            svg: String::new(),
        };
        let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
        let _ = write!(
            p.svg,
            r#"<svg class="plot" id="{id}" viewBox="0 0 {W} {H}" width="{W}" height="{H}" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{title}">
<text x="{}" y="22" class="title">{}</text>
<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" class="frame"/>
"#,
            W / 2.0,
            esc(title)
        );
        for (v, label) in x.ticks() {
            let px = p.px(v);
            let _ = write!(
                p.svg,
                r#"<line x1="{px:.1}" x2="{px:.1}" y1="{TOP}" y2="{}" class="grid"/><text x="{px:.1}" y="{}" class="tick" text-anchor="middle">{label}</text>"#,
                TOP + ph,
                TOP + ph + 16.0
            );
        }
        for (v, label) in y.ticks() {
            let py = p.py(v);
            let _ = write!(
                p.svg,
                r#"<line x1="{LEFT}" x2="{}" y1="{py:.1}" y2="{py:.1}" class="grid"/><text x="{}" y="{:.1}" class="tick" text-anchor="end">{label}</text>"#,
                LEFT + pw,
                LEFT - 6.0,
                py + 4.0
            );
        }
        let _ = writeln!(
            p.svg,
            r#"<text x="{}" y="{}" class="label" text-anchor="middle">{}</text><text transform="translate(16 {}) rotate(-90)" class="label" text-anchor="middle">{}</text>"#,
            LEFT + pw / 2.0,
            H - 10.0,
            esc(xlabel),
            TOP + ph / 2.0,
            esc(ylabel)
        );
        p
    }

    fn px(&self, v: f64) -> f64 {
        LEFT + self.x.frac(v).clamp(-0.02, 1.02) * (W - LEFT - RIGHT)
    }

    fn py(&self, v: f64) -> f64 {
        TOP + (1.0 - self.y.frac(v).clamp(-0.02, 1.02)) * (H - TOP - BOTTOM)
    }

    fn ok(&self, x: f64, y: f64) -> bool {
        x.is_finite()
            && y.is_finite()
            && (self.x.log.is_none() || x > 0.0)
            && (self.y.log.is_none() || y > 0.0)
    }

    fn finish(mut self) -> String {
        self.svg.push_str("</svg>\n");
        self.svg
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn colour(i: usize, n: usize) -> String {
    format!("hsl({:.0},65%,42%)", 360.0 * i as f64 / n.max(1) as f64)
}

/// A colour from a perceptual ramp (dark blue → yellow) for `t` in [0, 1]; 1 is best.
fn ramp(t: f64) -> String {
    let stops = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    } * (stops.len() - 1) as f64;
    let i = (t.floor() as usize).min(stops.len() - 2);
    let f = t - i as f64;
    let (a, b) = (stops[i], stops[i + 1]);
    format!(
        "rgb({:.0},{:.0},{:.0})",
        a.0 + f * (b.0 - a.0),
        a.1 + f * (b.1 - a.1),
        a.2 + f * (b.2 - a.2)
    )
}

fn trial_title(plan: &StudyPlan, t: &TrialRecord) -> String {
    let best = select_best(&t.curve, plan.metric).map(|i| t.curve[i].selection_value(plan.metric));
    format!(
        "trial {} ({}): {}; best {} = {}",
        t.trial,
        t.status.as_str(),
        super::describe(&t.params),
        plan.metric.kind.name(),
        best.map_or("-".into(), short)
    )
}

/// The page for the study's `history`.
pub fn render(plan: &StudyPlan, history: &History) -> String {
    let metric = plan.metric;
    let trials: Vec<&TrialRecord> = history.trials.values().collect();
    let n = trials.len();
    let loss_like = metric.kind != MetricKind::Accuracy;
    let all_values = || {
        trials
            .iter()
            .flat_map(|t| t.curve.iter().map(|r| r.selection_value(metric)))
    };
    let ylog = loss_like && all_values().all(|v| !v.is_finite() || v > 0.0);

    // 1. Validation curves against examples seen.
    let x = Axis::fit(
        std::iter::once(0.0).chain(std::iter::once(plan.budget.total_examples as f64)),
        None,
    );
    let y = Axis::fit(all_values(), ylog.then_some(10.0));
    let mut curves = Plot::new(
        "curves",
        "Validation curves (● selected checkpoint)",
        x,
        y,
        "examples seen",
        metric.kind.name(),
    );
    for (i, t) in trials.iter().enumerate() {
        let c = colour(i, n);
        let dash = match t.status {
            Status::Stopped => r#" stroke-dasharray="6 3""#,
            Status::Failed => r#" stroke-dasharray="2 3""#,
            Status::Running => r#" stroke-dasharray="10 3 2 3""#,
            Status::Complete => "",
        };
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
            esc(&trial_title(plan, t)),
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

    // 2. Optimisation history: each trial's selected metric, and the best so far.
    let best_of = |t: &TrialRecord| {
        select_best(&t.curve, metric).map_or(f64::NAN, |i| t.curve[i].selection_value(metric))
    };
    let hx = Axis::fit(trials.iter().map(|t| t.trial as f64), None);
    let hy = Axis::fit(trials.iter().map(|t| best_of(t)), ylog.then_some(10.0));
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
        let v = best_of(t);
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
                esc(&trial_title(plan, t)),
                hist.px(t.trial as f64),
                hist.py(v),
                colour(i, n)
            );
        } else {
            let _ = write!(
                hist.svg,
                r#"<g class="series" data-trial="{}" data-missing="1"><title>{}</title></g>"#,
                t.trial,
                esc(&trial_title(plan, t))
            );
        }
    }
    let _ = write!(
        hist.svg,
        r##"<polyline class="best" points="{}" fill="none" stroke="#222" stroke-width="1.5" stroke-dasharray="4 2"/>"##,
        steps.join(" ")
    );

    // 3. Learning rate against batch size, coloured by the selected metric.
    let get = |t: &TrialRecord, k: &str| t.params.get(k).map_or(f64::NAN, |v| v.as_f64());
    let sx = Axis::fit(trials.iter().map(|t| get(t, "learning_rate")), Some(10.0));
    let sy = Axis::fit(trials.iter().map(|t| get(t, "batch_size")), Some(2.0));
    let mut scatter = Plot::new(
        "params",
        "Learning rate × batch size (colour: rank of the selected metric, yellow is best)",
        sx,
        sy,
        "learning rate (log)",
        "batch size (log₂)",
    );
    // Colour by rank, so that one diverged trial does not wash out the differences among the rest.
    let mut finite: Vec<f64> = trials
        .iter()
        .map(|t| best_of(t))
        .filter(|v| v.is_finite())
        .collect();
    finite.sort_by(f64::total_cmp);
    for t in &trials {
        let v = best_of(t);
        let below = finite.iter().filter(|&&x| x < v).count() as f64;
        let score = if finite.len() > 1 {
            below / (finite.len() - 1) as f64
        } else {
            1.0
        };
        let score = if metric.goal == Goal::Min {
            1.0 - score
        } else {
            score
        };
        let (lr, bs) = (get(t, "learning_rate"), get(t, "batch_size"));
        if scatter.ok(lr, bs) {
            let fill = if v.is_finite() {
                ramp(score)
            } else {
                "#bbb".to_string()
            };
            let _ = write!(
                scatter.svg,
                r##"<g class="series" data-trial="{}"><title>{}</title><circle cx="{:.1}" cy="{:.1}" r="6" fill="{fill}" stroke="#333" stroke-width="0.6"/></g>"##,
                t.trial,
                esc(&trial_title(plan, t)),
                scatter.px(lr),
                scatter.py(bs)
            );
        }
    }

    // 4. The leaderboard.
    let rows = leaderboard::rows(plan, history);
    let header = leaderboard::header(plan);
    let mut table = String::from("<table id=\"leaderboard\"><thead><tr>");
    for h in &header {
        let _ = write!(table, "<th>{}</th>", esc(h));
    }
    table.push_str("</tr></thead><tbody>\n");
    for r in &rows {
        let _ = write!(table, "<tr data-trial=\"{}\">", r.trial);
        for f in leaderboard::fields(r) {
            // Four significant digits on the page; leaderboard.csv keeps every digit.
            let shown = match f.parse::<f64>() {
                Ok(x) if f.contains('.') || f.contains('e') => short(x),
                _ => f.clone(),
            };
            let _ = write!(table, "<td title=\"{}\">{}</td>", esc(&f), esc(&shown));
        }
        table.push_str("</tr>\n");
    }
    table.push_str("</tbody></table>");

    let summary = match rows.first().filter(|r| !r.best.is_nan()) {
        Some(b) => format!(
            "best: trial {} with {} = {} at virtual epoch {}",
            b.trial,
            metric.kind.name(),
            short(b.best),
            b.best_virtual_epoch.unwrap_or(0)
        ),
        None => "no trial has a result yet".into(),
    };
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tune report: {name}</title>
<script>
window.__errors = [];
window.addEventListener("error", e => window.__errors.push(String(e.message)));
(function () {{ const ce = console.error; console.error = function () {{ window.__errors.push(Array.from(arguments).join(" ")); ce.apply(console, arguments); }}; }})();
</script>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 24px; color: #222; }}
h1 {{ font-size: 20px; margin: 0 0 4px; }} .sub {{ color: #555; margin-bottom: 16px; }}
.plots {{ display: flex; flex-wrap: wrap; gap: 16px; }}
svg.plot {{ background: #fff; border: 1px solid #ddd; border-radius: 4px; }}
.title {{ font-size: 14px; font-weight: 600; text-anchor: middle; }} .tick {{ font-size: 11px; fill: #555; }} .label {{ font-size: 12px; fill: #333; }}
.frame {{ fill: none; stroke: #999; }} .grid {{ stroke: #eee; }}
svg .series {{ cursor: pointer; }} svg.dim .series {{ opacity: 0.15; }} svg.dim .series.hot {{ opacity: 1; }}
svg .series.hot polyline {{ stroke-width: 3.5; }}
table {{ border-collapse: collapse; margin-top: 20px; font-variant-numeric: tabular-nums; }}
th, td {{ border-bottom: 1px solid #e4e4e4; padding: 4px 10px; text-align: right; }}
th {{ cursor: pointer; background: #f6f6f6; position: sticky; top: 0; }} th.sorted::after {{ content: " ▾"; }} th.sorted.asc::after {{ content: " ▴"; }}
tr.hot {{ background: #fff6d5; }}
.legend {{ color: #555; font-size: 12px; margin: 6px 0 0; }}
</style></head><body>
<h1>{name}</h1>
<div class="sub">{method} search · {trials} trials · every trial {total} training examples in {ve} virtual epochs · metric {metric} ({goal}) · {summary}</div>
<div class="plots">
{curves}{hist}{scatter}</div>
<p class="legend">Lines: solid complete, dashed stopped early, dotted failed (✕ where it failed), dash-dot interrupted. Hover a trial anywhere to find it in every plot and in the table; click a column to sort.</p>
{table}
<script>
(function () {{
  const plots = Array.from(document.querySelectorAll("svg.plot"));
  function hot(trial, on) {{
    plots.forEach(p => p.classList.toggle("dim", on));
    document.querySelectorAll('[data-trial="' + trial + '"]').forEach(e => e.classList.toggle("hot", on));
  }}
  document.querySelectorAll("[data-trial]").forEach(e => {{
    e.addEventListener("mouseenter", () => hot(e.dataset.trial, true));
    e.addEventListener("mouseleave", () => hot(e.dataset.trial, false));
  }});
  const table = document.getElementById("leaderboard");
  table.querySelectorAll("th").forEach((th, col) => th.addEventListener("click", () => {{
    const asc = !(th.classList.contains("sorted") && th.classList.contains("asc"));
    table.querySelectorAll("th").forEach(h => h.classList.remove("sorted", "asc"));
    th.classList.add("sorted"); if (asc) th.classList.add("asc");
    const body = table.tBodies[0];
    const key = tr => {{ const t = tr.cells[col].title; const v = parseFloat(t); return isNaN(v) ? t : v; }};
    Array.from(body.rows).sort((a, b) => {{
      const x = key(a), y = key(b);
      const c = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y));
      return asc ? c : -c;
    }}).forEach(r => body.appendChild(r));
  }}));
  // Self-check, read by tests: errors so far, and the trials each plot shows.
  const check = {{ errors: window.__errors, plots: {{}} }};
  plots.forEach(p => {{ check.plots[p.id] = new Set(Array.from(p.querySelectorAll(".series")).map(s => s.dataset.trial)).size; }});
  document.body.dataset.selfcheck = JSON.stringify(check);
}})();
</script>
</body></html>
"#,
        name = esc(&plan.name),
        method = format!("{:?}", plan.method).to_lowercase(),
        trials = n,
        total = plan.budget.total_examples,
        ve = plan.budget.virtual_epochs,
        metric = metric.kind.name(),
        goal = if metric.goal == Goal::Min {
            "lower is better"
        } else {
            "higher is better"
        },
        summary = esc(&summary),
        curves = curves.finish(),
        hist = hist.finish(),
        scatter = scatter.finish(),
        table = table,
    )
}

/// Writes `report.html` into the study folder and returns its path.
pub fn write(plan: &StudyPlan, history: &History) -> Result<PathBuf> {
    let path = report_path(&plan.out_dir);
    write_derived(&path, render(plan, history).as_bytes()).map_err(|e| Error::io(&path, e))?;
    Ok(path)
}

/// Where a study's report lives.
pub fn report_path(out: &Path) -> PathBuf {
    out.join("report.html")
}
