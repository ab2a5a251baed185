//! The library's error type. A user's mistake names the file and the place in it (JSON path, or line
//! and column of a CSV) in one sentence; the binary maps it to exit code 2.

use std::path::PathBuf;

/// Everything that can go wrong in `tune`, split by whose fault it is.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The study spec is wrong: the message names the file and the JSON path.
    #[error("{file}: {path}: {msg}")]
    Spec {
        file: PathBuf,
        path: String,
        msg: String,
    },
    /// The data file is wrong: the message names the file and the place (line, column).
    #[error("{file}: {place}: {msg}")]
    Data {
        file: PathBuf,
        place: String,
        msg: String,
    },
    /// A command-line option has a bad value: the message names the option (`--parallel`).
    #[error("{flag}: {msg}")]
    Flag { flag: &'static str, msg: String },
    /// A file the user named cannot be read.
    #[error("{file}: cannot read: {err}")]
    Read { file: PathBuf, err: std::io::Error },
    /// The study on disk cannot be used as asked (in use, changed spec, damaged journal).
    #[error("{0}")]
    Study(String),
    /// An I/O failure while writing the study's own files. Not the user's fault.
    #[error("{file}: {err}")]
    Io { file: PathBuf, err: std::io::Error },
    /// The study was begun under another spec: these fingerprint keys differ.
    #[error("the spec changed since this study began ({}): run with --restart to start over (the old study is moved aside)", .0.join(", "))]
    SpecChanged(Vec<String>),
    /// The machine refused a resource (threads). Not the user's input.
    #[error("{0}")]
    System(String),
    /// A user's program (`trainer.predict`, or a program `tune check` ran) failed or broke its
    /// protocol: the program's fault, not the input's (exit code 1).
    #[error("{0}")]
    Program(String),
    /// A checkpoint of the study does not hold what its record says (tune's files damaged, or
    /// written by another version): the study on disk cannot be used as asked, as a damaged
    /// journal (exit code 2), and says so apart from the user's other mistakes.
    #[error("{0}")]
    Damaged(String),
    /// The trials cannot run: a user's program failed in every one tried (exit code 1).
    #[error("{0}")]
    Trials(String),
    /// A failure inside the numeric backend.
    #[error("backend: {0}")]
    Backend(String),
}

impl Error {
    /// True when the error comes from what the user gave us (exit code 2), not from a bug or the machine.
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            Error::Spec { .. }
                | Error::Flag { .. }
                | Error::Data { .. }
                | Error::Read { .. }
                | Error::Study(_)
                | Error::Damaged(_)
                | Error::SpecChanged(_)
        )
    }

    pub(crate) fn spec(
        file: &std::path::Path,
        path: impl Into<String>,
        msg: impl Into<String>,
    ) -> Self {
        Error::Spec {
            file: file.to_path_buf(),
            path: path.into(),
            msg: msg.into(),
        }
    }

    pub(crate) fn io(file: &std::path::Path, err: std::io::Error) -> Self {
        Error::Io {
            file: file.to_path_buf(),
            err,
        }
    }

    /// The error of a thread that could not start.
    pub(crate) fn no_thread(e: std::io::Error) -> Self {
        Error::System(format!(
            "cannot start a thread: {e} (a limit on processes or threads, such as `ulimit -u` or a container's pids limit, may be too low)"
        ))
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `text` cut to `max` characters, with `…` where it was cut: a value a message quotes (a cell, a
/// path a program reported, a line it printed) never floods it.
pub fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}
