//! The trainer sub-plan: a user's program that trains each trial (`"trainer"` in the spec),
//! checked before anything runs: the program can be found, its folder exists, its environment and
//! time limit make sense.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::spec::TrainerSpec;

/// A user's training program, as each trial runs it.
#[derive(Clone, Debug, PartialEq)]
pub struct CommandPlan {
    /// The program (as written, found on `PATH` or relative to `cwd`) and its arguments.
    pub command: Vec<String>,
    /// Its working folder.
    pub cwd: PathBuf,
    /// Variables added to its environment (besides `TUNE_*`).
    pub env: BTreeMap<String, String>,
    /// How long a virtual epoch may take; `None`: no limit.
    pub timeout: Option<Duration>,
    /// Whether the program is offered to fork per trial (`trainer.fork`; the command runner's
    /// `process::start` says how).
    pub fork: bool,
    /// Threads each trial's program gets (`trainer.threads`).
    pub threads: usize,
    /// How long a program may take to exit after its last report (`trainer.exit_grace`).
    pub exit_grace: Duration,
    /// The GPUs its trials are given; `None` on the CPU.
    pub gpus: Option<super::gpus::GpuPlan>,
    /// The command `tune predict` runs (`trainer.predict`).
    pub predict: Option<Vec<String>>,
    /// Its files (the script its command names, `trainer.code`'s), hashed.
    pub code: super::code::CodeFiles,
}

/// Threads a trial's program gets unless `trainer.threads` says.
const DEFAULT_THREADS: usize = 1;

/// Seconds a program may take to exit after its last report unless `trainer.exit_grace` says: an
/// interpreter tearing down a large library on a loaded machine takes seconds.
const DEFAULT_EXIT_GRACE: f64 = 60.0;

/// The most threads `trainer.threads` may give a trial.
const MAX_THREADS: usize = 1024;

/// Variables tune sets for each trial besides `TUNE_*`, and the setting that decides each.
const SET_BY_TUNE: &[(&str, &str)] = &[
    ("CUDA_VISIBLE_DEVICES", "device or trainer.gpus"),
    ("OMP_NUM_THREADS", "trainer.threads"),
    ("MKL_NUM_THREADS", "trainer.threads"),
    ("TUNE_RUN_TOKEN", "tune"),
];

/// The most seconds a time limit may name (a year): beyond it a timer overflows nothing useful.
const MAX_TIMEOUT: f64 = 365.0 * 86_400.0;

impl CommandPlan {
    /// The spec's `trainer` (read from `file`, relative folders from `base`), checked; `out` is
    /// the study folder, whose files are never the program's.
    pub(super) fn from_spec(
        file: &Path,
        t: &TrainerSpec,
        base: &Path,
        out: &Path,
    ) -> Result<CommandPlan> {
        let bad = |path: String, msg: String| Error::spec(file, path, msg);
        let program = check_args(file, "trainer.command", &t.command, "train.py")?;
        let cwd = match &t.cwd {
            Some(c) => base.join(c),
            None => base.to_path_buf(),
        };
        let cwd = if cwd.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            cwd
        };
        if !cwd.is_dir() {
            return Err(bad(
                "trainer.cwd".into(),
                format!("{} is not a folder", cwd.display()),
            ));
        }
        check_found(file, "trainer.command", program, &cwd)?;
        let code = super::code::hash(file, &t.command, &t.code, &cwd, out)?;
        for (k, v) in &t.env {
            let path = format!("trainer.env.{k}");
            if k.is_empty() || k.contains(['=', '\0']) {
                return Err(bad(
                    path,
                    "is not a variable name (no '=' or NUL, not empty)".into(),
                ));
            }
            if let Some((_, by)) = SET_BY_TUNE.iter().find(|(name, _)| name == k) {
                return Err(bad(
                    path,
                    format!("is set by tune for each trial, from {by}: set that instead"),
                ));
            }
            if k.starts_with("TUNE_") {
                return Err(bad(
                    path,
                    "TUNE_ variables are set by tune for each trial".into(),
                ));
            }
            if v.contains('\0') {
                return Err(bad(path, "holds a NUL character".into()));
            }
        }
        let timeout = match t.timeout {
            None => None,
            Some(s) if s > 0.0 && s <= MAX_TIMEOUT => Some(Duration::from_secs_f64(s)),
            Some(s) => {
                return Err(bad(
                    "trainer.timeout".into(),
                    format!(
                        "{} is not a number of seconds above 0 and at most a year",
                        crate::space::num(s)
                    ),
                ))
            }
        };
        let threads = match t.threads {
            None => DEFAULT_THREADS,
            Some(n) if (1..=MAX_THREADS).contains(&n) => n,
            Some(n) => {
                return Err(bad(
                    "trainer.threads".into(),
                    format!("{n} is not a count of threads from 1 to {MAX_THREADS}"),
                ))
            }
        };
        let exit_grace = match t.exit_grace {
            None => Duration::from_secs_f64(DEFAULT_EXIT_GRACE),
            Some(s) if (0.0..=MAX_TIMEOUT).contains(&s) => Duration::from_secs_f64(s),
            Some(s) => {
                return Err(bad(
                    "trainer.exit_grace".into(),
                    format!(
                        "{} is not a number of seconds from 0 to a year",
                        crate::space::num(s)
                    ),
                ))
            }
        };
        let predict = check_predict(file, t.predict.as_deref(), &cwd)?;
        Ok(CommandPlan {
            command: t.command.clone(),
            cwd,
            env: t.env.clone(),
            timeout,
            fork: t.fork,
            threads,
            exit_grace,
            gpus: None,
            predict,
            code,
        })
    }
}

impl CommandPlan {
    /// Where `program` (the first word of a command) is run from: a path is relative to `cwd`,
    /// a name is looked for on `PATH`.
    pub fn program_path(&self, program: &str) -> PathBuf {
        if program.contains('/') {
            self.cwd.join(program)
        } else {
            PathBuf::from(program)
        }
    }

    /// The trials that run at once: as asked (`--parallel` when `flag`, else `search.parallel`),
    /// at most what the GPUs hold; unasked, what the GPUs hold, or the cores' worth of `threads`.
    pub(super) fn parallel(
        &self,
        file: &Path,
        asked: Option<usize>,
        cores: usize,
        flag: bool,
    ) -> Result<usize> {
        let hold = self.gpus.as_ref().map(|g| g.capacity()).filter(|&c| c > 0);
        match (asked, hold) {
            (Some(p), Some(h)) if p > h => {
                let msg = format!(
                    "{p} trials at once is more than the GPUs hold ({h}: raise trainer.trials_per_gpu to share them)"
                );
                Err(if flag {
                    Error::Flag {
                        flag: "--parallel",
                        msg,
                    }
                } else {
                    Error::spec(file, "search.parallel", msg)
                })
            }
            (Some(p), _) => Ok(p),
            (None, Some(h)) => Ok(h),
            (None, None) => Ok((cores / self.threads).max(1)),
        }
    }
}

/// `trainer.predict`, checked as the command is: a program that runs from `cwd`, no NUL.
fn check_predict(file: &Path, p: Option<&[String]>, cwd: &Path) -> Result<Option<Vec<String>>> {
    let Some(p) = p else {
        return Ok(None);
    };
    let program = check_args(file, "trainer.predict", p, "predict.py")?;
    check_found(file, "trainer.predict", program, cwd)?;
    Ok(Some(p.to_vec()))
}

/// The program of the command `args` at `path` (not empty, no NUL in any argument; `example`
/// names a script in the message).
fn check_args<'a>(file: &Path, path: &str, args: &'a [String], example: &str) -> Result<&'a str> {
    let Some(program) = args.first() else {
        return Err(Error::spec(
            file,
            path,
            format!(
                "is empty: name the program and its arguments, as [\"python3\", \"{example}\"]"
            ),
        ));
    };
    if let Some(i) = args.iter().position(|a| a.contains('\0')) {
        return Err(Error::spec(
            file,
            format!("{path}[{i}]"),
            "holds a NUL character, which no argument may",
        ));
    }
    Ok(program)
}

/// Checks that `program`, the first word of the command at `path`, runs from `cwd`.
fn check_found(file: &Path, path: &str, program: &str, cwd: &Path) -> Result<()> {
    let at = format!("{path}[0]");
    if program.is_empty() {
        return Err(Error::spec(file, at, "names no program"));
    }
    if !found(program, cwd) {
        let msg = if program.contains('/') {
            format!(
                "{} is not an executable file (relative paths start from {})",
                program,
                cwd.display()
            )
        } else {
            format!("program \"{program}\" is not on PATH")
        };
        return Err(Error::spec(file, at, msg));
    }
    Ok(())
}

/// Whether `program` can be run from `cwd`: a path to an executable file, or a name on `PATH`.
fn found(program: &str, cwd: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        return executable(&cwd.join(program));
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| executable(&d.join(program))))
}
