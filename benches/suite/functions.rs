//! The objectives of the sampler suite (benches/suite/problems.json names them), the same closed
//! forms as benches/peers/optuna_suite.py's: `cargo bench --bench suite -- --check` and
//! `optuna_suite.py --check` compare them at fixed points. Each reads its parameters by name; a
//! conditional parameter is read only on the branch where it is active.

use std::f64::consts::{E, PI};

use serde_json::{json, Value as J};
use tune::space::{Params, Value};

/// The objective named `name` in problems.json.
pub fn by_name(name: &str) -> Option<fn(&Params) -> f64> {
    Some(match name {
        "branin" => branin,
        "log_goldstein_price" => log_goldstein_price,
        "hartmann3" => hartmann3,
        "hartmann6" => hartmann6,
        "michalewicz" => michalewicz,
        "levy" => levy,
        "rosenbrock" => rosenbrock,
        "ackley" => ackley,
        "styblinski_tang" => styblinski_tang,
        "lr_batch" => lr_batch,
        "integer_mix" => integer_mix,
        "categorical_mix" => categorical_mix,
        "conditional_optimizer" => conditional_optimizer,
        "conditional_model" => conditional_model,
        _ => return None,
    })
}

fn num(p: &Params, name: &str) -> f64 {
    p.get(name)
        .unwrap_or_else(|| panic!("{name} is missing from {p:?}"))
        .as_f64()
}

fn label(p: &Params, name: &str) -> &'static str {
    match p.get(name) {
        Some(Value::Str(s)) => s,
        other => panic!("{name} is not a label: {other:?}"),
    }
}

/// The coordinates x0, x1, ... of a test function's point.
fn xs(p: &Params) -> Vec<f64> {
    (0..)
        .map_while(|i| p.get(&format!("x{i}")))
        .map(|v| v.as_f64())
        .collect()
}

/// Surjanovic & Bingham's Virtual Library of Simulation Experiments (SFU) gives the test
/// functions below, their domains and their optima (stated in problems.json).
fn branin(p: &Params) -> f64 {
    let (x1, x2) = (num(p, "x0"), num(p, "x1"));
    let b = 5.1 / (4.0 * PI * PI);
    let c = 5.0 / PI;
    (x2 - b * x1 * x1 + c * x1 - 6.0).powi(2) + 10.0 * (1.0 - 1.0 / (8.0 * PI)) * x1.cos() + 10.0
}

fn log_goldstein_price(p: &Params) -> f64 {
    let (x1, x2) = (num(p, "x0"), num(p, "x1"));
    let a = 1.0
        + (x1 + x2 + 1.0).powi(2)
            * (19.0 - 14.0 * x1 + 3.0 * x1 * x1 - 14.0 * x2 + 6.0 * x1 * x2 + 3.0 * x2 * x2);
    let b = 30.0
        + (2.0 * x1 - 3.0 * x2).powi(2)
            * (18.0 - 32.0 * x1 + 12.0 * x1 * x1 + 48.0 * x2 - 36.0 * x1 * x2 + 27.0 * x2 * x2);
    (a * b).ln()
}

fn hartmann<const D: usize>(x: &[f64], a: [[f64; D]; 4], c: [[f64; D]; 4]) -> f64 {
    const ALPHA: [f64; 4] = [1.0, 1.2, 3.0, 3.2];
    -(0..4)
        .map(|i| {
            let r: f64 = (0..D).map(|j| a[i][j] * (x[j] - c[i][j]).powi(2)).sum();
            ALPHA[i] * (-r).exp()
        })
        .sum::<f64>()
}

fn hartmann3(p: &Params) -> f64 {
    let a = [
        [3.0, 10.0, 30.0],
        [0.1, 10.0, 35.0],
        [3.0, 10.0, 30.0],
        [0.1, 10.0, 35.0],
    ];
    let c = [
        [0.3689, 0.1170, 0.2673],
        [0.4699, 0.4387, 0.7470],
        [0.1091, 0.8732, 0.5547],
        [0.0381, 0.5743, 0.8828],
    ];
    hartmann(&xs(p), a, c)
}

fn hartmann6(p: &Params) -> f64 {
    let a = [
        [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
        [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
        [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
        [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
    ];
    let c = [
        [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
        [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
        [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
        [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
    ];
    hartmann(&xs(p), a, c)
}

/// m = 10.
fn michalewicz(p: &Params) -> f64 {
    -xs(p)
        .iter()
        .enumerate()
        .map(|(i, x)| x.sin() * ((i + 1) as f64 * x * x / PI).sin().powi(20))
        .sum::<f64>()
}

fn levy(p: &Params) -> f64 {
    let w: Vec<f64> = xs(p).iter().map(|x| 1.0 + (x - 1.0) / 4.0).collect();
    let last = w[w.len() - 1];
    let mid: f64 = w[..w.len() - 1]
        .iter()
        .map(|wi| (wi - 1.0).powi(2) * (1.0 + 10.0 * (PI * wi + 1.0).sin().powi(2)))
        .sum();
    (PI * w[0]).sin().powi(2) + mid + (last - 1.0).powi(2) * (1.0 + (2.0 * PI * last).sin().powi(2))
}

fn rosenbrock(p: &Params) -> f64 {
    let x = xs(p);
    x.windows(2)
        .map(|w| 100.0 * (w[1] - w[0] * w[0]).powi(2) + (w[0] - 1.0).powi(2))
        .sum()
}

/// a = 20, b = 0.2, c = 2π.
fn ackley(p: &Params) -> f64 {
    let x = xs(p);
    let d = x.len() as f64;
    let sq: f64 = x.iter().map(|v| v * v).sum();
    let cos: f64 = x.iter().map(|v| (2.0 * PI * v).cos()).sum();
    -20.0 * (-0.2 * (sq / d).sqrt()).exp() - (cos / d).exp() + 20.0 + E
}

fn styblinski_tang(p: &Params) -> f64 {
    0.5 * xs(p)
        .iter()
        .map(|v| v.powi(4) - 16.0 * v * v + 5.0 * v)
        .sum::<f64>()
}

/// An HPO-like surface: the best learning rate grows as the square root of the batch size, and far
/// above it training diverges (a cliff of 1). 0 at 1e-3, 128, 1e-4, 0.2.
fn lr_batch(p: &Params) -> f64 {
    let bs = num(p, "batch_size");
    let a = num(p, "learning_rate").log10() + 3.0 - 0.5 * (bs / 128.0).log10();
    let f = a * a
        + 0.05 * (bs.log2() - 7.0).powi(2)
        + 0.1 * (num(p, "weight_decay").log10() + 4.0).powi(2)
        + 2.0 * (num(p, "dropout") - 0.2).powi(2);
    f + if a > 1.0 { 1.0 } else { 0.0 }
}

/// Integers (one with a cosine ripple, one on a log scale), a list of numbers and a float. 0 at
/// layers 7, offset -3, units 30, width 128, rate 0.37.
fn integer_mix(p: &Params) -> f64 {
    let (layers, offset, rate) = (num(p, "layers"), num(p, "offset"), num(p, "rate"));
    let f = 0.1 * (layers - 7.0).powi(2)
        + 0.2 * (offset + 3.0).powi(2)
        + 0.5 * (1.0 - (PI * (offset + 3.0) / 2.0).cos());
    let f = f
        + 4.0 * (num(p, "units") / 30.0).log10().powi(2)
        + 0.5 * (num(p, "width") / 128.0).log2().powi(2);
    f + 5.0 * (rate - 0.37).powi(2) + 0.5 * (layers - 7.0).abs() * (rate - 0.37).abs()
}

/// Labels with offsets (listed in problems.json out of their offsets' order), a shape whose best
/// x differs by level, and one penalised pair. 0 at red, square, x 0.2, k 4.
fn categorical_mix(p: &Params) -> f64 {
    let color = match label(p, "color") {
        "red" => 0.0,
        "green" => 0.15,
        "blue" => 0.3,
        "yellow" => 0.5,
        "white" => 0.8,
        "black" => 1.2,
        other => panic!("no color {other}"),
    };
    let shape = label(p, "shape");
    let (offset, center) = match shape {
        "square" => (0.0, 0.2),
        "circle" => (0.1, 0.8),
        "triangle" => (0.25, 0.5),
        other => panic!("no shape {other}"),
    };
    let f =
        color + offset + 3.0 * (num(p, "x") - center).powi(2) + 0.02 * (num(p, "k") - 4.0).powi(2);
    f + if label(p, "color") == "red" && shape == "circle" {
        0.3
    } else {
        0.0
    }
}

/// momentum only for sgd (whose best is 0.1, at momentum 0.9 and a step of 10^-0.5 / (1 -
/// momentum)), beta1 only for adam (0 at learning rate 1e-3, beta1 0.9, batch size 64).
fn conditional_optimizer(p: &Params) -> f64 {
    let lr = num(p, "learning_rate").log10();
    let bs = num(p, "batch_size").log2();
    if label(p, "optimizer") == "sgd" {
        let m = num(p, "momentum");
        let e = lr - (1.0 - m).log10() + 0.5;
        return e * e + 2.0 * (m - 0.9).powi(2) + 0.05 * (bs - 6.0).powi(2) + 0.1;
    }
    (lr + 3.0).powi(2) + 4.0 * (num(p, "beta1") - 0.9).powi(2) + 0.05 * (bs - 6.0).powi(2)
}

/// A model family and each family's own parameters: tree 0.2 at best (depth 8), linear 0.3 (l2
/// 0.01, learning rate 0.01), mlp 0 (learning rate 1e-3, 3 layers of 256, dropout 0.1).
fn conditional_model(p: &Params) -> f64 {
    let model = label(p, "model");
    if model == "tree" {
        return 0.2 + 0.01 * (num(p, "depth") - 8.0).powi(2);
    }
    let lr = num(p, "learning_rate").log10();
    if model == "linear" {
        return 0.3 + 0.2 * (num(p, "l2").log10() + 2.0).powi(2) + (lr + 2.0).powi(2);
    }
    let (a, b) = (num(p, "layers") - 3.0, num(p, "width").log2() - 8.0);
    (lr + 3.0).powi(2)
        + 0.1 * a * a
        + 0.3 * b * b
        + 0.1 * a * b
        + 2.0 * (num(p, "dropout") - 0.1).powi(2)
}

/// The value at fraction `u` of a parameter's range as problems.json writes it (in log where it is
/// on a log scale, integers rounded), or a list's value at that fraction: the points of `--check`.
pub fn at_fraction(spec: &J, u: f64) -> J {
    if let Some(xs) = spec.as_array() {
        return xs[((u * xs.len() as f64) as usize).min(xs.len() - 1)].clone();
    }
    let (lo, hi) = (
        spec["low"].as_f64().unwrap(),
        spec["high"].as_f64().unwrap(),
    );
    let x = if spec["log"].as_bool().unwrap_or(false) {
        (lo.ln() + u * (hi.ln() - lo.ln())).exp()
    } else {
        lo + u * (hi - lo)
    };
    if spec["low"].is_i64() && spec["high"].is_i64() {
        json!(x.round() as i64)
    } else {
        json!(x)
    }
}
