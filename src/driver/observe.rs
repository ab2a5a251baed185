//! What a person may want to see of a run, as events: the library prints nothing, the binary
//! renders them (progress bars, warnings).

use crate::curve::CurveRow;
use crate::objective::Metric;
use crate::space::Params;

/// Something worth showing happened.
#[derive(Debug)]
pub enum Progress<'a> {
    /// The run begins: `done` of `total` trials already ended.
    Study {
        name: &'a str,
        done: usize,
        total: usize,
        /// Each trial's budget.
        examples: u64,
        virtual_epochs: u32,
        /// What ranks the trials (see [`crate::curve::ranks_before`]).
        metric: Metric,
        /// The best trial so far and its selected row, when a resumed study has one.
        best: Option<(u64, &'a CurveRow)>,
    },
    /// A trial starts training, from scratch or (`at`: virtual epoch, examples seen) a checkpoint.
    TrialStarted {
        trial: u64,
        params: &'a Params,
        at: Option<(u32, u64)>,
    },
    /// Examples seen so far inside a virtual epoch.
    Examples { trial: u64, examples_seen: u64 },
    /// A virtual epoch validated.
    Boundary { trial: u64, row: &'a CurveRow },
    /// The trial left its runner (ended or interrupted).
    TrialLeft { trial: u64 },
    /// The trial's end is durable.
    TrialEnded { trial: u64 },
    /// Something was found wrong and put right, or passed over: one sentence.
    Warning(&'a str),
    /// Something done that the user should know of: one sentence.
    Note(&'a str),
}

/// Receives a run's [`Progress`], from any worker thread.
pub trait Observer: Sync {
    fn event(&self, e: Progress<'_>);
}

/// Shows nothing.
pub struct Silent;

impl Observer for Silent {
    fn event(&self, _: Progress<'_>) {}
}
