//! Following a trial's program: its reports read, checked and handed to the host as boundaries,
//! until its last boundary, its failure, or a stop.

use std::path::Path;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Instant;

use super::process::{self, Line};
use super::{full, report, End, POLL};
use crate::artifacts::{Checkpoint, CheckpointMeta};
use crate::curve::{select_best, CurveRow};
use crate::error::Result;
use crate::objective::MetricKind;
use crate::plan::{CommandPlan, StudyPlan};
use crate::runner::{Boundary, Flow, TrialHost};

/// One run of a trial's program, followed.
pub(super) struct Follow<'a> {
    pub plan: &'a StudyPlan,
    pub cmd: &'a CommandPlan,
    /// The program's checkpoint folder.
    pub work: &'a Path,
    /// The trial's state: its curve, and its last boundary's checkpoint.
    pub meta: CheckpointMeta,
    /// The trial's seconds before this run.
    pub base: f64,
    /// When this run started.
    pub t0: Instant,
    /// Seconds spent taking checkpoints over and handing boundaries to the host.
    pub handoff: f64,
}

/// What the program said next.
enum Next {
    Report(String),
    /// Nothing yet.
    Wait,
    /// The trial ends.
    End(End),
}

impl Follow<'_> {
    /// Reads the program's reports until its last boundary, its failure, or a stop.
    pub fn run(&mut self, proc: &mut process::Trial, host: &mut dyn TrialHost) -> Result<End> {
        let total = self.plan.budget.virtual_epochs;
        let mut deadline = self.cmd.timeout.map(|t| Instant::now() + t);
        while self.meta.virtual_epoch < total {
            if host.stopping() {
                return Ok(End::Interrupted);
            }
            let body = match self.next(proc, deadline)? {
                Next::Report(body) => body,
                Next::Wait => continue,
                Next::End(end) => return Ok(end),
            };
            let t1 = Instant::now();
            let flow = match self.boundary(&body, host)? {
                Ok(flow) => flow,
                Err(end) => return Ok(end),
            };
            self.handoff += t1.elapsed().as_secs_f64();
            deadline = self.cmd.timeout.map(|t| Instant::now() + t);
            if self.meta.virtual_epoch == total {
                break;
            }
            match flow {
                Flow::Continue => {}
                Flow::Interrupt => return Ok(End::Interrupted),
                Flow::Stop(reason) => return Ok(End::Stopped(reason)),
            }
        }
        Ok(End::Complete)
    }

    /// The program's next line that matters, waiting up to [`POLL`]; past `deadline`, the trial
    /// fails.
    fn next(&self, proc: &mut process::Trial, deadline: Option<Instant>) -> Result<Next> {
        let line = match proc.lines.recv_timeout(POLL) {
            Ok(l) => l,
            Err(RecvTimeoutError::Timeout) => {
                if let (Some(d), Some(t)) = (deadline, self.cmd.timeout) {
                    if Instant::now() >= d {
                        return Ok(Next::End(End::Failed(format!(
                            "no report within {} s (trainer.timeout) after virtual epoch {}",
                            crate::space::num(t.as_secs_f64()),
                            self.meta.virtual_epoch
                        ))));
                    }
                }
                return Ok(Next::Wait);
            }
            Err(RecvTimeoutError::Disconnected) => Line::Closed,
        };
        if !matches!(line, Line::Shares | Line::Serving { .. }) {
            // Whatever it says first, a program that did not take the offer shares no server.
            proc.settle();
        }
        match line {
            Line::Report(body) => Ok(Next::Report(body)),
            // The end of an earlier trial's process, exiting after its last report.
            Line::End { trial, .. } if trial != self.meta.trial => {
                proc.end_trial_processes(trial);
                Ok(Next::Wait)
            }
            Line::End { .. } | Line::Closed => self.ended(proc, line),
            Line::Overlong => Ok(Next::End(End::Failed(report::overlong()))),
            Line::Shares => {
                proc.shares();
                Ok(Next::Wait)
            }
            Line::Serving { pid } => match proc.take_offer(pid) {
                Ok(()) => Ok(Next::Wait),
                Err(e) => Ok(Next::End(End::Failed(format!(
                    "its server did not take the trial: {e}"
                )))),
            },
        }
    }

    /// The trial's process ended (`line`) before its last report: the trial fails, or the study
    /// stops when the disk is full.
    fn ended(&self, proc: &mut process::Trial, line: Line) -> Result<Next> {
        let how = match line {
            Line::End { status, .. } => {
                proc.ended_trial = true;
                process::ended_code(status)
            }
            _ => proc
                .wait_for(std::time::Duration::from_secs(1))
                .map_or("closed its output".to_string(), process::ended),
        };
        let tail = proc.tail();
        let stderr = if tail.is_empty() {
            String::new()
        } else {
            format!(": {tail}")
        };
        let why = format!(
            "the program {how} after virtual epoch {} of {}{stderr}",
            self.meta.virtual_epoch, self.plan.budget.virtual_epochs
        );
        if full::disk_full(self.work, &tail) {
            let last = tail.rsplit(" | ").next().unwrap_or_default();
            let how = format!("the program {how}: {last}");
            return Err(full::error(self.work, self.meta.trial, &how));
        }
        Ok(Next::End(End::Failed(why)))
    }

    /// The report `body` checked, its checkpoint taken over and its boundary handed to the host:
    /// the host's answer, or how the trial ends when the report is refused.
    fn boundary(
        &mut self,
        body: &str,
        host: &mut dyn TrialHost,
    ) -> Result<std::result::Result<Flow, End>> {
        let (plan, meta) = (self.plan, &mut self.meta);
        let k = meta.virtual_epoch + 1;
        let want = plan.budget.boundary(k);
        let metric = plan.metric.kind.name();
        let (r, path) = match report::accept(body, k, want, metric, self.work) {
            Ok(accepted) => accepted,
            Err(why) => return Ok(Err(End::Failed(why))),
        };
        let value = r.metrics[metric];
        let shown = report::cut(&r.checkpoint, 200);
        let payload = match host.adopt(k, &path) {
            Ok((p, _)) => p,
            Err(e) if full::is_full(&e) => return Err(e),
            Err(e) => {
                return Ok(Err(End::Failed(format!(
                    "its checkpoint \"{shown}\" reported at {want} examples could not be taken over: {e}"
                ))))
            }
        };
        let get = |name: &str| r.metrics.get(name).copied().unwrap_or(f64::NAN);
        let row = CurveRow {
            virtual_epoch: k,
            examples_seen: want,
            steps: r.steps.unwrap_or(0),
            train_loss: get("train_loss"),
            val_loss: get("val_loss"),
            metric: match plan.metric.kind {
                MetricKind::ValLoss => get("val_loss"),
                _ => value,
            },
            learning_rate: None,
            reported: r.metrics.clone(),
        };
        meta.virtual_epoch = k;
        meta.examples_seen = want;
        meta.steps = row.steps;
        meta.seconds = self.base + self.t0.elapsed().as_secs_f64();
        meta.curve.push(row.clone());
        meta.files = Some(payload);
        meta.runner.insert(
            "metrics".into(),
            serde_json::to_value(&r.metrics).expect("finite numbers"),
        );
        let best = select_best(&meta.curve, plan.metric) == Some(meta.curve.len() - 1);
        let checkpoint = Box::new(Checkpoint {
            meta: meta.clone(),
            weights: vec![],
            optimizer: Default::default(),
            files: None,
        });
        host.boundary(Boundary {
            checkpoint,
            row,
            best,
        })
        .map(Ok)
    }
}
