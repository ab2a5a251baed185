//! The trial-runner seam: whatever trains a trial. The driver gives it a trial (number,
//! parameters, and the checkpoint to start from, or none) and a [`TrialHost`]; the runner trains to
//! each example boundary of the budget, reports there the boundary's metrics with the checkpoint
//! to keep, and goes on, stops or is interrupted as the host answers. It also estimates a trial's
//! cost, so that the driver starts the costliest first.
//!
//! Runners: [`mlp::MlpRunner`], the built-in dfdx MLP on tabular data, and
//! [`command::CommandRunner`], a user's program run per trial. A new one is a new module here
//! implementing [`TrialRunner`]; the driver does not change.

use std::path::{Path, PathBuf};

use crate::artifacts::{Checkpoint, Payload};
use crate::curve::CurveRow;
use crate::error::Result;
use crate::space::Params;
use crate::storage::Status;

pub mod command;
pub mod mlp;

/// What trains trials, shared by the study's workers.
pub trait TrialRunner: Sync {
    /// A trial's relative training cost, for ordering (any unit, the same for every trial).
    fn estimated_cost(&self, params: &Params) -> f64;

    /// What one worker trains with (a device of its own: a CUDA context cannot cross threads),
    /// opened in the worker's thread.
    fn worker(&self) -> Result<Box<dyn RunnerWorker + '_>>;

    /// When the first this-many trials to end all failed before their first boundary, the study
    /// stops: every trial would (a wrong path, a missing module). `None`: never.
    fn give_up_after(&self) -> Option<usize> {
        None
    }
}

/// One worker's means of training, one trial at a time.
pub trait RunnerWorker {
    /// Trains `job` from its start to the end of its budget, or until the host stops it.
    fn run(&mut self, job: Job, host: &mut dyn TrialHost) -> Result<TrialOutcome>;
}

/// A trial to train.
pub struct Job<'a> {
    pub trial: u64,
    pub params: &'a Params,
    /// The checkpoint of the boundary it continues from; `None`: from scratch.
    pub start: Option<Checkpoint>,
    /// The trial whose random streams (data order, dropout) it draws: its own, or, once it
    /// exploited another's checkpoint (population-based training), that checkpoint's.
    pub streams: u64,
}

/// The driver's side of a running trial.
pub trait TrialHost {
    /// Threads the trial's math may use now (the cores of workers that finished go to the others).
    fn threads(&self) -> usize;
    /// Progress inside a virtual epoch: examples seen so far.
    fn progress(&mut self, examples_seen: u64);
    /// A boundary: the virtual epoch's row and its checkpoint, which the host makes durable; the
    /// answer says whether the trial goes on.
    fn boundary(&mut self, b: Boundary) -> Result<Flow>;
    /// Whether the study is stopping (Ctrl-C, the end of the run). A runner that can stop before
    /// its next boundary does: the trial resumes from its last checkpoint.
    fn stopping(&self) -> bool;
    /// Takes over the file or folder `from` that a program wrote as the trial's checkpoint of
    /// virtual epoch `epoch` (see [`crate::artifacts::ArtifactStore::adopt`]): its record, and
    /// where it is now.
    fn adopt(&mut self, epoch: u32, from: &Path) -> Result<(Payload, PathBuf)>;
}

/// A virtual epoch validated.
pub struct Boundary {
    pub checkpoint: Box<Checkpoint>,
    pub row: CurveRow,
    /// Whether it is the trial's selected checkpoint so far.
    pub best: bool,
}

/// The host's answer at a boundary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Stop after this checkpoint (Ctrl-C, the end of the run): the trial resumes later.
    Interrupt,
    /// The scheduler ended the trial here, for this reason.
    Stop(String),
}

/// How the trial left the runner.
#[derive(Clone, Debug, PartialEq)]
pub struct TrialOutcome {
    /// `Running` when it was interrupted and will resume.
    pub status: Status,
    pub reason: Option<String>,
    pub seconds: f64,
    /// Where this run's seconds of the trial went.
    pub phases: Phases,
    /// The validation curve (with the epochs before a resume), for `curve.csv`.
    pub curve: Vec<CurveRow>,
}

/// Seconds a trial spent in each phase of its loop; `compute` (forward, backward and update) is the
/// work, the rest is orchestration.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Phases {
    pub compute: f64,
    /// Drawing row indices and gathering them into batches.
    pub batches: f64,
    pub validation: f64,
    /// Copying weights and optimizer state to the host and handing them to the persister.
    pub checkpoints: f64,
}

impl std::ops::AddAssign for Phases {
    fn add_assign(&mut self, o: Phases) {
        self.compute += o.compute;
        self.batches += o.batches;
        self.validation += o.validation;
        self.checkpoints += o.checkpoints;
    }
}
