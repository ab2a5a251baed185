//! The one door to where a study is kept: its location (a folder, or a study in PostgreSQL)
//! parsed once, one function that opens its storage and artifact store to run it, and one
//! read-only opener for everything that only reads a study (status, leaderboard, report,
//! predict, warm start and `init`).

use std::path::{Path, PathBuf};

use crate::artifacts::{ArtifactStore, FolderStore, PgStore};
use crate::error::{Error, Result};
use crate::storage::journal::JournalStorage;
use crate::storage::postgres::{self, PgStorage};
use crate::storage::{History, Storage};

/// Where a study is kept.
#[derive(Clone, Debug, PartialEq)]
pub enum Location {
    /// A study folder (its journal and checkpoints).
    Folder(PathBuf),
    /// The study `name` in the PostgreSQL database at `url`.
    Postgres { url: String, name: String },
}

impl Location {
    /// An earlier study as a spec names it (`search.warm_start`, `init.from`): a folder, relative
    /// to `base`, or a PostgreSQL URL whose fragment names the study
    /// (`postgresql://user@host/db#wine`). The error says what is wrong, in a phrase.
    pub fn parse(text: &str, base: &Path) -> std::result::Result<Location, String> {
        if !postgres::is_url(text) {
            return Ok(Location::Folder(base.join(text)));
        }
        match text.rsplit_once('#') {
            Some((url, name)) if !name.is_empty() => Ok(Location::Postgres {
                url: url.to_string(),
                name: name.to_string(),
            }),
            _ => Err(format!(
                "`{}` names no study: end the URL with #name, the study's name in that database",
                postgres::hide_password(text)
            )),
        }
    }

    /// The location as shown to a person (a password hidden).
    pub fn shown(&self) -> String {
        match self {
            Location::Folder(dir) => dir.display().to_string(),
            Location::Postgres { url, name } => {
                format!(
                    "study \"{name}\" in PostgreSQL at {}",
                    postgres::hide_password(url)
                )
            }
        }
    }
}

/// A study's storage and artifact store, open to run it.
pub struct Backend {
    pub storage: Box<dyn Storage>,
    pub store: Box<dyn ArtifactStore>,
}

/// Opens the study of the folder `out` to run it: its journal there (locked), or with `url` the
/// study in PostgreSQL (`join`: a worker of a study that must exist), whose checkpoints are in
/// `artifacts` when given, else in PostgreSQL (programs' files read back under `out/trials`).
/// A server that cannot be reached is refused before anything is written.
pub fn open(
    out: &Path,
    url: Option<&str>,
    join: bool,
    artifacts: Option<&Path>,
) -> Result<Backend> {
    let pg = match url {
        Some(url) => Some(PgStorage::connect(url, join)?),
        None => None,
    };
    std::fs::create_dir_all(out.join("trials")).map_err(|e| Error::io(out, e))?;
    Ok(match pg {
        Some(pg) => {
            let store: Box<dyn ArtifactStore> = match artifacts {
                Some(dir) => Box::new(FolderStore::new(dir)),
                None => Box::new(PgStore::new(pg.pg(), &out.join("trials"))),
            };
            Backend {
                storage: Box::new(pg),
                store,
            }
        }
        None => Backend {
            storage: Box::new(JournalStorage::lock(out)?),
            store: Box::new(FolderStore::new(out)),
        },
    })
}

/// The history of the study at `loc`, read only; `None` when no study is there.
pub fn history(loc: &Location) -> Result<Option<History>> {
    Ok(read(loc, Path::new("."), None)?.map(|(h, _)| h))
}

/// The history and checkpoints of the study at `loc`, read only; `None` when no study is there.
/// Checkpoints are read from `artifacts` when given; programs' checkpoints read back from
/// PostgreSQL are unpacked under `local` (a folder of this machine's).
pub fn read(
    loc: &Location,
    local: &Path,
    artifacts: Option<&Path>,
) -> Result<Option<(History, Box<dyn ArtifactStore>)>> {
    let folder = |dir: &Path| -> Box<dyn ArtifactStore> { Box::new(FolderStore::new(dir)) };
    match loc {
        Location::Folder(dir) => {
            Ok(JournalStorage::read(dir)?
                .map(|history| (history, folder(artifacts.unwrap_or(dir)))))
        }
        Location::Postgres { url, name } => {
            let Some((history, pg)) = PgStorage::read(url, name)? else {
                return Ok(None);
            };
            let store = match artifacts {
                Some(dir) => folder(dir),
                None => Box::new(PgStore::new(pg, local)),
            };
            Ok(Some((history, store)))
        }
    }
}

/// A study read as it grows (`tune serve`): its history, brought up to date by
/// [`Follower::update`] with only the events appended since, and a version that counts them.
pub struct Follower {
    source: Source,
    /// The history so far.
    pub history: History,
    /// Events applied: changes whenever the history does.
    pub version: u64,
}

/// Where a [`Follower`] reads, and how far it has read.
enum Source {
    /// The journal, its intact prefix read (`len` bytes holding `records` records), and the file's
    /// identity (a study started over with `--restart` has a new journal).
    Journal {
        path: PathBuf,
        len: u64,
        records: u64,
        id: (u64, u64),
    },
    /// The study in PostgreSQL, read up to the event numbered `cursor`.
    Postgres {
        pg: std::sync::Arc<postgres::Pg>,
        cursor: u64,
    },
}

/// The device and inode of the file at `path` (0s where they cannot be read).
fn file_id(path: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).map_or((0, 0), |m| (m.dev(), m.ino()))
}

impl Follower {
    /// Follows the study at `loc`; `None` when no study is there.
    pub fn open(loc: &Location) -> Result<Option<Follower>> {
        match loc {
            Location::Folder(dir) => {
                let path = dir.join(crate::storage::journal::FILE);
                if !path.exists() {
                    return Ok(None);
                }
                let id = file_id(&path);
                let r = crate::storage::journal::replay(&path)?;
                Ok(Some(Follower {
                    source: Source::Journal {
                        path,
                        len: r.len,
                        records: r.records,
                        id,
                    },
                    history: r.history,
                    version: r.records,
                }))
            }
            Location::Postgres { url, name } => {
                let Some(pg) = PgStorage::find(url, name)? else {
                    return Ok(None);
                };
                let mut f = Follower {
                    source: Source::Postgres { pg, cursor: 0 },
                    history: History::default(),
                    version: 0,
                };
                f.update()?;
                Ok(Some(f))
            }
        }
    }

    /// Reads what was appended since the last call; whether the history changed.
    pub fn update(&mut self) -> Result<bool> {
        let events = match &mut self.source {
            Source::Journal {
                path,
                len,
                records,
                id,
            } => {
                let size = std::fs::metadata(&*path)
                    .map_err(|e| Error::io(path, e))?
                    .len();
                let same = file_id(path) == *id;
                if same && size == *len {
                    return Ok(false);
                }
                if !same || size < *len {
                    // Started over: the new journal from its start, under a new version.
                    let r = crate::storage::journal::replay(path)?;
                    (*len, *records, *id) = (r.len, r.records, file_id(path));
                    self.history = r.history;
                    self.version += r.records + 1;
                    return Ok(true);
                }
                let (events, new_len) = crate::storage::journal::read_more(path, *len, *records)?;
                (*len, *records) = (new_len, *records + events.len() as u64);
                events
            }
            Source::Postgres { pg, cursor } => {
                let (events, next) = postgres::read_more(pg, *cursor)?;
                *cursor = next;
                events
            }
        };
        for e in &events {
            self.history.apply(e);
        }
        self.version += events.len() as u64;
        Ok(!events.is_empty())
    }
}
