//! Population-based training's lineage as data: a member's schedule (which member trained each
//! stretch of its state, with which parameters), `lineage.csv`, and the replay that trains a
//! schedule from scratch as one trial, to check it reaches the member's weights bit for bit.

use std::path::{Path, PathBuf};

use crate::artifacts::{ArtifactStore, Checkpoint, Checkpointer, Payload};
use crate::error::{Error, Result};
use crate::plan::StudyPlan;
use crate::runner::{Boundary, Flow, Job, TrialHost, TrialRunner};
use crate::space::Params;
use crate::storage::History;

/// One stretch of a schedule: `member` trained virtual epochs `from + 1 ..= to` with `params`.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    pub member: u64,
    pub from: u32,
    pub to: u32,
    pub params: Params,
}

/// The schedule of member `member`'s state at virtual epoch `to`: its ancestry walked back
/// through each exploit, first stretch first (its member's streams are every stretch's).
pub fn schedule(history: &History, member: u64, to: u32) -> Vec<Segment> {
    let mut out = vec![];
    let (mut cur, mut end) = (member, to);
    while let Some(t) = history.trials.get(&cur) {
        let params = t.params_at(end).clone();
        let before = t.exploits.iter().rev().find(|x| x.virtual_epoch < end);
        let from = before.map_or(0, |x| x.virtual_epoch);
        out.push(Segment {
            member: cur,
            from,
            to: end,
            params,
        });
        match before {
            Some(x) => (cur, end) = (x.source, x.virtual_epoch),
            None => break,
        }
    }
    out.reverse();
    out
}

/// A member's ancestry, as the leaderboard shows it: the members that trained its state, oldest
/// first, with the virtual epoch each handed over at (`3@2>1`: member 3 to virtual epoch 2,
/// then member 1); empty for a member that never exploited.
pub fn ancestry(history: &History, member: u64) -> String {
    let last = history
        .trials
        .get(&member)
        .map_or(0, |t| t.curve.len() as u32);
    let s = schedule(history, member, last);
    if s.len() <= 1 {
        return String::new();
    }
    s.iter()
        .map(|g| match g.from {
            0 => g.member.to_string(),
            e => format!("@{e}>{}", g.member),
        })
        .collect()
}

/// Writes `lineage.csv` into the study folder: one row per member and interval boundary (its
/// examples, the member its state came from there, its parameters from there on, and its metric
/// there), for a study of population-based training.
pub fn write_lineage(plan: &StudyPlan, history: &History, interval: u32) -> Result<PathBuf> {
    let path = plan.out_dir.join("lineage.csv");
    let mut text = String::from("member,interval,virtual_epoch,examples_seen,source,params,");
    text.push_str(plan.curve_metric().name());
    text.push('\n');
    for t in history.trials.values() {
        for row in t
            .curve
            .iter()
            .filter(|r| r.virtual_epoch.is_multiple_of(interval))
        {
            let k = row.virtual_epoch;
            let x = t.exploits.iter().find(|x| x.virtual_epoch == k);
            let source = x.map_or(t.trial, |x| x.source);
            let params = serde_json::to_string(t.params_at(k + 1)).expect("params serialise");
            text.push_str(&format!(
                "{},{},{k},{},{source},\"{}\",{}\n",
                t.trial,
                k / interval,
                row.examples_seen,
                params.replace('"', "\"\""),
                row.metric
            ));
        }
    }
    crate::durable::replace_with(&path, false, |f| {
        std::io::Write::write_all(f, text.as_bytes())
    })
    .map_err(|e| Error::io(&path, e))?;
    Ok(path)
}

/// What a replay found.
pub struct Replayed {
    pub member: u64,
    pub schedule: Vec<Segment>,
    /// The replay's final checkpoint, and the member's at the same virtual epoch.
    pub got: Checkpoint,
    pub want: Checkpoint,
    /// Where the replay's checkpoint was written.
    pub file: PathBuf,
}

impl Replayed {
    /// Whether the replay reached the member's weights and optimizer state bit for bit.
    pub fn same(&self) -> bool {
        self.got.weights == self.want.weights && self.got.optimizer == self.want.optimizer
    }
}

/// Trains member `member`'s schedule to its last checkpoint from scratch, as one trial with
/// `runner`, into `<study>/replay/`, and reads the member's own checkpoint there to compare.
pub fn replay(
    plan: &StudyPlan,
    history: &History,
    store: &dyn ArtifactStore,
    runner: &dyn TrialRunner,
    member: u64,
) -> Result<Replayed> {
    let last = history
        .trials
        .get(&member)
        .map_or(0, |t| t.curve.len() as u32);
    let want = store.get(member, last).map_err(|e| {
        Error::Study(format!(
            "trial {member}: its checkpoint of virtual epoch {last} cannot be read to compare ({e})"
        ))
    })?;
    let schedule = schedule(history, member, last);
    let got = train(plan, runner, (None, None), &schedule)?;
    let dir = plan.out_dir.join("replay");
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let file = Checkpointer::new(dir.clone())
        .write(&got)
        .map_err(|e| Error::io(&dir, e))?;
    // Compared as stored, as the member's is read (tensors in the file's order).
    let got = Checkpoint::load(&file)?;
    Ok(Replayed {
        member,
        schedule,
        got,
        want,
        file,
    })
}

/// Trains `schedule` as one trial: from scratch (the first stretch's member: its initial weights
/// and streams) when `start` is `None`, else from `start` drawing the streams of trial `streams`;
/// each stretch with its parameters from the last one's checkpoint. The last checkpoint.
pub fn train(
    plan: &StudyPlan,
    runner: &dyn TrialRunner,
    (start, streams): (Option<Checkpoint>, Option<u64>),
    schedule: &[Segment],
) -> Result<Checkpoint> {
    let root = schedule.first().map_or(0, |s| s.member);
    let streams = streams.unwrap_or(root);
    let mut worker = runner.worker()?;
    let mut start = start;
    for s in schedule {
        if let Some(c) = &mut start {
            c.meta.params = s.params.clone();
        }
        let mut host = Keeper {
            threads: plan.cores,
            until: s.to,
            kept: None,
        };
        let job = Job {
            trial: root,
            params: &s.params,
            start: start.take(),
            streams,
        };
        let outcome = worker.run(job, &mut host)?;
        start = Some(host.kept.ok_or_else(|| {
            Error::Trials(format!(
                "the replay did not reach virtual epoch {} ({})",
                s.to,
                outcome.reason.unwrap_or_default()
            ))
        })?);
    }
    start.ok_or_else(|| Error::Trials("an empty schedule".into()))
}

/// A host that keeps the checkpoint of virtual epoch `until` and stops there.
struct Keeper {
    threads: usize,
    until: u32,
    kept: Option<Checkpoint>,
}

impl TrialHost for Keeper {
    fn threads(&self) -> usize {
        self.threads
    }

    fn progress(&mut self, _: u64) {}

    fn boundary(&mut self, b: Boundary) -> Result<Flow> {
        if b.row.virtual_epoch < self.until {
            return Ok(Flow::Continue);
        }
        self.kept = Some(*b.checkpoint);
        Ok(Flow::Interrupt)
    }

    fn stopping(&self) -> bool {
        false
    }

    fn adopt(&mut self, _: u32, from: &Path) -> Result<(Payload, PathBuf)> {
        Err(Error::Study(format!(
            "{}: a replay trains the built-in trainer's models only",
            from.display()
        )))
    }
}
