//! f32 values owned, or mapped from a file (the prepared matrix's cache): read alike as a slice.

use std::ops::Deref;
use std::sync::Arc;

/// A run of f32 values in memory or in a mapped file; a clone shares them.
#[derive(Clone)]
pub enum Floats {
    Owned(Arc<Vec<f32>>),
    /// `len` values from byte `offset` of the map (a multiple of 4: checked where made).
    Mapped {
        map: Arc<memmap2::Mmap>,
        offset: usize,
        len: usize,
    },
}

impl Floats {
    /// `len` values at byte `offset` of `map`; None when they are not aligned or not inside it.
    pub fn mapped(map: &Arc<memmap2::Mmap>, offset: usize, len: usize) -> Option<Floats> {
        let end = offset.checked_add(len.checked_mul(4)?)?;
        let aligned = (map.as_ptr() as usize + offset).is_multiple_of(std::mem::align_of::<f32>());
        (aligned && end <= map.len()).then(|| Floats::Mapped {
            map: map.clone(),
            offset,
            len,
        })
    }
}

impl Default for Floats {
    fn default() -> Floats {
        Floats::Owned(Arc::new(Vec::new()))
    }
}

impl From<Vec<f32>> for Floats {
    fn from(v: Vec<f32>) -> Floats {
        Floats::Owned(Arc::new(v))
    }
}

impl Deref for Floats {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        match self {
            Floats::Owned(v) => v,
            Floats::Mapped { map, offset, len } => {
                // SAFETY: `mapped` checked that the range is inside the map and aligned for f32;
                // every bit pattern is an f32; the map is read-only and lives as long as `self`.
                unsafe { std::slice::from_raw_parts(map.as_ptr().add(*offset).cast::<f32>(), *len) }
            }
        }
    }
}

impl PartialEq for Floats {
    fn eq(&self, other: &Floats) -> bool {
        **self == **other
    }
}

impl std::fmt::Debug for Floats {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Floats::Owned(v) => write!(f, "Owned({} values)", v.len()),
            Floats::Mapped { len, .. } => write!(f, "Mapped({len} values)"),
        }
    }
}

impl<'a> IntoIterator for &'a Floats {
    type Item = &'a f32;
    type IntoIter = std::slice::Iter<'a, f32>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}
