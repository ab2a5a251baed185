//! The activation after each hidden layer (`model.activation`): the same function in training
//! (dfdx's ops), on the host (validation, predict) and as ONNX operators (export).

use dfdx::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Backend, Matrix};

/// The hidden layers' activation; ReLU unless the study says otherwise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    #[default]
    Relu,
    /// The exact GELU, `0.5·x·(1 + erf(x/√2))` (dfdx's `accurate_gelu`).
    Gelu,
    Tanh,
    /// `x·sigmoid(x)`.
    Silu,
}

impl Activation {
    /// The names a spec may give, in the order a message lists them.
    pub const NAMES: [&'static str; 4] = ["relu", "gelu", "tanh", "silu"];

    /// The activation named `name`, if any.
    pub fn named(name: &str) -> Option<Activation> {
        serde_json::from_value(serde_json::Value::String(name.into())).ok()
    }

    /// Its name in a spec.
    pub fn name(self) -> &'static str {
        Activation::NAMES[self as usize]
    }

    /// Whether it is the default (left out of what is written, so that older studies and
    /// checkpoints read the same).
    pub fn is_relu(&self) -> bool {
        *self == Activation::Relu
    }

    /// The activation a checkpoint's runner metadata records (none: ReLU, as before it was
    /// recorded); `None` for one it does not know.
    pub fn of_runner<'a>(
        mut runner: impl Iterator<Item = (&'a String, &'a serde_json::Value)>,
    ) -> Option<Activation> {
        match runner.find(|(k, _)| *k == "activation") {
            None => Some(Activation::Relu),
            Some((_, v)) => serde_json::from_value(v.clone()).ok(),
        }
    }

    /// Applied to a training batch's (or a device prediction's) hidden values: dfdx's ops. The
    /// ReLU is the bias kernel's, never this.
    pub(super) fn forward<D: Backend, T: Tape<f32, D> + Merge<NoneTape> + Merge<T> + Default>(
        self,
        h: Matrix<D, T>,
    ) -> Matrix<D, T> {
        match self {
            Activation::Relu => h.relu(),
            Activation::Gelu => h.accurate_gelu(),
            Activation::Tanh => h.tanh(),
            Activation::Silu => {
                let s = h.retaped::<T>().sigmoid();
                h * s
            }
        }
    }

    /// Applied in place on the host, with dfdx's arithmetic.
    pub(super) fn host(self, v: &mut [f32]) {
        match self {
            Activation::Relu => v.iter_mut().for_each(|x| *x = x.max(0.0)),
            Activation::Gelu => v.iter_mut().for_each(|x| {
                *x = 0.5 * *x * (1.0 + libm::erff(*x * std::f32::consts::FRAC_1_SQRT_2))
            }),
            Activation::Tanh => v.iter_mut().for_each(|x| *x = x.tanh()),
            Activation::Silu => v
                .iter_mut()
                .for_each(|x| *x = *x * (1.0 / (1.0 + (-*x).exp()))),
        }
    }
}
