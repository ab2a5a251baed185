//! The optimizer whose state we own (Adam's step count and moments, or SGD's velocity), so that a
//! checkpoint can save it and a resumed trial continues bit for bit.

use dfdx::prelude::*;

use super::network::TensorRef;
use super::{backend, Backend, Mlp};
use crate::artifacts::{HostTensor, OptimizerState};
use crate::error::{Error, Result};
use crate::runner::mlp::params::MlpParams;
use crate::runner::mlp::settings::{ModelPlan, OptimizerKind};

/// The optimizer with the state we own: Adam's step count and moments, or SGD's velocity (in `m`).
pub struct Optimizer<D: Backend> {
    kind: OptimizerKind,
    adam: AdamConfig,
    sgd: SgdConfig,
    /// Clip the gradients to this global norm before each update.
    max_grad_norm: Option<f64>,
    /// Updates applied so far (Adam's bias correction needs it).
    pub t: i32,
    m: Gradients<f32, D>,
    v: Gradients<f32, D>,
}

impl<D: Backend> Optimizer<D> {
    /// A fresh optimizer for `mlp` with the trial's optimizer, learning rate (until
    /// [`Optimizer::set_lr`]), weight decay, momentum and clipping.
    pub fn new(plan: &ModelPlan, params: &MlpParams, mlp: &Mlp<D>) -> Result<Self> {
        let (lr, wd, momentum) = (params.learning_rate, params.weight_decay, params.momentum);
        let mut o = Optimizer {
            kind: params.optimizer,
            max_grad_norm: params.max_grad_norm,
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

    /// The learning rate of the updates from now on (the schedule's; Adam's decoupled weight
    /// decay follows it, as PyTorch's AdamW).
    pub fn set_lr(&mut self, lr: f64) {
        self.adam.lr = lr;
        self.sgd.lr = lr;
    }

    /// Applies one update from `grads`.
    pub(super) fn update(&mut self, mlp: &mut Mlp<D>, grads: &mut Gradients<f32, D>) -> Result<()> {
        if let Some(max) = self.max_grad_norm {
            clip(mlp, grads, max)?;
        }
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

/// Scales `grads` of `mlp` so that their global norm (all tensors as one vector) is at most `max`,
/// as PyTorch's `clip_grad_norm_` (factor `max / (norm + 1e-6)` when below 1). Through host
/// copies, which any device has: clipping is off unless asked for.
fn clip<D: Backend>(mlp: &Mlp<D>, grads: &mut Gradients<f32, D>, max: f64) -> Result<()> {
    let host = |grads: &Gradients<f32, D>, t: &TensorRef<'_, D>| match t {
        TensorRef::M(x) => TensorRef::M(&grads.get(*x)).to_vec(),
        TensorRef::V(x) => TensorRef::V(&grads.get(*x)).to_vec(),
    };
    let mut squares = 0.0f64;
    for (_, t) in mlp.tensors() {
        squares += host(grads, &t)
            .iter()
            .map(|&g| (g as f64) * (g as f64))
            .sum::<f64>();
    }
    let factor = max / (squares.sqrt() + 1e-6);
    if factor.is_nan() || factor >= 1.0 {
        return Ok(());
    }
    for (_, t) in mlp.tensors() {
        let scaled: Vec<f32> = host(grads, &t).iter().map(|&g| g * factor as f32).collect();
        let (dev, buf) = match t {
            TensorRef::M(x) => (x.device(), grads.get_or_alloc_mut(x).map_err(backend)?),
            TensorRef::V(x) => (x.device(), grads.get_or_alloc_mut(x).map_err(backend)?),
        };
        dev.write(buf, &scaled)?;
    }
    Ok(())
}
