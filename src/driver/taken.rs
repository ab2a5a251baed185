//! A trial a worker took from the queue, as the history tells it, and the checkpoint an
//! exploiting member (population-based training) goes on from.

use super::Ctx;
use crate::artifacts::Checkpoint;
use crate::curve::CurveRow;
use crate::error::{Error, Result};
use crate::scheduler::Decision;
use crate::space::Params;
use crate::storage::{Event, Exploit, History};

/// A trial taken from the queue.
pub(super) struct Taken {
    pub(super) trial: u64,
    pub(super) params: Params,
    /// What the storage holds of its curve, and the decision at its last row.
    pub(super) curve: Vec<CurveRow>,
    pub(super) decision: Option<Decision>,
    /// The `started` record of a new trial, or the promotion of a paused one (and its exploit).
    pub(super) started: Vec<Event>,
    /// The trial whose random streams it draws (see [`Job::streams`]).
    pub(super) streams: u64,
    /// Its exploit at the end of its curve, if any: it goes on from the copied checkpoint.
    pub(super) copy: Option<Exploit>,
    /// All its exploits: its checkpoints before each have its old parameters.
    pub(super) exploits: Vec<Exploit>,
    /// Its training seconds so far.
    pub(super) seconds: f64,
}

impl Taken {
    /// Trial `n` as `history` tells it, with `started` to record.
    pub(super) fn of(history: &History, n: u64, started: Vec<Event>) -> Taken {
        let t = &history.trials[&n];
        let copy = t
            .exploits
            .last()
            .filter(|x| x.virtual_epoch as usize == t.curve.len());
        Taken {
            trial: n,
            params: t.params.clone(),
            curve: t.curve.clone(),
            decision: t.decision.clone(),
            started,
            streams: history.streams_of(n),
            copy: copy.cloned(),
            exploits: t.exploits.clone(),
            seconds: t.seconds,
        }
    }
}

impl Taken {
    /// A trial not begun yet, with its `started` record.
    pub(super) fn fresh(trial: u64, params: Params, started: Event) -> Taken {
        Taken {
            trial,
            params,
            curve: vec![],
            decision: None,
            started: vec![started],
            streams: trial,
            copy: None,
            exploits: vec![],
            seconds: 0.0,
        }
    }
}

/// The checkpoint trial `t` goes on from after exploit `x`: the source's of that virtual epoch,
/// made the trial's (its number, its new parameters, its own curve and seconds).
pub(super) fn copied(ctx: &Ctx, t: &Taken, x: &Exploit) -> Result<Checkpoint> {
    let k = x.virtual_epoch;
    let lost = |why: String| {
        Error::Damaged(format!(
            "trial {} exploits trial {} at virtual epoch {k}, whose checkpoint {}: {why}",
            t.trial,
            x.source,
            ctx.store.name(x.source, Some(k))
        ))
    };
    let mut c = ctx
        .store
        .get(x.source, k)
        .map_err(|e| lost(e.to_string()))?;
    if c.meta.trial != x.source || c.meta.virtual_epoch != k {
        return Err(lost("holds another trial's or epoch's state".into()));
    }
    c.meta.trial = t.trial;
    c.meta.params = t.params.clone();
    c.meta.curve = t.curve.clone();
    c.meta.seconds = t.seconds;
    Ok(c)
}
