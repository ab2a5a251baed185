//! What a study may ask of the machine, checked before anything is written: how many trials (the
//! grid's size counted, never built), how many at once, and the memory its largest model needs.

use std::path::Path;

use super::{Footprint, Method};
use crate::error::{Error, Result};
use crate::space::{self, SearchSpace};

/// The most trials a study may run: the driver holds a few numbers for each before the first starts.
pub const MAX_TRIALS: usize = 1_000_000;

/// The most trials a Bayesian search may have (its start design included): each suggestion
/// factorises a matrix of the trials so far squared, in time growing with their cube.
pub const MAX_BAYES_TRIALS: usize = 10_000;

/// The most trials that may run at once (as `--cores`): each is a thread.
pub const MAX_PARALLEL: usize = 1024;

/// The trials a study runs: `given` (random and bayes: 20 by default), or the grid's points, capped
/// at `given`. The grid's size is counted, never built.
pub(super) fn trials(
    file: &Path,
    method: Method,
    given: Option<usize>,
    space: &SearchSpace,
) -> Result<usize> {
    let bad = |path: &str, msg: String| Error::spec(file, path, msg);
    let limit = match method {
        Method::Bayes => MAX_BAYES_TRIALS,
        Method::Grid | Method::Random | Method::Tpe => MAX_TRIALS,
    };
    match given {
        Some(0) => return Err(bad("search.trials", "must be at least 1".into())),
        Some(t) if t > limit => {
            return Err(bad(
                "search.trials",
                format!(
                    "{t} is more than the {limit} trials a {} search may run",
                    method_name(method)
                ),
            ))
        }
        _ => {}
    }
    if method != Method::Grid {
        return Ok(given.unwrap_or(20));
    }
    let grid = space
        .grid()
        .map_err(|(name, msg)| bad(&format!("search.space.{name}"), msg))?;
    let size = grid.size().and_then(|n| usize::try_from(n).ok());
    match (given, size) {
        (Some(t), Some(n)) => Ok(t.min(n)),
        (Some(t), None) => Ok(t),
        (None, Some(n)) if n <= limit => Ok(n),
        (None, n) => Err(bad(
            "search.space",
            format!(
                "the grid has {} points, more than the {limit} trials a study may run: give search.trials to run its first ones, or fewer values",
                n.map_or("more than 2^64".to_string(), |n| n.to_string())
            ),
        )),
    }
}

fn method_name(m: Method) -> &'static str {
    match m {
        Method::Grid => "grid",
        Method::Random => "random",
        Method::Bayes => "Bayesian",
        Method::Tpe => "TPE",
    }
}

/// The bytes a machine is assumed to have when its memory cannot be read (/proc/meminfo): 2^31
/// parameters at the 40 bytes each one costs a trial training with Adam.
const FALLBACK_BYTES: f64 = (1u64 << 31) as f64 * 40.0;

/// Refuses a study whose `largest` model, `at_once` trials at a time, needs more memory than the
/// machine has: dfdx aborts the process when an allocation fails, after the study folder is made.
pub(super) fn check_memory(file: &Path, largest: &Footprint, at_once: usize) -> Result<()> {
    let (available, what) = match available_memory() {
        Some(m) => (m, "of memory available"),
        None => (FALLBACK_BYTES, "a machine is assumed to have"),
    };
    let needed = largest.bytes * at_once as f64;
    if needed <= available {
        return Ok(());
    }
    let times = match at_once {
        1 => String::new(),
        n => format!(", {} for {n} trials at once", gb(needed)),
    };
    Err(Error::spec(
        file,
        &largest.blame,
        format!(
            "the largest model has {} parameters and needs about {} to train{times}, more than the {} {what}",
            space::num(largest.params),
            gb(largest.bytes),
            gb(available)
        ),
    ))
}

/// `bytes` in GB, to a tenth, in exponent notation past a million.
fn gb(bytes: f64) -> String {
    match bytes / 1e9 {
        g if g < 1e6 => format!("{g:.1} GB"),
        g => format!("{g:.1e} GB"),
    }
}

/// The memory this machine has free for us, in bytes: MemAvailable (else MemTotal) of /proc/meminfo.
fn available_memory() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| {
        info.lines().find_map(|l| {
            l.strip_prefix(name)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse::<f64>()
                .ok()
        })
    };
    field("MemAvailable:")
        .or_else(|| field("MemTotal:"))
        .map(|kb| kb * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::{Kind, Param};

    fn grid_of(batch_high: f64, width_high: f64) -> SearchSpace {
        SearchSpace {
            params: vec![
                Param::range("batch_size", Kind::Int, 1.0, batch_high, false),
                Param::range("hidden_width", Kind::Int, 1.0, width_high, false),
                Param::list("learning_rate", Kind::Float, &[0.01]),
            ],
        }
    }

    fn trials_of(method: Method, given: Option<usize>, space: &SearchSpace) -> Result<usize> {
        trials(Path::new("s.json"), method, given, space)
    }

    #[test]
    fn a_grid_runs_its_points_capped_at_the_trials_given() {
        let small = grid_of(4.0, 5.0);
        assert_eq!(trials_of(Method::Grid, None, &small).unwrap(), 20);
        assert_eq!(trials_of(Method::Grid, Some(7), &small).unwrap(), 7);
        assert_eq!(trials_of(Method::Grid, Some(70), &small).unwrap(), 20);
        let huge = grid_of(1280.0, 9999.0);
        assert_eq!(trials_of(Method::Grid, Some(2), &huge).unwrap(), 2);
        let err = trials_of(Method::Grid, None, &huge)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("search.space: the grid has 12798720 points"),
            "{err}"
        );
    }

    #[test]
    fn trials_are_bounded_by_method() {
        let s = grid_of(4.0, 5.0);
        assert_eq!(trials_of(Method::Random, None, &s).unwrap(), 20);
        assert!(trials_of(Method::Random, Some(MAX_TRIALS), &s).is_ok());
        assert!(trials_of(Method::Random, Some(MAX_TRIALS + 1), &s).is_err());
        assert!(trials_of(Method::Bayes, Some(MAX_BAYES_TRIALS + 1), &s).is_err());
        assert!(trials_of(Method::Random, Some(0), &s).is_err());
    }

    #[test]
    fn gigabytes_read_short() {
        assert_eq!(gb(24.3e9), "24.3 GB");
        assert_eq!(gb(6.6e22), "6.6e13 GB");
    }
}
