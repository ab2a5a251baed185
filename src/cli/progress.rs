//! The run as a person sees it on a terminal: a bar for the study, one per running trial, and the
//! library's warnings and notes, printed above the bars.

use std::collections::HashMap;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tune::driver::{Observer, Progress};
use tune::outputs::describe;

/// Progress bars (indicatif hides them when stderr is not a terminal, or with `-q`).
pub struct Bars {
    bars: MultiProgress,
    study: ProgressBar,
    trials: Mutex<HashMap<u64, (ProgressBar, String)>>,
    /// Each trial's budget: examples and virtual epochs.
    budget: Mutex<(u64, u32)>,
}

impl Bars {
    pub fn new(show: bool) -> Bars {
        let bars = MultiProgress::new();
        if !show {
            bars.set_draw_target(ProgressDrawTarget::hidden());
        }
        let study = bars.add(ProgressBar::new(0));
        study.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} trials  {elapsed_precise} {msg}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        Bars {
            bars,
            study,
            trials: Mutex::new(HashMap::new()),
            budget: Mutex::new((0, 0)),
        }
    }

    /// Clears the bars at the end of the run.
    pub fn finish(&self) {
        self.study.finish_and_clear();
    }

    fn trial_bar(&self, trial: u64, params: &tune::space::Params) -> ProgressBar {
        let (examples, _) = *self.budget.lock().unwrap();
        let bar = self.bars.add(ProgressBar::new(examples));
        bar.set_style(
            ProgressStyle::with_template(
                "  trial {prefix:>3} [{bar:30}] {human_pos}/{human_len} examples  {msg}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(trial.to_string());
        self.trials
            .lock()
            .unwrap()
            .insert(trial, (bar.clone(), describe(params)));
        bar
    }

    fn with_trial(&self, trial: u64, f: impl FnOnce(&ProgressBar, &str, u32)) {
        let epochs = self.budget.lock().unwrap().1;
        if let Some((bar, label)) = self.trials.lock().unwrap().get(&trial) {
            f(bar, label, epochs);
        }
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
            } => {
                *self.budget.lock().unwrap() = (examples, virtual_epochs);
                self.study.set_prefix(name.to_string());
                self.study.set_length(total as u64);
                self.study.set_position(done as u64);
            }
            Progress::TrialStarted { trial, params, at } => {
                let bar = self.trial_bar(trial, params);
                let (done, seen) = at.unwrap_or((0, 0));
                bar.set_position(seen);
                self.with_trial(trial, |bar, label, epochs| {
                    bar.set_message(format!("virtual epoch {done}/{epochs}  {label}"))
                });
            }
            Progress::Examples {
                trial,
                examples_seen,
            } => self.with_trial(trial, |bar, _, _| bar.set_position(examples_seen)),
            Progress::Boundary { trial, row } => self.with_trial(trial, |bar, label, epochs| {
                bar.set_position(row.examples_seen);
                bar.set_message(format!(
                    "virtual epoch {}/{epochs}  {label}",
                    row.virtual_epoch
                ));
            }),
            Progress::TrialLeft { trial } => {
                if let Some((bar, _)) = self.trials.lock().unwrap().remove(&trial) {
                    bar.finish_and_clear();
                    self.bars.remove(&bar);
                }
            }
            Progress::TrialEnded { .. } => self.study.inc(1),
            Progress::Warning(w) => self.bars.suspend(|| eprintln!("warning: {w}")),
            Progress::Note(n) => self.bars.suspend(|| eprintln!("{n}")),
        }
    }
}
