//! The honest final score: the selected checkpoints of the leaderboard's top trials
//! (`data.test_trials`) scored once on the test rows (`data.test_fraction`), which nothing else
//! sees. Validation scores are optimistic: they chose each trial's checkpoint and the best trial.
//! The scores are kept in `test_scores.json` in the study folder, keyed by trial and checkpoint,
//! so that each is computed once: a later leaderboard, or a study resumed after an interruption,
//! computes only those missing, and a checkpoint's score is a function of its weights alone.

use std::path::Path;

use crate::artifacts::ArtifactStore;
use crate::error::{Error, Result};
use crate::plan::StudyPlan;
use crate::storage::{History, Status};

pub use super::scores::{TestScore, TestScores, FILE};

/// Scores on the test rows the selected checkpoints of the leaderboard's top
/// [`StudyPlan::test_trials`] trials that are not yet scored, and adds them to the study folder's
/// file; nothing without test rows. A trial still running or paused is left for later: its
/// selected checkpoint may change.
pub fn update(plan: &StudyPlan, history: &History, store: &dyn ArtifactStore) -> Result<()> {
    if plan.test_trials == 0 {
        return Ok(());
    }
    let data = plan.data();
    let mut scores = TestScores::load(&plan.out_dir);
    let mut added = false;
    let top = super::leaderboard::rows(plan, history);
    for r in top.iter().take(plan.test_trials) {
        let Some(epoch) = r.best_virtual_epoch else {
            continue;
        };
        if matches!(r.status, Status::Running | Status::Paused)
            || scores.get(r.trial, epoch).is_some()
        {
            continue;
        }
        // Retention keeps the selected checkpoint as the trial's best, not under its epoch.
        let ckpt = match store.best(r.trial) {
            Ok(b) if b.meta.virtual_epoch == epoch => b,
            _ => store.get(r.trial, epoch)?,
        };
        let eval = crate::runner::mlp::score(data, &data.test, plan.metric.kind, &ckpt)?;
        scores.scores.push(TestScore {
            trial: r.trial,
            epoch,
            loss: eval.loss,
            metric: eval.metric,
        });
        added = true;
    }
    if added {
        save(&plan.out_dir, &scores)?;
    }
    Ok(())
}

/// Writes `scores` as the study folder `out`'s file: atomically, synced.
fn save(out: &Path, scores: &TestScores) -> Result<()> {
    let path = out.join(FILE);
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let json = serde_json::to_vec_pretty(scores).expect("scores serialise");
    crate::durable::replace_with(&path, true, |f| std::io::Write::write_all(f, &json))
        .and_then(|()| crate::durable::sync_dir(out))
        .map_err(|e| Error::io(&path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifacts::FolderStore;
    use crate::curve::select_best;
    use crate::plan::Overrides;
    use crate::testutil::TempDir;

    #[test]
    fn the_top_trials_selected_checkpoints_are_scored_once_as_validation_scores_them() {
        let dir = TempDir::new();
        let wine = Path::new(env!("CARGO_MANIFEST_DIR")).join("studies/data/winequality-red.csv");
        let spec = serde_json::json!({
            "name": "held", "seed": 2,
            "data": { "path": wine, "target": "quality", "task": "regression",
                "test_fraction": 0.25, "test_trials": 2 },
            "model": { "hidden": [4] },
            "budget": { "total_examples": 600, "virtual_epochs": 3 },
            "search": { "method": "random", "trials": 3, "parallel": 1,
                "space": { "batch_size": [16, 64], "learning_rate": { "low": 1e-3, "high": 1e-1 } } }
        });
        let file = dir.path().join("held.json");
        std::fs::write(&file, spec.to_string()).unwrap();
        let ov = Overrides {
            out: Some(dir.path().join("out")),
            ..Default::default()
        };
        let plan = StudyPlan::load(&file, &ov, &crate::runner::mlp::params::FAMILY).unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        let summary =
            crate::driver::run(&plan, &Default::default(), &stop, &crate::driver::Silent).unwrap();
        let store = FolderStore::new(&plan.out_dir);
        let scores = TestScores::load(&plan.out_dir);
        let top = super::super::leaderboard::rows(&plan, &summary.history);
        let scored: Vec<u64> = scores.scores.iter().map(|s| s.trial).collect();
        assert_eq!(scored, [top[0].trial, top[1].trial]);
        let data = plan.data();
        for s in &scores.scores {
            let t = &summary.history.trials[&s.trial];
            let best = &t.curve[select_best(&t.curve, plan.metric).unwrap()];
            assert_eq!(s.epoch, best.virtual_epoch);
            // The same computation as validation's: on the validation rows it gives the curve's.
            let ckpt = store.best(s.trial).unwrap();
            assert_eq!(ckpt.meta.virtual_epoch, s.epoch);
            let on_val = crate::runner::mlp::score(data, &data.val, plan.metric.kind, &ckpt);
            assert_eq!(on_val.unwrap().loss, best.val_loss);
            assert!(s.loss.is_finite() && s.loss != best.val_loss);
        }
        // Computed once: another update writes nothing.
        let path = plan.out_dir.join(FILE);
        let before = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        update(&plan, &summary.history, &store).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            before
        );
    }
}
