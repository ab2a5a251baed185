//! The page of a retraining (`tune retrain`): the old and the new validation curves of one trial's
//! parameters against examples seen, the loss and the study's metric side by side.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::plot::{esc, Axis, Plot, Scale};
use crate::curve::{select_best, CurveRow};
use crate::error::{Error, Result};
use crate::plan::StudyPlan;
use crate::storage::TrialRecord;

/// The two curves' colours: the old one grey, the new one blue.
const OLD: &str = "#8c8c8c";
const NEW: &str = "#1f6fd1";

/// Writes `retrain.html` in `new_plan`'s folder: `old` (a trial of `plan`'s study) and `new` (its
/// parameters trained on `new_plan`'s data); returns its path.
pub fn write(
    plan: &StudyPlan,
    new_plan: &StudyPlan,
    old: &TrialRecord,
    new: &TrialRecord,
) -> Result<PathBuf> {
    let m = plan.curve_metric().name();
    let title = format!(
        "trial {} of {}: {} against {}",
        old.trial,
        plan.name,
        new_plan
            .data_file
            .as_deref()
            .map_or(String::new(), |p| p.display().to_string()),
        plan.data_file
            .as_deref()
            .map_or(String::new(), |p| p.display().to_string()),
    );
    let mut page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>tune retrain: {}</title>\n",
        esc(&title)
    );
    page.push_str(super::STYLE);
    let _ = writeln!(
        page,
        "</head><body>\n<h1>{}</h1>\n<p>The same parameters and the same budget ({} examples in {} virtual epochs); <span style=\"color:{OLD}\">■</span> old data, <span style=\"color:{NEW}\">■</span> new data; ● each one's selected checkpoint.</p>\n<div style=\"display:flex;gap:16px;flex-wrap:wrap\">{}{}</div>\n</body></html>",
        esc(&title),
        plan.budget.total_examples,
        plan.budget.virtual_epochs,
        chart(plan, "val_loss", "validation loss", old, new, |r| r.val_loss),
        chart(plan, m, m, old, new, |r| r.metric),
    );
    let path = path(&new_plan.out_dir);
    super::write_derived(&path, page.as_bytes()).map_err(|e| Error::io(&path, e))?;
    Ok(path)
}

/// One plot: both curves of `value` against examples seen.
fn chart(
    plan: &StudyPlan,
    id: &str,
    label: &str,
    old: &TrialRecord,
    new: &TrialRecord,
    value: fn(&CurveRow) -> f64,
) -> String {
    let rows = || old.curve.iter().chain(&new.curve);
    let x = Axis::fit(
        [0.0, plan.budget.total_examples as f64].into_iter(),
        Scale::Linear,
    );
    let y = Axis::fit(rows().map(value), Scale::Linear);
    let mut p = Plot::new(id, label, x, y, "examples seen", label);
    for (t, c) in [(old, OLD), (new, NEW)] {
        let pts: Vec<String> = t
            .curve
            .iter()
            .filter(|r| p.ok(r.examples_seen as f64, value(r)))
            .map(|r| format!("{:.1},{:.1}", p.px(r.examples_seen as f64), p.py(value(r))))
            .collect();
        let _ = write!(
            p.svg,
            r#"<polyline class="{}" points="{}" fill="none" stroke="{c}" stroke-width="1.8"/>"#,
            if c == OLD { "old" } else { "new" },
            pts.join(" ")
        );
        if let Some(b) = select_best(&t.curve, plan.metric) {
            let r = &t.curve[b];
            let _ = write!(
                p.svg,
                r##"<circle cx="{:.1}" cy="{:.1}" r="4" fill="{c}" stroke="#fff"/>"##,
                p.px(r.examples_seen as f64),
                p.py(value(r))
            );
        }
    }
    p.finish()
}

/// Where a retraining's page lives.
pub fn path(out: &Path) -> PathBuf {
    out.join("retrain.html")
}
