//! The artifact seam: where checkpoints live and which are kept. [`ArtifactStore`] stores, reads
//! (verifying checksums), links the selected checkpoint and deletes; [`Retention`] decides what to
//! delete; [`recover`] decides, from what is intact, where an interrupted trial goes on.
//!
//! Backends: [`FolderStore`], `trials/<n>/` in the study folder (or a shared folder); [`PgStore`],
//! rows in the PostgreSQL database of a shared study (a program's files streamed in chunks). A new one (object storage) is a new file
//! here that implements [`ArtifactStore`], and one more arm in the contract every store passes
//! (`tests/postgres/store_contract.rs`).

mod checkpoint;
mod folder;
pub mod pack;
pub mod payload;
pub mod pick;
mod postgres;
pub mod recover;
mod retention;

pub use checkpoint::{Checkpoint, CheckpointMeta, HostTensor, OptimizerState, Payload};
pub use folder::{Checkpointer, FolderStore};
pub use postgres::PgStore;
pub use retention::{Keep, Retention};

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// What the driver needs from where checkpoints are kept, by trial and virtual epoch. Writes are
/// durable once [`ArtifactStore::sync`] returns: the driver journals nothing before that.
pub trait ArtifactStore: Send + Sync {
    /// Makes trial `trial`'s place ready for a start from scratch, emptying what an earlier start
    /// left there (its selected checkpoint included). A trial's first put comes after it, or after
    /// a resume found its place.
    fn begin(&self, trial: u64) -> Result<()>;
    /// Whether trial `trial` may hold something of an earlier start: its place was made (a folder),
    /// or a checkpoint of it is stored (a store without places). `false`: recovery looks no further.
    fn exists(&self, trial: u64) -> bool;
    /// Stores a checkpoint under its trial and virtual epoch, whole or not at all.
    fn put(&self, trial: u64, ckpt: &Checkpoint) -> Result<()>;
    /// Reads one, its checksum verified ([`Error::Damaged`] when it fails, a program's files
    /// included); one not stored is an [`Error::Io`] of kind `NotFound` that names it as
    /// [`ArtifactStore::name`] does.
    fn get(&self, trial: u64, epoch: u32) -> Result<Checkpoint>;
    /// Makes `epoch` the trial's selected checkpoint.
    fn set_best(&self, trial: u64, epoch: u32) -> Result<()>;
    /// Reads the selected checkpoint, as [`ArtifactStore::get`] reads one.
    fn best(&self, trial: u64) -> Result<Checkpoint>;
    /// The virtual epochs stored for the trial, in order.
    fn epochs(&self, trial: u64) -> Vec<u32>;
    /// Deletes a checkpoint (the selected one survives through its own link or copy).
    fn remove(&self, trial: u64, epoch: u32) -> Result<()>;
    /// Removes what interrupted writes left (never anything a record names).
    fn clean(&self, trial: u64) -> Result<()>;
    /// Makes everything stored and selected for the trial so far durable.
    fn sync(&self, trial: u64) -> Result<()>;
    /// Where a checkpoint (`None`: the selected one) is, for messages.
    fn name(&self, trial: u64, epoch: Option<u32>) -> String;
    /// Takes over the file or folder `from` that a user's program wrote as trial `trial`'s
    /// checkpoint of virtual epoch `epoch`: moves it into the store's place for it (replacing what
    /// an earlier run left there) and returns its record and where it is now. It becomes durable
    /// when [`ArtifactStore::put`] stores the checkpoint that names it.
    fn adopt(&self, trial: u64, epoch: u32, from: &Path) -> Result<(Payload, PathBuf)> {
        let _ = (trial, epoch);
        Err(Error::Study(format!(
            "{}: this artifact store cannot keep a program's checkpoint files",
            from.display()
        )))
    }
}
