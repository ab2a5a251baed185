//! The prepared data's cache, `data.cache` in the study folder: the matrix every trial trains on
//! (both sides of the split, inputs and targets), so that a resume, `status`, `report` and
//! `leaderboard` never parse the data file again; the file is mapped, not read, so that it costs
//! memory only for the pages a trial touches. Keyed by the data file's contents (CRC-32 and size),
//! the spec's `data`, the seed and the versions of the split and the preprocessing: another key is
//! a cache to make again, never an error.
//!
//! Layout (little-endian): `TUNEDAT1`, the header's length (u64), the header (JSON: key, shape,
//! preprocessing), zeros to a multiple of 64 bytes, then train x, train y, validation x and
//! validation y (f32), then the training and validation rows' data rows in the file (u64).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Dataset, Floats, Preprocessing, Split, Task};
use crate::spec::DataSpec;

const MAGIC: &[u8; 8] = b"TUNEDAT1";

/// The cache's name in the study folder.
pub const FILE: &str = "data.cache";

/// What the cache was made from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Key {
    pub data_crc32: u32,
    pub data_len: u64,
    pub data: serde_json::Value,
    pub seed: u64,
    pub versions: Vec<String>,
}

impl Key {
    pub fn new(d: &DataSpec, seed: u64, (data_crc32, data_len): (u32, u64)) -> Key {
        Key {
            data_crc32,
            data_len,
            data: serde_json::to_value(d).expect("the spec serialises"),
            seed,
            versions: vec![
                super::SPLIT_VERSION.into(),
                super::prepare::PREPARE_VERSION.into(),
            ],
        }
    }

    /// Whether `self` and `other` agree on everything but the data file's contents.
    fn same_spec(&self, other: &Key) -> bool {
        (&self.data, self.seed, &self.versions) == (&other.data, other.seed, &other.versions)
    }
}

#[derive(Serialize, Deserialize)]
struct Head {
    key: Key,
    task: Task,
    inputs: Vec<String>,
    classes: Vec<String>,
    train_rows: usize,
    val_rows: usize,
    preprocessing: Preprocessing,
}

/// Writes `data` as the cache under `key` in the study folder `out` (a temp file renamed), with
/// `preprocessing.json` beside it; nothing when a cache under `key` is there already.
pub fn save(out: &Path, key: &Key, data: &Dataset) -> std::io::Result<()> {
    let path = out.join(FILE);
    if read_head(&path).is_some_and(|(h, _)| h.key == *key) {
        return Ok(());
    }
    let head = Head {
        key: key.clone(),
        task: data.task,
        inputs: data.features.clone(),
        classes: data.classes.clone(),
        train_rows: data.train.rows,
        val_rows: data.val.rows,
        preprocessing: (*data.prep).clone(),
    };
    let json = serde_json::to_vec(&head).expect("the header serialises");
    crate::durable::write_derived(
        &out.join("preprocessing.json"),
        &serde_json::to_vec_pretty(&head.preprocessing).expect("serialises"),
    )?;
    crate::durable::replace_with(&path, false, |f| {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        w.write_all(MAGIC)?;
        w.write_all(&(json.len() as u64).to_le_bytes())?;
        w.write_all(&json)?;
        w.write_all(&vec![0u8; padding(16 + json.len())])?;
        for v in [&data.train.x, &data.train.y, &data.val.x, &data.val.y] {
            for chunk in v.chunks(1 << 16) {
                let bytes: Vec<u8> = chunk.iter().flat_map(|x| x.to_le_bytes()).collect();
                w.write_all(&bytes)?;
            }
        }
        for rows in [&data.train.source_rows, &data.val.source_rows] {
            for chunk in rows.chunks(1 << 16) {
                let bytes: Vec<u8> = chunk
                    .iter()
                    .flat_map(|&r| (r as u64).to_le_bytes())
                    .collect();
                w.write_all(&bytes)?;
            }
        }
        w.flush()
    })
}

/// Zeros after `len` bytes up to a multiple of 64.
fn padding(len: usize) -> usize {
    (64 - len % 64) % 64
}

/// The header of the cache at `path` and where its arrays begin, if it is one.
fn read_head(path: &Path) -> Option<(Head, usize)> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).ok()?;
    let mut start = [0u8; 16];
    f.read_exact(&mut start).ok()?;
    if &start[..8] != MAGIC {
        return None;
    }
    let len = usize::try_from(u64::from_le_bytes(start[8..].try_into().ok()?)).ok()?;
    if len > 1 << 30 {
        return None;
    }
    let mut json = vec![0u8; len];
    f.read_exact(&mut json).ok()?;
    let head: Head = serde_json::from_slice(&json).ok()?;
    Some((head, 16 + len + padding(16 + len)))
}

/// The data set in the study folder `out`'s cache, mapped, when it was made under `key`: all of
/// it, or (`contents` false: `status` and the like, which read only the study folder) all but the
/// data file's contents.
pub fn load(out: &Path, key: &Key, contents: bool) -> Option<(Dataset, Key)> {
    if cfg!(target_endian = "big") {
        return None;
    }
    let path: PathBuf = out.join(FILE);
    let (head, start) = read_head(&path)?;
    let agrees = match contents {
        true => head.key == *key,
        false => head.key.same_spec(key),
    };
    if !agrees {
        return None;
    }
    let f = std::fs::File::open(&path).ok()?;
    // SAFETY: the map is read-only; the file is the study's own, replaced only by a rename (a new
    // file), never written in place; one truncated from outside would fault, as any mapped file.
    let map = Arc::new(unsafe { memmap2::Mmap::map(&f) }.ok()?);
    let f = head.inputs.len();
    let (nt, nv) = (head.train_rows, head.val_rows);
    let mut at = start;
    let mut take = |len: usize| {
        let v = Floats::mapped(&map, at, len);
        at += len * 4;
        v
    };
    let (tx, ty, vx, vy) = (take(nt * f)?, take(nt)?, take(nv * f)?, take(nv)?);
    let rows = |from: usize, n: usize| -> Option<Vec<usize>> {
        let bytes = map.get(from..from + n * 8)?;
        Some(
            bytes
                .chunks_exact(8)
                .map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize)
                .collect(),
        )
    };
    let train_src = rows(at, nt)?;
    let val_src = rows(at + nt * 8, nv)?;
    if at + (nt + nv) * 8 != map.len() {
        return None;
    }
    let key = head.key;
    Some((
        Dataset {
            task: head.task,
            features: head.inputs,
            classes: head.classes,
            train: Split {
                x: tx,
                y: ty,
                rows: nt,
                source_rows: train_src,
            },
            val: Split {
                x: vx,
                y: vy,
                rows: nv,
                source_rows: val_src,
            },
            prep: Arc::new(head.preprocessing),
        },
        key,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_gives_back_the_data_set_under_its_key_only() {
        let dir = crate::testutil::TempDir::new();
        let mut text = String::from("a,b,y\n");
        for i in 0..50 {
            let b = ["x", "y", "NA"][i % 3];
            text.push_str(&format!("{},{b},{}\n", i as f32 / 3.0, i % 2));
        }
        let h = super::super::Header::of_bytes(Path::new("t.csv"), text.as_bytes()).unwrap();
        let feats = ["a".to_string(), "b".to_string()];
        let d = super::super::prepare::from_header(&h, "y", &feats, Task::Classification, 0.2, 5)
            .unwrap();
        let spec: DataSpec =
            serde_json::from_str(r#"{"path": "t.csv", "target": "y", "task": "classification"}"#)
                .unwrap();
        let key = Key::new(&spec, 5, (7, 8));
        save(dir.path(), &key, &d).unwrap();
        let back = load(dir.path(), &key, true).unwrap().0;
        assert_eq!(back.train.x, d.train.x);
        assert_eq!(back.val.y, d.val.y);
        assert_eq!(back.val.source_rows, d.val.source_rows);
        assert_eq!(back.features, d.features);
        assert_eq!(*back.prep, *d.prep);
        assert!(matches!(back.train.x, Floats::Mapped { .. }));
        // Another file's contents: made again; unless only the study folder is read.
        assert!(load(dir.path(), &Key::new(&spec, 5, (7, 9)), true).is_none());
        assert!(load(dir.path(), &Key::new(&spec, 5, (7, 9)), false).is_some());
        assert!(load(dir.path(), &Key::new(&spec, 6, (7, 8)), false).is_none());
        assert!(dir.path().join("preprocessing.json").exists());
    }
}
