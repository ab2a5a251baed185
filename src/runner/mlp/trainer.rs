//! One trial, from its start (or its last checkpoint) to its last virtual epoch: batches from the
//! seeded stream, a step each, and at every virtual-epoch boundary: validate, checkpoint, select.

use std::sync::mpsc::Receiver;
use std::time::Instant;

use super::model::{
    evaluate, host_forward, set_threads, threads, Activation, Backend, Dropout, Eval, Mlp, Net,
    Optimizer,
};
use super::params::MlpParams;
use super::schedule::Schedule;
use super::settings;
use serde::{Deserialize, Serialize};

use crate::artifacts::{Checkpoint, CheckpointMeta, HostTensor};
use crate::curve::{select_best, CurveRow};
use crate::data::{wait_in_pool, Batches, Stream, Task};
use crate::error::{Error, Result};
use crate::objective::MetricKind;
use crate::plan::StudyPlan;
use crate::runner::{Boundary, Flow, Job, Phases, TrialHost, TrialOutcome};
use crate::seed::{self, Purpose};
use crate::storage::Status;

/// Validation rows per forward pass.
const EVAL_CHUNK: usize = 4096;

/// Runs `job` on `dev`: from its start checkpoint when it has one, each virtual epoch's checkpoint
/// handed to `host`, which makes it durable and answers whether the trial goes on.
pub fn run_trial<D: Backend>(
    dev: D,
    plan: &StudyPlan,
    job: Job,
    host: &mut dyn TrialHost,
) -> Result<TrialOutcome> {
    let start = Instant::now();
    let data = &**plan.data();
    let budget = plan.budget;
    let params = job.params;
    set_threads(host.threads());
    let p = MlpParams::of(settings::of(plan), params);
    let sizes = p.layer_sizes(settings::of(plan), data.n_inputs(), data.n_outputs());
    let batch = p.batch_size;

    let (mut net, stream, mut meta) = begin(&dev, plan, job, (&p, &sizes))?;
    let mut ends = Ends {
        plan,
        host,
        start,
        base_seconds: meta.seconds,
        schedule: p.schedule(settings::of(plan), budget.total_examples),
        cost: cost(plan, &sizes),
    };
    let val = std::sync::Arc::new(Validation::of(data, &data.val, plan, p.activation));
    // On the CPU, when the trial has a second thread, a virtual epoch is validated there while
    // the next one trains, and the result is taken at the first step it is ready; the next pass
    // over the data is shuffled and gathered there too. The same arithmetic, the same order of
    // events, off the trial's critical path.
    let overlap = D::VALIDATE_ON_HOST && threads() > 1;
    let mut running: Option<Receiver<(Trained, Scored)>> = None;
    let mut batches = if overlap {
        Batches::with_look_ahead(plan.data(), stream)
    } else {
        Batches::new(data, stream)
    };
    let mut ph = Phases::default();

    for k in meta.virtual_epoch + 1..=budget.virtual_epochs {
        let mut loss_sum = 0.0f64;
        // Two clock reads a step: the loop's own bookkeeping counts with batch assembly.
        let mut t0 = Instant::now();
        for (i, rows) in budget.batches_in(k, batch).enumerate() {
            if let Some(Ok((trained, eval))) = running.as_ref().map(|rx| rx.try_recv()) {
                running = None;
                if let Some(end) = ends.finish(trained, eval, &mut meta.curve, &mut ph)? {
                    return Ok(ends.outcome(end, ph, meta.curve));
                }
            }
            let (x, y) = batches.next(data, rows);
            let t1 = Instant::now();
            net.opt.set_lr(ends.schedule.rate(meta.examples_seen));
            let loss = net.train_step(x, y, rows)?;
            let t2 = Instant::now();
            ph.batches += (t1 - t0).as_secs_f64();
            ph.compute += (t2 - t1).as_secs_f64();
            t0 = t2;
            meta.steps += 1;
            meta.examples_seen += rows as u64;
            if !loss.is_finite() {
                // The previous virtual epoch's validation comes first, as without the overlap.
                if let Some(end) = ends.settle(&mut running, &mut meta.curve, &mut ph)? {
                    return Ok(ends.outcome(end, ph, meta.curve));
                }
                let end = End::Failed(format!(
                    "training loss became {loss} at step {} (virtual epoch {k})",
                    meta.steps
                ));
                return Ok(ends.outcome(end, ph, meta.curve));
            }
            loss_sum += loss as f64 * rows as f64;
            if i % 64 == 63 {
                ends.host.progress(meta.examples_seen);
                // The cores of workers that finished.
                set_threads(ends.host.threads());
            }
        }
        if let Some(end) = ends.settle(&mut running, &mut meta.curve, &mut ph)? {
            return Ok(ends.outcome(end, ph, meta.curve));
        }

        let t0 = Instant::now();
        meta.virtual_epoch = k;
        MlpState::at(&sizes, p.activation, batches.position()).write(&mut meta);
        meta.seconds = ends.seconds();
        let train_loss = loss_sum / budget.examples_in(k) as f64;
        let trained = Trained::copy(&net, &meta, train_loss);
        let t1 = Instant::now();
        ph.checkpoints += (t1 - t0).as_secs_f64();
        if overlap {
            let (tx, rx) = std::sync::mpsc::channel();
            let val = val.clone();
            rayon::spawn(move || {
                let eval = val.on_host(&trained.checkpoint.weights);
                let _ = tx.send((trained, eval));
            });
            running = Some(rx);
            continue;
        }
        let eval = if D::VALIDATE_ON_HOST {
            val.on_host(&trained.checkpoint.weights)
        } else {
            val.eval(|x, rows| net.predict(x.to_vec(), rows))
        };
        ph.validation += t1.elapsed().as_secs_f64();
        if let Some(end) = ends.finish(trained, eval, &mut meta.curve, &mut ph)? {
            return Ok(ends.outcome(end, ph, meta.curve));
        }
    }
    let end = ends
        .settle(&mut running, &mut meta.curve, &mut ph)?
        .unwrap_or(End::Complete);
    Ok(ends.outcome(end, ph, meta.curve))
}

/// The network, the data stream and the checkpoint metadata a trial starts with: fresh from the
/// seed, or restored from the checkpoint it continues from.
fn begin<D: Backend>(
    dev: &D,
    plan: &StudyPlan,
    job: Job,
    (p, sizes): (&MlpParams, &[usize]),
) -> Result<(Net<D>, Stream, CheckpointMeta)> {
    let data = &**plan.data();
    let (trial, params) = (job.trial, job.params);
    let sizes = sizes.to_vec();
    let activation = p.activation;
    // The streams of the checkpoint's lineage: after an exploit, the copied member's go on.
    let streams = job.streams;
    let dropout = Dropout {
        rate: p.dropout,
        seed: plan.seed,
        trial: streams,
    };
    let (net, stream, mut meta) = match job.start {
        None => {
            let (mlp, opt) = match &plan.init {
                None => {
                    let mlp = Mlp::init(
                        dev,
                        &sizes,
                        &mut seed::rng(plan.seed, Purpose::Init, trial, 0),
                    )
                    .with_activation(activation);
                    let opt = Optimizer::new(settings::of(plan), p, &mlp)?;
                    (mlp, opt)
                }
                // Fine-tuning: the checkpoint's weights (the plan made the shapes agree), and its
                // optimizer's state when asked.
                Some(init) => {
                    let mlp = Mlp::from_host(dev, &sizes, &init.checkpoint.weights)?
                        .with_activation(activation);
                    let mut opt = Optimizer::new(settings::of(plan), p, &mlp)?;
                    if init.keep_optimizer {
                        opt.restore(&mlp, &init.checkpoint.optimizer)?;
                    }
                    (mlp, opt)
                }
            };
            let mut meta = CheckpointMeta::fresh(trial, params);
            MlpState::at(&sizes, activation, (0, 0)).write(&mut meta);
            let stream = Stream::at(plan.seed, trial, data.train.rows, 0, 0);
            let net = Net::new(dev.clone(), mlp, opt, data.task)?.with_dropout(dropout, 0);
            (net, stream, meta)
        }
        Some(c) => {
            let state = MlpState::read(&c.meta)
                .filter(|s| s.layer_sizes == sizes && s.activation == activation);
            let Some(state) = state.filter(|_| &c.meta.params == params) else {
                return Err(Error::Damaged(format!(
                    "the checkpoint of trial {trial} at virtual epoch {} belongs to other parameters",
                    c.meta.virtual_epoch
                )));
            };
            let mlp = Mlp::from_host(dev, &sizes, &c.weights)?.with_activation(activation);
            let mut opt = Optimizer::new(settings::of(plan), p, &mlp)?;
            opt.restore(&mlp, &c.optimizer)?;
            let stream = Stream::at(
                plan.seed,
                streams,
                data.train.rows,
                state.stream_pass,
                state.stream_pos,
            );
            let net = Net::new(dev.clone(), mlp, opt, data.task)?;
            (net.with_dropout(dropout, c.meta.steps), stream, c.meta)
        }
    };
    // How the inputs were prepared, for a prediction from any checkpoint (kept on resume: the
    // fingerprint holds it equal).
    meta.runner
        .entry("preprocessing".to_string())
        .or_insert_with(|| serde_json::to_value(&*data.prep).expect("plain fields serialise"));
    Ok((net, stream, meta))
}

/// The MLP's part of a checkpoint's metadata: the network's shape, and the data stream's position
/// (pass number and offset in the pass; its shuffle derives from them).
#[derive(Serialize, Deserialize)]
struct MlpState {
    layer_sizes: Vec<usize>,
    /// Absent in a ReLU network's (as before it was recorded).
    #[serde(default, skip_serializing_if = "Activation::is_relu")]
    activation: Activation,
    stream_pass: u64,
    stream_pos: usize,
}

impl MlpState {
    fn at(
        sizes: &[usize],
        activation: Activation,
        (stream_pass, stream_pos): (u64, usize),
    ) -> MlpState {
        MlpState {
            layer_sizes: sizes.to_vec(),
            activation,
            stream_pass,
            stream_pos,
        }
    }

    fn write(&self, meta: &mut CheckpointMeta) {
        let v = serde_json::to_value(self).expect("plain fields serialise");
        if let serde_json::Value::Object(fields) = v {
            meta.runner.extend(fields);
        }
    }

    /// `None` for a checkpoint some other runner wrote.
    fn read(meta: &CheckpointMeta) -> Option<MlpState> {
        let fields: serde_json::Map<String, serde_json::Value> =
            meta.runner.clone().into_iter().collect();
        serde_json::from_value(serde_json::Value::Object(fields)).ok()
    }
}

/// The validation rows, shared with the thread that validates.
struct Validation {
    x: crate::data::Floats,
    y: Vec<f32>,
    rows: usize,
    inputs: usize,
    task: Task,
    metric: MetricKind,
    /// The metrics several objectives or constraints read besides the loss and `metric`.
    extra: Vec<MetricKind>,
    /// The network's, which the host forward applies.
    activation: Activation,
}

impl Validation {
    /// The rows `rows` of `data` (its validation rows, or its test rows for the final score),
    /// built once: they never change; the metrics, the study's (`plan`'s objectives).
    fn of(
        data: &crate::data::Dataset,
        rows: &crate::data::Split,
        plan: &StudyPlan,
        activation: Activation,
    ) -> Validation {
        let extra = plan.objectives.extra();
        let extra = extra.into_iter().filter(|k| !is_cost(k.name())).collect();
        Validation {
            extra,
            ..Self::metric(data, rows, plan.metric.kind, activation)
        }
    }

    /// [`Validation::of`] with the study's metric `metric` only.
    fn metric(
        data: &crate::data::Dataset,
        rows: &crate::data::Split,
        metric: MetricKind,
        activation: Activation,
    ) -> Validation {
        let c = data.n_outputs();
        let y: Vec<f32> = match data.task {
            Task::Regression => rows.y.to_vec(),
            Task::Classification => rows
                .y
                .iter()
                .flat_map(|&k| (0..c).map(move |j| (j == k as usize) as u8 as f32))
                .collect(),
        };
        Validation {
            // The inputs as they are in the data set (shared, or mapped from the cache): `fill`
            // copies them in their order; only the targets change (one-hot).
            x: rows.x.clone(),
            y,
            rows: rows.rows,
            inputs: data.n_inputs(),
            task: data.task,
            metric,
            extra: vec![],
            activation,
        }
    }

    /// Loss and metric of the outputs `forward` gives for chunks of the inputs, and the other
    /// metrics the objectives read.
    fn eval(&self, mut forward: impl FnMut(&[f32], usize) -> Vec<f32>) -> Scored {
        let f = self.inputs;
        let mut out = Vec::new();
        for x in self.x.chunks(EVAL_CHUNK * f) {
            out.extend(forward(x, x.len() / f));
        }
        let eval = evaluate(self.task, self.metric, &out, &self.y, self.rows);
        let extra = self.extra.iter().map(|&k| {
            let e = evaluate(self.task, k, &out, &self.y, self.rows);
            (
                k.name(),
                if k == MetricKind::ValLoss {
                    e.loss
                } else {
                    e.metric
                },
            )
        });
        (eval, extra.collect())
    }

    /// [`Validation::eval`] of the network with host weights `weights` (see [`host_forward`]).
    fn on_host(&self, weights: &[HostTensor]) -> Scored {
        self.eval(|x, rows| host_forward(weights, self.activation, x, rows))
    }
}

/// Loss and metric of the network whose host weights are `weights` on the rows `rows` of `data`,
/// computed as validation computes them (the same chunks, the same arithmetic).
pub(super) fn score(
    data: &crate::data::Dataset,
    rows: &crate::data::Split,
    metric: MetricKind,
    (weights, activation): (&[HostTensor], Activation),
) -> Eval {
    Validation::metric(data, rows, metric, activation)
        .on_host(weights)
        .0
}

/// A validation's loss and metric, and the other metrics (by name) the objectives read.
type Scored = (Eval, Vec<(&'static str, f64)>);

/// Whether `name` is one of the built-in trainer's cost metrics, which no validation computes.
fn is_cost(name: &str) -> bool {
    name == crate::objective::PARAMETERS || name == crate::objective::FLOPS
}

/// The network's cost metrics when several objectives or constraints may read them (none
/// otherwise): its trainable weights, and the multiply-adds of one example's forward pass, for
/// the layer sizes `sizes` (inputs, hidden widths, outputs).
fn cost(plan: &StudyPlan, sizes: &[usize]) -> Vec<(&'static str, f64)> {
    if plan.objectives.plain() {
        return vec![];
    }
    let (weights, products) = super::weights_and_products(sizes);
    vec![
        (crate::objective::PARAMETERS, weights),
        (crate::objective::FLOPS, products),
    ]
}

/// A virtual epoch trained and copied to the host, before its validation: the checkpoint's curve
/// still lacks the epoch's row.
struct Trained {
    checkpoint: Checkpoint,
    train_loss: f64,
}

impl Trained {
    /// The virtual epoch's state copied to the host: the copy serves the checkpoint, and on the
    /// CPU the validation too.
    fn copy<D: Backend>(net: &Net<D>, meta: &CheckpointMeta, train_loss: f64) -> Trained {
        Trained {
            checkpoint: Checkpoint {
                meta: meta.clone(),
                weights: net.mlp.to_host(),
                optimizer: net.opt.to_host(&net.mlp),
                files: None,
            },
            train_loss,
        }
    }
}

/// How a trial leaves the trainer.
enum End {
    /// Every virtual epoch trained.
    Complete,
    Failed(String),
    /// The scheduler stopped it.
    Stopped {
        seconds: f64,
        reason: String,
    },
    /// Asked to stop; resumes later.
    Interrupted {
        seconds: f64,
    },
}

/// What the end of a virtual epoch needs from the trial.
struct Ends<'a> {
    plan: &'a StudyPlan,
    host: &'a mut dyn TrialHost,
    start: Instant,
    base_seconds: f64,
    /// The trial's learning rate: each step's is the schedule's at the examples seen before it,
    /// and each row records it.
    schedule: Schedule,
    /// The network's cost metrics, which each row reports when several objectives or
    /// constraints may read them (see [`cost`]).
    cost: Vec<(&'static str, f64)>,
}

impl Ends<'_> {
    /// Validated: the epoch's row joins `curve`, its checkpoint goes to the host, whose answer
    /// may end the trial here.
    fn finish(
        &mut self,
        trained: Trained,
        (eval, extra): Scored,
        curve: &mut Vec<CurveRow>,
        ph: &mut Phases,
    ) -> Result<Option<End>> {
        let t0 = Instant::now();
        let mut c = trained.checkpoint;
        let k = c.meta.virtual_epoch;
        if !eval.loss.is_finite() {
            return Ok(Some(End::Failed(format!(
                "validation loss became {} at virtual epoch {k}",
                eval.loss
            ))));
        }
        let row = CurveRow {
            virtual_epoch: k,
            examples_seen: c.meta.examples_seen,
            steps: c.meta.steps,
            train_loss: trained.train_loss,
            val_loss: eval.loss,
            metric: eval.metric,
            learning_rate: Some(self.schedule.rate(c.meta.examples_seen)),
            reported: Default::default(),
        };
        let row = self.reporting(row, extra);
        curve.push(row.clone());
        c.meta.curve.push(row.clone());
        let seconds = c.meta.seconds;
        let best = select_best(curve, self.plan.metric) == Some(curve.len() - 1);
        let flow = self.host.boundary(Boundary {
            checkpoint: Box::new(c),
            row,
            best,
        })?;
        set_threads(self.host.threads());
        ph.checkpoints += t0.elapsed().as_secs_f64();
        if k >= self.plan.budget.virtual_epochs {
            return Ok(None);
        }
        Ok(match flow {
            Flow::Continue => None,
            Flow::Stop(reason) => Some(End::Stopped { seconds, reason }),
            Flow::Interrupt => Some(End::Interrupted { seconds }),
        })
    }

    /// `row` with every number several objectives or constraints may read among its reported
    /// ones (its columns', the `extra` metrics, the cost metrics), as a program's rows have
    /// them; as it is for a study of one objective.
    fn reporting(&self, mut row: CurveRow, extra: Vec<(&'static str, f64)>) -> CurveRow {
        if self.plan.objectives.plain() {
            return row;
        }
        let own = self.plan.curve_metric();
        let columns = [
            ("val_loss", row.val_loss),
            ("train_loss", row.train_loss),
            ("steps", row.steps as f64),
        ];
        let metric = (own != MetricKind::ValLoss).then_some((own.name(), row.metric));
        let all = columns.into_iter().chain(metric).chain(extra);
        row.reported = all
            .chain(self.cost.iter().copied())
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        row
    }

    /// Waits for the validation still running, if any, and finishes its virtual epoch.
    fn settle(
        &mut self,
        running: &mut Option<Receiver<(Trained, Scored)>>,
        curve: &mut Vec<CurveRow>,
        ph: &mut Phases,
    ) -> Result<Option<End>> {
        match running.take() {
            None => Ok(None),
            Some(rx) => {
                let (trained, eval) = wait(rx, ph)?;
                self.finish(trained, eval, curve, ph)
            }
        }
    }

    /// The trial's training time so far, its earlier runs' included.
    fn seconds(&self) -> f64 {
        self.base_seconds + self.start.elapsed().as_secs_f64()
    }

    fn outcome(&self, end: End, phases: Phases, curve: Vec<CurveRow>) -> TrialOutcome {
        let now = self.seconds();
        let (status, reason, seconds) = match end {
            End::Complete => (Status::Complete, None, now),
            End::Failed(r) => (Status::Failed, Some(r), now),
            End::Stopped { seconds, reason } => (Status::Stopped, Some(reason), seconds),
            End::Interrupted { seconds } => (Status::Running, None, seconds),
        };
        TrialOutcome {
            status,
            reason,
            seconds,
            phases,
            curve,
        }
    }
}

/// Waits for a validation running on another thread of the pool, helping with the pool's work
/// meanwhile (with one free thread it is usually done long before).
fn wait(rx: Receiver<(Trained, Scored)>, ph: &mut Phases) -> Result<(Trained, Scored)> {
    let t0 = Instant::now();
    let got = wait_in_pool(&rx).ok_or_else(|| Error::Backend("the validation job died".into()));
    ph.validation += t0.elapsed().as_secs_f64();
    got
}
