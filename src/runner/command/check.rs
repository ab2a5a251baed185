//! `tune check` for a program's study: one trial run to its second boundary, then a second run
//! resumed from the first boundary's checkpoint (kept aside when it was reported), whose report at
//! the second boundary must equal the first run's. It says whether the program follows the
//! protocol (report lines, the checkpoint in its folder, the study's metric), honours the budget
//! (the examples of `TUNE_BOUNDARIES`) and resumes exactly (else which numbers differ). Everything
//! happens in a temp folder: the study folder is not touched.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use super::process::{self, Line};
use super::{environment, report};
use crate::error::{Error, Result};
use crate::plan::{CommandPlan, StudyPlan};
use crate::runner::Job;

/// How long the check waits for a report when the spec sets no `trainer.timeout`.
const WAIT: Duration = Duration::from_secs(600);

/// What `tune check` found: the trial's parameters, a line per finding, and whether all passed.
pub struct CommandCheck {
    pub params: crate::space::Params,
    pub lines: Vec<String>,
    pub passed: bool,
}

/// Runs the check of `plan`, whose trainer is `cmd`; `split` is the text of its `split.json`
/// when it has data.
pub fn check(plan: &StudyPlan, cmd: &CommandPlan, split: Option<Vec<u8>>) -> Result<CommandCheck> {
    let tmp =
        crate::durable::Scratch::new("check").map_err(|e| Error::io(&std::env::temp_dir(), e))?;
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(plan.seed);
    let params = plan.space.sample(&mut rng);
    let mut lines = vec![];
    let split = match split {
        Some(bytes) => {
            let path = tmp.0.join("split.json");
            crate::durable::write_derived(&path, &bytes).map_err(|e| Error::io(&path, e))?;
            Some(path)
        }
        None => None,
    };
    let split = split.as_deref();
    let boundaries: Vec<u64> = (1..=plan.budget.virtual_epochs.min(2))
        .map(|k| plan.budget.boundary(k))
        .collect();
    let first = run(
        plan,
        cmd,
        &params,
        &tmp.0.join("first"),
        None,
        &boundaries,
        split,
    )?;
    let reports = match first {
        Err(why) => {
            lines.push(format!("protocol: FAILED: {why}"));
            return Ok(CommandCheck {
                params,
                lines,
                passed: false,
            });
        }
        Ok(r) => r,
    };
    lines.push(format!(
        "protocol: ok: reports at {} examples (TUNE_BOUNDARIES), each with its checkpoint and \"{}\"",
        boundaries.iter().map(u64::to_string).collect::<Vec<_>>().join(" and "),
        plan.metric.kind.name()
    ));
    if boundaries.len() < 2 {
        lines.push("resume: not checked: the budget has one virtual epoch".into());
        return Ok(CommandCheck {
            params,
            lines,
            passed: true,
        });
    }
    let kept = kept_checkpoint(&tmp.0.join("first/kept"))?;
    let resumed = run(
        plan,
        cmd,
        &params,
        &tmp.0.join("second"),
        Some(&kept),
        &boundaries,
        split,
    )?;
    let passed = match resumed {
        Err(why) => {
            lines.push(format!(
                "resume: FAILED: resumed from the first checkpoint, {why}"
            ));
            false
        }
        Ok(r) => {
            let differ = differences(&reports[1].metrics, &r[0].metrics);
            if differ.is_empty() {
                lines.push(format!(
                    "resume: exact: resumed from the checkpoint at {} examples, its report at {} equals the first run's",
                    boundaries[0], boundaries[1]
                ));
            } else {
                lines.push(format!(
                    "resume: NOT EXACT: resumed from the checkpoint at {} examples, at {} it reported {} (first run, then resumed): restore every state (weights, optimizer, data order, random streams) from TUNE_RESUME_FROM",
                    boundaries[0],
                    boundaries[1],
                    differ.join(", ")
                ));
            }
            differ.is_empty()
        }
    };
    Ok(CommandCheck {
        params,
        lines,
        passed,
    })
}

/// The metrics of `a` and `b` that differ, as `name a vs b`.
fn differences(a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>) -> Vec<String> {
    let names: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let show =
        |m: &BTreeMap<String, f64>, k: &str| m.get(k).map_or("absent".into(), |v| format!("{v}"));
    names
        .into_iter()
        .filter(|k| a.get(*k).map(|v| v.to_bits()) != b.get(*k).map(|v| v.to_bits()))
        .map(|k| format!("{k} {} vs {}", show(a, k), show(b, k)))
        .collect()
}

/// The one checkpoint kept aside in `dir`.
fn kept_checkpoint(dir: &Path) -> Result<PathBuf> {
    std::fs::read_dir(dir)
        .and_then(|mut d| d.next().transpose())
        .map_err(|e| Error::io(dir, e))?
        .map(|e| e.path())
        .ok_or_else(|| {
            Error::Damaged(format!(
                "{}: the checkpoint kept aside is gone",
                dir.display()
            ))
        })
}

/// Runs the program in `dir` for trial 0 with `params` (resumed from `from`, at the first
/// boundary, when given) until it reported the rest of `boundaries`; its reports, or why the run
/// broke the protocol. The first run keeps its first checkpoint aside in `dir/kept`.
fn run(
    plan: &StudyPlan,
    cmd: &CommandPlan,
    params: &crate::space::Params,
    dir: &Path,
    from: Option<&Path>,
    boundaries: &[u64],
    split: Option<&Path>,
) -> Result<std::result::Result<Vec<report::Report>, String>> {
    let work = dir.join("work");
    std::fs::create_dir_all(&work).map_err(|e| Error::io(&work, e))?;
    let job = Job {
        trial: 0,
        params,
        start: None,
        streams: 0,
    };
    let mut env = environment(plan, &job, &work, cmd.threads)?;
    if let Some(split) = split {
        env.push(("TUNE_SPLIT".into(), split.display().to_string()));
    }
    // Each boundary still to report, with its virtual epoch.
    let mut want: Vec<(u32, u64)> = (1..).zip(boundaries.iter().copied()).collect();
    if let Some(f) = from {
        env.push(("TUNE_RESUME_FROM".into(), f.display().to_string()));
        env.push(("TUNE_RESUME_EXAMPLES".into(), boundaries[0].to_string()));
        want.remove(0);
    }
    let mut proc = match process::start(cmd, &env, dir, false) {
        Ok(p) => p,
        Err(e) => return Ok(Err(format!("cannot start {}: {e}", cmd.command[0]))),
    };
    let got = follow(
        plan,
        cmd,
        &mut proc,
        &work,
        &want,
        from.is_none().then(|| dir.join("kept")),
    );
    proc.finish(dir);
    Ok(got)
}

/// Reads the reports of `want` (virtual epoch, examples), checking each; the first one's checkpoint is copied to `keep`.
fn follow(
    plan: &StudyPlan,
    cmd: &CommandPlan,
    proc: &mut process::Trial,
    work: &Path,
    want: &[(u32, u64)],
    keep: Option<PathBuf>,
) -> std::result::Result<Vec<report::Report>, String> {
    let metric = plan.metric.kind.name();
    let mut out = vec![];
    let limit = cmd.timeout.unwrap_or(WAIT);
    for &(k, at) in want {
        let t0 = Instant::now();
        let body = loop {
            match proc.lines.recv_timeout(Duration::from_millis(50)) {
                Ok(Line::Report(b)) => break b,
                Ok(Line::Overlong) => return Err(report::overlong()),
                Ok(Line::End { .. } | Line::Serving { .. } | Line::Shares) => continue,
                Ok(Line::Closed) | Err(RecvTimeoutError::Disconnected) => {
                    let how = proc
                        .wait_for(Duration::from_secs(1))
                        .map_or("closed its output".into(), process::ended);
                    let tail = proc.tail();
                    return Err(format!(
                        "the program {how} before its report at {at} examples: {tail}"
                    ));
                }
                Err(RecvTimeoutError::Timeout) if t0.elapsed() > limit => {
                    return Err(format!(
                        "no report at {at} examples within {} s",
                        limit.as_secs()
                    ))
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
        };
        let (r, path) = report::accept(&body, k, at, metric, work)?;
        if let (Some(keep), true) = (&keep, out.is_empty()) {
            let to = keep.join(path.file_name().unwrap_or_default());
            std::fs::create_dir_all(keep)
                .and_then(|()| crate::artifacts::payload::copy_tree(&path, &to))
                .map_err(|e| format!("its checkpoint could not be copied aside: {e}"))?;
        }
        out.push(r);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_each_metric_with_both_values() {
        let a: BTreeMap<String, f64> = [("val_loss".into(), 0.5), ("acc".into(), 0.9)].into();
        let mut b = a.clone();
        assert!(differences(&a, &b).is_empty());
        b.insert("val_loss".into(), 0.50000001);
        b.remove("acc");
        assert_eq!(
            differences(&a, &b),
            ["acc 0.9 vs absent", "val_loss 0.5 vs 0.50000001"]
        );
    }
}
