//! The report's plot of one trial at a time: its training loss (mean over each virtual epoch's
//! batches) and its validation loss against examples seen, which shows over- and underfitting. Every
//! trial's lines are drawn, hidden; the page shows the trial under the pointer, or the one clicked
//! (the best at first).

use std::fmt::Write as _;

use super::plot::{esc, Axis, Plot, Scale};
use crate::storage::TrialRecord;

const TRAIN: &str = "#d9730d";
const VAL: &str = "#1f5fa8";

/// The plot, showing trial `shown` until the pointer picks another.
pub(super) fn detail(trials: &[&TrialRecord], total_examples: u64, shown: Option<u64>) -> String {
    let losses = trials
        .iter()
        .flat_map(|t| t.curve.iter().flat_map(|r| [r.train_loss, r.val_loss]));
    let x = Axis::fit([0.0, total_examples as f64].into_iter(), Scale::Linear);
    let y = Axis::fit(losses, Scale::Auto);
    let mut plot = Plot::new(
        "trial",
        "One trial: training and validation loss (hover or click a trial)",
        x,
        y,
        "examples seen",
        "loss",
    );
    let _ = write!(
        plot.svg,
        r##"<g class="key"><line x1="80" x2="104" y1="50" y2="50" stroke="{TRAIN}" stroke-width="2" stroke-dasharray="5 3"/><text x="108" y="54" class="tick">training</text><line x1="160" x2="184" y1="50" y2="50" stroke="{VAL}" stroke-width="2"/><text x="188" y="54" class="tick">validation</text></g>"##
    );
    for t in trials {
        let line = |get: fn(&crate::curve::CurveRow) -> f64| {
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
        let hidden = if Some(t.trial) == shown {
            ""
        } else {
            r#" style="display:none""#
        };
        let _ = write!(
            plot.svg,
            r##"<g class="detail" data-detail="{}"{hidden}><text x="570" y="54" class="tick" text-anchor="end">trial {} ({})</text><polyline points="{train}" fill="none" stroke="{TRAIN}" stroke-width="2" stroke-dasharray="5 3"/><polyline points="{val}" fill="none" stroke="{VAL}" stroke-width="2"/></g>"##,
            t.trial,
            t.trial,
            esc(t.status.as_str())
        );
    }
    plot.finish()
}
