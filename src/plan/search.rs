//! The search sub-plan: how parameters are chosen (method, space, trials, the Bayesian start
//! design), and where and how many trials run at once (device, cores, parallel).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::limits::{self, MAX_BAYES_TRIALS, MAX_PARALLEL};
use crate::error::{Error, Result};
use crate::space::SearchSpace;
use crate::spec::SearchSpec;

/// How parameters are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Grid,
    Random,
    Bayes,
    /// The tree-structured Parzen estimator (src/sampler/tpe.rs).
    Tpe,
}

impl Method {
    fn from_spec(file: &Path, method: &str) -> Result<Method> {
        match method {
            "grid" => Ok(Method::Grid),
            "random" => Ok(Method::Random),
            "bayes" => Ok(Method::Bayes),
            "tpe" => Ok(Method::Tpe),
            other => Err(Error::spec(
                file,
                "search.method",
                format!(
                    "\"{other}\" is not a method: use \"grid\", \"random\", \"bayes\", \"tpe\" or \"auto\""
                ),
            )),
        }
    }

    /// What `"auto"` picks for `space` and `trials` (the spec's, if given), and why: the GP up to
    /// 10 parameters, where the sampler suite (benches/suite.sh, docs/benchmarks.md) finds it
    /// ahead of TPE or level with it at 40 trials on every problem of 2 to 10 dimensions
    /// (labels and conditions included: the categorical mix 1.2e-6 against 0.14, Hartmann-6
    /// 0.019 against 0.57, Rosenbrock-6 1010 against 1410); TPE beyond, where the suite has no
    /// evidence for the GP, or where the GP costs too much (over 200 trials: each suggestion
    /// grows with the trials so far cubed).
    pub fn auto(space: &SearchSpace, trials: Option<usize>) -> (Method, String) {
        let n = space.params.len();
        let (method, why) = if n > AUTO_GP_PARAMS {
            (
                Method::Tpe,
                format!("{n} parameters (the GP up to {AUTO_GP_PARAMS})"),
            )
        } else if let Some(t) = trials.filter(|t| *t > AUTO_GP_TRIALS) {
            (
                Method::Tpe,
                format!("{t} trials (the GP up to {AUTO_GP_TRIALS})"),
            )
        } else {
            (Method::Bayes, format!("{n} parameters"))
        };
        let name = match method {
            Method::Bayes => "the GP (\"bayes\")",
            _ => "TPE (\"tpe\")",
        };
        (method, format!("search: \"auto\" chose {name}: {why}"))
    }
}

/// The most parameters for which `"auto"` picks the GP.
const AUTO_GP_PARAMS: usize = 10;

/// The most trials for which `"auto"` picks the GP.
const AUTO_GP_TRIALS: usize = 200;

/// Where trials run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    Cpu,
    Cuda(usize),
}

impl DeviceKind {
    /// The device `--device` names, else the spec's `device`: "cpu" (the default), "cuda" or
    /// "cuda:N", the latter two only in a build with CUDA. A bad value is blamed on where it came
    /// from.
    pub(super) fn from_spec(
        file: &Path,
        flag: Option<&str>,
        spec: Option<&str>,
    ) -> Result<DeviceKind> {
        let blame = |msg: String| match flag {
            Some(_) => Error::Flag {
                flag: "--device",
                msg,
            },
            None => Error::spec(file, "device", msg),
        };
        let Some(d) = flag.or(spec).filter(|&d| d != "cpu") else {
            return Ok(DeviceKind::Cpu);
        };
        let idx = match d.strip_prefix("cuda") {
            Some("") => Some(0),
            Some(rest) => rest.strip_prefix(':').and_then(|n| n.parse().ok()),
            None => None,
        };
        let Some(idx) = idx else {
            return Err(blame(format!(
                "\"{d}\" is not a device: use \"cpu\", \"cuda\" or \"cuda:N\""
            )));
        };
        if !cfg!(feature = "cuda") {
            return Err(blame(format!(
                "\"{d}\" needs a build with CUDA: cargo build --release --features cuda"
            )));
        }
        Ok(DeviceKind::Cuda(idx))
    }
}

/// The most cores `--cores` may give a study.
const MAX_CORES: usize = 1024;

/// The cores `--cores` gives the study, checked; absent, all this process may use.
pub(super) fn cores_for(flag: Option<usize>) -> Result<usize> {
    let bad = |msg: String| Error::Flag {
        flag: "--cores",
        msg,
    };
    match flag {
        None => Ok(cores()),
        Some(0) => Err(bad("must be at least 1".into())),
        Some(n) if n > MAX_CORES => Err(bad(format!("{n} is more than {MAX_CORES}"))),
        Some(n) => Ok(n),
    }
}

/// The number of cores this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// How parameters are chosen, and how many trials were asked to run at once.
pub(super) struct SearchPlan {
    pub method: Method,
    pub space: SearchSpace,
    pub trials: usize,
    /// `--parallel`, else the spec's; absent, `at_once` picks for the device.
    pub parallel: Option<usize>,
    pub startup_trials: usize,
    /// What `"auto"` chose, and why (the run's first lines say it).
    pub chose: Option<String>,
}

impl SearchPlan {
    /// The spec's `search` section (read from `file`) naming parameters as `names` allows, with the
    /// command line's `parallel` (`--parallel`); problems are reported in the order of the fields.
    pub(super) fn from_spec(
        file: &Path,
        s: &SearchSpec,
        parallel: Option<usize>,
        names: crate::space::Names,
    ) -> Result<SearchPlan> {
        let space = SearchSpace::from_spec(file, &s.space, names)?;
        let (method, chose) = match s.method.as_str() {
            "auto" => {
                let (m, why) = Method::auto(&space, s.trials);
                (m, Some(why))
            }
            name => (Method::from_spec(file, name)?, None),
        };
        let trials = limits::trials(file, method, s.trials, &space)?;
        let parallel = check_parallel(file, parallel, s.parallel)?;
        let startup_trials = match s.startup_trials {
            Some(n) => check_startup_trials(file, n)?,
            None => default_startup(method, &space),
        };
        Ok(SearchPlan {
            method,
            space,
            trials,
            parallel,
            startup_trials,
            chose,
        })
    }

    /// The trials that run at once on `device` with `cores`: as asked, else one per core on the
    /// CPU, and one on a GPU, where that is fastest (README, CUDA: several trials sharing an H100
    /// took 1.3–1.9× as long).
    pub(super) fn at_once(&self, device: DeviceKind, cores: usize) -> usize {
        self.parallel.unwrap_or(match device {
            DeviceKind::Cpu => cores,
            DeviceKind::Cuda(_) => 1,
        })
    }
}

/// `--parallel`, else the spec's `search.parallel`, checked; a bad value is blamed on where it
/// came from.
fn check_parallel(file: &Path, flag: Option<usize>, spec: Option<usize>) -> Result<Option<usize>> {
    let bad = |msg: String| match flag {
        Some(_) => Error::Flag {
            flag: "--parallel",
            msg,
        },
        None => Error::spec(file, "search.parallel", msg),
    };
    match flag.or(spec) {
        Some(0) => Err(bad("must be at least 1".into())),
        Some(p) if p > MAX_PARALLEL => Err(bad(format!(
            "{p} is more than the {MAX_PARALLEL} trials that may run at once"
        ))),
        p => Ok(p),
    }
}

/// The start-up trials when the spec gives none: the GP's Latin hypercube has 2 × the parameters,
/// at least 5 and at most 10 (Optuna's GP starts with 10: with 12 to 20, a study of 20 trials in
/// 6 to 10 dimensions left the GP few or none; the cap brought tune's bayes within 10 % of the
/// better Optuna sampler on 13 of 14 suite problems at 20 trials, against 11, and kept 14 of 14
/// at 40: docs/benchmarks.md); TPE draws Optuna's 10 at random, which on the sampler suite (40 seeds) brought it
/// within 10 % of Optuna's TPE on 12 of 14 problems at 40 trials, against 10 of 14 with the GP's
/// count (docs/benchmarks.md).
pub fn default_startup(method: Method, space: &SearchSpace) -> usize {
    match method {
        Method::Tpe => 10,
        _ => (2 * space.params.len()).clamp(5, 10),
    }
}

fn check_startup_trials(file: &Path, n: usize) -> Result<usize> {
    let bad = |msg: String| Error::spec(file, "search.startup_trials", msg);
    match n {
        0 => Err(bad("must be at least 1".into())),
        n if n > MAX_BAYES_TRIALS => Err(bad(format!(
            "{n} is more than the {MAX_BAYES_TRIALS} trials a Bayesian search may have"
        ))),
        n => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gps_default_start_up_is_twice_the_parameters_from_5_to_10() {
        let with = |d: usize| {
            let raw: std::collections::BTreeMap<String, serde_json::Value> = (0..d)
                .map(|i| {
                    (
                        format!("x{i}"),
                        serde_json::json!({"low": 0.0, "high": 1.0}),
                    )
                })
                .collect();
            let f = Path::new("s.json");
            let space = SearchSpace::from_spec(f, &raw, crate::space::Names::Any).unwrap();
            (
                default_startup(Method::Bayes, &space),
                default_startup(Method::Tpe, &space),
            )
        };
        assert_eq!(with(2), (5, 10));
        assert_eq!(with(3), (6, 10));
        assert_eq!(with(5), (10, 10));
        assert_eq!(with(6), (10, 10));
        assert_eq!(with(10), (10, 10));
    }

    #[test]
    fn devices() {
        let f = Path::new("s.json");
        assert_eq!(
            DeviceKind::from_spec(f, None, None).unwrap(),
            DeviceKind::Cpu
        );
        assert_eq!(
            DeviceKind::from_spec(f, Some("cpu"), Some("gpu")).unwrap(),
            DeviceKind::Cpu
        );
        for bad in ["gpu", "cuda:", "cuda:x", "cuda1", "CPU", ""] {
            let e = DeviceKind::from_spec(f, None, Some(bad))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("s.json: device: \""), "{bad}: {e}");
            assert!(e.contains("is not a device"), "{bad}: {e}");
            let e = DeviceKind::from_spec(f, Some(bad), Some("cpu"))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("--device: \""), "{bad}: {e}");
        }
        for (d, idx) in [("cuda", 0), ("cuda:3", 3)] {
            match DeviceKind::from_spec(f, Some(d), None) {
                Ok(k) => assert_eq!(k, DeviceKind::Cuda(idx)),
                Err(e) => assert!(
                    e.to_string().contains("needs a build with CUDA"),
                    "{d}: {e}"
                ),
            }
        }
    }

    #[test]
    fn a_bad_parallel_or_cores_is_blamed_where_it_came_from() {
        let f = Path::new("s.json");
        let parallel = |flag, spec| check_parallel(f, flag, spec).map_err(|e| e.to_string());
        assert_eq!(parallel(Some(3), Some(0)), Ok(Some(3)));
        assert_eq!(parallel(None, Some(2)), Ok(Some(2)));
        assert_eq!(parallel(None, None), Ok(None));
        assert_eq!(
            parallel(Some(0), Some(2)),
            Err("--parallel: must be at least 1".into())
        );
        assert_eq!(
            parallel(None, Some(0)),
            Err("s.json: search.parallel: must be at least 1".into())
        );
        assert_eq!(
            parallel(Some(2000), None),
            Err("--parallel: 2000 is more than the 1024 trials that may run at once".into())
        );
        let cores = |flag| cores_for(flag).map_err(|e| e.to_string());
        assert_eq!(cores(Some(3)), Ok(3));
        assert_eq!(cores(None), Ok(super::cores()));
        assert_eq!(cores(Some(0)), Err("--cores: must be at least 1".into()));
        assert_eq!(
            cores(Some(1025)),
            Err("--cores: 1025 is more than 1024".into())
        );
    }
}
