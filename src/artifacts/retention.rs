//! Retention as composable policies, burn-train's CheckpointingStrategy: each policy names the
//! checkpoints it needs; one goes when none does. The policies decide, the store deletes.

use std::collections::BTreeSet;

/// One reason to keep a trial's checkpoint of a virtual epoch.
#[derive(Clone, Debug, PartialEq)]
pub enum Keep {
    /// The newest `n` (at least one): where resume starts.
    Last(usize),
    /// The trial's selected checkpoint: its result.
    Best,
    /// Epochs something else still needs (another trial starts from them, a paused trial resumes
    /// from them).
    Referenced(BTreeSet<u32>),
}

impl Keep {
    /// Whether this policy keeps `epoch` when `newest` is the trial's newest and `best` its best.
    fn keeps(&self, epoch: u32, newest: u32, best: Option<u32>) -> bool {
        match self {
            Keep::Last(n) => epoch >= newest.saturating_sub(*n.max(&1) as u32 - 1),
            Keep::Best => best == Some(epoch),
            Keep::Referenced(set) => set.contains(&epoch),
        }
    }
}

/// Policies composed: a checkpoint stays while any of them keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct Retention(pub Vec<Keep>);

impl Retention {
    /// Whether `epoch` stays when `newest` is the trial's newest and `best` its best.
    pub fn keeps(&self, epoch: u32, newest: u32, best: Option<u32>) -> bool {
        self.0.iter().any(|k| k.keeps(epoch, newest, best))
    }

    /// The decision: which of `epochs` to delete.
    pub fn to_delete(&self, epochs: &[u32], newest: u32, best: Option<u32>) -> Vec<u32> {
        epochs
            .iter()
            .copied()
            .filter(|&e| !self.keeps(e, newest, best))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_compose_as_a_union() {
        let all: Vec<u32> = (1..=8).collect();
        let last2 = Retention(vec![Keep::Last(2)]);
        assert_eq!(last2.to_delete(&all, 8, Some(3)), [1, 2, 3, 4, 5, 6]);
        let with_best = Retention(vec![Keep::Last(2), Keep::Best]);
        assert_eq!(with_best.to_delete(&all, 8, Some(3)), [1, 2, 4, 5, 6]);
        let referenced = Retention(vec![Keep::Last(1), Keep::Referenced([1, 5].into())]);
        assert_eq!(referenced.to_delete(&all, 8, None), [2, 3, 4, 6, 7]);
        // Keeping none is keeping one: resume needs the newest; newer ones are not its to judge.
        assert_eq!(
            Retention(vec![Keep::Last(0)]).to_delete(&all, 6, None),
            [1, 2, 3, 4, 5]
        );
    }
}
