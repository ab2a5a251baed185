//! `tune predict`, `tune export` and `tune retrain`: what a study tuned, used.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use tune::outputs::destination::Destination;
use tune::plan::{Overrides, StudyPlan};
use tune::Error;

use super::output;
use super::shell::shell_word;
use crate::{load_as, read, run_plan, say, summary_lines, PickArgs, RunArgs, StudyArgs};

/// The plan of a study of the built-in trainer, for `tune {verb}`.
fn plan(study: &StudyArgs, verb: &str) -> anyhow::Result<StudyPlan> {
    let plan = load_as(study, None, None, None, true)?;
    if plan.command.is_some() {
        anyhow::bail!(Error::Study(format!(
            "{}: `tune {verb}` uses the built-in trainer's models, and this study runs its own program (\"trainer\"): its checkpoints are the program's files, in trials/N/best.files",
            plan.spec_file.display()
        )));
    }
    Ok(plan)
}

/// The model of the checkpoint `pick` names, of `plan`'s study, once the study is known to be
/// the one `plan`'s spec made.
fn model(
    study: &StudyArgs,
    pick: &PickArgs,
    plan: &StudyPlan,
) -> anyhow::Result<tune::outputs::predict::Model> {
    use tune::outputs::predict;
    let (history, store) = read(study, plan)?;
    let shared = crate::storage(study, plan)?.is_some();
    tune::driver::check_made_by(plan, &history, shared)?;
    let trial = predict::pick_trial(plan, &history, pick.trial)?;
    let ckpt = predict::checkpoint(&*store, &history, trial, pick.checkpoint)?;
    let fallback = plan.dataset.as_ref().map(|d| &*d.prep);
    Ok(predict::Model::of(ckpt, fallback)?)
}

/// `tune predict`: the predictions as CSV to `output` (atomically; `-` or none: stdout); the
/// score on rows that have the target to stderr.
pub fn predict(
    study: &StudyArgs,
    pick: &PickArgs,
    data: &Path,
    output: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let plan = load_as(study, None, None, None, true)?;
    if let Some(cmd) = &plan.command {
        return program_predict(study, pick, &plan, cmd, data, output);
    }
    let dest = match output {
        Some(path) => output::destination("--output", path, &plan, study, Some(data))?,
        None => Destination::Stdout,
    };
    let model = model(study, pick, &plan)?;
    let rows = tune::data::apply::apply(&model.prep, data)?;
    let out = model.outputs(&rows);
    let mut err = std::io::stderr();
    if let Some(score) = model.score(&rows, &out, plan.curve_metric()) {
        let _ = writeln!(
            err,
            "trial {} at virtual epoch {}, {}",
            model.trial,
            model.virtual_epoch,
            score.sentence(data, &model.prep.target)
        );
    }
    let mut buf = Vec::new();
    model.write_csv(&out, rows.rows, &mut buf)?;
    output::write(&dest, &buf)?;
    if let Destination::File(path) = &dest {
        let _ = writeln!(err, "wrote {} predictions to {}", rows.rows, path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `tune predict` for a study of a program: its `trainer.predict` with the picked checkpoint.
fn program_predict(
    study: &StudyArgs,
    pick: &PickArgs,
    plan: &StudyPlan,
    cmd: &tune::plan::CommandPlan,
    data: &Path,
    output: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    use tune::outputs::predict;
    let dest = match output {
        Some(path) => output::destination("--output", path, plan, study, Some(data))?,
        None => Destination::Stdout,
    };
    let (history, store) = read(study, plan)?;
    let shared = crate::storage(study, plan)?.is_some();
    tune::driver::check_made_by(plan, &history, shared)?;
    let trial = predict::pick_trial(plan, &history, pick.trial)?;
    let ckpt = predict::checkpoint(&*store, &history, trial, pick.checkpoint)?;
    let got = tune::outputs::program_predict::predict(plan, cmd, &ckpt, data)?;
    output::write(&dest, &got.csv)?;
    let _ = writeln!(
        std::io::stderr(),
        "trial {trial} at virtual epoch {}: {} predictions by trainer.predict{}",
        ckpt.meta.virtual_epoch,
        got.rows,
        match &dest {
            Destination::File(p) => format!(", written to {}", p.display()),
            Destination::Stdout => String::new(),
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// `tune retrain`: trial `trial`'s parameters on `data` as a study of its own, then both curves.
pub fn retrain(
    args: &RunArgs,
    data: &Path,
    trial: tune::outputs::predict::TrialPick,
) -> anyhow::Result<ExitCode> {
    use tune::outputs::{predict, retrain};
    let plan = load_as(&args.study, None, None, None, true)?;
    regular_data(data)?;
    let (history, _) = read(&args.study, &plan)?;
    let shared = crate::storage(&args.study, &plan)?.is_some();
    tune::driver::check_made_by(&plan, &history, shared)?;
    let trial = predict::pick_trial(&plan, &history, trial)?;
    let overrides = Overrides {
        device: args.device.clone(),
        cores: args.cores,
        ..Default::default()
    };
    let new_plan = retrain::plan(&plan, &history, trial, data, &overrides)?;
    let mut resume = format!(
        "tune retrain {} --data {} --trial {trial}",
        shell_word(&plan.spec_file),
        shell_word(data)
    );
    if let Some(out) = &args.study.out {
        resume += &format!(" --out {}", shell_word(out));
    }
    let mut args = args.clone();
    args.study.out = None;
    let (code, summary) = run_plan(&new_plan, &args, false, &resume)?;
    let Some(summary) = summary else {
        return Ok(code);
    };
    let old = &history.trials[&trial];
    let Some(new) = summary.history.trials.values().next() else {
        anyhow::bail!(Error::Study("the retraining ran no trial".into()));
    };
    say!(
        "trial {trial} of {} ({}) on {}:",
        plan.name,
        old.params
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        data.display()
    )?;
    say!("{}", retrain::table(&plan, old, new))?;
    let page = tune::outputs::report::compare::write(&plan, &new_plan, old, new)?;
    say!(
        "{}\nplotted: {}",
        summary_lines(&new_plan, &summary),
        page.display()
    )?;
    Ok(code)
}

/// `--format`: the formats `tune export` writes.
pub fn export_format(s: &str) -> Result<String, String> {
    match s {
        "onnx" => Ok(s.to_string()),
        _ => Err(format!(
            "`{s}` is not a format tune exports: the only one is onnx"
        )),
    }
}

/// `tune export`: the model as ONNX, written atomically to `output` (`-`: stdout).
pub fn export(study: &StudyArgs, pick: &PickArgs, output: &Path) -> anyhow::Result<ExitCode> {
    let plan = plan(study, "export")?;
    let dest = output::destination("--output", output, &plan, study, None)?;
    let model = model(study, pick, &plan)?;
    let doc = format!(
        "study {}, trial {} at virtual epoch {}, exported by tune {}",
        plan.name,
        model.trial,
        model.virtual_epoch,
        env!("CARGO_PKG_VERSION")
    );
    let bytes = tune::outputs::onnx::model(&model, &doc)?;
    output::write(&dest, &bytes)?;
    let _ = writeln!(
        std::io::stderr(),
        "wrote trial {} at virtual epoch {} as ONNX to {}",
        model.trial,
        model.virtual_epoch,
        match &dest {
            Destination::File(p) => p.display().to_string(),
            Destination::Stdout => "stdout".into(),
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// Refuses a `--data` that is not a regular file (a FIFO, the shell's `<(…)`) for `tune retrain`,
/// whose study reads its data file again whenever it resumes.
fn regular_data(data: &Path) -> anyhow::Result<()> {
    let meta = std::fs::metadata(data).map_err(|err| Error::Read {
        file: data.to_path_buf(),
        err,
    })?;
    if !meta.is_file() {
        anyhow::bail!(Error::Flag {
            flag: "--data",
            msg: format!(
                "{} is not a regular file (a pipe, a FIFO or a device): the retraining is a study of its own, which reads its data again when it resumes; save the rows to a file first",
                data.display()
            ),
        });
    }
    Ok(())
}
