//! `tune`: hyperparameter tuning where every trial gets the same budget of training examples,
//! is checkpointed at every virtual epoch, is judged by its best checkpoint, and resumes exactly.

pub mod budget;
pub mod data;
pub mod error;
pub mod model;
pub mod plan;
pub mod seed;
pub mod space;
pub mod spec;

pub use error::{Error, Result};
pub mod checkpoint;
pub mod journal;
pub mod leaderboard;
pub mod sampler;
pub mod study;
pub mod trainer;
