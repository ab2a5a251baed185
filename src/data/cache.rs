//! The prepared data's cache, `data.cache` in the study folder: the matrix every trial trains on
//! (both sides of the split, inputs and targets), so that a resume, `status`, `report` and
//! `leaderboard` never parse the data file again; the file is mapped, not read, so that it costs
//! memory only for the pages a trial touches. Keyed by the data file's contents (CRC-32 and size),
//! the spec's `data`, the seed and the versions of the split and the preprocessing: another key is
//! a cache to make again, never an error.
//!
//! Layout (little-endian): `TUNEDAT1`, the header's length (u64), the header (JSON: key, shape,
//! preprocessing), zeros to a multiple of 64 bytes, then train x, train y, validation x,
//! validation y, test x and test y (f32), then the training, validation and test rows' data rows
//! in the file (u64). Test rows came later: without them the layout is the one before (a cache
//! made by an older build is still read), and with them the key (`data.test_fraction`) differs
//! from any older cache's, which an older build reading a newer one rejects by its length.

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
            data: d.results_value(),
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
    #[serde(default, skip_serializing_if = "is_zero")]
    test_rows: usize,
    preprocessing: Preprocessing,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
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
        test_rows: data.test.rows,
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
        let (t, v, s) = (&data.train, &data.val, &data.test);
        for v in [&t.x, &t.y, &v.x, &v.y, &s.x, &s.y] {
            for chunk in v.chunks(1 << 16) {
                let bytes: Vec<u8> = chunk.iter().flat_map(|x| x.to_le_bytes()).collect();
                w.write_all(&bytes)?;
            }
        }
        for rows in [&t.source_rows, &v.source_rows, &s.source_rows] {
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
    let sizes = [head.train_rows, head.val_rows, head.test_rows];
    let mut at = start;
    let mut floats = Vec::with_capacity(6);
    for n in sizes {
        for len in [n * f, n] {
            floats.push(Floats::mapped(&map, at, len)?);
            at += len * 4;
        }
    }
    let mut sources = Vec::with_capacity(3);
    for n in sizes {
        let bytes = map.get(at..at + n * 8)?;
        sources.push(
            bytes
                .chunks_exact(8)
                .map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize)
                .collect::<Vec<usize>>(),
        );
        at += n * 8;
    }
    if at != map.len() {
        return None;
    }
    let mut floats = floats.into_iter();
    let mut splits = sizes
        .into_iter()
        .zip(sources)
        .map(|(rows, source_rows)| Split {
            x: floats.next().expect("two arrays a side"),
            y: floats.next().expect("two arrays a side"),
            rows,
            source_rows,
        });
    let mut side = || splits.next().expect("three sides");
    let (train, val, test) = (side(), side(), side());
    Some((
        Dataset {
            task: head.task,
            features: head.inputs,
            classes: head.classes,
            train,
            val,
            test,
            prep: Arc::new(head.preprocessing),
        },
        head.key,
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
        assert!(back.test.rows == 0 && back.test.x.is_empty());

        // With test rows: kept under their own key, and given back.
        let d = super::super::prepare::from_header_split(
            &h,
            "y",
            &feats,
            Task::Classification,
            (0.2, 0.3),
            5,
        )
        .unwrap();
        let spec: DataSpec = serde_json::from_str(
            r#"{"path": "t.csv", "target": "y", "task": "classification", "test_fraction": 0.3}"#,
        )
        .unwrap();
        let test_key = Key::new(&spec, 5, (7, 8));
        assert_ne!(test_key, key);
        save(dir.path(), &test_key, &d).unwrap();
        assert!(load(dir.path(), &key, true).is_none());
        let back = load(dir.path(), &test_key, true).unwrap().0;
        assert_eq!(back.test.rows, 15);
        assert_eq!((&back.test.x, &back.test.y), (&d.test.x, &d.test.y));
        assert_eq!(back.test.source_rows, d.test.source_rows);
        assert_eq!((&back.val.x, &back.train.y), (&d.val.x, &d.train.y));
    }
}
