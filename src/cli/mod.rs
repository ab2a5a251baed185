//! The binary's own parts: what a person sees.

pub mod check;
pub mod model;
pub mod output;
pub mod progress;
pub mod replay;
pub mod shell;
pub mod signal;
pub mod words;
