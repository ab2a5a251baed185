//! Shared by the sampler benches (gp.rs, suite.rs).

use tune::space::Params;

/// A finished trial of value `y`, as the study's history holds it (for TPE, which reads one).
pub fn finished(trial: u64, params: Params, y: f64) -> tune::storage::TrialRecord {
    tune::storage::TrialRecord {
        trial,
        params,
        status: tune::storage::Status::Complete,
        reason: None,
        curve: vec![tune::curve::CurveRow {
            virtual_epoch: 1,
            examples_seen: 0,
            steps: 0,
            train_loss: y,
            val_loss: y,
            metric: y,
            learning_rate: None,
            reported: Default::default(),
        }],
        seconds: 0.0,
        suggest_ms: None,
        decision: None,
        exploits: vec![],
    }
}
