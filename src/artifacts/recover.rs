//! Where a trial continues from after an interruption, decided from what is stored and proven
//! intact: the newest checkpoint whose checksum holds, that belongs to the trial, agrees with the
//! journal, and whose best checkpoint is still held (the trial's result). Nothing is deleted here
//! but what interrupted writes left; a damaged or foreign checkpoint is only passed over, and the
//! trial writes over it when it gets there again. Also the check of a finished trial's selection.

use super::{ArtifactStore, Checkpoint};
use crate::curve::{select_best, CurveRow};
use crate::error::Result;
use crate::objective::Metric;
use crate::space::Params;
use crate::storage::events::params_at;
use crate::storage::{Exploit, History, Status};

/// Where a trial goes on from.
#[derive(Debug)]
pub struct Recovered {
    /// The checkpoint to continue from; `None`: from the start.
    pub start: Option<Checkpoint>,
    /// Rows of that checkpoint's curve that the journal lacks (their group was torn off after the
    /// checkpoint was durable): journalled again before the trial goes on.
    pub missing: Vec<CurveRow>,
    /// One sentence for each checkpoint passed over, and one when the trial starts over although
    /// it had made progress.
    pub warnings: Vec<String>,
}

/// The trial a checkpoint must belong to.
pub struct Owner<'a> {
    pub trial: u64,
    pub params: &'a Params,
    /// Its exploits (population-based training): its checkpoints before each have its old
    /// parameters.
    pub exploits: &'a [Exploit],
}

impl Owner<'_> {
    /// Whether `c` is this trial's checkpoint of virtual epoch `k`.
    fn owns(&self, c: &Checkpoint, k: u32) -> bool {
        c.meta.trial == self.trial
            && &c.meta.params == params_at(self.params, self.exploits, k)
            && c.meta.virtual_epoch == k
            && c.meta.curve.len() == k as usize
    }
}

/// Decides where the trial continues, given the rows the journal holds for it. The selected
/// checkpoint is put right (a crash can leave it behind or ahead of the journal) and made durable
/// before returning, so that records journalled from `missing` name durable checkpoints.
pub fn recover(
    store: &dyn ArtifactStore,
    who: &Owner,
    journal: &[CurveRow],
    metric: Metric,
) -> Result<Recovered> {
    let trial = who.trial;
    let mut warnings = vec![];
    if !store.exists(trial) {
        return Ok(Recovered {
            start: None,
            missing: vec![],
            warnings,
        });
    }
    store.clean(trial)?;
    let mut selected: Option<Option<Checkpoint>> = None;
    for k in store.epochs(trial).into_iter().rev() {
        let c = match store.get(trial, k) {
            Ok(c) if who.owns(&c, k) && agrees(&c.meta.curve, journal) => c,
            Ok(_) => {
                let name = store.name(trial, Some(k));
                warnings.push(format!(
                    "{name}: belongs to another run of trial {trial}; passed over"
                ));
                continue;
            }
            Err(e) => {
                warnings.push(format!("{e}; passed over"));
                continue;
            }
        };
        // The trial's result so far must still be at hand, or training must pass through it again.
        let best = select_best(&c.meta.curve, metric).map(|i| c.meta.curve[i].virtual_epoch);
        let held = match best {
            None => true,
            Some(b) if b == k => {
                store.set_best(trial, k)?;
                true
            }
            Some(b) => {
                let linked = selected
                    .get_or_insert_with(|| store.best(trial).ok())
                    .as_ref()
                    .is_some_and(|s| who.owns(s, b));
                linked || relink(store, who, b)?
            }
        };
        if !held {
            warnings.push(format!(
                "{}: the best checkpoint of trial {trial} (virtual epoch {}) is lost; going on from an earlier one",
                store.name(trial, Some(k)),
                best.unwrap_or(0)
            ));
            continue;
        }
        store.sync(trial)?;
        let missing = c.meta.curve[journal.len().min(c.meta.curve.len())..].to_vec();
        return Ok(Recovered {
            start: Some(c),
            missing,
            warnings,
        });
    }
    if !journal.is_empty() {
        warnings.push(format!(
            "no intact checkpoint of trial {trial} to continue from ({}); it starts over, to the same results",
            store.name(trial, None)
        ));
    }
    Ok(Recovered {
        start: None,
        missing: vec![],
        warnings,
    })
}

/// Whether two curves agree where both have rows, bit for bit (NaN included).
fn agrees(a: &[CurveRow], b: &[CurveRow]) -> bool {
    let bits = |r: &CurveRow| {
        (
            r.virtual_epoch,
            r.examples_seen,
            r.steps,
            r.train_loss.to_bits(),
            r.val_loss.to_bits(),
            r.metric.to_bits(),
        )
    };
    a.iter().zip(b).all(|(x, y)| bits(x) == bits(y))
}

/// Selects the intact checkpoint of virtual epoch `b` again, when there is one.
fn relink(store: &dyn ArtifactStore, who: &Owner, b: u32) -> Result<bool> {
    let ok = store.get(who.trial, b).is_ok_and(|c| who.owns(&c, b));
    if ok {
        store.set_best(who.trial, b)?;
    }
    Ok(ok)
}

/// The state of a finished trial's selected checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BestFile {
    /// Intact, and of the epoch the journal selects (or the trial has no best).
    Intact,
    /// It was missing or damaged, and the intact checkpoint of its epoch was selected again.
    Repaired,
    /// Missing or damaged, with no copy: the sentence says which.
    Lost(String),
}

/// Checks the selected checkpoint of a trial the journal says ended with `curve`; with `repair`,
/// a missing or damaged one is replaced by the intact checkpoint of the same epoch where one exists.
pub fn check_best(
    store: &dyn ArtifactStore,
    who: &Owner,
    curve: &[CurveRow],
    metric: Metric,
    repair: bool,
) -> Result<BestFile> {
    let Some(b) = select_best(curve, metric).map(|i| curve[i].virtual_epoch) else {
        return Ok(BestFile::Intact);
    };
    let problem = match store.best(who.trial) {
        Ok(c) if who.owns(&c, b) => return Ok(BestFile::Intact),
        Ok(_) => format!(
            "{}: holds another virtual epoch than {b}",
            store.name(who.trial, None)
        ),
        Err(e) => e.to_string(),
    };
    if !store.get(who.trial, b).is_ok_and(|c| who.owns(&c, b)) {
        return Ok(BestFile::Lost(format!(
            "{problem}; no intact copy of it exists"
        )));
    }
    if !repair {
        return Ok(BestFile::Lost(format!(
            "{problem}; {} holds an intact copy, which the next `tune` run links in its place",
            store.name(who.trial, Some(b))
        )));
    }
    store.set_best(who.trial, b)?;
    store.sync(who.trial)?;
    Ok(BestFile::Repaired)
}

/// [`check_best`] for every trial of `history` that ended: the state of each selected checkpoint
/// that is not intact, by trial.
pub fn check_ended(
    store: &dyn ArtifactStore,
    history: &History,
    metric: Metric,
    repair: bool,
) -> Vec<(u64, Result<BestFile>)> {
    history
        .trials
        .values()
        .filter(|t| t.status != Status::Running)
        .map(|t| {
            let who = Owner {
                trial: t.trial,
                params: &t.params,
                exploits: &t.exploits,
            };
            (t.trial, check_best(store, &who, &t.curve, metric, repair))
        })
        .filter(|(_, state)| !matches!(state, Ok(BestFile::Intact)))
        .collect()
}
