//! A trained network as what uses a study reaches it (`tune predict`, `tune export`): read from a
//! checkpoint's tensors, run forward on the host, and described as ONNX operators. What the layers
//! are and which activation follows them is known here only.

use super::model::{host_forward, in_layer_order, Activation};
use crate::artifacts::HostTensor;

/// A trained network of the built-in trainer, on the host.
#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    /// `layers.<i>.weight` and `layers.<i>.bias`, in layer order.
    weights: Vec<HostTensor>,
    /// After each hidden layer.
    activation: Activation,
}

/// One ONNX operator (of the ai.onnx domain) on the running value, with a constant second
/// operand when it has one (a weight or a bias).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OnnxOp<'a> {
    pub op: &'static str,
    pub constant: Option<Operand<'a>>,
}

/// The second operand of an [`OnnxOp`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Operand<'a> {
    /// A weight or a bias.
    Tensor(&'a HostTensor),
    /// A number, broadcast.
    Scalar(f32),
    /// The layer's value before its activation (the running value after its last tensor).
    Before,
}

impl Network {
    /// The network a checkpoint's `tensors` hold, a ReLU network; `None` unless they are one of
    /// the built-in trainer's (see [`Network::WHAT`]).
    pub fn of(tensors: &[HostTensor]) -> Option<Network> {
        Network::of_checkpoint(tensors, &Default::default())
    }

    /// The network of a checkpoint's `tensors` and its runner metadata `runner` (its
    /// activation); `None` unless they are one of the built-in trainer's.
    pub fn of_checkpoint(
        tensors: &[HostTensor],
        runner: &std::collections::BTreeMap<String, serde_json::Value>,
    ) -> Option<Network> {
        let activation = Activation::of_runner(runner.iter())?;
        in_layer_order(tensors).map(|weights| Network {
            weights,
            activation,
        })
    }

    /// What [`Network::of`] takes, as a message says it.
    pub const WHAT: &'static str =
        "layers.<i>.weight and layers.<i>.bias, each layer taking the last one's outputs";

    /// The inputs a row gives the network.
    pub fn inputs(&self) -> usize {
        self.weights.first().map_or(0, |w| w.shape[0])
    }

    /// The network's outputs for `rows` rows of inputs `x` (a row each: the prediction, or one
    /// logit per class), as training computed them.
    pub fn outputs(&self, x: &[f32], rows: usize) -> Vec<f32> {
        host_forward(&self.weights, self.activation, x, rows)
    }

    /// The network as ONNX operators on its inputs, a layer at a time (a graph adds each layer's
    /// constants, then its operators): what [`Network::outputs`] computes.
    pub fn onnx_layers(&self) -> Vec<Vec<OnnxOp<'_>>> {
        let layers = self.weights.len() / 2;
        let op = |op, constant| OnnxOp { op, constant };
        let tensor = |t| Some(Operand::Tensor(t));
        let scalar = |x| Some(Operand::Scalar(x));
        self.weights
            .chunks_exact(2)
            .enumerate()
            .map(|(i, pair)| {
                let mut ops = vec![op("MatMul", tensor(&pair[0])), op("Add", tensor(&pair[1]))];
                if i + 1 < layers {
                    ops.extend(match self.activation {
                        Activation::Relu => vec![op("Relu", None)],
                        Activation::Tanh => vec![op("Tanh", None)],
                        Activation::Silu => {
                            vec![op("Sigmoid", None), op("Mul", Some(Operand::Before))]
                        }
                        // 0.5·x·(1 + erf(x/√2)), with opset 13's Erf.
                        Activation::Gelu => vec![
                            op("Mul", scalar(std::f32::consts::FRAC_1_SQRT_2)),
                            op("Erf", None),
                            op("Add", scalar(1.0)),
                            op("Mul", Some(Operand::Before)),
                            op("Mul", scalar(0.5)),
                        ],
                    });
                }
                ops
            })
            .collect()
    }
}
