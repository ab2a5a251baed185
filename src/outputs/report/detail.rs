//! The report's plot of one trial at a time: its training loss (mean over each virtual epoch's
//! batches) and its validation loss against examples seen, which shows over- and underfitting. One
//! plot per trial, each on an axis fitted to that trial's losses, all hidden but one; the page shows
//! the trial under the pointer, or the one clicked (the best at first).

use std::fmt::Write as _;

use super::plot::{esc, Axis, Plot, Scale};
use crate::curve::CurveRow;
use crate::storage::TrialRecord;

const TRAIN: &str = "#d9730d";
const VAL: &str = "#1f5fa8";

/// The plots, in one box, showing trial `shown` until the pointer picks another.
pub(super) fn detail(trials: &[&TrialRecord], total_examples: u64, shown: Option<u64>) -> String {
    let mut html = String::from(r#"<div id="trial">"#);
    for t in trials {
        html.push_str(&one(t, total_examples, Some(t.trial) == shown));
    }
    html.push_str("</div>");
    html
}

/// Trial `t`'s plot, hidden unless `visible`.
fn one(t: &TrialRecord, total_examples: u64, visible: bool) -> String {
    let x = Axis::fit([0.0, total_examples as f64].into_iter(), Scale::Linear);
    let y = Axis::fit(
        t.curve.iter().flat_map(|r| [r.train_loss, r.val_loss]),
        Scale::Auto,
    );
    let title = format!(
        "Trial {} ({}): training and validation loss",
        t.trial,
        t.status.as_str()
    );
    let mut plot = Plot::new(
        &format!("trial-{}", t.trial),
        &title,
        x,
        y,
        "examples seen",
        "loss",
    );
    let _ = write!(
        plot.svg,
        r##"<g class="key"><line x1="80" x2="104" y1="50" y2="50" stroke="{TRAIN}" stroke-width="2" stroke-dasharray="5 3"/><text x="108" y="54" class="tick halo">training</text><line x1="160" x2="184" y1="50" y2="50" stroke="{VAL}" stroke-width="2"/><text x="188" y="54" class="tick halo">validation (hover or click a trial to see another)</text></g>"##
    );
    let line = |get: fn(&CurveRow) -> f64| {
        t.curve
            .iter()
            .filter(|r| plot.ok(r.examples_seen as f64, get(r)))
            .map(|r| {
                let (px, py) = (plot.px(r.examples_seen as f64), plot.py(get(r)));
                format!("{px:.1},{py:.1}")
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let (train, val) = (line(|r| r.train_loss), line(|r| r.val_loss));
    let _ = write!(
        plot.svg,
        r##"<polyline points="{train}" fill="none" stroke="{TRAIN}" stroke-width="2" stroke-dasharray="5 3"/><polyline points="{val}" fill="none" stroke="{VAL}" stroke-width="2"/>"##
    );
    let hidden = if visible {
        ""
    } else {
        r#" style="display:none""#
    };
    plot.finish().replacen(
        r#"<svg class="plot""#,
        &format!(
            r#"<svg class="plot detail" data-detail="{}"{hidden}"#,
            esc(&t.trial.to_string())
        ),
        1,
    )
}
