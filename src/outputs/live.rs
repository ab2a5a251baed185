//! What the live terminal says, as pure state and text: the best trial so far, each trial's last
//! and best value of the selection metric, the examples left and the ETA, and parameters in few
//! columns. The binary's `cli/progress.rs` feeds it the run's progress events and draws the lines.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::curve::{ranks_before, CurveRow};
use crate::objective::{Metric, MetricKind};
use crate::runner::mlp::params::PARAMS;
use crate::space::{Params, Value};

/// A running (or interrupted, not yet ended) trial.
struct Trial {
    /// Examples seen, counting those before a resume.
    seen: u64,
    virtual_epoch: u32,
    last: Option<CurveRow>,
    best: Option<CurveRow>,
    label: String,
}

/// The run so far, as the progress events told it.
pub struct Live {
    metric: Metric,
    /// Each trial's budget.
    examples: u64,
    virtual_epochs: u32,
    /// Trials of the study that had not ended when the run began, and those ended since.
    open: usize,
    ended: usize,
    best: Option<(u64, CurveRow)>,
    trials: BTreeMap<u64, Trial>,
    /// Examples trained in this run (not those of checkpoints resumed from).
    processed: u64,
}

impl Default for Live {
    fn default() -> Live {
        Live::new()
    }
}

impl Live {
    /// Before the run's first event.
    pub fn new() -> Live {
        Live {
            metric: Metric {
                kind: MetricKind::ValLoss,
                goal: crate::objective::Goal::Min,
            },
            examples: 0,
            virtual_epochs: 0,
            open: 0,
            ended: 0,
            best: None,
            trials: BTreeMap::new(),
            processed: 0,
        }
    }

    /// The run begins: `open` trials not ended, each with a budget of `examples`.
    pub fn study(
        &mut self,
        metric: Metric,
        (examples, virtual_epochs): (u64, u32),
        open: usize,
        best: Option<(u64, &CurveRow)>,
    ) {
        self.metric = metric;
        self.examples = examples;
        self.virtual_epochs = virtual_epochs;
        self.open = open;
        self.best = best.map(|(t, r)| (t, r.clone()));
    }

    /// A trial starts, at `at` (virtual epoch, examples seen) when resumed; returns its line.
    pub fn started(&mut self, trial: u64, params: &Params, at: Option<(u32, u64)>) -> String {
        let (virtual_epoch, seen) = at.unwrap_or((0, 0));
        let t = Trial {
            seen,
            virtual_epoch,
            last: None,
            best: None,
            label: abbreviate(params),
        };
        self.trials.insert(trial, t);
        self.trial_line(trial)
    }

    /// Examples seen by `trial` so far.
    pub fn examples(&mut self, trial: u64, seen: u64) {
        if let Some(t) = self.trials.get_mut(&trial) {
            self.processed += seen.saturating_sub(t.seen);
            t.seen = seen;
        }
    }

    /// A virtual epoch of `trial` validated: its line, and the study's when what it shows of the
    /// best changed.
    pub fn boundary(&mut self, trial: u64, row: &CurveRow) -> (String, Option<String>) {
        self.examples(trial, row.examples_seen);
        let metric = self.metric;
        let Some(t) = self.trials.get_mut(&trial) else {
            return (String::new(), None);
        };
        t.virtual_epoch = row.virtual_epoch;
        t.last = Some(row.clone());
        if t.best.as_ref().is_none_or(|b| ranks_before(metric, row, b)) {
            t.best = Some(row.clone());
        }
        let before = self.best_text();
        if !row.selection_value(metric).is_nan()
            && self
                .best
                .as_ref()
                .is_none_or(|(_, b)| ranks_before(metric, row, b))
        {
            self.best = Some((trial, row.clone()));
        }
        // Only a change the line shows: the study line is not redrawn for nothing.
        let study = Some(self.best_text()).filter(|now| *now != before);
        (self.trial_line(trial), study)
    }

    /// The trial's end is durable: it needs no more examples.
    pub fn ended(&mut self, trial: u64) {
        self.trials.remove(&trial);
        self.ended += 1;
    }

    /// Examples the trials not ended still need: whole budgets for those not started in this run.
    pub fn left(&self) -> u64 {
        let not_ended = self.open.saturating_sub(self.ended) as u64;
        let seen: u64 = self
            .trials
            .values()
            .map(|t| t.seen.min(self.examples))
            .sum();
        (not_ended * self.examples).saturating_sub(seen)
    }

    /// Each trial's budget of examples.
    pub fn budget(&self) -> u64 {
        self.examples
    }

    /// Examples trained in this run.
    pub fn processed(&self) -> u64 {
        self.processed
    }

    /// `best rmse 0.6123 (trial 3)`, or `best -` before any trial validated.
    pub fn best_text(&self) -> String {
        match &self.best {
            Some((trial, row)) => format!(
                "best {} {} (trial {trial})",
                self.metric.kind.name(),
                sig4(row.selection_value(self.metric))
            ),
            None => format!("best {} -", self.metric.kind.name()),
        }
    }

    /// `ep 2/4 rmse 0.6123 best 0.6011 bs=32 lr=3e-3`.
    pub fn trial_line(&self, trial: u64) -> String {
        let Some(t) = self.trials.get(&trial) else {
            return String::new();
        };
        let value = |r: &Option<CurveRow>| {
            r.as_ref()
                .map_or("-".to_string(), |r| sig4(r.selection_value(self.metric)))
        };
        format!(
            "ep {}/{} {} {} best {} {}",
            t.virtual_epoch,
            self.virtual_epochs,
            self.metric.kind.name(),
            value(&t.last),
            value(&t.best),
            t.label
        )
    }
}

/// `ETA 3m05s` from the examples left and those trained in `elapsed`; `ETA -` before any.
pub fn eta_text(left: u64, processed: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if left == 0 {
        return "ETA 0s".into();
    }
    if processed == 0 || secs <= 0.0 {
        return "ETA -".into();
    }
    let eta = (left as f64 * secs / processed as f64).round();
    if !eta.is_finite() || eta >= 100.0 * 3600.0 {
        return "ETA >99h".into();
    }
    let s = eta as u64;
    match s {
        0..60 => format!("ETA {s}s"),
        60..3600 => format!("ETA {}m{:02}s", s / 60, s % 60),
        _ => format!("ETA {}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// Four significant digits, in a width that stays put from one epoch to the next.
pub fn sig4(x: f64) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "-".into()
        } else {
            x.to_string()
        };
    }
    let a = x.abs();
    if a == 0.0 {
        return "0".into();
    }
    if !(1e-3..1e5).contains(&a) {
        return format!("{x:.3e}");
    }
    let digits = a.log10().floor() as i32;
    let decimals = (3 - digits).clamp(0, 6) as usize;
    format!("{x:.decimals$}")
}

/// `bs=32 lr=3e-3 wd=1e-4`: the parameters in few columns, those the built-in trainer declares
/// first, in its order and by their short names ([`PARAMS`]: the batch size and the learning
/// rate first, which a cut line keeps), then any other.
pub fn abbreviate(params: &Params) -> String {
    let decl = |k: &str| PARAMS.iter().position(|d| d.name == k);
    let mut sorted: Vec<_> = params.iter().collect();
    sorted.sort_by_key(|(k, _)| decl(k).unwrap_or(usize::MAX));
    sorted
        .into_iter()
        .map(|(k, v)| {
            let name = decl(k).map_or(k.as_str(), |i| PARAMS[i].short);
            format!("{name}={}", compact(*v))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Three significant digits at most, exponents for the small and the large: `3e-3`, `0.05`, `1.5e4`.
fn compact(v: Value) -> String {
    let x = match v {
        Value::Int(i) => return i.to_string(),
        Value::Str(s) => return s.to_string(),
        Value::Float(x) => x,
    };
    let a = x.abs();
    if a == 0.0 || !x.is_finite() {
        return x.to_string();
    }
    if !(1e-2..1e4).contains(&a) {
        let s = format!("{x:.2e}");
        let (mantissa, exp) = s.split_once('e').expect("exponent notation");
        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
        return format!("{mantissa}e{exp}");
    }
    let digits = a.log10().floor() as i32;
    let decimals = (2 - digits).max(0) as usize;
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// `s` in at most `n` columns (at least 1), a `~` marking a cut.
pub fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut out: String = s.chars().take(n.max(1) - 1).collect();
    out.push('~');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::Goal;

    fn row(k: u32, seen: u64, val_loss: f64, metric: f64) -> CurveRow {
        CurveRow {
            virtual_epoch: k,
            examples_seen: seen,
            steps: k as u64,
            train_loss: 1.0,
            val_loss,
            metric,
            learning_rate: None,
            reported: Default::default(),
        }
    }

    fn params() -> Params {
        Params::from([
            ("hidden_width".to_string(), Value::Int(64)),
            ("batch_size".to_string(), Value::Int(32)),
            ("learning_rate".to_string(), Value::Float(0.003)),
            ("weight_decay".to_string(), Value::Float(0.000123456)),
        ])
    }

    #[test]
    fn long_names_are_cut() {
        assert_eq!(cut("tiny", 12), "tiny");
        assert_eq!(cut("a-very-long-study-name", 12), "a-very-long~");
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(compact(Value::Float(0.003)), "3e-3");
        assert_eq!(compact(Value::Float(0.0031623)), "3.16e-3");
        assert_eq!(compact(Value::Float(0.05)), "0.05");
        assert_eq!(compact(Value::Float(0.12345)), "0.123");
        assert_eq!(compact(Value::Float(15000.0)), "1.5e4");
        assert_eq!(compact(Value::Float(0.0)), "0");
        assert_eq!(abbreviate(&params()), "bs=32 lr=3e-3 wd=1.23e-4 width=64");
        // Issue 32's parameters by their short names, labels as they are, in PARAMS' order.
        let mut more = params();
        for (k, v) in [
            ("schedule", Value::Str("cosine")),
            ("activation", Value::Str("gelu")),
            ("dropout", Value::Float(0.1)),
            ("warmup", Value::Float(0.05)),
            ("optimizer", Value::Str("sgd")),
        ] {
            more.insert(k.into(), v);
        }
        assert_eq!(
            abbreviate(&more),
            "bs=32 lr=3e-3 wd=1.23e-4 width=64 act=gelu opt=sgd drop=0.1 sched=cosine warm=0.05"
        );
        assert_eq!(sig4(0.612345), "0.6123");
        assert_eq!(sig4(27.1234), "27.12");
        assert_eq!(sig4(0.0), "0");
        assert_eq!(sig4(f64::NAN), "-");
        assert_eq!(sig4(123456.0), "1.235e5");
    }

    #[test]
    fn eta_from_the_rate_of_the_run() {
        let s = Duration::from_secs;
        assert_eq!(eta_text(100, 0, s(3)), "ETA -");
        assert_eq!(eta_text(0, 0, s(3)), "ETA 0s");
        assert_eq!(eta_text(1000, 100, s(1)), "ETA 10s");
        assert_eq!(eta_text(1850, 100, s(10)), "ETA 3m05s");
        assert_eq!(eta_text(3720, 1, s(1)), "ETA 1h02m");
        assert_eq!(eta_text(u64::MAX, 1, s(1)), "ETA >99h");
    }

    #[test]
    fn best_by_the_metric_and_examples_left() {
        let mut live = Live::new();
        let acc = Metric {
            kind: MetricKind::Accuracy,
            goal: Goal::Max,
        };
        // 3 trials of 100 examples left; trial 0 resumes at 40.
        live.study(acc, (100, 4), 3, None);
        assert_eq!(live.best_text(), "best accuracy -");
        live.started(0, &params(), Some((1, 40)));
        assert_eq!(live.left(), 260);
        live.examples(0, 50);
        assert_eq!((live.left(), live.processed()), (250, 10));
        let (line, study) = live.boundary(0, &row(2, 50, 0.5, 0.8));
        assert_eq!(
            line,
            "ep 2/4 accuracy 0.8000 best 0.8000 bs=32 lr=3e-3 wd=1.23e-4 width=64"
        );
        assert_eq!(study.as_deref(), Some("best accuracy 0.8000 (trial 0)"));
        let (line, study) = live.boundary(0, &row(3, 75, 0.6, 0.7));
        assert!(
            line.starts_with("ep 3/4 accuracy 0.7000 best 0.8000 "),
            "{line}"
        );
        assert_eq!(study, None);
        live.started(1, &params(), None);
        // A tie in accuracy goes to the lower loss.
        let (_, study) = live.boundary(1, &row(1, 25, 0.4, 0.8));
        assert_eq!(study.as_deref(), Some("best accuracy 0.8000 (trial 1)"));
        live.ended(0);
        assert_eq!(live.left(), 175);
        assert_eq!(live.processed(), 60);
    }
}
