//! The model: a ReLU MLP with runtime layer sizes built from dfdx tensor ops, and the optimizer whose
//! state (Adam moments and step count, or SGD velocity) we own so that a checkpoint can save it.
//! Generic over the dfdx device: the CPU tests run the code the GPU runs.
//!
//! `network` holds the layers, [`Mlp`] and [`Net`] (one training step); `optimizer` the
//! [`Optimizer`]; `backend` the [`Backend`] trait and its CPU and CUDA impls (with `adam`, the
//! CPU's Adam kernel); `host` the forward pass and evaluation on host copies of the weights. This
//! file owns how many threads a trial's math may use.

use dfdx::prelude::{NoneTape, Tensor};

use crate::error::Error;

mod activation;
mod adam;
mod backend;
mod host;
mod network;
mod optimizer;

pub use activation::Activation;
pub use backend::Backend;
pub use host::{evaluate, host_forward, in_layer_order, Eval};
pub use network::{Dropout, Layer, Mlp, Net};
pub use optimizer::Optimizer;

thread_local! {
    static THREADS: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// The math of the trial trained on this thread uses at most `n` threads of its rayon pool from
/// now on: its matrix products (through patches/gemm) and its Adam update. A study sets it as
/// trials start and end, so that the cores a finished trial leaves go to those still running.
/// Results do not depend on it (the cuts are bit-exact, tested).
pub fn set_threads(n: usize) {
    THREADS.set(Some(n.max(1)));
    gemm::limit_threads(Some(n.max(1)));
}

/// Threads the math of this thread's trial may use: [`set_threads`], or the whole rayon pool.
pub fn threads() -> usize {
    let pool = rayon::current_num_threads();
    THREADS.get().map_or(pool, |n| n.min(pool))
}

// The network's tensors: sizes known at run time, f32, on device `D` (with tape `T` in training).
type Matrix<D, T = NoneTape> = Tensor<(usize, usize), f32, D, T>;
type Vector<D> = Tensor<(usize,), f32, D>;

/// A dfdx error as ours: the device failed.
fn backend<E: std::fmt::Debug>(e: E) -> Error {
    Error::Backend(format!("{e:?}"))
}
