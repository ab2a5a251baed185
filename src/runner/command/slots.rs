//! The GPUs a program's trials are given: each trial takes the least busy slot (a group of
//! `trainer.gpus_per_trial` GPUs, shared by up to `trainer.trials_per_gpu` trials) for its run, and
//! its process sees only that slot's GPUs.

use std::sync::Mutex;

use crate::plan::CommandPlan;

/// `TUNE_DEVICE` and `CUDA_VISIBLE_DEVICES` for a process given `gpus` (`None`: the CPU only).
pub(super) fn gpu_environment(gpus: Option<&[&str]>) -> [(String, String); 2] {
    match gpus {
        None => [
            ("TUNE_DEVICE".into(), "cpu".into()),
            ("CUDA_VISIBLE_DEVICES".into(), String::new()),
        ],
        Some(ids) => [
            ("TUNE_DEVICE".into(), "cuda:0".into()),
            ("CUDA_VISIBLE_DEVICES".into(), ids.join(",")),
        ],
    }
}

/// The GPU slots of a study's trials: how many trials each group of GPUs runs now.
pub(super) struct Slots {
    pub(super) running: Mutex<Vec<usize>>,
}

impl Slots {
    /// Takes the least busy slot, if the study has GPUs: its index (given back by [`Slot`]'s drop).
    pub(super) fn take(&self, plan: &CommandPlan) -> Option<Slot<'_>> {
        let g = plan.gpus.as_ref()?;
        let mut running = self.running.lock().unwrap();
        running.resize(g.groups.len(), 0);
        let (i, _) = running.iter().enumerate().min_by_key(|(i, n)| (**n, *i))?;
        running[i] += 1;
        Some(Slot { slots: self, i })
    }
}

/// A trial's hold on a GPU slot.
pub(super) struct Slot<'a> {
    slots: &'a Slots,
    pub(super) i: usize,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.slots.running.lock().unwrap()[self.i] -= 1;
    }
}
