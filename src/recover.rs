//! Where a trial continues from after an interruption, decided from what is on disk and proven
//! intact: the newest checkpoint whose checksum holds, that belongs to the trial, agrees with the
//! journal, and whose best checkpoint is still held (the trial's result). Nothing is deleted here
//! but temp files; a damaged or foreign file is only passed over, and the trial writes over it when
//! it gets there again. Also the check of a finished trial's `best.safetensors`.

use std::path::Path;

use crate::checkpoint::{select_best, sync_dir, Checkpoint, Checkpointer, CurveRow};
use crate::plan::Metric;
use crate::space::Params;

/// Where a trial goes on from.
#[derive(Debug)]
pub struct Recovered {
    /// The checkpoint to continue from; `None`: from the start.
    pub start: Option<Checkpoint>,
    /// Rows of that checkpoint's curve that the journal lacks (its group was torn off after the
    /// checkpoint was durable): journalled again before the trial goes on.
    pub missing: Vec<CurveRow>,
    /// One sentence for each file passed over, and one when the trial starts over although it had
    /// made progress.
    pub warnings: Vec<String>,
}

/// Decides where trial `trial` with `params` continues, given the rows the journal holds for it.
/// The best link is put right (a crash can leave it behind or ahead of the journal) and the folder
/// fsynced before returning, so that records journalled from `missing` name durable files.
pub fn recover(
    ckpt: &Checkpointer,
    trial: u64,
    params: &Params,
    journal: &[CurveRow],
    metric: Metric,
) -> std::io::Result<Recovered> {
    let mut warnings = vec![];
    if !ckpt.dir.exists() {
        return Ok(Recovered {
            start: None,
            missing: vec![],
            warnings,
        });
    }
    ckpt.remove_temp_files()?;
    let mut best_file = None;
    for k in ckpt.saved().into_iter().rev() {
        let path = ckpt.path(k);
        let c = match Checkpoint::load(&path) {
            Ok(c) => c,
            Err(e) => {
                warnings.push(format!("{e}; passed over"));
                continue;
            }
        };
        if !belongs(&c, trial, params, k) || !agrees(&c.meta.curve, journal) {
            warnings.push(format!(
                "{}: belongs to another run of trial {trial}; passed over",
                path.display()
            ));
            continue;
        }
        // The trial's result so far must still be at hand, or training must pass through it again.
        let best = select_best(&c.meta.curve, metric).map(|i| c.meta.curve[i].virtual_epoch);
        let held = match best {
            None => true,
            Some(b) if b == k => {
                ckpt.link_best(k)?;
                true
            }
            Some(b) => {
                let linked = best_file
                    .get_or_insert_with(|| Checkpoint::load(&ckpt.best_path()).ok())
                    .as_ref()
                    .is_some_and(|f: &Checkpoint| belongs(f, trial, params, b));
                linked || relink(ckpt, trial, params, b)?
            }
        };
        if !held {
            warnings.push(format!(
                "{}: the best checkpoint of trial {trial} (virtual epoch {}) is lost; going on from an earlier one",
                path.display(),
                best.unwrap_or(0)
            ));
            continue;
        }
        sync_dir(&ckpt.dir)?;
        let missing = c.meta.curve[journal.len().min(c.meta.curve.len())..].to_vec();
        return Ok(Recovered {
            start: Some(c),
            missing,
            warnings,
        });
    }
    if !journal.is_empty() {
        warnings.push(format!(
            "{}: no intact checkpoint of trial {trial} to continue from; it starts over (to the same results)",
            ckpt.dir.display()
        ));
    }
    Ok(Recovered {
        start: None,
        missing: vec![],
        warnings,
    })
}

/// Whether `c` is trial `trial`'s checkpoint of virtual epoch `k`.
fn belongs(c: &Checkpoint, trial: u64, params: &Params, k: u32) -> bool {
    c.meta.trial == trial
        && &c.meta.params == params
        && c.meta.virtual_epoch == k
        && c.meta.curve.len() == k as usize
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

/// Links `best.safetensors` to the intact checkpoint of virtual epoch `b`, when there is one.
fn relink(ckpt: &Checkpointer, trial: u64, params: &Params, b: u32) -> std::io::Result<bool> {
    let ok = Checkpoint::load(&ckpt.path(b)).is_ok_and(|c| belongs(&c, trial, params, b));
    if ok {
        ckpt.link_best(b)?;
    }
    Ok(ok)
}

/// The state of a finished trial's selected checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BestFile {
    /// Intact, and of the epoch the journal selects (or the trial has no best).
    Intact,
    /// It was missing or damaged, and the intact checkpoint of its epoch was linked in its place.
    Repaired,
    /// Missing or damaged, with no copy: the sentence says which.
    Lost(String),
}

/// Checks the `best.safetensors` of a trial the journal says ended with `curve`; with `repair`, a
/// missing or damaged one is replaced by the intact checkpoint of the same epoch where one exists.
pub fn check_best(
    ckpt: &Checkpointer,
    trial: u64,
    params: &Params,
    curve: &[CurveRow],
    metric: Metric,
    repair: bool,
) -> std::io::Result<BestFile> {
    let Some(b) = select_best(curve, metric).map(|i| curve[i].virtual_epoch) else {
        return Ok(BestFile::Intact);
    };
    let path = ckpt.best_path();
    let problem = match Checkpoint::load(&path) {
        Ok(c) if belongs(&c, trial, params, b) => return Ok(BestFile::Intact),
        Ok(_) => format!("{}: holds another virtual epoch than {b}", path.display()),
        Err(e) => e.to_string(),
    };
    let copy = ckpt.path(b);
    if !Checkpoint::load(&copy).is_ok_and(|c| belongs(&c, trial, params, b)) {
        return Ok(BestFile::Lost(format!(
            "{problem}; no intact copy of it exists"
        )));
    }
    if !repair {
        return Ok(BestFile::Lost(format!(
            "{problem}; {} holds an intact copy, which the next `tune` run links in its place",
            file_name(&copy)
        )));
    }
    ckpt.mark_best(b)?;
    Ok(BestFile::Repaired)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
