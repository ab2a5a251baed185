//! The sampler suite of issue 31: tune's samplers (bayes, tpe, auto, random) on the problems of
//! `benches/suite/problems.json`, at 20 and 40 trials over 10 seeds: the median regret (best value
//! found minus the known optimum) and the median seconds per suggestion, and the share of the
//! suggestions after the start-up trials that put a float coordinate within 1e-9 of a bound.
//! Run: `cargo bench --bench suite` (`-- --seeds N --first-seed K --trials 20,40 --only NAME
//! --sampler tune-gp`: seeds K to K + N - 1);
//! `benches/suite.sh` runs it beside Optuna's TPE and GP (`benches/peers/optuna_suite.py`, the
//! same problems file) and prints the tables of docs/benchmarks.md (`benches/suite/table.py`).
//!
//! Each space is built as a study builds it, `SearchSpace::from_spec` on the problem's
//! `search.space`, and each sampler is driven through `Sampler::ask` with the study's history, as
//! the study drives it, with the study's defaults (start-up trials max(5, 2 × parameters)). A space
//! this build cannot read (a conditional parameter's `when`, before tune has them) is skipped with
//! a line that says why. Prints one JSON line per problem and sampler.
//! `-- --check` prints the objectives at fixed points instead, for the peer to compare
//! (`optuna_suite.py --check`), and checks each problem's optimum at its argmin.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

#[path = "common/finished.rs"]
mod common;
use common::finished;

use serde_json::{json, Value as J};
use tune::objective::{Goal, Metric, MetricKind};
use tune::plan::Method;
use tune::sampler::{GpSampler, RandomSampler, Sampler, TpeSampler};
use tune::space::{Domain, Kind, Names, Params, SearchSpace};
use tune::storage::History;

#[path = "suite/functions.rs"]
mod functions;

const PROBLEMS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/suite/problems.json");
/// The same file as messages name it.
const PROBLEMS_SHORT: &str = "benches/suite/problems.json";

/// A problem of the suite as the file gives it.
struct Problem {
    name: String,
    /// Its `search.space`, as written.
    raw: BTreeMap<String, J>,
    optimum: f64,
    argmin: Params,
    f: fn(&Params) -> f64,
}

fn problems() -> Vec<Problem> {
    let text = std::fs::read_to_string(PROBLEMS).expect("benches/suite/problems.json");
    let file: J = serde_json::from_str(&text).expect("problems.json is JSON");
    let list = file["problems"].as_array().expect("a list of problems");
    list.iter()
        .map(|p| {
            let function = p["function"].as_str().expect("a function name");
            Problem {
                name: p["name"].as_str().expect("a name").to_string(),
                raw: serde_json::from_value(p["space"].clone()).expect("a space object"),
                optimum: p["optimum"].as_f64().expect("an optimum"),
                argmin: serde_json::from_value(p["argmin"].clone()).expect("an argmin"),
                f: functions::by_name(function)
                    .unwrap_or_else(|| panic!("no objective named {function}")),
            }
        })
        .collect()
}

/// The samplers compared; `tune-auto` is whichever of bayes and tpe `"method": "auto"` picks.
const SAMPLERS: [&str; 3] = ["tune-bayes", "tune-tpe", "tune-random"];

/// What `"method": "auto"` picks for a space of at most 200 trials (`Method::auto`).
fn auto_choice(space: &SearchSpace) -> &'static str {
    match tune::plan::Method::auto(space, Some(40)).0 {
        tune::plan::Method::Bayes => "tune-bayes",
        _ => "tune-tpe",
    }
}

/// One study of `trials` trials: the best value after each, the seconds of each `ask`, whether
/// each suggestion lay at a bound, and the fallbacks the sampler warned of.
struct Run {
    best: Vec<f64>,
    secs: Vec<f64>,
    bound: Vec<bool>,
    warnings: usize,
}

/// The study's start-up trials for `space` under sampler `which` (the default of
/// `search.startup_trials`).
fn startup(space: &SearchSpace, which: &str) -> usize {
    let method = match which {
        "tune-tpe" => Method::Tpe,
        _ => Method::Bayes,
    };
    tune::plan::default_startup(method, space)
}

fn study(p: &Problem, space: &SearchSpace, which: &str, seed: u64, trials: usize) -> Run {
    let metric = Metric {
        kind: MetricKind::ValLoss,
        goal: Goal::Min,
    };
    let n0 = startup(space, which);
    let mut sampler: Box<dyn Sampler> = match which {
        "tune-bayes" => Box::new(GpSampler::new(space.clone(), seed, n0, metric)),
        "tune-tpe" => Box::new(TpeSampler::new(space.clone(), seed, n0, metric)),
        _ => Box::new(RandomSampler::new(space.clone(), seed)),
    };
    let mut history = History::default();
    let mut run = Run {
        best: vec![],
        secs: vec![],
        bound: vec![],
        warnings: 0,
    };
    for t in 0..trials as u64 {
        let t0 = Instant::now();
        let params = sampler.ask(t, &history);
        run.secs.push(t0.elapsed().as_secs_f64());
        run.warnings += sampler.take_warnings().len();
        run.bound.push(at_bound(space, &params));
        let y = (p.f)(&params);
        let best = run.best.last().map_or(y, |b: &f64| b.min(y));
        run.best.push(best);
        history.trials.insert(t, finished(t, params, y));
    }
    run
}

/// Whether a float range's coordinate (in log10 where the range is on a log scale) lies within
/// 1e-9 of a bound, in units of the range: the "pile onto the bounds". Integers and lists,
/// whose ends are values like the others, are not counted.
fn at_bound(space: &SearchSpace, params: &Params) -> bool {
    space.params.iter().any(|param| {
        let (Domain::Range { low, high, log, .. }, Kind::Float) = (&param.domain, param.kind)
        else {
            return false;
        };
        let Some(v) = params.get(&param.name) else {
            return false;
        };
        let w = |x: f64| if *log { x.log10() } else { x };
        let (lo, hi, x) = (w(*low), w(*high), w(v.as_f64()));
        hi > lo && (x - lo).min(hi - x) / (hi - lo) <= 1e-9
    })
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// The JSON line of one problem and sampler over `runs` (one per seed).
fn summary(p: &Problem, which: &str, runs: &[Run], budgets: &[usize], from: usize) -> J {
    let (mut regret, mut secs, mut per_seed) = (json!({}), json!({}), json!({}));
    for &n in budgets {
        let finals: Vec<f64> = runs.iter().map(|r| r.best[n - 1] - p.optimum).collect();
        per_seed[n.to_string()] = json!(finals);
        regret[n.to_string()] = json!(median(finals));
        let ts: Vec<f64> = runs
            .iter()
            .flat_map(|r| r.secs.get(from..n).unwrap_or(&[]).iter().copied())
            .collect();
        secs[n.to_string()] = json!(median(ts));
    }
    let bound: Vec<bool> = runs
        .iter()
        .flat_map(|r| r.bound.get(from..).unwrap_or(&[]).iter().copied())
        .collect();
    let share = (!bound.is_empty())
        .then(|| bound.iter().filter(|&&b| b).count() as f64 / bound.len() as f64);
    json!({
        "problem": p.name, "sampler": which, "seeds": runs.len(),
        "regret": regret, "secs": secs, "per_seed": per_seed,
        "at_bound": share, "after_startup": bound.len(), "startup": from,
        "warnings": runs.iter().map(|r| r.warnings).sum::<usize>(),
    })
}

/// `--check`: the objectives at fixed points of each space (read from the raw JSON, so that
/// spaces this build cannot read are checked too), one JSON line each, and each optimum at its
/// argmin.
fn check(problems: &[Problem]) -> bool {
    let mut ok = true;
    for p in problems {
        for (k, u) in [0.1, 0.37, 0.5, 0.83].into_iter().enumerate() {
            let point: serde_json::Map<String, J> = p
                .raw
                .iter()
                .enumerate()
                .map(|(j, (name, spec))| {
                    let uj = (u + 0.29 * (j + k) as f64).fract();
                    (name.clone(), functions::at_fraction(spec, uj))
                })
                .collect();
            let params: Params = serde_json::from_value(J::Object(point.clone())).expect("params");
            println!(
                "{}",
                json!({"problem": p.name, "params": point, "f": (p.f)(&params)})
            );
        }
        let gap = (p.f)(&p.argmin) - p.optimum;
        if gap.abs() > 1e-9 * p.optimum.abs().max(1.0) {
            eprintln!("{}: f(argmin) - optimum = {gap:e}", p.name);
            ok = false;
        }
    }
    ok
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let seeds: u64 = arg("--seeds").map_or(10, |s| s.parse().expect("--seeds N"));
    let first: u64 = arg("--first-seed").map_or(0, |s| s.parse().expect("--first-seed K"));
    let budgets: Vec<usize> = arg("--trials")
        .unwrap_or_else(|| "20,40".into())
        .split(',')
        .map(|b| b.parse().expect("--trials 20,40"))
        .collect();
    let trials = *budgets.iter().max().expect("a budget");
    let problems = problems();
    if args.iter().any(|a| a == "--check") {
        std::process::exit(if check(&problems) { 0 } else { 1 });
    }
    for p in &problems {
        if arg("--only").is_some_and(|o| o != p.name) {
            continue;
        }
        let space = match SearchSpace::from_spec(Path::new(PROBLEMS_SHORT), &p.raw, Names::Any) {
            Ok(s) => s,
            Err(e) => {
                println!(
                    "# skipped {}: this build cannot read its space: {e}",
                    p.name
                );
                continue;
            }
        };
        for which in SAMPLERS {
            if arg("--sampler").is_some_and(|s| s != which) {
                continue;
            }
            let runs: Vec<Run> = (first..first + seeds)
                .map(|s| study(p, &space, which, s, trials))
                .collect();
            let from = if which == "tune-random" {
                0
            } else {
                startup(&space, which)
            };
            println!("{}", summary(p, which, &runs, &budgets, from));
        }
        println!(
            "{}",
            json!({"problem": p.name, "sampler": "tune-auto", "chose": auto_choice(&space)})
        );
    }
}
