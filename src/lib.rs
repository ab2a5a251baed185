//! `tune`: hyperparameter tuning where every trial gets the same budget of training examples,
//! is checkpointed at every virtual epoch, is judged by its best checkpoint, and resumes exactly.

pub mod artifacts;
pub mod backend;
pub mod budget;
pub mod curve;
pub mod data;
pub mod driver;
pub mod durable;
pub mod error;
pub mod intern;
pub mod metrics;
pub mod objective;
pub mod outputs;
pub mod pareto;
pub mod plan;
pub mod runner;
pub mod sampler;
pub mod scheduler;
pub mod seed;
pub mod space;
pub mod spec;
pub mod storage;
pub mod tracking;

pub use error::{Error, Result};

#[cfg(test)]
pub(crate) mod testutil {
    /// A fresh folder under the system temp dir, removed on drop.
    pub struct TempDir(std::path::PathBuf);

    impl TempDir {
        pub fn new() -> TempDir {
            static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let p = std::env::temp_dir().join(format!("tune-unit-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
        pub fn path(&self) -> &std::path::Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
