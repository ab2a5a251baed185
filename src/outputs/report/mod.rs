//! `report.html`: one self-contained page (inline SVG and script, no network) with the validation
//! curves against examples seen, the optimisation history, one trial's training and validation loss,
//! a legend, slices of the metric against
//! each parameter, parallel coordinates, parameter importance, and the leaderboard. Hand-written SVG rather than a plotting crate: every trial's marks carry
//! `data-trial`, which the page's hover highlighting and its self-check (and our browser test) use.
//! This file owns the page and its table; `charts` and `explore` draw the plots with `plot`'s
//! primitives.

mod charts;
mod code;
pub mod compare;
mod detail;
mod explore;
mod front;
mod importance;
mod lineage;
mod plot;
mod reported;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::leaderboard::{self, short, Row};
use crate::durable::write_derived;
use crate::error::{Error, Result};
use crate::objective::Goal;
use crate::plan::StudyPlan;
use crate::storage::{History, TrialRecord};
use charts::Charts;
use plot::esc;

/// The page for the study's `history`.
pub fn render(plan: &StudyPlan, history: &History) -> String {
    let trials: Vec<&TrialRecord> = history.trials.values().collect();
    let rows = leaderboard::rows(plan, history);
    let charts = Charts::new(plan, &trials);
    let mut page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>tune report: {}</title>\n",
        esc(&plan.name)
    );
    page.push_str(ERROR_CAPTURE);
    page.push_str(STYLE);
    page.push_str("</head><body>\n");
    page.push_str(&intro(plan, trials.len(), &rows));
    let _ = writeln!(
        page,
        "<div class=\"plots\">\n{}{}{}<div class=\"side\">{}{HINT}</div></div>",
        charts.curves(),
        charts.history(),
        detail::detail(
            &trials,
            plan.budget.total_examples,
            rows.first().map(|r| r.trial)
        ),
        charts::legend(),
    );
    page.push_str(&front::section(plan, history));
    page.push_str(&reported::section(plan, history));
    page.push_str(&explore::slices(plan, &trials));
    page.push_str(&explore::parallel(plan, &trials));
    page.push_str(&importance::section(plan, &trials));
    page.push_str(&table(plan, history, &rows));
    page.push('\n');
    page.push_str(&code::section(history));
    page.push_str(&lineage::section(
        plan,
        history,
        rows.first().map(|r| r.trial),
    ));
    page.push_str(SCRIPT);
    page.push_str("</body></html>\n");
    page
}

/// The page's title and the line under it: the study's settings and its best trial so far.
fn intro(plan: &StudyPlan, trials: usize, rows: &[Row]) -> String {
    let metric = plan.metric;
    format!(
        "<h1>{name}</h1>\n<div class=\"sub\">{method} search · {trials} trials · every trial {total} training examples in {ve} virtual epochs · metric {metric} ({goal}){several} · {summary}</div>\n",
        name = esc(&plan.name),
        method = format!("{:?}", plan.method).to_lowercase(),
        total = plan.budget.total_examples,
        ve = plan.budget.virtual_epochs,
        metric = metric.kind.name(),
        goal = if metric.goal == Goal::Min {
            "lower is better"
        } else {
            "higher is better"
        },
        summary = esc(&summary(plan, rows)),
        several = esc(&objectives(plan)),
    )
}

/// Several objectives and constraints in words (none for a study of one objective).
fn objectives(plan: &StudyPlan) -> String {
    let o = &plan.objectives;
    let mut out = String::new();
    if o.list.len() > 1 {
        let each: Vec<String> = o
            .list
            .iter()
            .map(|m| format!("{} ({:?})", m.kind.name(), m.goal).to_lowercase())
            .collect();
        out += &format!(" · objectives {}", each.join(", "));
    }
    for c in &o.constraints {
        let bound = |b: f64, op: &str| b.is_finite().then(|| format!("{op} {}", short(b)));
        let bounds: Vec<String> = [bound(c.min, "≥"), bound(c.max, "≤")]
            .into_iter()
            .flatten()
            .collect();
        out += &format!(" · constraint {} {}", c.kind.name(), bounds.join(" and "));
    }
    out
}

/// The best trial in words, from the leaderboard's first row.
fn summary(plan: &StudyPlan, rows: &[Row]) -> String {
    match rows.first().filter(|r| !r.best.is_nan()) {
        Some(b) => format!(
            "best: trial {} with {} = {} at virtual epoch {}",
            b.trial,
            plan.metric.kind.name(),
            short(b.best),
            b.best_virtual_epoch.unwrap_or(0)
        ),
        None => "no trial has a result yet".into(),
    }
}

/// The leaderboard as a table that fits 1,280 px: headers that wrap at their words, numbers to
/// four significant digits (60k, 1.84e-9), reasons cut short; every cell's full value in its
/// `title` (shown on hover, and what the page sorts by).
fn table(plan: &StudyPlan, history: &History, rows: &[Row]) -> String {
    let mut table = String::from("<table id=\"leaderboard\"><thead><tr>");
    let header = leaderboard::header(plan, &leaderboard::reported_columns(plan, history));
    for h in &header {
        let _ = write!(
            table,
            "<th title=\"{}\">{}</th>",
            esc(h),
            esc(&h.replace('_', " "))
        );
    }
    table.push_str("</tr></thead><tbody>\n");
    for r in rows {
        let _ = write!(table, "<tr data-trial=\"{}\">", r.trial);
        for (f, h) in leaderboard::fields(plan, r).iter().zip(&header) {
            let class = if h == "reason" {
                " class=\"reason\""
            } else {
                ""
            };
            let shown = f.parse::<f64>().map_or(f.clone(), compact);
            let _ = write!(
                table,
                "<td{class} title=\"{}\">{}</td>",
                esc(f),
                esc(&shown)
            );
        }
        table.push_str("</tr>\n");
    }
    table.push_str("</tbody></table>");
    table
}

/// `x` to four significant digits, large and small numbers short: 0.4014, 60k, 9.725e-4.
fn compact(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return x.to_string();
    }
    let res = 10f64.powf(x.abs().log10().floor() - 3.0);
    // Integers below 10,000 in full (steps, epochs, trial numbers).
    if x.fract() == 0.0 && x.abs() < 1e4 {
        return format!("{x}");
    }
    plot::tick_label(x, res.max(if x.fract() == 0.0 { 1.0 } else { 0.0 }))
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

/// Runs first in the head: collects the page's errors (uncaught, or logged with `console.error`)
/// for the self-check at the end of [`SCRIPT`].
const ERROR_CAPTURE: &str = r#"<script>
window.__errors = [];
window.addEventListener("error", e => window.__errors.push(String(e.message)));
(function () { const ce = console.error; console.error = function () { window.__errors.push(Array.from(arguments).join(" ")); ce.apply(console, arguments); }; })();
</script>
"#;

/// The plots side by side; the rest dimmed while a trial is hot; a sticky, sortable table header.
const STYLE: &str = r#"<style>
body { font: 14px system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; margin: 0 0 4px; } .sub { color: #555; margin-bottom: 16px; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; }
svg.plot { background: #fff; border: 1px solid #ddd; border-radius: 4px; }
.title { font-size: 14px; font-weight: 600; text-anchor: middle; } .tick { font-size: 11px; fill: #555; } .label { font-size: 12px; fill: #333; }
.frame { fill: none; stroke: #999; } .grid { stroke: #eee; }
svg .series { cursor: pointer; } svg.dim .series { opacity: 0.15; } svg.dim .series.hot { opacity: 1; }
svg .series.hot polyline { stroke-width: 3.5; }
table { border-collapse: collapse; margin-top: 20px; font-variant-numeric: tabular-nums; font-size: 13px; }
th, td { border-bottom: 1px solid #e4e4e4; padding: 3px 7px; text-align: right; white-space: nowrap; }
th { white-space: normal; max-width: 7em; vertical-align: bottom; }
td.reason { max-width: 16em; overflow: hidden; text-overflow: ellipsis; text-align: left; }
th { cursor: pointer; background: #f6f6f6; position: sticky; top: 0; } th.sorted::after { content: " ▾"; } th.sorted.asc::after { content: " ▴"; }
tr.hot { background: #fff6d5; }
.side { width: 560px; padding: 0 10px; } .side .key { display: block; white-space: normal; }
h2 { font-size: 16px; margin: 22px 0 8px; }
.halo { paint-order: stroke; stroke: #fff; stroke-width: 3px; }
.legend { color: #555; font-size: 12px; margin: 8px 0 0; line-height: 1.9; }
.legend .key { margin-right: 14px; white-space: nowrap; } .legend svg { vertical-align: middle; margin-right: 4px; }
.ramp { display: inline-block; width: 90px; height: 10px; vertical-align: middle; margin: 0 4px; border: 1px solid #ccc; }
</style>"#;

/// How to use the page, under the legend.
const HINT: &str = r#"<p class="legend">Hover a trial anywhere to find it in every plot and in the table, and to see its losses in the one-trial plot; click it to keep it there. Click a column of the table to sort by it.</p>"#;

/// Hover highlighting across the plots and the table, sorting by a column, and the self-check
/// (`data-selfcheck` on the body: the errors so far and how many trials each plot shows).
const SCRIPT: &str = r#"<script>
(function () {
  const plots = Array.from(document.querySelectorAll("svg.plot"));
  function hot(trial, on) {
    plots.forEach(p => p.classList.toggle("dim", on));
    document.querySelectorAll('[data-trial="' + trial + '"]').forEach(e => e.classList.toggle("hot", on));
  }
  // The one-trial plot follows the pointer and stays on the trial last clicked.
  const details = Array.from(document.querySelectorAll('#trial .detail'));
  let pinned = (details.find(g => g.style.display !== "none") || {dataset: {}}).dataset.detail;
  function show(trial) { details.forEach(g => { g.style.display = g.dataset.detail === trial ? "" : "none"; }); }
  document.querySelectorAll("[data-trial]").forEach(e => {
    e.addEventListener("mouseenter", () => { hot(e.dataset.trial, true); show(e.dataset.trial); });
    e.addEventListener("mouseleave", () => { hot(e.dataset.trial, false); show(pinned); });
    e.addEventListener("click", () => { pinned = e.dataset.trial; show(pinned); });
  });
  const table = document.getElementById("leaderboard");
  table.querySelectorAll("th").forEach((th, col) => th.addEventListener("click", () => {
    const asc = !(th.classList.contains("sorted") && th.classList.contains("asc"));
    table.querySelectorAll("th").forEach(h => h.classList.remove("sorted", "asc"));
    th.classList.add("sorted"); if (asc) th.classList.add("asc");
    const body = table.tBodies[0];
    const key = tr => { const t = tr.cells[col].title; const v = parseFloat(t); return isNaN(v) ? t : v; };
    Array.from(body.rows).sort((a, b) => {
      const x = key(a), y = key(b);
      const c = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y));
      return asc ? c : -c;
    }).forEach(r => body.appendChild(r));
  }));
  // Self-check, read by tests: errors so far, the trials each plot shows, the one-trial plot's
  // trials, and the widths of the table and of the page.
  const table_width = table.getBoundingClientRect().width;
  // Hover the table's last row: the one-trial plot should show that trial alone, then the pinned one.
  const last = table.tBodies[0].rows[table.tBodies[0].rows.length - 1];
  const visible = () => details.filter(g => g.style.display !== "none").map(g => g.dataset.detail);
  let hover = null;
  if (last) {
    last.dispatchEvent(new MouseEvent("mouseenter"));
    hover = { trial: last.dataset.trial, shown: visible() };
    last.dispatchEvent(new MouseEvent("mouseleave"));
    hover.after = visible();
  }
  const check = { errors: window.__errors, plots: {}, details: details.length, table_width: table_width, page_width: document.documentElement.scrollWidth, hover: hover };
  plots.forEach(p => { check.plots[p.id] = new Set(Array.from(p.querySelectorAll(".series")).map(s => s.dataset.trial)).size; });
  document.body.dataset.selfcheck = JSON.stringify(check);
})();
</script>
"#;

#[cfg(test)]
mod tests {
    use super::compact;

    #[test]
    fn table_numbers_are_short() {
        let cases = [
            (0.401_407_204_693_448, "0.4014"),
            (60_000.0, "60k"),
            (52_500.0, "52.5k"),
            (3752.0, "3752"),
            (0.000_972_545_177, "9.725e-4"),
            (1.840_172_216e-9, "1.84e-9"),
            (1e30, "1e30"),
            (0.0, "0"),
        ];
        for (x, want) in cases {
            assert_eq!(compact(x), want, "{x}");
        }
    }
}
