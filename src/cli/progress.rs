//! The run as a person sees it on a terminal: a bar for the study (the best trial so far and an
//! ETA), one per running trial (its last and best value of the metric), and the library's warnings
//! and notes, printed above the bars. Every line fits 80 columns; what varies goes last, in
//! indicatif's `wide_msg`, which is cut at the terminal's width. The text is `tune::outputs::live`'s.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use tune::driver::{Observer, Progress};

use tune::outputs::live::{cut, eta_text, Live};

/// The study's name takes at most this many columns.
const NAME_COLUMNS: usize = 12;

/// What the ETA is computed from at each draw. Atomics, not `Live`'s lock: indicatif calls the ETA
/// from its ticker while it holds its own lock, and we call indicatif from events.
#[derive(Default)]
struct Rate {
    left: AtomicU64,
    processed: AtomicU64,
}

/// Progress bars (indicatif hides them when stderr is not a terminal, or with `-q`).
pub struct Bars {
    bars: MultiProgress,
    study: ProgressBar,
    trials: Mutex<HashMap<u64, ProgressBar>>,
    /// Never held while calling indicatif.
    live: Mutex<Live>,
    rate: Arc<Rate>,
}

impl Bars {
    pub fn new(show: bool) -> Bars {
        let bars = MultiProgress::new();
        if !show {
            bars.set_draw_target(ProgressDrawTarget::hidden());
        }
        let rate = Arc::new(Rate::default());
        let eta = {
            let rate = rate.clone();
            move |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let (left, done) = (rate.left.load(Relaxed), rate.processed.load(Relaxed));
                let _ = w.write_str(&eta_text(left, done, state.elapsed()));
            }
        };
        let study = bars.add(ProgressBar::new(0));
        study.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:12}] {pos}/{len} {elapsed_precise} {eta} {wide_msg}",
            )
            .expect("a valid template")
            .with_key("eta", eta)
            .progress_chars("=> "),
        );
        if show {
            // The clock and the ETA move between events too.
            study.enable_steady_tick(Duration::from_secs(1));
        }
        Bars {
            bars,
            study,
            trials: Mutex::new(HashMap::new()),
            live: Mutex::new(Live::new()),
            rate,
        }
    }

    /// Clears the bars at the end of the run.
    pub fn finish(&self) {
        self.study.finish_and_clear();
    }

    /// Applies `f` to the live state and refreshes what the ETA reads; the lock is released on return.
    fn live<T>(&self, f: impl FnOnce(&mut Live) -> T) -> T {
        let mut live = self.live.lock().unwrap();
        let out = f(&mut live);
        self.rate.left.store(live.left(), Relaxed);
        self.rate.processed.store(live.processed(), Relaxed);
        out
    }

    fn new_trial_bar(&self, trial: u64, len: u64) -> ProgressBar {
        let bar = self.bars.add(ProgressBar::new(len));
        bar.set_style(
            ProgressStyle::with_template("  trial {prefix:<3} [{bar:12}] {wide_msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(trial.to_string());
        self.trials.lock().unwrap().insert(trial, bar.clone());
        bar
    }

    /// Each trial's budget of examples, the length of its bar.
    fn study_budget(&self) -> u64 {
        self.live.lock().unwrap().budget()
    }

    fn with_trial(&self, trial: u64, f: impl FnOnce(&ProgressBar)) {
        if let Some(bar) = self.trials.lock().unwrap().get(&trial) {
            f(bar);
        }
    }

    /// Prints `line` above the bars; a closed stderr (a terminal gone after SIGHUP) is no error.
    fn say(&self, line: &str) {
        self.bars.suspend(|| {
            let _ = writeln!(std::io::stderr(), "{line}");
        });
    }
}

impl Observer for Bars {
    fn event(&self, e: Progress<'_>) {
        match e {
            Progress::Study {
                name,
                done,
                total,
                examples,
                virtual_epochs,
                metric,
                best,
            } => {
                let best = self.live(|l| {
                    l.study(metric, (examples, virtual_epochs), total - done, best);
                    l.best_text()
                });
                self.study.set_prefix(cut(name, NAME_COLUMNS));
                self.study.set_length(total as u64);
                self.study.set_position(done as u64);
                self.study.set_message(best);
            }
            Progress::TrialStarted { trial, params, at } => {
                let line = self.live(|l| l.started(trial, params, at));
                let bar = self.new_trial_bar(trial, self.study_budget());
                bar.set_position(at.map_or(0, |(_, seen)| seen));
                bar.set_message(line);
            }
            Progress::Examples {
                trial,
                examples_seen,
            } => {
                self.live(|l| l.examples(trial, examples_seen));
                self.with_trial(trial, |bar| bar.set_position(examples_seen));
            }
            Progress::Boundary { trial, row } => {
                let (line, study) = self.live(|l| l.boundary(trial, row));
                self.with_trial(trial, |bar| {
                    bar.set_position(row.examples_seen);
                    bar.set_message(line);
                });
                if let Some(best) = study {
                    self.study.set_message(best);
                }
            }
            Progress::TrialLeft { trial } => {
                if let Some(bar) = self.trials.lock().unwrap().remove(&trial) {
                    bar.finish_and_clear();
                    self.bars.remove(&bar);
                }
            }
            Progress::TrialEnded { trial } => {
                self.live(|l| l.ended(trial));
                self.study.inc(1);
            }
            Progress::Warning(w) => self.say(&format!("warning: {w}")),
            Progress::Note(n) => self.say(n),
        }
    }
}
