//! `tune predict` for a study that runs a user's program: its `trainer.predict` command, run with a
//! trial's selected checkpoint and the data (`TUNE_CHECKPOINT`, `TUNE_PARAMS`, `TUNE_DATA`),
//! writes a CSV of predictions to `TUNE_PREDICTIONS`, a header and one row per data row. tune
//! checks it (a CSV, the data's number of rows) before it is written where `--output` says. The
//! data is read once (a FIFO or `<(…)` works) and handed to the program as a temp file.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::artifacts::Checkpoint;
use crate::error::{Error, Result};
use crate::plan::{CommandPlan, StudyPlan};

/// The predictions a program wrote: the CSV's bytes and its rows.
pub struct Predictions {
    pub csv: Vec<u8>,
    pub rows: usize,
}

/// Runs `cmd`'s predict command on `data` with the checkpoint `ckpt` of `plan`'s study.
pub fn predict(
    plan: &StudyPlan,
    cmd: &CommandPlan,
    ckpt: &Checkpoint,
    data: &Path,
) -> Result<Predictions> {
    let Some(program) = &cmd.predict else {
        return Err(Error::Study(format!(
            "{}: this study runs its own program, and its \"trainer\" has no \"predict\" command: add one (\"predict\": [\"python3\", \"predict.py\"]) that writes a CSV of predictions to TUNE_PREDICTIONS",
            plan.spec_file.display()
        )));
    };
    let Some(files) = &ckpt.files else {
        return Err(Error::Damaged(format!(
            "trial {}'s checkpoint holds no program checkpoint",
            ckpt.meta.trial
        )));
    };
    let bytes = std::fs::read(data).map_err(|err| Error::Read {
        file: data.to_path_buf(),
        err,
    })?;
    let want = records(&bytes).map_err(|e| data_error(data, e))?;
    let tmp =
        crate::durable::Scratch::new("predict").map_err(|e| Error::io(&std::env::temp_dir(), e))?;
    let input = tmp.0.join("data.csv");
    let output = tmp.0.join("predictions.csv");
    std::fs::write(&input, &bytes).map_err(|e| Error::io(&input, e))?;
    let params = serde_json::to_string(&ckpt.meta.params).expect("parameters serialise");
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let status = Command::new(cmd.program_path(&program[0]))
        .args(&program[1..])
        .current_dir(&cmd.cwd)
        .envs(&cmd.env)
        .env("TUNE_CHECKPOINT", abs(files))
        .env("TUNE_PARAMS", params)
        .env("TUNE_TRIAL", ckpt.meta.trial.to_string())
        .env("TUNE_DATA", &input)
        .env("TUNE_PREDICTIONS", &output)
        .env("TUNE_DEVICE", "cpu")
        .env("CUDA_VISIBLE_DEVICES", "")
        .env("TUNE_THREADS", cmd.threads.to_string())
        .stdin(Stdio::null())
        // Its prints go to stderr: stdout may carry the predictions (`--output -`).
        .stdout(std::io::stderr())
        .status()
        .map_err(|e| Error::Program(format!("cannot start {}: {e}", program[0])))?;
    if !status.success() {
        return Err(Error::Program(format!(
            "trainer.predict ({}) failed ({status})",
            program[0]
        )));
    }
    let csv = std::fs::read(&output).map_err(|_| {
        Error::Program(format!(
            "trainer.predict ({}) exited without writing its predictions to TUNE_PREDICTIONS",
            program[0]
        ))
    })?;
    let rows = records(&csv).map_err(|e| {
        Error::Program(format!(
            "trainer.predict wrote predictions that are not a CSV with a header: {e}"
        ))
    })?;
    if rows != want {
        return Err(Error::Program(format!(
            "trainer.predict wrote {rows} predictions for the {want} rows of {}",
            data.display()
        )));
    }
    Ok(Predictions { csv, rows })
}

fn data_error(data: &Path, e: String) -> Error {
    Error::Data {
        file: data.to_path_buf(),
        place: "(whole file)".into(),
        msg: e,
    }
}

/// The rows of a CSV after its header.
fn records(bytes: &[u8]) -> std::result::Result<usize, String> {
    let mut r = csv::ReaderBuilder::new().flexible(false).from_reader(bytes);
    if r.headers().map_err(|e| e.to_string())?.is_empty() {
        return Err("it has no header".into());
    }
    let mut n = 0;
    for rec in r.records() {
        rec.map_err(|e| e.to_string())?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    #[test]
    fn records_count_rows_after_the_header() {
        assert_eq!(super::records(b"a,b\n1,2\n3,4\n"), Ok(2));
        assert_eq!(super::records(b"a\n"), Ok(0));
        assert!(super::records(b"a,b\n1,2,3\n").is_err());
    }
}
