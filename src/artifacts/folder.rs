//! The artifact store in a local folder: a trial's checkpoints as files in `trials/<n>/`, written
//! atomically and fsynced, the selected one a hard link.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use super::{payload, ArtifactStore, Checkpoint, Payload};
use crate::durable::{replace_with, sync_dir, temp_name};
use crate::error::{Error, Result};

/// A trial's folder: `ckpt-NNNN.safetensors` a virtual epoch, and `best.safetensors`, a hard link
/// to the selected one. It saves, links and deletes; what to keep is [`Retention`]'s decision.
///
/// [`Retention`]: super::Retention
pub struct Checkpointer {
    pub dir: PathBuf,
}

impl Checkpointer {
    /// The checkpointer of the trial folder `dir`.
    pub fn new(dir: PathBuf) -> Checkpointer {
        Checkpointer { dir }
    }

    /// The file of virtual epoch `k`.
    pub fn path(&self, k: u32) -> PathBuf {
        self.dir.join(format!("ckpt-{k:04}.safetensors"))
    }

    /// The selected checkpoint.
    pub fn best_path(&self) -> PathBuf {
        self.dir.join("best.safetensors")
    }

    /// The folder of virtual epoch `k`'s payload (a program's checkpoint file or folder).
    pub fn files_path(&self, k: u32) -> PathBuf {
        self.dir.join(format!("ckpt-{k:04}.files"))
    }

    /// The folder of the selected checkpoint's payload: hard links to its epoch's.
    pub fn best_files_path(&self) -> PathBuf {
        self.dir.join("best.files")
    }

    /// Copies virtual epoch `k`'s payload folder, if it has one, as the selected one: built
    /// beside, then swapped in.
    fn link_best_files(&self, k: u32) -> io::Result<()> {
        let src = self.files_path(k);
        let best = self.best_files_path();
        if !src.exists() {
            return Ok(());
        }
        let tmp = temp_name(&best);
        payload::remove(&tmp)?;
        payload::link_tree(&src, &tmp)?;
        let old = best.with_file_name(".best.files.old");
        payload::remove(&old)?;
        if best.exists() {
            fs::rename(&best, &old)?;
        }
        fs::rename(&tmp, &best)?;
        payload::remove(&old)
    }

    /// Writes the checkpoint of its virtual epoch atomically (a process crash leaves no half file)
    /// and fsyncs it before it takes its name; the name survives a power loss once the caller
    /// fsyncs the folder ([`sync_dir`]).
    pub fn write(&self, ckpt: &Checkpoint) -> io::Result<PathBuf> {
        self.write_with(ckpt, |f, bytes| f.write_all(bytes))
    }

    /// [`Checkpointer::write`] with the bytes written by `write` (tests inject I/O errors here).
    pub fn write_with(
        &self,
        ckpt: &Checkpoint,
        write: impl FnOnce(&mut fs::File, &[u8]) -> io::Result<()>,
    ) -> io::Result<PathBuf> {
        let path = self.path(ckpt.meta.virtual_epoch);
        let bytes = ckpt.to_bytes();
        replace_with(&path, true, |f| write(f, &bytes))?;
        Ok(path)
    }

    /// Makes the checkpoint of virtual epoch `k` the selected one: a hard link (no copy), swapped in
    /// atomically; a copy where links are not supported.
    pub fn mark_best(&self, k: u32) -> io::Result<()> {
        self.link_best(k)?;
        sync_dir(&self.dir)
    }

    /// [`Checkpointer::mark_best`] but for the folder's fsync, which the caller does.
    pub fn link_best(&self, k: u32) -> io::Result<()> {
        self.link_best_files(k)?;
        let src = self.path(k);
        let best = self.best_path();
        let tmp = temp_name(&best);
        let _ = fs::remove_file(&tmp);
        if fs::hard_link(&src, &tmp).is_err() {
            fs::copy(&src, &tmp)?;
            fs::File::open(&tmp)?.sync_all()?;
        }
        fs::rename(&tmp, &best)?;
        // When best already is a link to the same file, POSIX rename does nothing and leaves tmp.
        match fs::remove_file(&tmp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Deletes the checkpoint of virtual epoch `k` and its payload, if they are there.
    pub fn remove(&self, k: u32) -> io::Result<()> {
        match fs::remove_file(self.path(k)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        payload::remove(&self.files_path(k))
    }

    /// The virtual epochs that have a checkpoint file, in order.
    pub fn saved(&self) -> Vec<u32> {
        let mut ks: Vec<u32> = fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.strip_prefix("ckpt-")?
                    .strip_suffix(".safetensors")?
                    .parse()
                    .ok()
            })
            .collect();
        ks.sort_unstable();
        ks
    }

    /// Removes the temp files a crash may have left (no record ever names one), and payloads
    /// taken over whose checkpoint was never stored.
    pub fn remove_temp_files(&self) -> io::Result<()> {
        self.remove_leftovers(true)
    }

    fn remove_leftovers(&self, unstored_payloads: bool) -> io::Result<()> {
        for e in fs::read_dir(&self.dir)?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let unstored = unstored_payloads
                && name
                    .strip_prefix("ckpt-")
                    .and_then(|n| n.strip_suffix(".files"))
                    .and_then(|n| n.parse::<u32>().ok())
                    .is_some_and(|k| !self.path(k).exists());
            if name.ends_with(".tmp") || name == ".best.files.old" || unstored {
                payload::remove(&e.path())?;
            }
        }
        Ok(())
    }

    /// Empties the folder of a trial that starts from scratch of the checkpoints, the selected one
    /// and temp files an earlier start left (recovery found none of them usable). Payload folders
    /// stay: the trial's runner may be taking its first ones over already (each replaces an
    /// earlier start's), and recovery removes those never stored.
    pub fn clear(&self) -> io::Result<()> {
        let saved = self.saved().into_iter().map(|j| self.path(j));
        for file in saved.chain([self.best_path()]) {
            match fs::remove_file(file) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        payload::remove(&self.best_files_path())?;
        self.remove_leftovers(false)
    }
}

/// The study's checkpoints, a folder per trial under `trials/`.
pub struct FolderStore {
    trials: PathBuf,
    /// Trial folders were made since `trials/` was last fsynced.
    new_folders: AtomicBool,
}

impl FolderStore {
    /// The store of the study folder `out`.
    pub fn new(out: &Path) -> FolderStore {
        FolderStore {
            trials: out.join("trials"),
            new_folders: AtomicBool::new(false),
        }
    }

    /// Trial `n`'s folder.
    pub fn trial(&self, n: u64) -> Checkpointer {
        Checkpointer::new(self.trials.join(n.to_string()))
    }
}

impl ArtifactStore for FolderStore {
    fn begin(&self, trial: u64) -> Result<()> {
        let c = self.trial(trial);
        fs::create_dir_all(&c.dir).map_err(|e| Error::io(&c.dir, e))?;
        self.new_folders.store(true, Ordering::SeqCst);
        c.clear().map_err(|e| Error::io(&c.dir, e))
    }

    fn exists(&self, trial: u64) -> bool {
        self.trial(trial).dir.exists()
    }

    fn put(&self, trial: u64, ckpt: &Checkpoint) -> Result<()> {
        let c = self.trial(trial);
        let k = ckpt.meta.virtual_epoch;
        if ckpt.meta.files.is_some() {
            // The payload is durable before the record that names it.
            let files = c.files_path(k);
            payload::sync_tree(&files).map_err(|e| Error::io(&files, e))?;
        }
        c.write(ckpt)
            .map(|_| ())
            .map_err(|e| Error::io(&c.path(k), e))
    }

    fn get(&self, trial: u64, epoch: u32) -> Result<Checkpoint> {
        let c = self.trial(trial);
        with_files(Checkpoint::load(&c.path(epoch))?, &c.files_path(epoch))
    }

    fn set_best(&self, trial: u64, epoch: u32) -> Result<()> {
        let c = self.trial(trial);
        c.link_best(epoch).map_err(|e| Error::io(&c.best_path(), e))
    }

    fn best(&self, trial: u64) -> Result<Checkpoint> {
        let c = self.trial(trial);
        with_files(Checkpoint::load(&c.best_path())?, &c.best_files_path())
    }

    fn adopt(&self, trial: u64, epoch: u32, from: &Path) -> Result<(Payload, PathBuf)> {
        let dir = self.trial(trial).files_path(epoch);
        let name = from.file_name().unwrap_or_default();
        let to = dir.join(name);
        (|| {
            payload::remove(&dir)?;
            fs::create_dir_all(&dir)?;
            payload::take_over(from, &to)?;
            payload::describe(&to)
        })()
        .map(|p| (p, to.clone()))
        .map_err(|e| Error::io(&to, e))
    }

    fn epochs(&self, trial: u64) -> Vec<u32> {
        self.trial(trial).saved()
    }

    fn remove(&self, trial: u64, epoch: u32) -> Result<()> {
        let c = self.trial(trial);
        c.remove(epoch).map_err(|e| Error::io(&c.path(epoch), e))
    }

    fn clean(&self, trial: u64) -> Result<()> {
        let c = self.trial(trial);
        c.remove_temp_files().map_err(|e| Error::io(&c.dir, e))
    }

    fn sync(&self, trial: u64) -> Result<()> {
        let dir = self.trial(trial).dir;
        sync_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        if self.new_folders.swap(false, Ordering::SeqCst) {
            sync_dir(&self.trials).map_err(|e| Error::io(&self.trials, e))?;
        }
        Ok(())
    }

    fn name(&self, trial: u64, epoch: Option<u32>) -> String {
        let c = self.trial(trial);
        match epoch {
            Some(k) => c.path(k),
            None => c.best_path(),
        }
        .display()
        .to_string()
    }
}

/// `c` with its payload's place under `dir`, once its content is checked.
fn with_files(mut c: Checkpoint, dir: &Path) -> Result<Checkpoint> {
    if let Some(p) = &c.meta.files {
        let path = dir.join(&p.name);
        payload::verify(&path, p).map_err(Error::Damaged)?;
        c.files = Some(path);
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::durable::write_derived;

    #[test]
    fn marking_the_same_best_twice_leaves_no_temp_file() {
        let dir = crate::testutil::TempDir::new();
        let c = Checkpointer::new(dir.path().to_path_buf());
        write_derived(&c.path(3), b"ckpt").unwrap();
        c.mark_best(3).unwrap();
        c.mark_best(3).unwrap();
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert_eq!(fs::read(c.best_path()).unwrap(), b"ckpt");
    }
}
