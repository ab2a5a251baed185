//! The pre-flight check (`tune check`), from the "useful overfitting" advice: before a study spends
//! its budget, each distinct model of the space trains on one small batch until it has memorised
//! it. A model that cannot has a likely reason: too little capacity (the loss plateaus), learning
//! rates that diverge, or the data (a constant target, rows that cannot be told apart). This file
//! owns the models tried, the runs and their verdicts; `main.rs` prints them.

use std::time::Instant;

use dfdx::tensor::Cpu;

use super::model::{evaluate, layer_sizes, Mlp, Net, Optimizer};
use crate::data::{Dataset, Task};
use crate::error::Result;
use crate::plan::{MetricKind, OptimizerKind, StudyPlan};
use crate::seed::{self, Purpose};
use crate::space::{num, Params, Value};

/// Rows of the batch: the first training rows (fewer when the data has fewer).
pub const BATCH_ROWS: usize = 32;
/// Steps a model may take to memorise the batch at one learning rate.
pub const MAX_STEPS: usize = 1000;
/// Regression: memorised when the loss is below this share of the best constant guess's loss
/// (the batch's variance) or of its start, whichever is lower: learning the mean is not memorising.
pub const MEMORISED: f64 = 0.01;
/// More models than this (the product of every architecture and optimizer value) are tried one
/// parameter at a time instead.
const MAX_MODELS: usize = 32;
/// A loss this many times its start has diverged, even while finite.
const GROWN: f64 = 100.0;
/// The parameters that make a model distinct (learning rates are tried on each; the batch size
/// does not change what one batch can teach).
const MODEL_PARAMS: [&str; 3] = ["hidden_width", "weight_decay", "momentum"];

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
    let data = &*plan.dataset;
    let rows = data.train.rows.min(BATCH_ROWS);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    data.fill(&data.train, &(0..rows).collect::<Vec<_>>(), &mut x, &mut y);
    let learning_rates = learning_rates(plan);
    let (models, note) = models(plan);
    let mut check = Check {
        rows,
        learning_rates,
        data_problem: data_problem(data, &plan.spec.data.target),
        conflicts: conflicts(&x, &y, rows),
        note,
        models: vec![],
        seconds: 0.0,
    };
    if check.data_problem.is_none() {
        let batch = Batch { x, y, rows };
        for (i, params) in models.iter().enumerate() {
            let runs = check
                .learning_rates
                .iter()
                .map(|&lr| run(plan, &batch, params, lr, i as u64))
                .collect::<Result<_>>()?;
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

/// Trains a fresh model `params` at `lr` on `batch` until it memorises it, diverges, or takes
/// [`MAX_STEPS`] steps.
fn run(plan: &StudyPlan, batch: &Batch, params: &Params, lr: f64, model: u64) -> Result<Run> {
    let data = &*plan.dataset;
    let mut params = params.clone();
    params.insert("learning_rate".into(), Value::Float(lr));
    let sizes = layer_sizes(&plan.model, &params, data.n_inputs(), data.n_outputs());
    let dev = Cpu::default();
    let mlp = Mlp::init(
        &dev,
        &sizes,
        &mut seed::rng(plan.seed, Purpose::Check, model, 0),
    );
    let opt = Optimizer::new(&plan.model, &params, &mlp)?;
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
    let mut losses = Vec::with_capacity(MAX_STEPS);
    for step in 1..=MAX_STEPS {
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
        steps: MAX_STEPS,
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
/// middle (geometric on a log scale); the optimizer's default when the space has none.
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

/// The distinct models of the space: every combination of the values [`MODEL_PARAMS`] take there
/// (a list's values, a range's ends); more than [`MAX_MODELS`] of them, each value once, the
/// other parameters at their first values (and a note saying so). Momentum changes only SGD.
fn models(plan: &StudyPlan) -> (Vec<Params>, Option<String>) {
    let axes: Vec<(String, Vec<Value>)> = plan
        .space
        .params
        .iter()
        .filter(|p| MODEL_PARAMS.contains(&p.name.as_str()))
        .filter(|p| p.name != "momentum" || plan.model.optimizer == OptimizerKind::Sgd)
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
    let data = &*plan.dataset;
    let sizes = layer_sizes(&plan.model, params, data.n_inputs(), data.n_outputs());
    let hidden: Vec<String> = sizes[1..sizes.len() - 1]
        .iter()
        .map(|h| h.to_string())
        .collect();
    let optimizer = match plan.model.optimizer {
        OptimizerKind::Adam => "adam",
        OptimizerKind::Sgd => "sgd",
    };
    let mut out = format!("hidden [{}], {optimizer}", hidden.join(", "));
    for (name, v) in params.iter().filter(|(n, _)| *n != "hidden_width") {
        out += &format!(", {name} {}", num(v.as_f64()));
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

impl ModelCheck {
    /// What the runs say: memorised at some learning rate, or the likeliest reason it is not.
    pub fn verdict(&self, conflicts: usize) -> Verdict {
        let has = |o| self.runs.iter().any(|r| r.outcome == o);
        if has(Outcome::Memorised) {
            Verdict::Memorised
        } else if self.runs.iter().all(|r| r.outcome == Outcome::Diverged) {
            Verdict::Diverges
        } else if conflicts > 0 {
            Verdict::Data
        } else if has(Outcome::Falling) {
            Verdict::Slow
        } else {
            Verdict::Capacity
        }
    }

    /// The model's line: how it memorised the batch (steps, loss start → end), or why it cannot;
    /// and the learning rates that diverge.
    pub fn line(&self, check: &Check) -> String {
        let diverging: Vec<&Run> = self
            .runs
            .iter()
            .filter(|r| r.outcome == Outcome::Diverged)
            .collect();
        let best = |o: Outcome| {
            self.runs
                .iter()
                .filter(|r| r.outcome == o)
                .min_by(|a, b| a.steps.cmp(&b.steps).then(a.end.total_cmp(&b.end)))
        };
        let kept = |r: &Run| format!("loss {} → {}", short(r.start), short(r.end));
        let lowest = || {
            self.runs
                .iter()
                .filter(|r| r.outcome != Outcome::Diverged)
                .min_by(|a, b| a.end.total_cmp(&b.end))
                .expect("a run that did not diverge")
        };
        let mut line = format!("{}: ", self.label);
        line += &match self.verdict(check.conflicts) {
            Verdict::Memorised => {
                let r = best(Outcome::Memorised).expect("a memorised run");
                format!(
                    "memorised in {} steps at learning rate {} ({})",
                    r.steps,
                    num(r.learning_rate),
                    kept(r)
                )
            }
            Verdict::Diverges => format!(
                "cannot memorise: the loss diverges at every learning rate ({})",
                diverging
                    .iter()
                    .map(|r| format!("{}: {} at step {}", num(r.learning_rate), short(r.end), r.steps))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Verdict::Data => format!(
                "cannot memorise ({}): {}",
                kept(lowest()),
                conflict_sentence(check.conflicts)
            ),
            Verdict::Slow => {
                let r = best(Outcome::Falling).expect("a falling run");
                format!(
                    "not memorised in {MAX_STEPS} steps: the loss is still falling at learning rate {} ({}); it learns slowly",
                    num(r.learning_rate),
                    kept(r)
                )
            }
            Verdict::Capacity => format!(
                "cannot memorise: the loss plateaus ({} at learning rate {}): the model lacks the capacity",
                kept(lowest()),
                num(lowest().learning_rate)
            ),
        };
        if self.verdict(check.conflicts) == Verdict::Memorised {
            line += &self.others(best(Outcome::Memorised));
        }
        if !diverging.is_empty() && self.verdict(check.conflicts) != Verdict::Diverges {
            line += &format!(
                "; diverges at learning rate {}",
                diverging
                    .iter()
                    .map(|r| num(r.learning_rate))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        line
    }
}

impl ModelCheck {
    /// The learning rates other than `shown` that did not diverge: `; also at 0.001 (40 steps);
    /// not in 1000 steps at 0.0001`.
    fn others(&self, shown: Option<&Run>) -> String {
        let rest = || {
            self.runs
                .iter()
                .filter(move |r| Some(*r) != shown && r.outcome != Outcome::Diverged)
        };
        let also: Vec<String> = rest()
            .filter(|r| r.outcome == Outcome::Memorised)
            .map(|r| format!("{} ({} steps)", num(r.learning_rate), r.steps))
            .collect();
        let not: Vec<String> = rest()
            .filter(|r| r.outcome != Outcome::Memorised)
            .map(|r| num(r.learning_rate))
            .collect();
        let mut out = String::new();
        if !also.is_empty() {
            out += &format!("; also at {}", also.join(", "));
        }
        if !not.is_empty() {
            out += &format!("; not in {MAX_STEPS} steps at {}", not.join(", "));
        }
        out
    }
}

fn conflict_sentence(n: usize) -> String {
    format!(
        "a data problem: {n} row{} of the batch repeat{} another row's inputs with another target",
        if n == 1 { "" } else { "s" },
        if n == 1 { "s" } else { "" }
    )
}

impl Check {
    /// Whether every model memorised the batch at some learning rate of the space.
    pub fn passed(&self) -> bool {
        self.data_problem.is_none()
            && self
                .models
                .iter()
                .all(|m| m.verdict(self.conflicts) == Verdict::Memorised)
    }

    /// What was tried, in one line.
    pub fn header(&self) -> String {
        let models = self.models.len();
        format!(
            "checking {models} model{} × {} learning rate{} on one batch (the first {} training rows), at most {MAX_STEPS} steps each",
            if models == 1 { "" } else { "s" },
            self.learning_rates.len(),
            if self.learning_rates.len() == 1 { "" } else { "s" },
            self.rows
        )
    }

    /// The verdict, in one sentence.
    pub fn summary(&self) -> String {
        if let Some(p) = &self.data_problem {
            return format!("no model can memorise the batch: a data problem: {p}");
        }
        let failing: Vec<&ModelCheck> = self
            .models
            .iter()
            .filter(|m| m.verdict(self.conflicts) != Verdict::Memorised)
            .collect();
        let n = self.models.len();
        if failing.is_empty() {
            return format!(
                "every model memorises the batch ({n} model{}, {:.1} s)",
                if n == 1 { "" } else { "s" },
                self.seconds
            );
        }
        let mut why: Vec<Verdict> = failing.iter().map(|m| m.verdict(self.conflicts)).collect();
        why.dedup();
        let reasons: Vec<String> = why.iter().map(|v| self.reason(*v)).collect();
        let who = if failing.len() == n {
            format!("no model memorises the batch ({n} tried)")
        } else {
            format!(
                "{} of {n} models cannot memorise the batch ({})",
                failing.len(),
                failing
                    .iter()
                    .map(|m| m.label.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        };
        format!("{who}: {}", reasons.join("; "))
    }

    fn reason(&self, v: Verdict) -> String {
        let lrs = || {
            self.learning_rates
                .iter()
                .map(|&x| num(x))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match v {
            Verdict::Memorised => String::new(),
            Verdict::Diverges => format!(
                "every learning rate of the space diverges ({}): try smaller ones",
                lrs()
            ),
            Verdict::Data => conflict_sentence(self.conflicts),
            Verdict::Slow => format!(
                "learning too slowly at the space's learning rates ({}): try larger ones",
                lrs()
            ),
            Verdict::Capacity => {
                "the loss plateaus: too little capacity (try wider or more hidden layers)".into()
            }
        }
    }
}

/// A loss in a few significant digits.
fn short(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    if x.abs() >= 1e6 {
        return format!("{x:.3e}");
    }
    let x: f64 = format!("{x:.3e}").parse().expect("a float's own text");
    num(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lr: f64, outcome: Outcome, steps: usize, end: f64) -> Run {
        Run {
            learning_rate: lr,
            steps,
            start: 2.0,
            end,
            outcome,
        }
    }

    fn check(runs: Vec<Run>, conflicts: usize) -> Check {
        Check {
            rows: 32,
            learning_rates: runs.iter().map(|r| r.learning_rate).collect(),
            data_problem: None,
            conflicts,
            note: None,
            models: vec![ModelCheck {
                label: "hidden [8], adam".into(),
                runs,
            }],
            seconds: 0.1,
        }
    }

    #[test]
    fn a_model_memorises_with_some_learning_rate() {
        let c = check(
            vec![
                run(1e-4, Outcome::Falling, MAX_STEPS, 0.5),
                run(1e-2, Outcome::Memorised, 80, 0.001),
                run(10.0, Outcome::Diverged, 3, f64::NAN),
            ],
            0,
        );
        assert!(c.passed());
        let line = c.models[0].line(&c);
        assert_eq!(
            line,
            "hidden [8], adam: memorised in 80 steps at learning rate 0.01 (loss 2 → 0.001); not in 1000 steps at 0.0001; diverges at learning rate 10"
        );
        assert!(
            c.summary().starts_with("every model memorises"),
            "{}",
            c.summary()
        );
    }

    #[test]
    fn verdicts_name_the_likely_reason() {
        let all_diverge = check(
            vec![
                run(10.0, Outcome::Diverged, 2, f64::INFINITY),
                run(100.0, Outcome::Diverged, 1, f64::NAN),
            ],
            0,
        );
        assert!(!all_diverge.passed());
        assert_eq!(all_diverge.models[0].verdict(0), Verdict::Diverges);
        assert!(all_diverge.summary().contains("diverges (10, 100)"));
        let plateau = check(vec![run(1e-3, Outcome::Plateau, MAX_STEPS, 1.5)], 0);
        assert_eq!(plateau.models[0].verdict(0), Verdict::Capacity);
        assert!(plateau.models[0]
            .line(&plateau)
            .contains("lacks the capacity"));
        // Rows no model can tell apart come before capacity.
        let data = check(vec![run(1e-3, Outcome::Plateau, MAX_STEPS, 1.5)], 2);
        assert_eq!(data.models[0].verdict(2), Verdict::Data);
        assert!(data.summary().contains("2 rows of the batch repeat"));
        let slow = check(vec![run(1e-5, Outcome::Falling, MAX_STEPS, 1.0)], 0);
        assert_eq!(slow.models[0].verdict(0), Verdict::Slow);
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
