//! `tune replay`: a member of a population-based training study trained again from scratch along
//! its schedule, as one trial, and compared with its own weights.

use std::process::ExitCode;

use tune::outputs::predict::{pick_trial, TrialPick};
use tune::outputs::replay;
use tune::runner::mlp::MlpRunner;
use tune::Error;

use crate::{load, read, say, StudyArgs};

/// Replays `member` (default: the leaderboard's first) and prints the verdict: exit 0 when the
/// weights are the same bit for bit, 1 when not.
pub fn replay(study: &StudyArgs, member: Option<u64>) -> anyhow::Result<ExitCode> {
    let plan = load(study, None, None, None)?;
    if plan.pbt().is_none() || plan.command.is_some() {
        anyhow::bail!(Error::Study(format!(
            "{}: `tune replay` replays a member of a population-based training study of the built-in trainer (\"scheduler\": {{\"kind\": \"pbt\"}}, no \"trainer\")",
            plan.spec_file.display()
        )));
    }
    let (history, store) = read(study, &plan)?;
    tune::driver::check_made_by(&plan, &history, false)?;
    let pick = member.map_or(TrialPick::Best, TrialPick::Number);
    let member = pick_trial(&plan, &history, pick)?;
    let r = replay::replay(&plan, &history, &*store, &MlpRunner::new(&plan), member)?;
    for s in &r.schedule {
        say!(
            "virtual epochs {:>3} to {:>3}: member {} with {}",
            s.from + 1,
            s.to,
            s.member,
            tune::outputs::describe(&s.params)
        )?;
    }
    let at = r.want.meta.virtual_epoch;
    let verdict = match r.same() {
        true => "the same weights and optimizer state, bit for bit",
        false => "DIFFERENT weights or optimizer state",
    };
    say!(
        "replay of member {member} to virtual epoch {at} ({}): {verdict} as its checkpoint",
        r.file.display()
    )?;
    Ok(if r.same() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
