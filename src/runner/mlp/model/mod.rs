//! The model: a ReLU MLP with runtime layer sizes built from dfdx tensor ops, and the optimizer whose
//! state (Adam moments and step count, or SGD velocity) we own so that a checkpoint can save it.
//! Generic over the dfdx device: the CPU tests run the code the GPU runs.

use dfdx::prelude::*;
use rand::Rng;

use crate::artifacts::{HostTensor, OptimizerState};
use crate::data::Task;
use crate::error::{Error, Result};
use crate::plan::{ModelPlan, OptimizerKind};
use crate::space::Params;

mod adam;

thread_local! {
    static THREADS: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// The math of the trial trained on this thread uses at most `n` threads of its rayon pool from
/// now on: its matrix products (through patches/gemm) and its Adam update. A study sets it as
/// trials start and end, so that the cores a finished trial leaves go to those still running.
/// Results do not depend on it (the cuts are bit-exact, tested).
pub fn set_threads(n: usize) {
    THREADS.set(Some(n.max(1)));
    gemm::limit_threads(Some(n.max(1)));
}

/// Threads the math of this thread's trial may use: [`set_threads`], or the whole rayon pool.
pub fn threads() -> usize {
    let pool = rayon::current_num_threads();
    THREADS.get().map_or(pool, |n| n.min(pool))
}

/// A dfdx device we can train on. `write` fills a device buffer from the host, which dfdx keeps private.
pub trait Backend: Device<f32> + dfdx::tensor::Cache + Clone + 'static {
    /// Whether validation runs on the host copy of the weights ([`host_forward`]) rather than on
    /// the device: on the CPU it is the same arithmetic without building a dfdx graph, and the
    /// host copy is made for the checkpoint anyway.
    const VALIDATE_ON_HOST: bool;

    /// Copies `src` into the device buffer `dst` of the same length.
    fn write(&self, dst: &mut <Self as Storage<f32>>::Vec, src: &[f32]) -> Result<()>;

    /// `h + b` with `b` added to every row, then the ReLU when `relu`, on the tape of `h`: dfdx's
    /// broadcast add and ReLU unless the device has a faster kernel for them.
    fn add_bias<T: Tape<f32, Self> + Merge<NoneTape>>(
        h: Matrix<Self, T>,
        b: &Vector<Self>,
        relu: bool,
    ) -> Matrix<Self, T> {
        dfdx_bias(h, b, relu)
    }

    /// One Adam update of `p` from its moments `m`, `v` and gradient `g`: dfdx's kernel unless the
    /// device has a faster one for the same values.
    fn adam<S: Shape>(
        cfg: &AdamConfig,
        t: i32,
        p: &mut Tensor<S, f32, Self>,
        m: &mut <Self as Storage<f32>>::Vec,
        v: &mut <Self as Storage<f32>>::Vec,
        g: &<Self as Storage<f32>>::Vec,
    ) -> Result<()> {
        cfg.try_update(t, p, m, v, g).map_err(backend)
    }
}

/// Adds `bias` to every row of the row-major `rows`, then applies the ReLU when `relu`: the
/// arithmetic of dfdx's broadcast add and ReLU, shared by the CPU's training pass and the host
/// validation.
fn bias_and_relu(rows: &mut [f32], bias: &[f32], relu: bool) {
    for row in rows.chunks_exact_mut(bias.len()) {
        for (v, &c) in row.iter_mut().zip(bias) {
            *v += c;
            if relu {
                *v = v.max(0.0);
            }
        }
    }
}

/// Calls `f` with this thread's scratch buffer cut to `n` values (left as the last user left
/// them: `f` overwrites what it reads). The CPU's passes copy tensors through it, since dfdx keeps
/// a tensor's buffer to itself; it only grows (a shrink and regrow would zero it each time). One
/// user at a time: `f` and the rayon jobs it may run while it waits must not call it again.
fn with_scratch<R>(n: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCRATCH.with_borrow_mut(|buf| {
        if buf.len() < n {
            buf.resize(n, 0.0);
        }
        f(&mut buf[..n])
    })
}

/// `h + b`, then the ReLU when `relu`, by dfdx's broadcast add and ReLU.
fn dfdx_bias<D: Backend, T: Tape<f32, D> + Merge<NoneTape>>(
    h: Matrix<D, T>,
    b: &Vector<D>,
    relu: bool,
) -> Matrix<D, T> {
    let shape = *h.shape();
    let h = h + b.clone().broadcast_like::<(usize, usize), Axis<0>>(&shape);
    if relu {
        h.relu()
    } else {
        h
    }
}

impl Backend for Cpu {
    const VALIDATE_ON_HOST: bool = true;

    fn write(&self, dst: &mut <Self as Storage<f32>>::Vec, src: &[f32]) -> Result<()> {
        dst.copy_from_slice(src);
        Ok(())
    }

    /// The same values as dfdx's broadcast add and ReLU, forward and backward (bit for bit,
    /// tested), in one pass over contiguous rows: dfdx's CPU kernels index every element of a
    /// broadcast through `NdIndex` (a fifth of a w128/b64 step), and its ReLU copies its input to
    /// keep it for the backward pass. The result goes back into `h`'s own buffer and keeps its id,
    /// so the two share one gradient buffer: the backward pass zeroes it where the ReLU was off,
    /// which turns the result's gradient into `h`'s, and adds its column sums to the bias's.
    fn add_bias<T: Tape<f32, Self> + Merge<NoneTape>>(
        h: Matrix<Self, T>,
        b: &Vector<Self>,
        relu: bool,
    ) -> Matrix<Self, T> {
        let (mut h, mut tape) = h.split_tape();
        let cols = h.shape().1;
        // Where the ReLU passed its input on (dfdx: input > 0), for the backward pass.
        let mut on = Vec::new();
        with_scratch(h.shape().0 * cols, |sum| {
            h.copy_into(sum);
            let mut bias = vec![0.0f32; cols];
            b.copy_into(&mut bias);
            bias_and_relu(sum, &bias, relu);
            if relu {
                // Positive after the ReLU exactly where its input was (a NaN input gives 0).
                on = sum.iter().map(|&v| v > 0.0).collect();
            }
            // In place: the tape keeps only a ghost of `h`, so its buffer is not shared.
            h.copy_from(sum);
        });
        let (g, b) = (h.ghost(), b.ghost());
        tape.add_backward_op(move |grads| {
            let grad = grads.get_or_alloc_mut(&g)?;
            if relu {
                // dfdx's ReLU backward gives 0 + 0 × gradient (+0 for a finite one) where it was
                // off. A select, not a branch: the mask is as good as random.
                for (x, &on) in grad.iter_mut().zip(&on) {
                    *x = if on { *x } else { 0.0 };
                }
            }
            let mut sums = vec![0.0f32; cols];
            for row in grad.chunks_exact(cols) {
                for (acc, &v) in sums.iter_mut().zip(row) {
                    *acc += v;
                }
            }
            for (acc, v) in grads.get_or_alloc_mut(&b)?.iter_mut().zip(sums) {
                *acc += v;
            }
            Ok(())
        });
        h.put_tape(tape)
    }

    /// [`adam::update`]: dfdx's arithmetic with AVX and the trial's threads. dfdx keeps a tensor's
    /// buffer to itself, so the weights go through a scratch copy: at w512/b16 the two copies
    /// take 9 % of a step, the update 20 % where dfdx's took 38 % (`perf record`).
    fn adam<S: Shape>(
        cfg: &AdamConfig,
        t: i32,
        p: &mut Tensor<S, f32, Self>,
        m: &mut <Self as Storage<f32>>::Vec,
        v: &mut <Self as Storage<f32>>::Vec,
        g: &<Self as Storage<f32>>::Vec,
    ) -> Result<()> {
        with_scratch(g.len(), |w| {
            p.copy_into(w);
            adam::update(cfg, t, w, m, v, g);
            p.copy_from(w);
        });
        Ok(())
    }
}

#[cfg(feature = "cuda")]
impl Backend for Cuda {
    const VALIDATE_ON_HOST: bool = false;

    fn write(&self, dst: &mut <Self as Storage<f32>>::Vec, src: &[f32]) -> Result<()> {
        let dev = dst.device();
        dev.htod_sync_copy_into(src, &mut **dst)
            .map_err(|e| Error::Backend(format!("{e:?}")))
    }
}

type Matrix<D, T = NoneTape> = Tensor<(usize, usize), f32, D, T>;
type Vector<D> = Tensor<(usize,), f32, D>;

/// One dense layer: `x · w + b`, `w` of shape (inputs, outputs).
#[derive(Clone, Debug)]
pub struct Layer<D: Backend> {
    pub w: Matrix<D>,
    pub b: Vector<D>,
}

/// The layer sizes of a trial: inputs, hidden widths (all set to `hidden_width` when tuned), outputs.
pub fn layer_sizes(plan: &ModelPlan, params: &Params, inputs: usize, outputs: usize) -> Vec<usize> {
    let width = params.get("hidden_width").map(|v| v.as_f64() as usize);
    let mut sizes = vec![inputs];
    sizes.extend(plan.hidden.iter().map(|&h| width.unwrap_or(h)));
    sizes.push(outputs);
    sizes
}

/// A ReLU MLP with runtime sizes.
#[derive(Clone, Debug)]
pub struct Mlp<D: Backend> {
    pub layers: Vec<Layer<D>>,
}

impl<D: Backend> Mlp<D> {
    /// PyTorch's default initialisation of `nn.Linear`: U(±1/√fan_in) for weights and biases, drawn on
    /// the host from `rng` so that every device starts from the same weights.
    pub fn init(dev: &D, sizes: &[usize], rng: &mut impl Rng) -> Mlp<D> {
        let layers = sizes
            .windows(2)
            .map(|s| {
                let bound = 1.0 / (s[0] as f32).sqrt();
                let mut draw = |n: usize| {
                    (0..n)
                        .map(|_| rng.gen_range(-bound..bound))
                        .collect::<Vec<f32>>()
                };
                let w = draw(s[0] * s[1]);
                let b = draw(s[1]);
                Layer {
                    w: dev.tensor_from_vec(w, (s[0], s[1])),
                    b: dev.tensor_from_vec(b, (s[1],)),
                }
            })
            .collect();
        Mlp { layers }
    }

    /// The network's output (logits, or the regression value) for a batch.
    pub fn forward<T: Tape<f32, D> + Merge<NoneTape>>(&self, x: Matrix<D, T>) -> Matrix<D, T> {
        let last = self.layers.len() - 1;
        let mut h = x;
        for (i, l) in self.layers.iter().enumerate() {
            h = D::add_bias(h.matmul(l.w.clone()), &l.b, i < last);
        }
        h
    }

    fn tensors(&self) -> impl Iterator<Item = (String, TensorRef<'_, D>)> {
        self.layers.iter().enumerate().flat_map(|(i, l)| {
            [
                (format!("layers.{i}.weight"), TensorRef::M(&l.w)),
                (format!("layers.{i}.bias"), TensorRef::V(&l.b)),
            ]
        })
    }

    /// Host copies of the weights, named `layers.<i>.weight` and `layers.<i>.bias`.
    pub fn to_host(&self) -> Vec<HostTensor> {
        self.tensors()
            .map(|(name, t)| HostTensor {
                name,
                shape: t.shape(),
                data: t.to_vec(),
            })
            .collect()
    }

    /// Rebuilds the network from host tensors saved by [`Mlp::to_host`].
    pub fn from_host(dev: &D, sizes: &[usize], host: &[HostTensor]) -> Result<Mlp<D>> {
        let find = |name: String, len: usize| -> Result<Vec<f32>> {
            let t = host
                .iter()
                .find(|t| t.name == name)
                .ok_or_else(|| Error::Backend(format!("checkpoint lacks {name}")))?;
            if t.data.len() != len {
                return Err(Error::Backend(format!(
                    "checkpoint tensor {name} has {} values, expected {len}",
                    t.data.len()
                )));
            }
            Ok(t.data.clone())
        };
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(i, s)| {
                Ok(Layer {
                    w: dev.tensor_from_vec(
                        find(format!("layers.{i}.weight"), s[0] * s[1])?,
                        (s[0], s[1]),
                    ),
                    b: dev.tensor_from_vec(find(format!("layers.{i}.bias"), s[1])?, (s[1],)),
                })
            })
            .collect::<Result<_>>()?;
        Ok(Mlp { layers })
    }
}

enum TensorRef<'a, D: Backend> {
    M(&'a Matrix<D>),
    V(&'a Vector<D>),
}

impl<D: Backend> TensorRef<'_, D> {
    fn shape(&self) -> Vec<usize> {
        match self {
            TensorRef::M(t) => vec![t.shape().0, t.shape().1],
            TensorRef::V(t) => vec![t.shape().0],
        }
    }
    /// The tensor's values in one copy of its buffer (dfdx's `as_vec` walks it element by
    /// element through its index iterator: a third of a checkpoint's hand-off).
    fn to_vec(&self) -> Vec<f32> {
        let mut out = vec![0.0; self.shape().iter().product()];
        match self {
            TensorRef::M(t) => t.copy_into(&mut out),
            TensorRef::V(t) => t.copy_into(&mut out),
        }
        out
    }
}

fn backend<E: std::fmt::Debug>(e: E) -> Error {
    Error::Backend(format!("{e:?}"))
}

/// The optimizer with the state we own: Adam's step count and moments, or SGD's velocity (in `m`).
pub struct Optimizer<D: Backend> {
    kind: OptimizerKind,
    adam: AdamConfig,
    sgd: SgdConfig,
    /// Updates applied so far (Adam's bias correction needs it).
    pub t: i32,
    m: Gradients<f32, D>,
    v: Gradients<f32, D>,
}

impl<D: Backend> Optimizer<D> {
    /// A fresh optimizer for `mlp` with the trial's learning rate (and weight decay or momentum when tuned).
    pub fn new(plan: &ModelPlan, params: &Params, mlp: &Mlp<D>) -> Result<Self> {
        let get = |name: &str, default: f64| params.get(name).map_or(default, |v| v.as_f64());
        let lr = get("learning_rate", 1e-3);
        let wd = get("weight_decay", plan.weight_decay);
        let momentum = get("momentum", plan.momentum);
        let mut o = Optimizer {
            kind: plan.optimizer,
            adam: AdamConfig {
                lr,
                betas: plan.betas,
                eps: plan.eps,
                weight_decay: (wd > 0.0).then_some(WeightDecay::Decoupled(wd)),
            },
            sgd: SgdConfig {
                lr,
                momentum: (momentum > 0.0).then_some(Momentum::Classic(momentum)),
                weight_decay: (wd > 0.0).then_some(WeightDecay::L2(wd)),
            },
            t: 0,
            m: Gradients::leaky(),
            v: Gradients::leaky(),
        };
        for l in &mlp.layers {
            o.m.try_alloc_for(&l.w).map_err(backend)?;
            o.m.try_alloc_for(&l.b).map_err(backend)?;
            o.v.try_alloc_for(&l.w).map_err(backend)?;
            o.v.try_alloc_for(&l.b).map_err(backend)?;
        }
        Ok(o)
    }

    /// Applies one update from `grads`.
    fn update(&mut self, mlp: &mut Mlp<D>, grads: &mut Gradients<f32, D>) -> Result<()> {
        self.t += 1;
        for l in &mut mlp.layers {
            self.update_one(&mut l.w, grads)?;
            self.update_one(&mut l.b, grads)?;
        }
        Ok(())
    }

    fn update_one<S: Shape>(
        &mut self,
        p: &mut Tensor<S, f32, D>,
        grads: &mut Gradients<f32, D>,
    ) -> Result<()> {
        let g = grads.get_or_alloc_mut(p).map_err(backend)?;
        let m = self.m.get_or_alloc_mut(p).map_err(backend)?;
        match self.kind {
            OptimizerKind::Adam => {
                let v = self.v.get_or_alloc_mut(p).map_err(backend)?;
                D::adam(&self.adam, self.t, p, m, v, g)?;
            }
            OptimizerKind::Sgd => self.sgd.try_update(p, m, g).map_err(backend)?,
        }
        Ok(())
    }

    /// The state as host tensors named like the weights.
    pub fn to_host(&self, mlp: &Mlp<D>) -> OptimizerState {
        let copy = |g: &Gradients<f32, D>| {
            mlp.tensors()
                .map(|(name, t)| {
                    let data = match t {
                        TensorRef::M(x) => TensorRef::M(&g.get(x)).to_vec(),
                        TensorRef::V(x) => TensorRef::V(&g.get(x)).to_vec(),
                    };
                    HostTensor {
                        name,
                        shape: t.shape(),
                        data,
                    }
                })
                .collect()
        };
        OptimizerState {
            t: self.t,
            m: copy(&self.m),
            v: copy(&self.v),
        }
    }

    /// Restores the state saved by [`Optimizer::to_host`] for the same network.
    pub fn restore(&mut self, mlp: &Mlp<D>, state: &OptimizerState) -> Result<()> {
        self.t = state.t;
        for (moments, host) in [(&mut self.m, &state.m), (&mut self.v, &state.v)] {
            for (name, t) in mlp.tensors() {
                let src = host.iter().find(|h| h.name == name).ok_or_else(|| {
                    Error::Backend(format!("checkpoint lacks optimizer state {name}"))
                })?;
                let (dev, buf) = match t {
                    TensorRef::M(x) => (x.device(), moments.get_or_alloc_mut(x).map_err(backend)?),
                    TensorRef::V(x) => (x.device(), moments.get_or_alloc_mut(x).map_err(backend)?),
                };
                if <D as Storage<f32>>::len(dev, buf) != src.data.len() {
                    return Err(Error::Backend(format!(
                        "optimizer state {name} has {} values, expected {}",
                        src.data.len(),
                        <D as Storage<f32>>::len(dev, buf)
                    )));
                }
                dev.write(buf, &src.data)?;
            }
        }
        Ok(())
    }
}

/// A network and its optimizer on one device: what a trial trains.
pub struct Net<D: Backend> {
    pub dev: D,
    pub mlp: Mlp<D>,
    pub opt: Optimizer<D>,
    task: Task,
    /// The last batch's input and target tensors, refilled in place while the batch shape holds.
    batch: Option<(Matrix<D>, Matrix<D>)>,
}

/// Validation results, computed on the host in f64.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Eval {
    /// MSE (regression) or mean cross-entropy (classification).
    pub loss: f64,
    /// RMSE (regression) or accuracy (classification).
    pub metric: f64,
}

impl<D: Backend> Net<D> {
    /// Wraps a network and optimizer for training on `task`.
    pub fn new(dev: D, mlp: Mlp<D>, opt: Optimizer<D>, task: Task) -> Result<Net<D>> {
        // dfdx's allocation cache (off by default) hands each step the buffers the last step freed:
        // no malloc, page faults or munmap per tensor.
        dev.try_enable_cache().map_err(backend)?;
        Ok(Net {
            dev,
            mlp,
            opt,
            task,
            batch: None,
        })
    }

    /// One optimizer step on a batch of `rows` rows; returns the batch's mean loss.
    pub fn train_step(&mut self, x: &[f32], y: &[f32], rows: usize) -> Result<f32> {
        let shape = |v: &[f32]| (rows, v.len() / rows);
        let (xt, yt) = match &mut self.batch {
            Some((xt, yt)) if *xt.shape() == shape(x) && *yt.shape() == shape(y) => (xt, yt),
            slot => {
                let xt = self.dev.try_zeros_like(&shape(x)).map_err(backend)?;
                let yt = self.dev.try_zeros_like(&shape(y)).map_err(backend)?;
                let (xt, yt) = slot.insert((xt, yt));
                (xt, yt)
            }
        };
        // The step's clones are gone when it returns, so these copies go in place.
        xt.copy_from(x);
        yt.copy_from(y);
        let (x, y) = (xt.clone(), yt.clone());
        // Fresh gradients each step: dfdx keeps its private leaf-id API to itself, and its allocation
        // cache (enabled in `new`) recycles the buffers, so nothing outlives the step.
        let out = self.mlp.forward(x.leaky_traced());
        let loss = match self.task {
            Task::Regression => mse_loss(out, y),
            Task::Classification => cross_entropy_with_logits_loss(out, y),
        };
        let value = loss.as_vec()[0];
        let mut grads = loss.backward();
        self.opt.update(&mut self.mlp, &mut grads)?;
        Ok(value)
    }

    /// The network's outputs for `rows` rows of inputs, on the host.
    pub fn predict(&self, x: Vec<f32>, rows: usize) -> Vec<f32> {
        let inputs = x.len() / rows;
        let x = self.dev.tensor_from_vec(x, (rows, inputs));
        self.mlp.forward(x).as_vec()
    }
}

/// The outputs of the network whose host weights are `weights` (from [`Mlp::to_host`]) for `rows`
/// rows of inputs `x`: what [`Mlp::forward`] computes on the CPU, bit for bit (the same products,
/// by matrixmultiply, which dfdx's CPU matmul also calls, then the bias and ReLU).
pub fn host_forward(weights: &[HostTensor], x: &[f32], rows: usize) -> Vec<f32> {
    let layers = weights.len() / 2;
    let mut h = x.to_vec();
    for (i, pair) in weights.chunks_exact(2).enumerate() {
        let (w, b) = (&pair[0], &pair[1]);
        let (ins, outs) = (w.shape[0], w.shape[1]);
        let mut out = vec![0.0f32; rows * outs];
        // SAFETY: `h` is rows × ins, `w` ins × outs and `out` rows × outs, all row-major.
        unsafe {
            matrixmultiply::sgemm(
                rows,
                ins,
                outs,
                1.0,
                h.as_ptr(),
                ins as isize,
                1,
                w.data.as_ptr(),
                outs as isize,
                1,
                0.0,
                out.as_mut_ptr(),
                outs as isize,
                1,
            );
        }
        bias_and_relu(&mut out, &b.data, i + 1 < layers);
        h = out;
    }
    h
}

/// Loss and metric of predictions `out` against targets `y` (one-hot for classification).
pub fn evaluate(task: Task, out: &[f32], y: &[f32], rows: usize) -> Eval {
    let c = out.len() / rows;
    match task {
        Task::Regression => {
            let sse: f64 = out
                .iter()
                .zip(y)
                .map(|(&p, &t)| (p as f64 - t as f64).powi(2))
                .sum();
            let mse = sse / rows as f64;
            Eval {
                loss: mse,
                metric: mse.sqrt(),
            }
        }
        Task::Classification => {
            let mut ce = 0.0;
            let mut correct = 0usize;
            for r in 0..rows {
                let logits = &out[r * c..(r + 1) * c];
                let target = &y[r * c..(r + 1) * c];
                let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
                let lse = max
                    + logits
                        .iter()
                        .map(|&z| (z as f64 - max).exp())
                        .sum::<f64>()
                        .ln();
                let k = target.iter().position(|&t| t == 1.0).unwrap_or(0);
                ce += lse - logits[k] as f64;
                // The first of equal maxima wins, as in argmax.
                let pred =
                    logits
                        .iter()
                        .enumerate()
                        .fold(0, |best, (j, &z)| if z > logits[best] { j } else { best });
                correct += (pred == k) as usize;
            }
            Eval {
                loss: ce / rows as f64,
                metric: correct as f64 / rows as f64,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn plan() -> ModelPlan {
        ModelPlan {
            hidden: vec![8],
            optimizer: OptimizerKind::Adam,
            betas: [0.9, 0.999],
            eps: 1e-8,
            momentum: 0.9,
            weight_decay: 0.0,
        }
    }

    fn params() -> Params {
        [(
            "learning_rate".to_string(),
            crate::space::Value::Float(0.01),
        )]
        .into_iter()
        .collect()
    }

    fn batch(i: usize) -> (Vec<f32>, Vec<f32>) {
        let x: Vec<f32> = (0..12)
            .map(|j| ((i * 12 + j) as f32 * 0.37).sin())
            .collect();
        let y: Vec<f32> = x.chunks(3).map(|r| r[0] - 2.0 * r[1] + r[2]).collect();
        (x, y)
    }

    #[test]
    fn training_lowers_the_loss() {
        let dev = Cpu::default();
        let mlp = Mlp::init(
            &dev,
            &[3, 8, 1],
            &mut rand_chacha::ChaCha8Rng::seed_from_u64(0),
        );
        let opt = Optimizer::new(&plan(), &params(), &mlp).unwrap();
        let mut net = Net::new(dev, mlp, opt, Task::Regression).unwrap();
        let first = net.train_step(&batch(0).0, &batch(0).1, 4).unwrap();
        let mut last = first;
        for i in 0..300 {
            let (x, y) = batch(i % 5);
            last = net.train_step(&x, &y, 4).unwrap();
        }
        assert!(last < first / 4.0, "{first} -> {last}");
    }

    /// A trial's weights and optimizer state after a few steps of a wide network do not depend
    /// on how many threads it had: its products are cut into blocks and its Adam update into
    /// pieces on 3 threads (64×256×256 products, 66k parameters), on one thread they are not.
    #[test]
    fn training_is_bit_identical_on_any_number_of_threads() {
        let sizes = [11, 256, 256, 1];
        let rows = 64;
        let train = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let dev = Cpu::default();
                let mlp = Mlp::init(&dev, &sizes, &mut rand_chacha::ChaCha8Rng::seed_from_u64(5));
                let opt = Optimizer::new(&plan(), &params(), &mlp).unwrap();
                let mut net = Net::new(dev, mlp, opt, Task::Regression).unwrap();
                for i in 0..3 {
                    let x: Vec<f32> = (0..rows * 11)
                        .map(|j| ((i * 7919 + j) as f32 * 0.37).sin())
                        .collect();
                    let y: Vec<f32> = x.chunks(11).map(|r| r[0] - 2.0 * r[5]).collect();
                    net.train_step(&x, &y, rows).unwrap();
                }
                let bits = |t: &[HostTensor]| {
                    t.iter()
                        .flat_map(|h| h.data.iter().map(|v| v.to_bits()))
                        .collect::<Vec<_>>()
                };
                let state = net.opt.to_host(&net.mlp);
                (bits(&net.mlp.to_host()), bits(&state.m), bits(&state.v))
            })
        };
        assert!(
            train(1) == train(3),
            "3 threads changed the weights or the moments"
        );
    }

    #[test]
    fn host_forward_is_the_cpu_forward_bit_for_bit() {
        let dev = Cpu::default();
        let sizes = [5, 16, 8, 3];
        let mlp = Mlp::init(&dev, &sizes, &mut rand_chacha::ChaCha8Rng::seed_from_u64(3));
        for rows in [1, 37, 300] {
            let x: Vec<f32> = (0..rows * 5)
                .map(|i| (i as f32 * 0.71).sin() * 2.0)
                .collect();
            let want = mlp
                .forward(dev.tensor_from_vec(x.clone(), (rows, 5)))
                .as_vec();
            let got = host_forward(&mlp.to_host(), &x, rows);
            assert_eq!(got, want, "{rows} rows");
            assert!(got.iter().any(|&v| v < 0.0) && got.iter().any(|&v| v > 0.0));
        }
    }

    #[test]
    fn cpu_bias_and_relu_are_dfdx_broadcast_add_and_relu_bit_for_bit() {
        let dev = Cpu::default();
        let (rows, cols) = (37, 6);
        let x: Vec<f32> = (0..rows * 4).map(|i| (i as f32 * 0.37).sin()).collect();
        let w: Vec<f32> = (0..4 * cols).map(|i| (i as f32 * 0.91).cos()).collect();
        let b: Vec<f32> = (0..cols).map(|i| i as f32 * 0.3 - 0.7).collect();
        let w = dev.tensor_from_vec(w, (4, cols));
        let b = dev.tensor_from_vec(b, (cols,));
        // (x·w + b)² summed (after the ReLU, or not): every output's gradient differs, so a wrong
        // row, column or mask shows.
        let run = |fast: bool, relu: bool| {
            let x = dev.tensor_from_vec(x.clone(), (rows, 4)).leaky_traced();
            let h = x.matmul(w.clone());
            let out = if fast {
                Cpu::add_bias(h, &b, relu)
            } else {
                dfdx_bias(h, &b, relu)
            };
            let values = out.as_vec();
            let grads = out.square().sum().backward();
            (values, grads.get(&w).as_vec(), grads.get(&b).as_vec())
        };
        for relu in [false, true] {
            let (fast, slow) = (run(true, relu), run(false, relu));
            assert_eq!(fast, slow, "relu {relu}");
            assert!(fast.2.iter().all(|&g| g != 0.0));
            // The ReLU is on somewhere and off somewhere.
            let zeros = fast.0.iter().filter(|&&v| v == 0.0).count();
            assert_eq!(relu, zeros > 0 && zeros < fast.0.len(), "relu {relu}");
        }
    }

    #[test]
    fn host_round_trip_continues_bit_identically() {
        let dev = Cpu::default();
        let mlp = Mlp::init(
            &dev,
            &[3, 8, 1],
            &mut rand_chacha::ChaCha8Rng::seed_from_u64(0),
        );
        let opt = Optimizer::new(&plan(), &params(), &mlp).unwrap();
        let mut a = Net::new(dev.clone(), mlp, opt, Task::Regression).unwrap();
        for i in 0..7 {
            a.train_step(&batch(i).0, &batch(i).1, 4).unwrap();
        }
        let weights = a.mlp.to_host();
        let state = a.opt.to_host(&a.mlp);
        let mlp = Mlp::from_host(&dev, &[3, 8, 1], &weights).unwrap();
        let mut opt = Optimizer::new(&plan(), &params(), &mlp).unwrap();
        opt.restore(&mlp, &state).unwrap();
        assert_eq!(opt.to_host(&mlp), state);
        let mut b = Net::new(dev, mlp, opt, Task::Regression).unwrap();
        for i in 7..20 {
            let la = a.train_step(&batch(i).0, &batch(i).1, 4).unwrap();
            let lb = b.train_step(&batch(i).0, &batch(i).1, 4).unwrap();
            assert_eq!(la.to_bits(), lb.to_bits());
        }
        assert_eq!(a.mlp.to_host(), b.mlp.to_host());
    }

    #[test]
    fn evaluate_classification() {
        let out = [2.0, 1.0, 0.0, 3.0];
        let y = [1.0, 0.0, 1.0, 0.0];
        let e = evaluate(Task::Classification, &out, &y, 2);
        assert_eq!(e.metric, 0.5);
        let ce0 = (1.0f64 + (-1.0f64).exp()).ln();
        let ce1 = 3.0 + (1.0f64 + (-3.0f64).exp()).ln();
        assert!((e.loss - (ce0 + ce1) / 2.0).abs() < 1e-12);
    }
}
