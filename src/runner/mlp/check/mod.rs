//! The pre-flight check (`tune check`), from the "useful overfitting" advice: before a study spends
//! its budget, each distinct model of the space trains on one small batch until it has memorised
//! it. A model that cannot has a likely reason: too little capacity (the loss plateaus), learning
//! rates that diverge, or the data (a constant target, rows that cannot be told apart). This file
//! owns the models tried and the runs; `verdict` what they say; `main.rs` prints it.

use std::time::Instant;

use dfdx::tensor::Cpu;

use super::model::{evaluate, Mlp, Net, Optimizer};
use super::params::{MlpParams, PARAMS};
use crate::data::{Dataset, Task};
use crate::error::Result;
use crate::objective::MetricKind;
use crate::plan::StudyPlan;
use crate::runner::mlp::settings::{self, OptimizerKind};
use crate::seed::{self, Purpose};
use crate::space::{num, Params, Role, Value};

mod verdict;

/// Rows of the batch: the first training rows (fewer when the data has fewer).
pub const BATCH_ROWS: usize = 32;
/// Steps a model may take to memorise the batch at one learning rate.
pub const MAX_STEPS: usize = 1000;
/// Once a model has memorised the batch, the next smaller learning rate gets this many times the
/// steps it took, and at least [`MIN_STEPS`].
pub const SLOWER: usize = 4;
pub const MIN_STEPS: usize = 100;
/// Regression: memorised when the loss is below this share of the best constant guess's loss
/// (the batch's variance) or of its start, whichever is lower: learning the mean is not memorising.
pub const MEMORISED: f64 = 0.01;
/// More models than this (the product of every architecture and optimizer value) are tried one
/// parameter at a time instead.
const MAX_MODELS: usize = 32;
/// A loss this many times its start has diverged, even while finite.
const GROWN: f64 = 100.0;
/// Whether parameter `name` makes a model distinct: those of its shape and its optimizer
/// (learning rates are tried on each; the batch size does not change what one batch can teach).
fn of_the_model(name: &str) -> bool {
    PARAMS
        .iter()
        .any(|d| d.name == name && d.role != Role::Training)
}

/// Whether parameter `name` sets the network's shape (which a model's label shows as its layers).
fn of_the_shape(name: &str) -> bool {
    PARAMS
        .iter()
        .any(|d| d.name == name && d.role == Role::Shape)
}

/// Whether a model of the space may train with SGD (`model.optimizer`, or the space's
/// `optimizer`): else momentum changes nothing.
fn sgd_possible(plan: &StudyPlan) -> bool {
    let searched = plan.space.params.iter().find(|p| p.name == "optimizer");
    match searched {
        Some(p) => p.ends().contains(&Value::Str("sgd")),
        None => settings::of(plan).optimizer == OptimizerKind::Sgd,
    }
}

/// The whole check: a data problem found before training, or each model's runs.
#[derive(Clone, Debug)]
pub struct Check {
    /// Rows of the batch.
    pub rows: usize,
    /// The learning rates tried on every model, ascending.
    pub learning_rates: Vec<f64>,
    /// A problem of the data that no model can get past; nothing is trained then.
    pub data_problem: Option<String>,
    /// Rows of the batch whose inputs repeat an earlier row's with another target.
    pub conflicts: usize,
    /// Set when the models were too many for their product: which were tried instead.
    pub note: Option<String>,
    pub models: Vec<ModelCheck>,
    pub seconds: f64,
}

/// One model of the space, at every learning rate tried.
#[derive(Clone, Debug)]
pub struct ModelCheck {
    /// The model as a person names it: `hidden [64, 64], adam, weight_decay 0.01`.
    pub label: String,
    pub runs: Vec<Run>,
}

/// One model trained at one learning rate.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    pub learning_rate: f64,
    /// Steps taken (to memorising, diverging, or the limit).
    pub steps: usize,
    /// The batch's loss before the first step and after the last.
    pub start: f64,
    pub end: f64,
    pub outcome: Outcome,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Memorised,
    /// The loss became NaN or infinite, or grew far above its start.
    Diverged,
    /// Not memorised within the step limit, the loss still falling.
    Falling,
    /// Not memorised, the loss no longer falling.
    Plateau,
}

/// What a model's runs say, most hopeful first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Memorised,
    /// Every learning rate diverges.
    Diverges,
    /// The batch has rows that no model can tell apart.
    Data,
    /// The loss still falls at the step limit: learning too slowly.
    Slow,
    /// The loss plateaus: too little capacity.
    Capacity,
}

/// Runs the check of `plan`'s space on its data, on the CPU. Writes nothing.
pub fn check(plan: &StudyPlan) -> Result<Check> {
    let t0 = Instant::now();
    let data = &**plan.data();
    let rows = data.train.rows.min(BATCH_ROWS);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    data.fill(&data.train, &(0..rows).collect::<Vec<_>>(), &mut x, &mut y);
    let learning_rates = learning_rates(plan);
    let (models, note) = models(plan);
    let mut check = Check {
        rows,
        learning_rates,
        data_problem: data_problem(
            data,
            plan.spec.data.as_ref().map_or("", |d| d.target.as_str()),
        ),
        conflicts: conflicts(&x, &y, rows),
        note,
        models: vec![],
        seconds: 0.0,
    };
    if check.data_problem.is_none() {
        let batch = Batch { x, y, rows };
        for (i, params) in models.iter().enumerate() {
            let runs = model_runs(plan, &batch, params, &check.learning_rates, i as u64)?;
            check.models.push(ModelCheck {
                label: label(plan, params),
                runs,
            });
        }
    }
    check.seconds = t0.elapsed().as_secs_f64();
    Ok(check)
}

/// The batch, as model inputs and targets (one-hot for classification).
struct Batch {
    x: Vec<f32>,
    y: Vec<f32>,
    rows: usize,
}

/// Model number `model`, `params`, trained at each of `lrs` (ascending), largest first: once it has
/// memorised the batch, a smaller learning rate only says how much slower it is, and gets
/// [`SLOWER`] times the steps the last memorising run took (at least [`MIN_STEPS`]) rather than
/// [`MAX_STEPS`]. The runs come back in the order of `lrs`.
fn model_runs(
    plan: &StudyPlan,
    batch: &Batch,
    params: &Params,
    lrs: &[f64],
    model: u64,
) -> Result<Vec<Run>> {
    let mut runs = Vec::with_capacity(lrs.len());
    let mut limit = MAX_STEPS;
    for &lr in lrs.iter().rev() {
        let r = run(plan, batch, params, lr, model, limit)?;
        if r.outcome == Outcome::Memorised {
            limit = (SLOWER * r.steps).clamp(MIN_STEPS, MAX_STEPS);
        }
        runs.push(r);
    }
    runs.reverse();
    Ok(runs)
}

/// Trains a fresh model `params` at `lr` on `batch` until it memorises it, diverges, or takes
/// `limit` steps.
fn run(
    plan: &StudyPlan,
    batch: &Batch,
    params: &Params,
    lr: f64,
    model: u64,
    limit: usize,
) -> Result<Run> {
    let data = &**plan.data();
    let mut params = params.clone();
    params.insert("learning_rate".into(), Value::Float(lr));
    let p = MlpParams::of(settings::of(plan), &params);
    let sizes = p.layer_sizes(settings::of(plan), data.n_inputs(), data.n_outputs());
    let dev = Cpu::default();
    let mlp = Mlp::init(
        &dev,
        &sizes,
        &mut seed::rng(plan.seed, Purpose::Check, model, 0),
    )
    .with_activation(p.activation);
    let opt = Optimizer::new(settings::of(plan), &p, &mlp)?;
    let mut net = Net::new(dev, mlp, opt, data.task)?;
    let (x, y, rows) = (&batch.x, &batch.y, batch.rows);
    let score = |net: &Net<Cpu>| {
        let out = net.predict(x.clone(), rows);
        let e = evaluate(data.task, MetricKind::Accuracy, &out, y, rows);
        (e.loss, e.metric)
    };
    let (start, _) = score(&net);
    let target = match data.task {
        Task::Regression => MEMORISED * start.min(variance(y)),
        Task::Classification => f64::NAN,
    };
    let mut losses = Vec::with_capacity(limit);
    for step in 1..=limit {
        net.train_step(x, y, rows)?;
        let (loss, accuracy) = score(&net);
        losses.push(loss);
        let end = |outcome| Run {
            learning_rate: lr,
            steps: step,
            start,
            end: loss,
            outcome,
        };
        if !loss.is_finite() || loss > GROWN * start {
            return Ok(end(Outcome::Diverged));
        }
        let memorised = match data.task {
            Task::Regression => loss < target,
            Task::Classification => accuracy == 1.0,
        };
        if memorised {
            return Ok(end(Outcome::Memorised));
        }
    }
    let end = *losses.last().expect("at least one step");
    Ok(Run {
        learning_rate: lr,
        steps: limit,
        start,
        end,
        outcome: stalled(&losses, start),
    })
}

/// Why a run that did not memorise the batch in time stopped short: a loss above its start grew
/// (diverged); one whose last tenth of the steps still took a fifth off it was falling; else it
/// has plateaued.
fn stalled(losses: &[f64], start: f64) -> Outcome {
    let end = losses[losses.len() - 1];
    if end > start {
        return Outcome::Diverged;
    }
    let tenth = (losses.len() / 10).max(1);
    let before = losses[losses.len() - 1 - tenth.min(losses.len() - 1)];
    if end < 0.8 * before {
        Outcome::Falling
    } else {
        Outcome::Plateau
    }
}

/// The mean squared distance of the targets from their mean: the loss of the best constant guess.
fn variance(y: &[f32]) -> f64 {
    let n = y.len() as f64;
    let mean = y.iter().map(|&v| v as f64).sum::<f64>() / n;
    y.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n
}

/// The learning rates tried on each model, ascending: a list's values; a range's ends and its
/// middle (geometric on a log scale). (A space without one is refused by the plan today; the
/// optimizer's default stands in.)
fn learning_rates(plan: &StudyPlan) -> Vec<f64> {
    let Some(p) = plan.space.params.iter().find(|p| p.name == "learning_rate") else {
        return vec![1e-3];
    };
    let mut lrs: Vec<f64> = p.ends().into_iter().map(Value::as_f64).collect();
    if let crate::space::Domain::Range { low, high, log, .. } = p.domain {
        if low < high {
            let mid = if log {
                (low * high).sqrt()
            } else {
                (low + high) / 2.0
            };
            // Two significant digits: a number a person would have written.
            let mid: f64 = format!("{mid:.1e}").parse().expect("a float's own text");
            lrs.push(mid.clamp(low, high));
        }
    }
    lrs.sort_by(f64::total_cmp);
    lrs.dedup();
    lrs
}

/// The distinct models of the space: every combination of the values its parameters of the
/// model ([`of_the_model`]) take there (a list's values, a range's ends), each once as
/// [`canonical`] makes it; more than [`MAX_MODELS`] of them, each value once, the other
/// parameters at their first values (and a note saying so).
fn models(plan: &StudyPlan) -> (Vec<Params>, Option<String>) {
    let (all, note) = combinations(plan);
    let mut distinct: Vec<Params> = Vec::with_capacity(all.len());
    for m in all.into_iter().map(|m| canonical(plan, m)) {
        if !distinct.contains(&m) {
            distinct.push(m);
        }
    }
    (distinct, note)
}

/// `model` without what changes nothing in it: a parameter whose condition fails on the model's
/// values of the parameters it names (conditional spaces), and momentum where the optimizer is
/// Adam.
fn canonical(plan: &StudyPlan, mut model: Params) -> Params {
    for i in plan.space.draw_order() {
        let p = &plan.space.params[i];
        let decided = p.when.names().all(|n| model.contains_key(n));
        if decided && !p.when.holds(&model) {
            model.remove(&p.name);
        }
    }
    if MlpParams::of(settings::of(plan), &model).optimizer == OptimizerKind::Adam {
        model.remove("momentum");
    }
    model
}

/// The combinations [`models`] starts from. Momentum changes only SGD.
fn combinations(plan: &StudyPlan) -> (Vec<Params>, Option<String>) {
    let axes: Vec<(String, Vec<Value>)> = plan
        .space
        .params
        .iter()
        .filter(|p| of_the_model(&p.name))
        .filter(|p| p.name != "momentum" || sgd_possible(plan))
        .map(|p| (p.name.clone(), p.ends()))
        .collect();
    let product: usize = axes.iter().map(|(_, v)| v.len()).product();
    if product <= MAX_MODELS {
        let mut all = vec![Params::new()];
        for (name, values) in &axes {
            all = all
                .into_iter()
                .flat_map(|base| {
                    values.iter().map(move |v| {
                        let mut p = base.clone();
                        p.insert(name.clone(), *v);
                        p
                    })
                })
                .collect();
        }
        return (all, None);
    }
    let first: Params = axes.iter().map(|(n, v)| (n.clone(), v[0])).collect();
    let mut all = vec![first.clone()];
    for (name, values) in &axes {
        for v in &values[1..] {
            let mut p = first.clone();
            p.insert(name.clone(), *v);
            all.push(p);
        }
    }
    let note = format!(
        "the space has {product} distinct models: each value tried once, the others at their first"
    );
    (all, Some(note))
}

/// The model as a person names it: its layers, its optimizer, and the settings the space varies.
fn label(plan: &StudyPlan, params: &Params) -> String {
    let data = &**plan.data();
    let p = MlpParams::of(settings::of(plan), params);
    let sizes = p.layer_sizes(settings::of(plan), data.n_inputs(), data.n_outputs());
    let hidden: Vec<String> = sizes[1..sizes.len() - 1]
        .iter()
        .map(|h| h.to_string())
        .collect();
    let optimizer = match p.optimizer {
        OptimizerKind::Adam => "adam",
        OptimizerKind::Sgd => "sgd",
    };
    let mut out = format!("hidden [{}]", hidden.join(", "));
    if !p.activation.is_relu() {
        out += &format!(" {}", p.activation.name());
    }
    out += &format!(", {optimizer}");
    let shown = |n: &str| !of_the_shape(n) && n != "optimizer";
    for (name, v) in params.iter().filter(|(n, _)| shown(n)) {
        match v {
            Value::Str(s) => out += &format!(", {name} {s}"),
            v => out += &format!(", {name} {}", num(v.as_f64())),
        }
    }
    out
}

/// A problem of the whole training split that no model can get past: a target with one value,
/// or rows whose inputs are all the same.
fn data_problem(data: &Dataset, target: &str) -> Option<String> {
    let y = &data.train.y;
    let first = *y.first()?;
    if y.iter().all(|&v| v == first) {
        return Some(match data.task {
            Task::Regression => format!(
                "the target \"{target}\" is {} in every training row: there is nothing to learn",
                num(first as f64)
            ),
            Task::Classification => format!(
                "every training row is of class \"{}\": there is nothing to learn",
                data.classes[first as usize]
            ),
        });
    }
    let f = data.n_inputs();
    let x = &data.train.x;
    if f == 0 || x.chunks_exact(f).all(|r| r == &x[..f]) {
        return Some(format!(
            "every training row has the same inputs (each of the {f} feature columns is constant): no model can tell the rows apart"
        ));
    }
    None
}

/// Rows of the batch whose inputs repeat an earlier row's with another target: no model can fit
/// both.
fn conflicts(x: &[f32], y: &[f32], rows: usize) -> usize {
    let (f, c) = (x.len() / rows.max(1), y.len() / rows.max(1));
    let row = |v: &[f32], i: usize, w: usize| v[i * w..(i + 1) * w].to_vec();
    (1..rows)
        .filter(|&i| (0..i).any(|j| row(x, i, f) == row(x, j, f) && row(y, i, c) != row(y, j, c)))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Overrides;
    use crate::testutil::TempDir;

    /// A plan on the wine data with `optimizer` and the search space `space`.
    fn plan(dir: &TempDir, optimizer: &str, space: serde_json::Value) -> StudyPlan {
        let wine = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("studies/data/winequality-red.csv");
        let spec = serde_json::json!({
            "name": "check", "seed": 5,
            "data": { "path": wine, "target": "quality", "task": "regression" },
            "model": { "hidden": [8, 8], "optimizer": optimizer },
            "budget": { "total_examples": 400, "virtual_epochs": 4 },
            "search": { "method": "random", "trials": 3, "space": space }
        });
        let file = dir.path().join("check.json");
        std::fs::write(&file, spec.to_string()).unwrap();
        StudyPlan::load(
            &file,
            &Overrides::default(),
            &crate::runner::mlp::params::FAMILY,
        )
        .unwrap()
    }

    #[test]
    fn the_models_are_the_product_of_architecture_and_optimizer_values() {
        let dir = TempDir::new();
        let space = serde_json::json!({
            "batch_size": [16, 64],
            "hidden_width": { "low": 4, "high": 64, "log": true },
            "weight_decay": [0, 0.1],
            "momentum": [0, 0.9],
            "learning_rate": { "low": 1e-4, "high": 1e-2, "log": true }
        });
        let p = plan(&dir, "adam", space.clone());
        let (models, note) = models(&p);
        // Adam has no momentum: two widths (the range's ends) × two weight decays.
        assert_eq!(models.len(), 4);
        assert_eq!(note, None);
        let labels: Vec<String> = models.iter().map(|m| label(&p, m)).collect();
        assert_eq!(labels[0], "hidden [4, 4], adam, weight_decay 0");
        assert_eq!(labels[3], "hidden [64, 64], adam, weight_decay 0.1");
        assert_eq!(learning_rates(&p), [1e-4, 1e-3, 1e-2]);
        let p = plan(&dir, "sgd", space);
        let sgd = super::models(&p).0;
        assert_eq!(sgd.len(), 8);
        assert_eq!(
            label(&p, &sgd[1]),
            "hidden [4, 4], sgd, momentum 0, weight_decay 0.1"
        );
    }

    /// A searched activation and optimizer are the model's: each combination is a model, momentum
    /// counts for SGD only, dropout and the schedule are training's (not tried).
    #[test]
    fn searched_activations_and_optimizers_are_distinct_models() {
        let dir = TempDir::new();
        let space = serde_json::json!({
            "batch_size": [16],
            "learning_rate": [0.01],
            "activation": ["gelu", "relu"],
            "optimizer": ["adam", "sgd"],
            "momentum": [0.5],
            "dropout": [0.1, 0.2],
            "schedule": ["cosine"]
        });
        let p = plan(&dir, "adam", space);
        let (models, _) = models(&p);
        let labels: Vec<String> = models.iter().map(|m| label(&p, m)).collect();
        assert_eq!(
            labels,
            [
                "hidden [8, 8] gelu, adam",
                "hidden [8, 8] gelu, sgd, momentum 0.5",
                "hidden [8, 8], adam",
                "hidden [8, 8], sgd, momentum 0.5"
            ]
        );
    }

    #[test]
    fn too_many_models_are_tried_one_value_at_a_time() {
        let dir = TempDir::new();
        let widths: Vec<usize> = (1..=40).collect();
        let p = plan(
            &dir,
            "adam",
            serde_json::json!({ "batch_size": [16], "hidden_width": widths, "weight_decay": [0, 0.1], "learning_rate": [0.01] }),
        );
        let (models, note) = models(&p);
        assert_eq!(models.len(), 41);
        assert!(note
            .unwrap()
            .starts_with("the space has 80 distinct models"));
        assert_eq!(learning_rates(&p), [0.01]);
    }

    #[test]
    fn a_stalled_loss_is_falling_plateaued_or_grown() {
        // A fifth off over the last tenth of the steps is still falling; 1/step is not.
        let falling: Vec<f64> = (0..100).map(|i| 0.97f64.powi(i)).collect();
        assert_eq!(stalled(&falling, 2.0), Outcome::Falling);
        let flat: Vec<f64> = (0..100).map(|i| 1.0 + 1.0 / (1.0 + i as f64)).collect();
        assert_eq!(stalled(&flat, 2.0), Outcome::Plateau);
        assert_eq!(stalled(&[3.0, 4.0], 2.0), Outcome::Diverged);
    }

    #[test]
    fn conflicting_rows_are_counted() {
        // Rows 0 and 2 share inputs with other targets; row 3 repeats row 1 with the same target.
        let x = [1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0];
        let y = [0.0, 1.0, 5.0, 1.0];
        assert_eq!(conflicts(&x, &y, 4), 1);
        assert_eq!(conflicts(&x, &[0.0, 1.0, 0.0, 1.0], 4), 0);
    }

    #[test]
    fn variance_is_the_constant_guess_loss() {
        assert_eq!(variance(&[1.0, 3.0]), 1.0);
        assert_eq!(variance(&[5.0, 5.0]), 0.0);
    }
}
