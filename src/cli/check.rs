//! `tune check`: the pre-flight check, printed.

use std::process::ExitCode;

use crate::{load, say, StudyArgs};

/// `tune check`: one line per model, then the verdict; exit 1 when a model cannot memorise.
pub fn check(study: &StudyArgs) -> anyhow::Result<ExitCode> {
    let plan = load(study, None, None, None)?;
    if let Some(cmd) = &plan.command {
        let split = tune::outputs::split_json(&plan);
        let c = tune::runner::command::check::check(&plan, cmd, split)?;
        say!("trial 0 with {}", tune::outputs::describe(&c.params))?;
        for line in &c.lines {
            say!("{line}")?;
        }
        return Ok(if c.passed {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    let check = tune::runner::mlp::check::check(&plan)?;
    if !check.models.is_empty() {
        say!("{}", check.header())?;
    }
    if let Some(note) = &check.note {
        say!("{note}")?;
    }
    for m in &check.models {
        say!("  {}", m.line(&check))?;
    }
    say!("{}", check.summary())?;
    Ok(match check.passed() {
        true => ExitCode::SUCCESS,
        false => ExitCode::from(1),
    })
}
