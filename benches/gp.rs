//! Bayesian search and TPE against random search on test functions of 2 to 8 dimensions (floats,
//! integers, a categorical listed in two orders): median simple regret over seeds after 20 and 40
//! evaluations, the share of suggestions after the start-up trials with a float within 1e-9 of a
//! bound ("bound"), the median time per suggestion, and with `--times` the time of one GP
//! suggestion at 50, 100 and 200 evaluations.
//! Run: `cargo bench --bench gp` (`-- --seeds N`, default 10; `--only branin,levy6`;
//! `--sampler tune-gp`; `--per-seed`).
//! The peer (Optuna's GPSampler and TPESampler on the same functions) is `benches/peers/optuna_gp.py`;
//! `benches/gp.sh` runs both in one go and prints one table.

use std::time::Instant;

#[path = "common/finished.rs"]
mod common;
use common::finished;

use tune::objective::{Goal, Metric, MetricKind};
use tune::sampler::gp::{suggest, Encoding, GpSampler, GpSettings};
use tune::sampler::{Sampler, TpeSampler};
use tune::seed::{self, Purpose};
use tune::space::{Kind, Param, Params, SearchSpace};

/// A test function over a space of `dims` parameters (see [`dims`]); `f` reads each parameter as
/// a number (a label as its index in [`LEVELS`], whatever order the space lists the labels in).
struct Problem {
    name: &'static str,
    dims: Vec<Dim>,
    optimum: f64,
    f: fn(&[f64]) -> f64,
}

/// One parameter of a test problem.
#[derive(Clone, Copy)]
enum Dim {
    Float(f64, f64),
    Int(f64, f64, bool),
    /// The four labels of [`LEVELS`], listed in this order.
    Cat(&'static [&'static str]),
}

/// A categorical parameter's labels; `f` sees label `L{i}` as `i`.
const LEVELS: [&str; 4] = ["L0", "L1", "L2", "L3"];
/// The same labels listed in another order (the GP must not care).
const SHUFFLED: [&str; 4] = ["L2", "L0", "L3", "L1"];

fn branin(x: &[f64]) -> f64 {
    let (x1, x2) = (x[0], x[1]);
    let pi = std::f64::consts::PI;
    let b = 5.1 / (4.0 * pi * pi);
    let c = 5.0 / pi;
    (x2 - b * x1 * x1 + c * x1 - 6.0).powi(2) + 10.0 * (1.0 - 1.0 / (8.0 * pi)) * x1.cos() + 10.0
}

fn hartmann(x: &[f64], a: &[[f64; 6]; 4], p: &[[f64; 6]; 4]) -> f64 {
    const ALPHA: [f64; 4] = [1.0, 1.2, 3.0, 3.2];
    -(0..4)
        .map(|i| {
            let s: f64 = (0..x.len())
                .map(|j| a[i][j] * (x[j] - p[i][j]).powi(2))
                .sum();
            ALPHA[i] * (-s).exp()
        })
        .sum::<f64>()
}

fn hartmann6(x: &[f64]) -> f64 {
    const A: [[f64; 6]; 4] = [
        [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
        [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
        [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
        [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
    ];
    const P: [[f64; 6]; 4] = [
        [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
        [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
        [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
        [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
    ];
    hartmann(x, &A, &P)
}

fn hartmann3(x: &[f64]) -> f64 {
    const A: [[f64; 6]; 4] = [
        [3.0, 10.0, 30.0, 0.0, 0.0, 0.0],
        [0.1, 10.0, 35.0, 0.0, 0.0, 0.0],
        [3.0, 10.0, 30.0, 0.0, 0.0, 0.0],
        [0.1, 10.0, 35.0, 0.0, 0.0, 0.0],
    ];
    const P: [[f64; 6]; 4] = [
        [0.3689, 0.1170, 0.2673, 0.0, 0.0, 0.0],
        [0.4699, 0.4387, 0.7470, 0.0, 0.0, 0.0],
        [0.1091, 0.8732, 0.5547, 0.0, 0.0, 0.0],
        [0.0381, 0.5743, 0.8828, 0.0, 0.0, 0.0],
    ];
    hartmann(x, &A, &P)
}

fn levy(x: &[f64]) -> f64 {
    let pi = std::f64::consts::PI;
    let w: Vec<f64> = x.iter().map(|v| 1.0 + (v - 1.0) / 4.0).collect();
    let d = w.len();
    let mid: f64 = w[..d - 1]
        .iter()
        .map(|wi| (wi - 1.0).powi(2) * (1.0 + 10.0 * (pi * wi + 1.0).sin().powi(2)))
        .sum();
    (pi * w[0]).sin().powi(2)
        + mid
        + (w[d - 1] - 1.0).powi(2) * (1.0 + (2.0 * pi * w[d - 1]).sin().powi(2))
}

fn rosenbrock(x: &[f64]) -> f64 {
    x.windows(2)
        .map(|w| 100.0 * (w[1] - w[0] * w[0]).powi(2) + (1.0 - w[0]).powi(2))
        .sum()
}

fn ackley(x: &[f64]) -> f64 {
    let d = x.len() as f64;
    let two_pi = 2.0 * std::f64::consts::PI;
    let sq = x.iter().map(|v| v * v).sum::<f64>() / d;
    let cos = x.iter().map(|v| (two_pi * v).cos()).sum::<f64>() / d;
    -20.0 * (-0.2 * sq.sqrt()).exp() - cos.exp() + 20.0 + std::f64::consts::E
}

fn michalewicz(x: &[f64]) -> f64 {
    let pi = std::f64::consts::PI;
    -x.iter()
        .enumerate()
        .map(|(i, v)| v.sin() * ((i as f64 + 1.0) * v * v / pi).sin().powi(20))
        .sum::<f64>()
}

/// Two floats, an integer and a log-scaled integer: a bowl whose optimum is at integers.
fn int_mix(x: &[f64]) -> f64 {
    (x[0] - 0.3).powi(2)
        + (x[1] - 0.7).powi(2)
        + ((x[2] - 13.0) / 20.0).powi(2)
        + (x[3].log10() - 30f64.log10()).powi(2)
}

/// A label (offsets unrelated to the labels' order) plus Branin scaled down.
fn cat_mix(x: &[f64]) -> f64 {
    const OFFSET: [f64; 4] = [0.6, 0.0, 1.2, 0.3];
    OFFSET[x[2] as usize] + branin(&x[..2]) / 10.0
}

fn problems() -> Vec<Problem> {
    use Dim::{Cat, Float, Int};
    let cat = |name, levels: &'static [&'static str]| Problem {
        name,
        dims: vec![Float(-5.0, 10.0), Float(0.0, 15.0), Cat(levels)],
        optimum: 0.0397887,
        f: cat_mix,
    };
    vec![
        Problem {
            name: "branin",
            dims: vec![Float(-5.0, 10.0), Float(0.0, 15.0)],
            optimum: 0.397887,
            f: branin,
        },
        Problem {
            name: "hartmann3",
            dims: vec![Float(0.0, 1.0); 3],
            optimum: -3.86278,
            f: hartmann3,
        },
        Problem {
            name: "hartmann6",
            dims: vec![Float(0.0, 1.0); 6],
            optimum: -3.32237,
            f: hartmann6,
        },
        Problem {
            name: "michal5",
            dims: vec![Float(0.0, std::f64::consts::PI); 5],
            optimum: -4.687658,
            f: michalewicz,
        },
        Problem {
            name: "levy6",
            dims: vec![Float(-10.0, 10.0); 6],
            optimum: 0.0,
            f: levy,
        },
        Problem {
            name: "rosen6",
            dims: vec![Float(-5.0, 10.0); 6],
            optimum: 0.0,
            f: rosenbrock,
        },
        Problem {
            name: "ackley8",
            dims: vec![Float(-32.768, 32.768); 8],
            optimum: 0.0,
            f: ackley,
        },
        Problem {
            name: "int-mix",
            dims: vec![
                Float(0.0, 1.0),
                Float(0.0, 1.0),
                Int(0.0, 20.0, false),
                Int(1.0, 1000.0, true),
            ],
            optimum: 0.0,
            f: int_mix,
        },
        cat("cat-mix", &LEVELS),
        cat("cat-mix-shuf", &SHUFFLED),
    ]
}

fn space(p: &Problem) -> SearchSpace {
    SearchSpace {
        params: p
            .dims
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let name = format!("x{i}");
                match *d {
                    Dim::Float(lo, hi) => Param::range(&name, Kind::Float, lo, hi, false),
                    Dim::Int(lo, hi, log) => Param::range(&name, Kind::Int, lo, hi, log),
                    Dim::Cat(levels) => {
                        Param::list(&name, Kind::Cat(levels), &[0.0, 1.0, 2.0, 3.0])
                    }
                }
            })
            .collect(),
    }
}

fn point(p: &Params, d: usize) -> Vec<f64> {
    (0..d)
        .map(|i| match p[&format!("x{i}")] {
            tune::space::Value::Str(l) => LEVELS.iter().position(|x| *x == l).unwrap() as f64,
            v => v.as_f64(),
        })
        .collect()
}

/// Whether a float coordinate of `params` lies within 1e-9 of its range's width of a bound.
fn at_bound(p: &Problem, params: &Params) -> bool {
    let x = point(params, p.dims.len());
    p.dims.iter().zip(&x).any(|(d, v)| match *d {
        Dim::Float(lo, hi) => {
            (v - lo).abs() <= 1e-9 * (hi - lo) || (hi - v).abs() <= 1e-9 * (hi - lo)
        }
        _ => false,
    })
}

/// The samplers compared: the GP, TPE (with Optuna's 10 random start-up trials), random search.
const SAMPLERS: [&str; 3] = ["tune-gp", "tune-tpe", "random"];

/// One run of a sampler: the best value after each evaluation, the seconds of each suggestion
/// after the start-up trials, and how many of those suggestions had a float at a bound.
struct Run {
    best: Vec<f64>,
    times: Vec<f64>,
    at_bound: usize,
}

/// One run of sampler `which` (one of [`SAMPLERS`]) for `evals` evaluations.
fn run(p: &Problem, which: &str, seed: u64, evals: usize, settings: Option<GpSettings>) -> Run {
    let s = space(p);
    let d = p.dims.len();
    // The study's GP sampler with the study's default start-up, max(5, 2 × parameters).
    let metric = Metric {
        kind: MetricKind::ValLoss,
        goal: Goal::Min,
    };
    let startup = std::env::var("TUNE_STARTUP")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or((2 * d).max(5));
    let mut gp = GpSampler::new(s.clone(), seed, startup, metric);
    gp.settings = settings;
    let mut tpe = TpeSampler::new(s.clone(), seed, 10, metric);
    let mut history = tune::storage::History::default();
    let mut observed: Vec<(Params, f64)> = vec![];
    let mut out = Run {
        best: vec![],
        times: vec![],
        at_bound: 0,
    };
    for t in 0..evals as u64 {
        let t0 = Instant::now();
        let (params, after_startup) = match which {
            "random" => (
                s.sample(&mut seed::rng(seed, Purpose::Sample, t, 0)),
                t >= 10,
            ),
            "tune-tpe" => (tpe.ask(t, &history), t >= 10),
            _ => (gp.propose(t, &observed, &[]).params, t as usize >= startup),
        };
        if after_startup {
            out.times.push(t0.elapsed().as_secs_f64());
            out.at_bound += usize::from(at_bound(p, &params));
        }
        let y = (p.f)(&point(&params, d));
        history.trials.insert(t, finished(t, params.clone(), y));
        observed.push((params, y));
        out.best
            .push(observed.iter().map(|o| o.1).fold(f64::INFINITY, f64::min));
    }
    out
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Median time of one suggestion with `n` random points already evaluated.
fn time_at(p: &Problem, n: usize, settings: Option<GpSettings>, reps: u64) -> f64 {
    let s = space(p);
    let enc = Encoding::new(&s);
    let d = p.dims.len();
    let times = (0..reps)
        .map(|r| {
            let observed: Vec<(Params, f64)> = (0..n as u64)
                .map(|t| {
                    let params = s.sample(&mut seed::rng(100 + r, Purpose::Sample, t, 0));
                    let y = (p.f)(&point(&params, d));
                    (params, y)
                })
                .collect();
            let t0 = Instant::now();
            suggest(
                &s,
                &enc,
                settings.unwrap_or_default(),
                r,
                n as u64,
                n,
                &observed,
                &[],
            );
            t0.elapsed().as_secs_f64()
        })
        .collect();
    median(times)
}

/// TUNE_GP="candidates,searches,fit_iterations" overrides the GP's settings.
fn settings_from_env() -> Option<GpSettings> {
    std::env::var("TUNE_GP").ok().map(|v| {
        let n: Vec<usize> = v
            .split(',')
            .map(|x| {
                x.trim()
                    .parse()
                    .expect("TUNE_GP=candidates,searches,fit_iterations")
            })
            .collect();
        GpSettings {
            candidates: n[0],
            searches: n[1],
            fit_iterations: n[2],
        }
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let seeds: u64 = arg("--seeds").and_then(|s| s.parse().ok()).unwrap_or(10);
    let only = arg("--only");
    let which_only = arg("--sampler");
    let settings = settings_from_env();
    if let Some(s) = settings {
        println!("{s:?}");
    }
    let per_seed = args.iter().any(|a| a == "--per-seed");
    let timings = args.iter().any(|a| a == "--times");
    println!(
        "{:<12} {:<10} {:>12} {:>12} {:>8} {:>14} {:>8} {:>8} {:>8}",
        "function",
        "sampler",
        "regret@20",
        "regret@40",
        "bound",
        "s/suggestion",
        "t@50",
        "t@100",
        "t@200"
    );
    for p in problems() {
        if only
            .as_ref()
            .is_some_and(|o| !o.split(',').any(|n| n == p.name))
        {
            continue;
        }
        for which in SAMPLERS {
            if which_only.as_ref().is_some_and(|w| w != which) {
                continue;
            }
            let runs: Vec<Run> = (0..seeds)
                .map(|s| run(&p, which, s, 40, settings))
                .collect();
            if per_seed {
                let finals: Vec<String> = runs
                    .iter()
                    .map(|r| format!("{:.4}", r.best[39] - p.optimum))
                    .collect();
                eprintln!(
                    "{} {}: regret@40 per seed: {}",
                    p.name,
                    which,
                    finals.join(" ")
                );
            }
            let regret =
                |n: usize| median(runs.iter().map(|r| r.best[n - 1] - p.optimum).collect());
            let asked: usize = runs.iter().map(|r| r.times.len()).sum();
            let bound = runs.iter().map(|r| r.at_bound).sum::<usize>() as f64 / asked.max(1) as f64;
            let per = median(runs.iter().flat_map(|r| r.times.clone()).collect());
            let (t50, t100, t200) = if which == "tune-gp" && timings {
                (
                    time_at(&p, 50, settings, 3),
                    time_at(&p, 100, settings, 3),
                    time_at(&p, 200, settings, 3),
                )
            } else {
                (0.0, 0.0, 0.0)
            };
            println!(
                "{:<12} {:<10} {:>12.6} {:>12.6} {:>7.0}% {:>14.4} {:>8.4} {:>8.4} {:>8.4}",
                p.name,
                which,
                regret(20),
                regret(40),
                100.0 * bound,
                per,
                t50,
                t100,
                t200
            );
        }
    }
}
