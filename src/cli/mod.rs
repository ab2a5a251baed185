//! The binary's own parts: what a person sees.

pub mod live;
pub mod progress;
pub mod words;
