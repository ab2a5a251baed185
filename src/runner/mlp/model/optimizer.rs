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
    /// Updates applied so far (Adam's bias correction needs it).
    pub t: i32,
    m: Gradients<f32, D>,
    v: Gradients<f32, D>,
}

impl<D: Backend> Optimizer<D> {
    /// A fresh optimizer for `mlp` with the trial's learning rate, weight decay and momentum.
    pub fn new(plan: &ModelPlan, params: &MlpParams, mlp: &Mlp<D>) -> Result<Self> {
        let (lr, wd, momentum) = (params.learning_rate, params.weight_decay, params.momentum);
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
    pub(super) fn update(&mut self, mlp: &mut Mlp<D>, grads: &mut Gradients<f32, D>) -> Result<()> {
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
