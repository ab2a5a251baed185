//! Derivation of every random stream from (study seed, trial, purpose, index), so that any run can be
//! replayed exactly whatever the number of threads or the order in which trials finish.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// What a random stream is for; part of its seed so that streams never overlap.
#[derive(Clone, Copy, Debug)]
#[repr(u64)]
pub enum Purpose {
    /// The train/validation split of the data set.
    Split = 1,
    /// A trial's initial weights.
    Init = 2,
    /// The shuffle of one pass over the training rows.
    Shuffle = 3,
    /// The sampler's draws for one trial.
    Sample = 4,
    /// The start-up design (Latin hypercube) of the GP sampler.
    Design = 5,
    /// The initial weights of a model in the pre-flight check (`tune check`).
    Check = 6,
    /// A trial's dropout masks of one step (the steps before it: a resume draws the same).
    Dropout = 7,
    /// Population-based training's draws for one member at one interval boundary: the member it
    /// exploits and its explored parameters.
    Pbt = 8,
    /// The weights of the objectives the samplers scalarise for one trial (several objectives:
    /// ParEGO's random scalarisations).
    Scalarise = 10,
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seed mixed from the study seed and the coordinates of the stream.
pub fn derive(seed: u64, purpose: Purpose, a: u64, b: u64) -> u64 {
    let mut h = splitmix(seed);
    for x in [purpose as u64, a, b] {
        h = splitmix(h ^ x);
    }
    h
}

/// A portable generator (ChaCha8: same stream on every platform and version) for one stream.
pub fn rng(seed: u64, purpose: Purpose, a: u64, b: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(derive(seed, purpose, a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_by_every_coordinate() {
        let base = derive(7, Purpose::Shuffle, 1, 2);
        assert_ne!(base, derive(8, Purpose::Shuffle, 1, 2));
        assert_ne!(base, derive(7, Purpose::Init, 1, 2));
        assert_ne!(base, derive(7, Purpose::Shuffle, 2, 2));
        assert_ne!(base, derive(7, Purpose::Shuffle, 1, 3));
        assert_eq!(base, derive(7, Purpose::Shuffle, 1, 2));
    }
}
