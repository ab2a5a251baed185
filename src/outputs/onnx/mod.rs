//! A trained network exported as a standard ONNX model (`tune export --format onnx`): its inputs
//! are the raw feature columns, its preprocessing (gaps, standardisation, one-hot categories) is
//! inside the graph, and it computes what `tune predict` does.
//!
//! The protobuf is written by hand ([`proto`]): the dozen messages an MLP needs are about a
//! hundred lines with no build cost, while prost would need protoc or generated code, and a new
//! dependency, for the same bytes.
//!
//! The graph, column by column, then the network:
//! - a numeric column is a float input [N, 1] (NaN: missing): IsNaN; Cast to double; Where(gap,
//!   fill, x); Sub mean; Div scale; Cast to float (in f64 as training did, so the same bits);
//!   and Cast(IsNaN) to float for its `<name>_missing` input;
//! - a categorical column is a string input [N, 1]: ai.onnx.ml LabelEncoder (each level to its
//!   slot, rare levels to `(other)`'s, the missing cells' tokens to `(missing)`'s, anything else
//!   -1), Equal against [0, 1, …, width-1], Cast to float: one-hot, an unseen level all zeros;
//! - Concat on axis 1, then the network's operators, as the runner describes it
//!   ([`Network::onnx_layers`](crate::runner::mlp::network::Network::onnx_layers));
//! - outputs: regression `prediction` float [N, 1]; classification `probabilities` float [N, C]
//!   (Softmax on axis 1) and `prediction` string [N] (ArgMax of the logits, the first on ties as
//!   `predict`'s, then Gather from the class labels).

pub mod proto;

use proto::{node, opset, tensor, value_info, Attr, DataType, Dim, Msg};

use crate::data::prepare::ColumnPrep;
use crate::data::Task;
use crate::error::{Error, Result};
use crate::outputs::predict::Model;
use crate::runner::mlp::network::Operand;

/// The ai.onnx operator set the graph uses (Softmax on one axis is 13's).
pub const OPSET: i64 = 13;
/// The ai.onnx.ml operator set, imported only for a categorical column (LabelEncoder with string
/// keys and int64 values is version 2's).
const ML_OPSET: i64 = 2;
/// ONNX 1.8's IR version, the one that came with opset 13.
const IR_VERSION: i64 = 7;
/// The rows' dimension, named.
const ROWS: Dim = Dim::Named("N");
const ML: &str = "ai.onnx.ml";
/// The graph's outputs.
const PREDICTION: &str = "prediction";
const PROBABILITIES: &str = "probabilities";

/// The ONNX model of `m` (ModelProto bytes); `doc` is its doc_string. A feature column named as
/// an output (`prediction`, `probabilities`) is refused: an ONNX graph's values have one name
/// each.
pub fn model(m: &Model, doc: &str) -> Result<Vec<u8>> {
    let mut g = Graph::default();
    let mut pieces = Vec::new();
    let mut inputs = Vec::new();
    for col in &m.prep.columns {
        let name = col.name();
        if name == PREDICTION || name == PROBABILITIES {
            return Err(Error::Study(format!(
                "the feature column \"{name}\" has the name of the ONNX model's output: rename it \
                 in the data to export this model"
            )));
        }
        match col {
            ColumnPrep::Numeric { .. } => {
                inputs.push(value_info(name, DataType::Float, &[ROWS, Dim::Fixed(1)]));
                pieces.extend(g.numeric(col));
            }
            ColumnPrep::Categorical { .. } => {
                inputs.push(value_info(name, DataType::String, &[ROWS, Dim::Fixed(1)]));
                let missing = m.prep.missing_values.as_deref().unwrap_or(&[]);
                pieces.extend(g.categorical(col, missing));
            }
        }
    }
    let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
    let x = g.op("Concat", &refs, &[Attr::Int("axis", 1)]);
    let outputs = g.network(m, x);
    let graph = Msg::new()
        .msgs(1, g.nodes)
        .str(2, "tune")
        .msgs(5, g.inits)
        .str(10, doc)
        .msgs(11, inputs)
        .msgs(12, outputs);
    let mut opsets = vec![opset("", OPSET)];
    if g.ml {
        opsets.push(opset(ML, ML_OPSET));
    }
    // ModelProto: ir_version = 1, producer_name = 2, producer_version = 3, doc_string = 6,
    // graph = 7, opset_import = 8, metadata_props = 14.
    Ok(Msg::new()
        .int(1, IR_VERSION)
        .str(2, "tune")
        .str(3, env!("CARGO_PKG_VERSION"))
        .str(6, doc)
        .msg(7, graph)
        .msgs(8, opsets)
        .msgs(14, metadata(m))
        .into_bytes())
}

/// What a server needs to know besides the graph: which trial, the target and task, the classes,
/// the feature columns, and the cells that mean missing (JSON where a list).
fn metadata(m: &Model) -> Vec<Msg> {
    let json = |v: serde_json::Value| v.to_string();
    let features: Vec<&str> = m.prep.columns.iter().map(ColumnPrep::name).collect();
    let task = match m.task() {
        Task::Regression => "regression",
        Task::Classification => "classification",
    };
    [
        ("trial", m.trial.to_string()),
        ("virtual_epoch", m.virtual_epoch.to_string()),
        ("target", m.prep.target.clone()),
        ("task", task.to_string()),
        ("classes", json(serde_json::json!(m.prep.classes))),
        ("features", json(serde_json::json!(features))),
        (
            "missing_values",
            json(serde_json::json!(m.prep.missing_values)),
        ),
        ("tune_version", env!("CARGO_PKG_VERSION").to_string()),
    ]
    .iter()
    .map(|(k, v)| proto::entry(k, v))
    .collect()
}

/// Nodes and constants being added; values are named `tune/<op>_<n>` so that no column's name
/// can meet one.
#[derive(Default)]
struct Graph {
    nodes: Vec<Msg>,
    inits: Vec<Msg>,
    n: usize,
    /// Whether a node of ai.onnx.ml was added.
    ml: bool,
}

impl Graph {
    fn fresh(&mut self, what: &str) -> String {
        self.n += 1;
        format!("tune/{what}_{}", self.n)
    }

    /// A node of ai.onnx with one output, named `out`.
    fn op_to(&mut self, op: &str, inputs: &[&str], out: &str, attrs: &[Attr]) {
        self.nodes.push(node("", op, inputs, out, attrs));
    }

    /// A node of ai.onnx with one output; its name.
    fn op(&mut self, op: &str, inputs: &[&str], attrs: &[Attr]) -> String {
        let out = self.fresh(op);
        self.op_to(op, inputs, &out, attrs);
        out
    }

    /// A constant (an initializer); its name.
    fn constant(&mut self, dims: &[usize], dtype: DataType, raw: Vec<u8>) -> String {
        let name = self.fresh("const");
        self.inits.push(tensor(&name, dims, dtype, &raw));
        name
    }

    fn f64s(&mut self, dims: &[usize], v: &[f64]) -> String {
        let raw = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.constant(dims, DataType::Double, raw)
    }

    fn f32s(&mut self, dims: &[usize], v: &[f32]) -> String {
        let raw = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.constant(dims, DataType::Float, raw)
    }

    /// A numeric column's inputs, as `data::apply` makes them: the gap filled (the training
    /// median, or the mean, which standardises to 0), `(x - mean) / scale` in f64, then the
    /// missing flag when the column has one.
    fn numeric(&mut self, col: &ColumnPrep) -> Vec<String> {
        let ColumnPrep::Numeric {
            name,
            fill,
            missing_flag,
            mean,
            scale,
            ..
        } = col
        else {
            unreachable!("a numeric column")
        };
        let gap = self.op("IsNaN", &[name], &[]);
        let double = self.op("Cast", &[name], &[Attr::Int("to", DataType::Double as i64)]);
        let fill = self.f64s(&[], &[fill.unwrap_or(*mean)]);
        let filled = self.op("Where", &[&gap, &fill, &double], &[]);
        let mean = self.f64s(&[], &[*mean]);
        let centred = self.op("Sub", &[&filled, &mean], &[]);
        let scale = self.f64s(&[], &[*scale]);
        let scaled = self.op("Div", &[&centred, &scale], &[]);
        let float = Attr::Int("to", DataType::Float as i64);
        let mut out = vec![self.op("Cast", &[&scaled], std::slice::from_ref(&float))];
        if *missing_flag {
            out.push(self.op("Cast", &[&gap], &[float]));
        }
        out
    }

    /// A categorical column's one-hot inputs (None when it has none): each level's slot, the
    /// rare levels `(other)`'s, a missing cell `(missing)`'s; anything else no slot at all.
    fn categorical(&mut self, col: &ColumnPrep, missing_values: &[String]) -> Option<String> {
        let ColumnPrep::Categorical {
            name,
            levels,
            other,
            missing_level,
        } = col
        else {
            unreachable!("a categorical column")
        };
        let other_slot = (!other.is_empty()).then_some(levels.len());
        let width = levels.len() + other_slot.is_some() as usize;
        let missing_slot = missing_level.then_some(width);
        let width = width + *missing_level as usize;
        if width == 0 {
            return None;
        }
        let mut keys: Vec<String> = Vec::new();
        let mut slots: Vec<i64> = Vec::new();
        let known = levels.iter().enumerate().map(|(i, l)| (l, Some(i)));
        let rare = other.iter().map(|l| (l, other_slot));
        let gaps = missing_values.iter().map(|l| (l, missing_slot));
        // A level is a key once, its first slot kept (as apply's lookup finds it first).
        for (key, slot) in known.chain(rare).chain(gaps) {
            if let Some(s) = slot.filter(|_| !keys.contains(key)) {
                keys.push(key.clone());
                slots.push(s as i64);
            }
        }
        self.ml = true;
        let codes = self.fresh("LabelEncoder");
        self.nodes.push(node(
            ML,
            "LabelEncoder",
            &[name],
            &codes,
            &[
                Attr::Strings("keys_strings", keys),
                Attr::Ints("values_int64s", slots),
                Attr::Int("default_int64", -1),
            ],
        ));
        let range: Vec<u8> = (0..width as i64).flat_map(|i| i.to_le_bytes()).collect();
        let range = self.constant(&[1, width], DataType::Int64, range);
        let hot = self.op("Equal", &[&codes, &range], &[]);
        Some(self.op("Cast", &[&hot], &[Attr::Int("to", DataType::Float as i64)]))
    }

    /// The network's operators on inputs `x` (a regression's last one gives the prediction),
    /// then the outputs; their ValueInfos.
    fn network(&mut self, m: &Model, x: String) -> Vec<Msg> {
        let classify = m.task() == Task::Classification;
        let layers = m.network.onnx_layers();
        let ops = layers.iter().map(Vec::len).sum::<usize>();
        let mut h = x;
        let mut done = 0;
        for layer in &layers {
            let constants: Vec<Option<String>> = layer
                .iter()
                .map(|o| match o.constant? {
                    Operand::Tensor(t) => Some(self.f32s(&t.shape, &t.data)),
                    Operand::Scalar(v) => Some(self.f32s(&[], &[v])),
                    Operand::Before => None,
                })
                .collect();
            // The layer's value before its activation: after its last tensor.
            let mut before = h.clone();
            for (o, c) in layer.iter().zip(&constants) {
                let second = match o.constant {
                    Some(Operand::Before) => Some(before.clone()),
                    _ => c.clone(),
                };
                let inputs: Vec<&str> = std::iter::once(h.as_str())
                    .chain(second.as_deref())
                    .collect();
                done += 1;
                h = if done == ops && !classify {
                    self.op_to(o.op, &inputs, PREDICTION, &[]);
                    PREDICTION.to_string()
                } else {
                    self.op(o.op, &inputs, &[])
                };
                if let Some(Operand::Tensor(_)) = o.constant {
                    before = h.clone();
                }
            }
        }
        if !classify {
            return vec![value_info(
                PREDICTION,
                DataType::Float,
                &[ROWS, Dim::Fixed(1)],
            )];
        }
        let classes = m.prep.classes.len();
        self.op_to("Softmax", &[&h], PROBABILITIES, &[Attr::Int("axis", 1)]);
        let top = self.op(
            "ArgMax",
            &[&h],
            &[Attr::Int("axis", 1), Attr::Int("keepdims", 0)],
        );
        let labels = self.fresh("classes");
        self.inits
            .push(proto::string_tensor(&labels, &m.prep.classes));
        self.op_to(
            "Gather",
            &[&labels, &top],
            PREDICTION,
            &[Attr::Int("axis", 0)],
        );
        vec![
            value_info(PREDICTION, DataType::String, &[ROWS]),
            value_info(PROBABILITIES, DataType::Float, &[ROWS, Dim::Fixed(classes)]),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifacts::HostTensor;
    use crate::data::Preprocessing;
    use crate::runner::mlp::network::Network;

    /// A one-layer regression on `columns`, each making one input.
    fn linear(columns: Vec<ColumnPrep>) -> Model {
        let ins = columns.len();
        Model {
            trial: 1,
            virtual_epoch: 2,
            prep: Preprocessing {
                columns,
                inputs: (0..ins).map(|i| format!("x{i}")).collect(),
                ..Preprocessing::default()
            },
            network: Network::of(&[
                HostTensor {
                    name: "layers.0.weight".into(),
                    shape: vec![ins, 1],
                    data: vec![1.0; ins],
                },
                HostTensor {
                    name: "layers.0.bias".into(),
                    shape: vec![1],
                    data: vec![0.5],
                },
            ])
            .expect("a network"),
        }
    }

    fn numeric(name: &str) -> ColumnPrep {
        ColumnPrep::Numeric {
            name: name.into(),
            fill: None,
            missing_flag: false,
            mean: 1.0,
            scale: 2.0,
            missing_in_training: 0,
        }
    }

    fn has(bytes: &[u8], s: &str) -> bool {
        bytes.windows(s.len()).any(|w| w == s.as_bytes())
    }

    #[test]
    fn the_ml_domain_is_imported_only_for_a_category() {
        let plain = model(&linear(vec![numeric("a")]), "").unwrap();
        assert!(has(&plain, "MatMul") && has(&plain, "prediction"));
        assert!(!has(&plain, ML));
        let cat = ColumnPrep::Categorical {
            name: "c".into(),
            levels: vec!["x".into()],
            other: vec![],
            missing_level: true,
        };
        let mixed = model(&linear(vec![numeric("a"), cat]), "").unwrap();
        assert!(has(&mixed, ML) && has(&mixed, "LabelEncoder"));
    }

    #[test]
    fn a_column_named_as_an_output_is_refused() {
        let err = model(&linear(vec![numeric("prediction")]), "").unwrap_err();
        assert!(err.to_string().contains("\"prediction\""), "{err}");
    }
}
