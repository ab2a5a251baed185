//! The network: dense layers, the ReLU MLP with runtime sizes (initialised, run forward, copied to
//! and from the host), and [`Net`], a network with its optimizer on one device, which takes one
//! training step at a time.

use dfdx::prelude::*;
use rand::{Rng, RngCore};

use super::{backend, Activation, Backend, Matrix, Optimizer, Vector};
use crate::artifacts::HostTensor;
use crate::data::Task;
use crate::error::{Error, Result};

/// One dense layer: `x · w + b`, `w` of shape (inputs, outputs).
#[derive(Clone, Debug)]
pub struct Layer<D: Backend> {
    pub w: Matrix<D>,
    pub b: Vector<D>,
}

/// A ReLU MLP with runtime sizes.
#[derive(Clone, Debug)]
pub struct Mlp<D: Backend> {
    pub layers: Vec<Layer<D>>,
    /// After each hidden layer.
    pub activation: Activation,
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
        Mlp {
            layers,
            activation: Activation::Relu,
        }
    }

    /// The network with `activation` after each hidden layer.
    pub fn with_activation(self, activation: Activation) -> Mlp<D> {
        Mlp { activation, ..self }
    }

    /// The network's output (logits, or the regression value) for a batch.
    pub fn forward<T: Tape<f32, D> + Merge<NoneTape> + Merge<T> + Default>(
        &self,
        x: Matrix<D, T>,
    ) -> Matrix<D, T> {
        self.forward_masked(x, &[])
    }

    /// [`Mlp::forward`], each hidden layer's activations times its mask among `masks` (dropout's,
    /// in training; none at inference).
    fn forward_masked<T: Tape<f32, D> + Merge<NoneTape> + Merge<T> + Default>(
        &self,
        x: Matrix<D, T>,
        masks: &[Matrix<D>],
    ) -> Matrix<D, T> {
        let last = self.layers.len() - 1;
        let relu = self.activation.is_relu();
        let mut h = x;
        for (i, l) in self.layers.iter().enumerate() {
            h = D::add_bias(h.matmul(l.w.clone()), &l.b, i < last && relu);
            if i < last && !relu {
                h = self.activation.forward(h);
            }
            if let Some(m) = masks.get(i).filter(|_| i < last) {
                h = h * m.clone();
            }
        }
        h
    }

    pub(super) fn tensors(&self) -> impl Iterator<Item = (String, TensorRef<'_, D>)> {
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
        Ok(Mlp {
            layers,
            activation: Activation::Relu,
        })
    }
}

/// A weight or bias of the network, for what treats both alike (their names, shapes and copies).
pub(super) enum TensorRef<'a, D: Backend> {
    M(&'a Matrix<D>),
    V(&'a Vector<D>),
}

impl<D: Backend> TensorRef<'_, D> {
    pub(super) fn shape(&self) -> Vec<usize> {
        match self {
            TensorRef::M(t) => vec![t.shape().0, t.shape().1],
            TensorRef::V(t) => vec![t.shape().0],
        }
    }
    /// The tensor's values in one copy of its buffer (dfdx's `as_vec` walks it element by
    /// element through its index iterator: a third of a checkpoint's hand-off).
    pub(super) fn to_vec(&self) -> Vec<f32> {
        let mut out = vec![0.0; self.shape().iter().product()];
        match self {
            TensorRef::M(t) => t.copy_into(&mut out),
            TensorRef::V(t) => t.copy_into(&mut out),
        }
        out
    }
}

/// Inverted dropout after each hidden activation, in training: a value is kept with probability
/// 1 − `rate` and scaled by 1 / (1 − `rate`). A step's masks derive from (`seed`, `trial`, the
/// steps before it), so that a resumed trial draws the same ones.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dropout {
    pub rate: f64,
    pub seed: u64,
    pub trial: u64,
}

/// A network and its optimizer on one device: what a trial trains.
pub struct Net<D: Backend> {
    pub dev: D,
    pub mlp: Mlp<D>,
    pub opt: Optimizer<D>,
    task: Task,
    /// Dropout in training, when its rate is above 0.
    dropout: Option<Dropout>,
    /// Steps taken (with the trial's before a resume): the next step's masks derive from it.
    step: u64,
    /// The last batch's input and target tensors, refilled in place while the batch shape holds.
    batch: Option<(Matrix<D>, Matrix<D>)>,
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
            dropout: None,
            step: 0,
            batch: None,
        })
    }

    /// The network trained with `dropout` (none at a rate of 0), `step` steps taken so far.
    pub fn with_dropout(self, dropout: Dropout, step: u64) -> Net<D> {
        Net {
            dropout: Some(dropout).filter(|d| d.rate > 0.0),
            step,
            ..self
        }
    }

    /// This step's dropout masks for a batch of `rows` rows, one per hidden layer: 0 where a
    /// value is dropped, 1 / (1 − rate) where it is kept. None without dropout.
    fn masks(&self, rows: usize) -> Vec<Matrix<D>> {
        let Some(d) = self.dropout else {
            return vec![];
        };
        let mut rng = crate::seed::rng(d.seed, crate::seed::Purpose::Dropout, d.trial, self.step);
        let keep = (1.0 / (1.0 - d.rate)) as f32;
        // A value is dropped when a uniform 32-bit draw falls below rate × 2^32: one draw each.
        let below = (d.rate * 4_294_967_296.0) as u32;
        let hidden = &self.mlp.layers[..self.mlp.layers.len() - 1];
        hidden
            .iter()
            .map(|l| {
                let width = l.b.shape().0;
                let mask: Vec<f32> = (0..rows * width)
                    .map(|_| if rng.next_u32() < below { 0.0 } else { keep })
                    .collect();
                self.dev.tensor_from_vec(mask, (rows, width))
            })
            .collect()
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
        let masks = self.masks(rows);
        self.step += 1;
        let out = self.mlp.forward_masked(x.leaky_traced(), &masks);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::mlp::params::MlpParams;
    use crate::runner::mlp::settings::ModelPlan;
    use rand::SeedableRng;

    fn plan() -> ModelPlan {
        ModelPlan {
            hidden: vec![8],
            ..ModelPlan::default()
        }
    }

    fn params() -> MlpParams {
        let params = [(
            "learning_rate".to_string(),
            crate::space::Value::Float(0.01),
        )];
        MlpParams::of(&plan(), &params.into_iter().collect())
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
        for a in Activation::NAMES {
            lowers_the_loss(Activation::named(a).unwrap());
        }
    }

    fn lowers_the_loss(activation: Activation) {
        let dev = Cpu::default();
        let mlp = Mlp::init(
            &dev,
            &[3, 8, 1],
            &mut rand_chacha::ChaCha8Rng::seed_from_u64(0),
        )
        .with_activation(activation);
        let opt = Optimizer::new(&plan(), &params(), &mlp).unwrap();
        let mut net = Net::new(dev, mlp, opt, Task::Regression).unwrap();
        let first = net.train_step(&batch(0).0, &batch(0).1, 4).unwrap();
        let mut last = first;
        for i in 0..300 {
            let (x, y) = batch(i % 5);
            last = net.train_step(&x, &y, 4).unwrap();
        }
        assert!(last < first / 4.0, "{activation:?}: {first} -> {last}");
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

    /// Dropout's masks derive from (seed, trial, step): a network rebuilt from the host at step
    /// 7 continues as the one that never stopped; another trial draws other masks; the masks
    /// change training, and never the prediction (inference has no dropout).
    #[test]
    fn dropout_masks_follow_the_step_and_stay_out_of_inference() {
        let dev = Cpu::default();
        let sizes = [3, 8, 8, 1];
        let drop = |trial| Dropout {
            rate: 0.3,
            seed: 11,
            trial,
        };
        let fresh = |d: Option<Dropout>| {
            let mlp = Mlp::init(&dev, &sizes, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0))
                .with_activation(Activation::Gelu);
            let opt = Optimizer::new(&plan(), &params(), &mlp).unwrap();
            let net = Net::new(dev.clone(), mlp, opt, Task::Regression).unwrap();
            match d {
                Some(d) => net.with_dropout(d, 0),
                None => net,
            }
        };
        let train = |net: &mut Net<Cpu>, steps: std::ops::Range<usize>| {
            for i in steps {
                net.train_step(&batch(i).0, &batch(i).1, 4).unwrap();
            }
        };
        let mut a = fresh(Some(drop(0)));
        train(&mut a, 0..7);
        let weights = a.mlp.to_host();
        let state = a.opt.to_host(&a.mlp);
        let mlp = Mlp::from_host(&dev, &sizes, &weights)
            .unwrap()
            .with_activation(Activation::Gelu);
        let mut opt = Optimizer::new(&plan(), &params(), &mlp).unwrap();
        opt.restore(&mlp, &state).unwrap();
        let mut b = Net::new(dev.clone(), mlp, opt, Task::Regression)
            .unwrap()
            .with_dropout(drop(0), 7);
        train(&mut a, 7..20);
        train(&mut b, 7..20);
        assert_eq!(a.mlp.to_host(), b.mlp.to_host());
        let (mut other, mut none) = (fresh(Some(drop(1))), fresh(None));
        train(&mut other, 0..20);
        train(&mut none, 0..20);
        assert_ne!(a.mlp.to_host(), other.mlp.to_host());
        assert_ne!(a.mlp.to_host(), none.mlp.to_host());
        let x = batch(3).0;
        let host =
            crate::runner::mlp::model::host_forward(&a.mlp.to_host(), Activation::Gelu, &x, 4);
        assert_eq!(a.predict(x.clone(), 4), host);
        assert_eq!(a.predict(x.clone(), 4), a.predict(x, 4));
    }

    /// With `max_grad_norm`, an SGD step without momentum moves the weights by at most the
    /// learning rate times the norm; without it, further.
    #[test]
    fn clipping_bounds_the_step() {
        let dev = Cpu::default();
        let sgd = ModelPlan {
            optimizer: crate::runner::mlp::settings::OptimizerKind::Sgd,
            momentum: 0.0,
            ..plan()
        };
        let step = |clip: Option<f64>| {
            let mut p = MlpParams::of(&sgd, &Default::default());
            p.learning_rate = 0.5;
            p.max_grad_norm = clip;
            let mlp = Mlp::init(
                &dev,
                &[3, 8, 1],
                &mut rand_chacha::ChaCha8Rng::seed_from_u64(2),
            );
            let before = mlp.to_host();
            let opt = Optimizer::new(&sgd, &p, &mlp).unwrap();
            let mut net = Net::new(dev.clone(), mlp, opt, Task::Regression).unwrap();
            let (x, y) = batch(0);
            let y: Vec<f32> = y.iter().map(|v| v * 100.0).collect();
            net.train_step(&x, &y, 4).unwrap();
            let moved: f64 = before
                .iter()
                .zip(net.mlp.to_host())
                .flat_map(|(a, b)| {
                    a.data
                        .iter()
                        .zip(b.data)
                        .map(|(x, y)| ((x - y) as f64).powi(2))
                        .collect::<Vec<_>>()
                })
                .sum();
            moved.sqrt()
        };
        let clipped = step(Some(0.01));
        assert!(
            clipped <= 0.5 * 0.01 * 1.001 && clipped > 0.5 * 0.01 * 0.99,
            "{clipped}"
        );
        assert!(step(None) > 0.1, "{}", step(None));
    }
}
