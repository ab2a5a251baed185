//! `tune predict`, `tune export` and `tune retrain`: what a study tuned, used.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use tune::plan::{Overrides, StudyPlan};
use tune::Error;

use crate::{
    load_as, read, run_plan, say, shell_word, summary_lines, PickArgs, RunArgs, StudyArgs,
};

/// The model of the checkpoint `pick` names, of a study of the built-in trainer.
pub fn model(
    study: &StudyArgs,
    pick: &PickArgs,
    verb: &str,
) -> anyhow::Result<(StudyPlan, tune::outputs::predict::Model)> {
    use tune::outputs::predict;
    let plan = load_as(study, None, None, None, true)?;
    if plan.command.is_some() {
        anyhow::bail!(Error::Study(format!(
            "{}: `tune {verb}` uses the built-in trainer's models, and this study runs its own program (\"trainer\"): its checkpoints are the program's files, in trials/N/best.files",
            plan.spec_file.display()
        )));
    }
    let (history, store) = read(study, &plan)?;
    let trial = predict::pick_trial(&plan, &history, pick.trial)?;
    let ckpt = predict::checkpoint(&*store, &history, trial, pick.checkpoint)?;
    let fallback = plan.dataset.as_ref().map(|d| &*d.prep);
    let model = predict::Model::of(ckpt, fallback)?;
    Ok((plan, model))
}

/// `tune predict`: the predictions as CSV to `output` (atomically) or stdout; the score on rows
/// that have the target to stderr.
pub fn predict(
    study: &StudyArgs,
    pick: &PickArgs,
    data: &Path,
    output: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let (plan, model) = model(study, pick, "predict")?;
    let rows = tune::data::apply::apply(&model.prep, data)?;
    let out = model.outputs(&rows);
    let mut err = std::io::stderr();
    if let Some((n, eval)) = model.score(&rows, &out, plan.curve_metric()) {
        let _ = writeln!(
            err,
            "trial {} at virtual epoch {}, on the {n} rows of {} that have \"{}\": loss {}, {} {}",
            model.trial,
            model.virtual_epoch,
            data.display(),
            model.prep.target,
            eval.loss,
            plan.curve_metric().name(),
            eval.metric
        );
    }
    let mut buf = Vec::new();
    model.write_csv(&out, rows.rows, &mut buf)?;
    match output {
        Some(path) => {
            tune::durable::replace_with(path, false, |f| f.write_all(&buf))
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            let _ = writeln!(err, "wrote {} predictions to {}", rows.rows, path.display());
        }
        None => say(format_args!("{}", String::from_utf8_lossy(&buf)))?,
    }
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
    let (history, _) = read(&args.study, &plan)?;
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

/// `tune export`: the model as ONNX, written atomically to `output`.
pub fn export(study: &StudyArgs, pick: &PickArgs, output: &Path) -> anyhow::Result<ExitCode> {
    let (plan, model) = model(study, pick, "export")?;
    let doc = format!(
        "study {}, trial {} at virtual epoch {}, exported by tune {}",
        plan.name,
        model.trial,
        model.virtual_epoch,
        env!("CARGO_PKG_VERSION")
    );
    let bytes = tune::outputs::onnx::model(&model, &doc)?;
    tune::durable::replace_with(output, false, |f| f.write_all(&bytes))
        .map_err(|e| anyhow::anyhow!("{}: {e}", output.display()))?;
    let _ = writeln!(
        std::io::stderr(),
        "wrote trial {} at virtual epoch {} as ONNX to {}",
        model.trial,
        model.virtual_epoch,
        output.display()
    );
    Ok(ExitCode::SUCCESS)
}
