//! Bayesian search and TPE against random search on Branin and Hartmann6: median simple regret over seeds
//! after 20 and 50 evaluations, and the median time per GP suggestion at 50, 100 and 200 evaluations.
//! Run: `cargo bench --bench gp` (`-- --seeds N` to change the number of seeds, default 40, as
//! benches/gp.sh).
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

struct Problem {
    name: &'static str,
    bounds: Vec<(f64, f64)>,
    optimum: f64,
    f: fn(&[f64]) -> f64,
}

fn branin(x: &[f64]) -> f64 {
    let (x1, x2) = (x[0], x[1]);
    let pi = std::f64::consts::PI;
    let b = 5.1 / (4.0 * pi * pi);
    let c = 5.0 / pi;
    (x2 - b * x1 * x1 + c * x1 - 6.0).powi(2) + 10.0 * (1.0 - 1.0 / (8.0 * pi)) * x1.cos() + 10.0
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
    const ALPHA: [f64; 4] = [1.0, 1.2, 3.0, 3.2];
    -(0..4)
        .map(|i| {
            ALPHA[i]
                * (-(0..6)
                    .map(|j| A[i][j] * (x[j] - P[i][j]).powi(2))
                    .sum::<f64>())
                .exp()
        })
        .sum::<f64>()
}

fn space(p: &Problem) -> SearchSpace {
    SearchSpace {
        params: p
            .bounds
            .iter()
            .enumerate()
            .map(|(i, &(low, high))| Param::range(&format!("x{i}"), Kind::Float, low, high, false))
            .collect(),
    }
}

fn point(p: &Params, d: usize) -> Vec<f64> {
    (0..d).map(|i| p[&format!("x{i}")].as_f64()).collect()
}

/// The samplers compared: the GP, TPE (with Optuna's 10 random start-up trials), random search.
const SAMPLERS: [&str; 3] = ["tune-gp", "tune-tpe", "random"];

/// Best value after each evaluation of one run of sampler `which` (one of [`SAMPLERS`]).
fn run(
    p: &Problem,
    which: &str,
    seed: u64,
    evals: usize,
    settings: Option<GpSettings>,
    times: &mut Vec<f64>,
) -> Vec<f64> {
    let s = space(p);
    let d = p.bounds.len();
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
    let mut best = vec![];
    for t in 0..evals as u64 {
        let params = if which == "random" {
            s.sample(&mut seed::rng(seed, Purpose::Sample, t, 0))
        } else if which == "tune-tpe" {
            let t0 = Instant::now();
            let params = tpe.ask(t, &history);
            if t >= 10 {
                times.push(t0.elapsed().as_secs_f64());
            }
            history
                .trials
                .insert(t, finished(t, params.clone(), (p.f)(&point(&params, d))));
            params
        } else {
            let t0 = Instant::now();
            let sug = gp.propose(t, &observed, &[]);
            if t as usize >= startup {
                times.push(t0.elapsed().as_secs_f64());
            }
            sug.params
        };
        let y = (p.f)(&point(&params, d));
        observed.push((params, y));
        best.push(observed.iter().map(|o| o.1).fold(f64::INFINITY, f64::min));
    }
    best
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
    let d = p.bounds.len();
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
                &observed,
                &[],
            );
            t0.elapsed().as_secs_f64()
        })
        .collect();
    median(times)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let seeds = arg("--seeds", 40);
    // TUNE_GP="starts,infill_starts,max_eval" overrides the settings at every size, for tuning
    // GpSettings::default() against this table; TUNE_STARTUP=N the number of start-up trials.
    let settings: Option<GpSettings> = std::env::var("TUNE_GP").ok().map(|v| {
        let n: Vec<usize> = v
            .split(',')
            .map(|x| x.trim().parse().expect("TUNE_GP=starts,infill,max_eval"))
            .collect();
        GpSettings {
            gp_starts: n[0],
            infill_starts: n[1],
            gp_max_eval: n[2],
        }
    });
    if let Some(s) = settings {
        println!("{s:?}");
    }
    let problems = [
        Problem {
            name: "branin",
            bounds: vec![(-5.0, 10.0), (0.0, 15.0)],
            optimum: 0.397887,
            f: branin,
        },
        Problem {
            name: "hartmann6",
            bounds: vec![(0.0, 1.0); 6],
            optimum: -3.32237,
            f: hartmann6,
        },
    ];
    println!(
        "{:<10} {:<8} {:>12} {:>12} {:>14} {:>10} {:>10} {:>10}",
        "function", "sampler", "regret@20", "regret@50", "s/suggestion", "t@50", "t@100", "t@200"
    );
    for p in &problems {
        for which in SAMPLERS {
            let bayes = which == "tune-gp";
            let mut times = vec![];
            let curves: Vec<Vec<f64>> = (0..seeds)
                .map(|s| run(p, which, s, 50, settings, &mut times))
                .collect();
            if args.iter().any(|a| a == "--per-seed") {
                let finals: Vec<String> = curves
                    .iter()
                    .map(|c| format!("{:.4}", c[49] - p.optimum))
                    .collect();
                eprintln!(
                    "{} {}: regret@50 per seed: {}",
                    p.name,
                    which,
                    finals.join(" ")
                );
            }
            let regret = |n: usize| median(curves.iter().map(|c| c[n - 1] - p.optimum).collect());
            let (per, t50, t100, t200) = if bayes {
                (
                    median(times),
                    time_at(p, 50, settings, 3),
                    time_at(p, 100, settings, 3),
                    time_at(p, 200, settings, 3),
                )
            } else {
                let per = if times.is_empty() { 0.0 } else { median(times) };
                (per, 0.0, 0.0, 0.0)
            };
            println!(
                "{:<10} {:<8} {:>12.6} {:>12.6} {:>14.4} {:>10.4} {:>10.4} {:>10.4}",
                p.name,
                which,
                regret(20),
                regret(50),
                per,
                t50,
                t100,
                t200
            );
        }
    }
}
