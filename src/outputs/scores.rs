//! The test rows' scores of the study's selected checkpoints as `test_scores.json` keeps them
//! (computed by [`super::test_scores`], shown by the leaderboard).

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The scores' file in the study folder.
pub const FILE: &str = "test_scores.json";

/// One checkpoint's score on the test rows.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestScore {
    pub trial: u64,
    /// The checkpoint scored: the trial's selected virtual epoch.
    pub epoch: u32,
    /// The loss, as validation computes it (MSE or mean cross-entropy).
    pub loss: f64,
    /// The metric the curve holds (see [`crate::objective::MetricKind::in_curve`]).
    pub metric: f64,
}

/// The scores computed so far, in the order they were.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TestScores {
    pub scores: Vec<TestScore>,
}

impl TestScores {
    /// The scores in the study folder `out`; none when it has no readable file (they are made
    /// again from the checkpoints).
    pub fn load(out: &Path) -> TestScores {
        std::fs::read(out.join(FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// The score of trial `trial`'s checkpoint at virtual epoch `epoch`, if computed.
    pub fn get(&self, trial: u64, epoch: u32) -> Option<&TestScore> {
        self.scores
            .iter()
            .find(|s| (s.trial, s.epoch) == (trial, epoch))
    }
}
