//! The GPUs a program's trials are given. tune computes nothing for a command trial, so any build
//! hands GPUs out: `device` `"cuda"` (every GPU here), `"cuda:N"`, or `trainer.gpus` (a list), in
//! groups of `trainer.gpus_per_trial`, each group shared by `trainer.trials_per_gpu` trials. A
//! trial's `CUDA_VISIBLE_DEVICES` names its group only, so its program sees them as `cuda:0`…
//! The GPUs here are the entries of `CUDA_VISIBLE_DEVICES` when tune's environment sets it, else
//! the lines of `nvidia-smi -L`.

use std::path::Path;

use crate::error::{Error, Result};
use crate::spec::TrainerSpec;

/// The most GPUs a trial, or trials a GPU, may be given.
const MAX_SHARE: usize = 64;

/// How a study's command trials use GPUs.
#[derive(Clone, Debug, PartialEq)]
pub struct GpuPlan {
    /// The GPUs of each slot, as `CUDA_VISIBLE_DEVICES` names them; empty when only the study
    /// folder is read (the GPUs were not looked for).
    pub groups: Vec<Vec<String>>,
    /// Trials that share a slot at once.
    pub trials_per_gpu: usize,
}

impl GpuPlan {
    /// How many trials the GPUs hold at once.
    pub fn capacity(&self) -> usize {
        self.groups.len() * self.trials_per_gpu
    }
}

/// What the spec asks for.
enum Wanted {
    Cpu,
    All,
    Some(Vec<usize>, String),
}

/// The GPU plan of a command trainer `t` on the device `--device` (`flag`) or the spec's `device`
/// names; `None` on the CPU. With `look`, the GPUs are looked for and checked.
pub(super) fn from_spec(
    file: &Path,
    t: &TrainerSpec,
    flag: Option<&str>,
    device: Option<&str>,
    look: bool,
) -> Result<Option<GpuPlan>> {
    let bad = |path: &str, msg: String| Error::spec(file, path, msg);
    let wanted = wanted(file, t, flag, device)?;
    let per_trial = share(file, "trainer.gpus_per_trial", t.gpus_per_trial)?;
    let per_gpu = share(file, "trainer.trials_per_gpu", t.trials_per_gpu)?;
    if let Wanted::Cpu = wanted {
        if let Some((path, _)) = [
            ("trainer.gpus_per_trial", t.gpus_per_trial),
            ("trainer.trials_per_gpu", t.trials_per_gpu),
        ]
        .into_iter()
        .find(|(_, v)| v.is_some())
        {
            return Err(bad(
                path,
                "shares GPUs out, and the study runs on the CPU: set device to \"cuda\"".into(),
            ));
        }
        return Ok(None);
    }
    if per_trial > 1 && per_gpu > 1 {
        return Err(bad(
            "trainer.trials_per_gpu",
            "shares one GPU between trials, and trainer.gpus_per_trial gives each several: choose one".into(),
        ));
    }
    if !look {
        return Ok(Some(GpuPlan {
            groups: vec![],
            trials_per_gpu: per_gpu,
        }));
    }
    let here = visible();
    let chosen = chosen(file, wanted, &here, flag)?;
    if chosen.len() < per_trial {
        return Err(bad(
            "trainer.gpus_per_trial",
            format!(
                "{per_trial} is more than the {} GPUs the study has",
                chosen.len()
            ),
        ));
    }
    Ok(Some(GpuPlan {
        groups: chosen
            .chunks_exact(per_trial)
            .map(<[String]>::to_vec)
            .collect(),
        trials_per_gpu: per_gpu,
    }))
}

/// What the spec (or `--device`, `flag`) asks for.
fn wanted(
    file: &Path,
    t: &TrainerSpec,
    flag: Option<&str>,
    device: Option<&str>,
) -> Result<Wanted> {
    let blame_device = |msg: String| device_error(file, flag, msg);
    let bad = |path: &str, msg: String| Error::spec(file, path, msg);
    Ok(match (flag.or(device), &t.gpus) {
        (None, None) | (Some("cpu"), None) => Wanted::Cpu,
        (Some("cpu"), Some(_)) => {
            return Err(bad(
                "trainer.gpus",
                "names GPUs, and the device is \"cpu\": leave device out, or make it \"cuda\""
                    .into(),
            ))
        }
        (None | Some("cuda"), Some(list)) => Wanted::Some(list.clone(), "trainer.gpus".into()),
        (Some("cuda"), None) => Wanted::All,
        (Some(d), gpus) => match d
            .strip_prefix("cuda:")
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(_) if gpus.is_some() => {
                return Err(bad(
                    "trainer.gpus",
                    format!("and the device \"{d}\" both name GPUs: give one of them"),
                ))
            }
            Some(n) => Wanted::Some(
                vec![n],
                if flag.is_some() { "--device" } else { "device" }.into(),
            ),
            None => {
                return Err(blame_device(format!(
                    "\"{d}\" is not a device: use \"cpu\", \"cuda\" or \"cuda:N\""
                )))
            }
        },
    })
}

/// The GPUs of `here` that `wanted` names, checked.
fn chosen(file: &Path, wanted: Wanted, here: &[String], flag: Option<&str>) -> Result<Vec<String>> {
    let bad = |path: &str, msg: String| Error::spec(file, path, msg);
    let blame_device = |msg: String| device_error(file, flag, msg);
    Ok(match wanted {
        Wanted::Cpu => unreachable!("returned above"),
        Wanted::All if here.is_empty() => return Err(blame_device(none_here())),
        Wanted::All => here.to_vec(),
        Wanted::Some(list, path) => {
            let mut out = vec![];
            for (i, &n) in list.iter().enumerate() {
                let at = if path == "trainer.gpus" {
                    format!("{path}[{i}]")
                } else {
                    path.clone()
                };
                let Some(id) = here.get(n) else {
                    let msg = match here.len() {
                        0 => format!("GPU {n} is not there: {}", none_here()),
                        k => format!(
                            "GPU {n} is not there: this machine has {k} (0 to {})",
                            k - 1
                        ),
                    };
                    return Err(Error::spec(file, at, msg));
                };
                if out.contains(id) {
                    return Err(Error::spec(file, at, format!("GPU {n} is named twice")));
                }
                out.push(id.clone());
            }
            if out.is_empty() {
                return Err(bad(
                    "trainer.gpus",
                    "is empty: name at least one GPU".into(),
                ));
            }
            out
        }
    })
}

/// A device that is wrong, blamed on `--device` when it was given (`flag`), else on the spec.
fn device_error(file: &Path, flag: Option<&str>, msg: String) -> Error {
    match flag {
        Some(_) => Error::Flag {
            flag: "--device",
            msg,
        },
        None => Error::spec(file, "device", msg),
    }
}

fn none_here() -> String {
    "no GPU was found here (nvidia-smi -L lists none, and CUDA_VISIBLE_DEVICES is not set)".into()
}

/// A count of `path` (default 1), checked.
fn share(file: &Path, path: &str, v: Option<usize>) -> Result<usize> {
    match v {
        None => Ok(1),
        Some(n) if (1..=MAX_SHARE).contains(&n) => Ok(n),
        Some(n) => Err(Error::spec(
            file,
            path,
            format!("{n} is not a count from 1 to {MAX_SHARE}"),
        )),
    }
}

/// The GPUs here, as `CUDA_VISIBLE_DEVICES` would name them.
fn visible() -> Vec<String> {
    if let Some(v) = std::env::var("CUDA_VISIBLE_DEVICES")
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        return v
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
    }
    let Ok(out) = std::process::Command::new("nvidia-smi")
        .arg("-L")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
    else {
        return vec![];
    };
    listed(&String::from_utf8_lossy(&out.stdout))
}

/// The indices of the `GPU N: …` lines of `nvidia-smi -L`'s output.
fn listed(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("GPU ")?.split_once(':'))
        .filter_map(|(n, _)| n.trim().parse::<usize>().ok())
        .map(|n| n.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvidia_smi_lines_give_indices() {
        let text = "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1)\nGPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-2)\n  MIG 1g.10gb Device 0: (UUID: MIG-x)\n";
        assert_eq!(listed(text), ["0", "1"]);
        assert!(listed("NVIDIA-SMI has failed").is_empty());
    }

    #[test]
    fn requests_are_checked_before_gpus_are_looked_for() {
        let f = Path::new("s.json");
        let t = |v: serde_json::Value| -> TrainerSpec {
            let mut o = serde_json::json!({ "command": ["python3"] });
            o.as_object_mut()
                .unwrap()
                .extend(v.as_object().unwrap().clone());
            serde_json::from_value(o).unwrap()
        };
        let err = |tr: &TrainerSpec, d: Option<&str>| {
            from_spec(f, tr, None, d, false).unwrap_err().to_string()
        };
        assert_eq!(
            from_spec(f, &t(serde_json::json!({})), None, None, true).unwrap(),
            None
        );
        assert!(err(&t(serde_json::json!({"gpus": [0]})), Some("cpu")).contains("trainer.gpus"));
        assert!(err(&t(serde_json::json!({"gpus": [0]})), Some("cuda:1")).contains("give one"));
        assert!(err(&t(serde_json::json!({"trials_per_gpu": 2})), None).contains("on the CPU"));
        assert!(
            err(&t(serde_json::json!({"trials_per_gpu": 0})), Some("cuda")).contains("from 1 to")
        );
        assert!(err(
            &t(serde_json::json!({"trials_per_gpu": 2, "gpus_per_trial": 2})),
            Some("cuda")
        )
        .contains("choose one"));
        assert!(err(&t(serde_json::json!({})), Some("gpu")).contains("is not a device"));
        let p = from_spec(
            f,
            &t(serde_json::json!({"trials_per_gpu": 3})),
            None,
            Some("cuda"),
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!((p.groups.len(), p.trials_per_gpu), (0, 3));
    }
}
