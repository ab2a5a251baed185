//! The checkpoint format: a trial's full state at the end of a virtual epoch (enough to continue it
//! exactly), as safetensors with the metadata as JSON and a CRC-32 over everything resume reads.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::curve::CurveRow;
use crate::error::{Error, Result};
use crate::space::Params;

/// A named tensor on the host, row-major: a weight, or an optimizer moment of one.
#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// The optimizer's state on the host: its step count and Adam's moments (empty for SGD without
/// momentum), named as the weights they belong to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OptimizerState {
    pub t: i32,
    pub m: Vec<HostTensor>,
    pub v: Vec<HostTensor>,
}

/// Everything a checkpoint records besides tensors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    pub trial: u64,
    pub params: Params,
    pub virtual_epoch: u32,
    pub examples_seen: u64,
    pub steps: u64,
    /// Seconds of training so far, across resumes.
    pub seconds: f64,
    /// The validation curve so far (the metric history).
    pub curve: Vec<CurveRow>,
    /// The file or folder a user's program wrote as this checkpoint (a command trainer's), which
    /// the store keeps beside this record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Payload>,
    /// What the runner needs besides to continue exactly (the MLP's layer sizes and its data
    /// stream's position), its own business: kept beside the fields above in the JSON.
    #[serde(flatten)]
    pub runner: BTreeMap<String, serde_json::Value>,
}

impl CheckpointMeta {
    /// The metadata of trial `trial` with `params` before its first step: nothing trained yet.
    pub fn fresh(trial: u64, params: &Params) -> CheckpointMeta {
        CheckpointMeta {
            trial,
            params: params.clone(),
            virtual_epoch: 0,
            examples_seen: 0,
            steps: 0,
            seconds: 0.0,
            curve: vec![],
            files: None,
            runner: Default::default(),
        }
    }
}

/// A checkpoint's file or folder written by a user's program: its name, and the CRC-32 and size of
/// its content (a folder's: every file's path and bytes, in path order), checked when it is read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    pub name: String,
    pub crc32: String,
    pub bytes: u64,
}

/// A trial's full state at the end of a virtual epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    pub meta: CheckpointMeta,
    pub weights: Vec<HostTensor>,
    pub optimizer: OptimizerState,
    /// Where its payload ([`CheckpointMeta::files`]) is now, when it has one.
    pub files: Option<std::path::PathBuf>,
}

const META_KEY: &str = "tune.checkpoint";
const OPT_T_KEY: &str = "tune.optimizer_t";
/// CRC-32 of the metadata, the optimizer step and every tensor (name and bytes, in name order):
/// a flipped bit anywhere in what resume or selection reads is caught when the file is read.
const CRC_KEY: &str = "tune.crc32";

/// The checksum under [`CRC_KEY`], independent of how safetensors lays the tensors out.
fn content_crc<'a>(
    meta: &str,
    t: &str,
    tensors: impl Iterator<Item = (&'a str, &'a [usize], &'a [u8])>,
) -> u32 {
    let mut named: Vec<(&str, &[usize], &[u8])> = tensors.collect();
    named.sort_unstable_by_key(|(n, _, _)| *n);
    let mut h = crc32fast::Hasher::new();
    for part in [meta.as_bytes(), t.as_bytes()] {
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part);
    }
    for (name, shape, data) in named {
        h.update(&(name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update(&(shape.len() as u64).to_le_bytes());
        for d in shape {
            h.update(&(*d as u64).to_le_bytes());
        }
        h.update(&(data.len() as u64).to_le_bytes());
        h.update(data);
    }
    h.finalize()
}

impl Checkpoint {
    /// The safetensors encoding: weights under their names, optimizer moments under `optim.m.` and
    /// `optim.v.`, and the metadata as JSON.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Little-endian f32s, four bytes at a time into a buffer of the final size (collecting an
        // iterator of single bytes took twice as long, on the persister's share of a core).
        let bytes = |t: &HostTensor| {
            let mut out = vec![0u8; 4 * t.data.len()];
            for (o, v) in out.chunks_exact_mut(4).zip(&t.data) {
                o.copy_from_slice(&v.to_le_bytes());
            }
            out
        };
        let named: Vec<(String, &HostTensor)> = self
            .weights
            .iter()
            .map(|t| (t.name.clone(), t))
            .chain(
                self.optimizer
                    .m
                    .iter()
                    .map(|t| (format!("optim.m.{}", t.name), t)),
            )
            .chain(
                self.optimizer
                    .v
                    .iter()
                    .map(|t| (format!("optim.v.{}", t.name), t)),
            )
            .collect();
        let data: Vec<(String, Vec<u8>, &HostTensor)> =
            named.into_iter().map(|(n, t)| (n, bytes(t), t)).collect();
        let views = data.iter().map(|(n, b, t)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, t.shape.clone(), b).expect("shape matches data"),
            )
        });
        let meta_json = serde_json::to_string(&self.meta).expect("metadata serialises");
        let t = self.optimizer.t.to_string();
        let crc = content_crc(
            &meta_json,
            &t,
            data.iter()
                .map(|(n, b, t)| (n.as_str(), t.shape.as_slice(), b.as_slice())),
        );
        let meta: HashMap<String, String> = [
            (META_KEY.to_string(), meta_json),
            (OPT_T_KEY.to_string(), t),
            (CRC_KEY.to_string(), format!("{crc:08x}")),
        ]
        .into();
        safetensors::serialize(views, &Some(meta)).expect("in-memory serialisation")
    }

    /// Decodes a checkpoint written by [`Checkpoint::to_bytes`].
    pub fn from_bytes(file: &Path, buf: &[u8]) -> Result<Checkpoint> {
        let bad =
            |msg: String| Error::Damaged(format!("{}: damaged checkpoint: {msg}", file.display()));
        let st = SafeTensors::deserialize(buf).map_err(|e| bad(e.to_string()))?;
        let (_, header) = SafeTensors::read_metadata(buf).map_err(|e| bad(e.to_string()))?;
        let md = header
            .metadata()
            .as_ref()
            .ok_or_else(|| bad("no metadata".into()))?;
        let meta_json = md.get(META_KEY).ok_or_else(|| bad("no metadata".into()))?;
        let t_text = md
            .get(OPT_T_KEY)
            .ok_or_else(|| bad("no optimizer step".into()))?;
        // Checkpoints of earlier builds carry no checksum and nothing else besides these two keys;
        // a damaged key name leaves a third one, and is caught.
        let legacy = md.len() == 2;
        if !legacy {
            let want = md.get(CRC_KEY).ok_or_else(|| bad("no checksum".into()))?;
            let mut names: Vec<&String> = st.names();
            names.sort();
            let views = names
                .iter()
                .map(|n| st.tensor(n).map(|v| (n.as_str(), v)))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| bad(e.to_string()))?;
            let parts = views.iter().map(|(n, v)| (*n, v.shape(), v.data()));
            let got = format!("{:08x}", content_crc(meta_json, t_text, parts));
            if &got != want {
                return Err(bad(
                    "checksum mismatch (the file was changed or damaged)".into()
                ));
            }
        }
        let meta: CheckpointMeta =
            serde_json::from_str(meta_json).map_err(|e| bad(e.to_string()))?;
        let t: i32 = t_text
            .parse()
            .map_err(|_| bad("no optimizer step".into()))?;
        let mut weights = Vec::new();
        let mut m = Vec::new();
        let mut v = Vec::new();
        let mut names: Vec<String> = st.names().into_iter().cloned().collect();
        names.sort();
        for name in names {
            let view = st.tensor(&name).map_err(|e| bad(e.to_string()))?;
            let data = view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            let (dst, short) = if let Some(s) = name.strip_prefix("optim.m.") {
                (&mut m, s.to_string())
            } else if let Some(s) = name.strip_prefix("optim.v.") {
                (&mut v, s.to_string())
            } else {
                (&mut weights, name.clone())
            };
            dst.push(HostTensor {
                name: short,
                shape: view.shape().to_vec(),
                data,
            });
        }
        Ok(Checkpoint {
            meta,
            weights,
            optimizer: OptimizerState { t, m, v },
            files: None,
        })
    }

    /// The bytes its tensors take in memory.
    pub fn bytes(&self) -> usize {
        let o = &self.optimizer;
        [&self.weights, &o.m, &o.v]
            .iter()
            .flat_map(|ts| ts.iter())
            .map(|t| 4 * t.data.len())
            .sum()
    }

    /// Reads a checkpoint file.
    pub fn load(file: &Path) -> Result<Checkpoint> {
        let buf = fs::read(file).map_err(|e| Error::io(file, e))?;
        Checkpoint::from_bytes(file, &buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::curve::tests::row;

    #[test]
    fn checkpoint_bytes_round_trip() {
        let t = |name: &str, data: Vec<f32>| HostTensor {
            name: name.into(),
            shape: vec![data.len()],
            data,
        };
        let ck = Checkpoint {
            meta: CheckpointMeta {
                trial: 3,
                params: Params::new(),
                virtual_epoch: 2,
                examples_seen: 10,
                steps: 5,
                seconds: 0.5,
                curve: vec![row(1, 0.3), row(2, f64::NAN)],
                files: None,
                runner: [("stream_pos".to_string(), 4.into())].into(),
            },
            weights: vec![
                t("layers.0.bias", vec![1.5]),
                t("layers.0.weight", vec![0.25, -1.0]),
            ],
            optimizer: OptimizerState {
                t: 5,
                m: vec![t("layers.0.bias", vec![0.1])],
                v: vec![t("layers.0.bias", vec![0.2])],
            },
            files: None,
        };
        let back = Checkpoint::from_bytes(Path::new("x"), &ck.to_bytes()).unwrap();
        assert_eq!(back.weights, ck.weights);
        assert_eq!(back.optimizer, ck.optimizer);
        assert!(back.meta.curve[1].val_loss.is_nan());
        assert_eq!(back.meta.runner["stream_pos"], 4);
    }

    #[test]
    fn a_flipped_bit_anywhere_is_caught_or_changes_nothing() {
        let t = |name: &str, data: Vec<f32>| HostTensor {
            name: name.into(),
            shape: vec![2, data.len() / 2],
            data,
        };
        let ck = Checkpoint {
            meta: CheckpointMeta {
                trial: 1,
                params: Params::new(),
                virtual_epoch: 1,
                examples_seen: 10,
                steps: 5,
                seconds: 0.5,
                curve: vec![row(1, 0.3)],
                files: None,
                runner: [("layer_sizes".to_string(), vec![2, 2].into())].into(),
            },
            weights: vec![t("layers.0.weight", vec![0.25, -1.0, 2.0, 3.0])],
            optimizer: OptimizerState {
                t: 5,
                m: vec![t("layers.0.weight", vec![0.1, 0.2, 0.3, 0.4])],
                v: vec![t("layers.0.weight", vec![0.5, 0.6, 0.7, 0.8])],
            },
            files: None,
        };
        let bytes = ck.to_bytes();
        for at in 0..bytes.len() {
            for bit in [0x01u8, 0x10, 0x80] {
                let mut b = bytes.clone();
                b[at] ^= bit;
                if let Ok(back) = Checkpoint::from_bytes(Path::new("x"), &b) {
                    assert_eq!(
                        back, ck,
                        "byte {at} bit {bit:#x} changed the checkpoint unnoticed"
                    );
                }
            }
        }
    }
}
