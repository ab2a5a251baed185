//! What a check's runs say, in words: each model's verdict and line, and the check's summary.

use super::{Check, ModelCheck, Outcome, Run, Verdict, MAX_STEPS};
use crate::space::num;

impl ModelCheck {
    /// What the runs say: memorised at some learning rate, or the likeliest reason it is not.
    pub fn verdict(&self, conflicts: usize) -> Verdict {
        let has = |o| self.runs.iter().any(|r| r.outcome == o);
        if has(Outcome::Memorised) {
            Verdict::Memorised
        } else if self.runs.iter().all(|r| r.outcome == Outcome::Diverged) {
            Verdict::Diverges
        } else if conflicts > 0 {
            Verdict::Data
        } else if has(Outcome::Falling) {
            Verdict::Slow
        } else {
            Verdict::Capacity
        }
    }

    /// The model's line: how it memorised the batch (steps, loss start → end), or why it cannot;
    /// and the learning rates that diverge.
    pub fn line(&self, check: &Check) -> String {
        let verdict = self.verdict(check.conflicts);
        let mut line = format!("{}: {}", self.label, self.what(verdict, check.conflicts));
        if verdict == Verdict::Memorised {
            line += &self.others(self.best(Outcome::Memorised));
        }
        let diverging: Vec<String> = self
            .runs
            .iter()
            .filter(|r| r.outcome == Outcome::Diverged)
            .map(|r| num(r.learning_rate))
            .collect();
        if !diverging.is_empty() && verdict != Verdict::Diverges {
            line += &format!("; diverges at learning rate {}", diverging.join(", "));
        }
        line
    }

    /// The verdict's clause, with the run that shows it.
    fn what(&self, verdict: Verdict, conflicts: usize) -> String {
        let loss = |r: &Run| format!("loss {} → {}", short(r.start), short(r.end));
        let lr = |r: &Run| num(r.learning_rate);
        match verdict {
            Verdict::Memorised => {
                let r = self.best(Outcome::Memorised).expect("a memorised run");
                format!(
                    "memorised in {} steps at learning rate {} ({})",
                    r.steps,
                    lr(r),
                    loss(r)
                )
            }
            Verdict::Diverges => {
                let each: Vec<String> = self
                    .runs
                    .iter()
                    .map(|r| format!("{}: {} at step {}", lr(r), short(r.end), r.steps))
                    .collect();
                format!(
                    "cannot memorise: the loss diverges at every learning rate ({})",
                    each.join(", ")
                )
            }
            Verdict::Data => format!(
                "cannot memorise ({}): {}",
                loss(self.lowest()),
                conflict_sentence(conflicts)
            ),
            Verdict::Slow => {
                let r = self.best(Outcome::Falling).expect("a falling run");
                format!(
                    "not memorised in {MAX_STEPS} steps: the loss is still falling at learning rate {} ({}); it learns slowly",
                    lr(r),
                    loss(r)
                )
            }
            Verdict::Capacity => {
                let r = self.lowest();
                format!(
                    "cannot memorise: the loss plateaus ({} at learning rate {}): the model lacks the capacity",
                    loss(r),
                    lr(r)
                )
            }
        }
    }

    /// The quickest run that ended with `outcome` (the lower loss among equals).
    fn best(&self, outcome: Outcome) -> Option<&Run> {
        self.runs
            .iter()
            .filter(|r| r.outcome == outcome)
            .min_by(|a, b| a.steps.cmp(&b.steps).then(a.end.total_cmp(&b.end)))
    }

    /// The run that did not diverge with the lowest final loss.
    fn lowest(&self) -> &Run {
        self.runs
            .iter()
            .filter(|r| r.outcome != Outcome::Diverged)
            .min_by(|a, b| a.end.total_cmp(&b.end))
            .expect("a run that did not diverge")
    }
}

impl ModelCheck {
    /// The learning rates other than `shown` that did not diverge: `; also at 0.001 (40 steps);
    /// not memorised at 0.0001 (160 steps tried)`.
    fn others(&self, shown: Option<&Run>) -> String {
        let rest = || {
            self.runs
                .iter()
                .filter(move |r| Some(*r) != shown && r.outcome != Outcome::Diverged)
        };
        let also: Vec<String> = rest()
            .filter(|r| r.outcome == Outcome::Memorised)
            .map(|r| format!("{} ({} steps)", num(r.learning_rate), r.steps))
            .collect();
        let not: Vec<String> = rest()
            .filter(|r| r.outcome != Outcome::Memorised)
            .map(|r| format!("{} ({} steps tried)", num(r.learning_rate), r.steps))
            .collect();
        let mut out = String::new();
        if !also.is_empty() {
            out += &format!("; also at {}", also.join(", "));
        }
        if !not.is_empty() {
            out += &format!("; not memorised at {}", not.join(", "));
        }
        out
    }
}

fn conflict_sentence(n: usize) -> String {
    format!(
        "a data problem: {n} row{} of the batch repeat{} another row's inputs with another target",
        if n == 1 { "" } else { "s" },
        if n == 1 { "s" } else { "" }
    )
}

impl Check {
    /// Whether every model memorised the batch at some learning rate of the space.
    pub fn passed(&self) -> bool {
        self.data_problem.is_none()
            && self
                .models
                .iter()
                .all(|m| m.verdict(self.conflicts) == Verdict::Memorised)
    }

    /// What was tried, in one line.
    pub fn header(&self) -> String {
        let models = self.models.len();
        format!(
            "checking {models} model{} × {} learning rate{} on one batch (the first {} training rows), at most {MAX_STEPS} steps each",
            if models == 1 { "" } else { "s" },
            self.learning_rates.len(),
            if self.learning_rates.len() == 1 { "" } else { "s" },
            self.rows
        )
    }

    /// The verdict, in one sentence.
    pub fn summary(&self) -> String {
        if let Some(p) = &self.data_problem {
            return format!("no model can memorise the batch: a data problem: {p}");
        }
        let failing: Vec<&ModelCheck> = self
            .models
            .iter()
            .filter(|m| m.verdict(self.conflicts) != Verdict::Memorised)
            .collect();
        let n = self.models.len();
        if failing.is_empty() {
            return format!(
                "every model memorises the batch ({n} model{}, {:.2} s)",
                if n == 1 { "" } else { "s" },
                self.seconds
            );
        }
        let mut why: Vec<Verdict> = failing.iter().map(|m| m.verdict(self.conflicts)).collect();
        why.dedup();
        let reasons: Vec<String> = why.iter().map(|v| self.reason(*v)).collect();
        let who = if failing.len() == n {
            format!("no model memorises the batch ({n} tried)")
        } else {
            format!(
                "{} of {n} models cannot memorise the batch ({})",
                failing.len(),
                failing
                    .iter()
                    .map(|m| m.label.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        };
        format!("{who}: {}", reasons.join("; "))
    }

    fn reason(&self, v: Verdict) -> String {
        let lrs = || {
            self.learning_rates
                .iter()
                .map(|&x| num(x))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match v {
            Verdict::Memorised => String::new(),
            Verdict::Diverges => format!(
                "every learning rate of the space diverges ({}): try smaller ones",
                lrs()
            ),
            Verdict::Data => conflict_sentence(self.conflicts),
            Verdict::Slow => format!(
                "learning too slowly at the space's learning rates ({}): try larger ones",
                lrs()
            ),
            Verdict::Capacity => {
                "the loss plateaus: too little capacity (try wider or more hidden layers)".into()
            }
        }
    }
}

/// A loss in a few significant digits.
fn short(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    if x.abs() >= 1e6 {
        return format!("{x:.3e}");
    }
    let x: f64 = format!("{x:.3e}").parse().expect("a float's own text");
    num(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lr: f64, outcome: Outcome, steps: usize, end: f64) -> Run {
        Run {
            learning_rate: lr,
            steps,
            start: 2.0,
            end,
            outcome,
        }
    }

    fn check(runs: Vec<Run>, conflicts: usize) -> Check {
        Check {
            rows: 32,
            learning_rates: runs.iter().map(|r| r.learning_rate).collect(),
            data_problem: None,
            conflicts,
            note: None,
            models: vec![ModelCheck {
                label: "hidden [8], adam".into(),
                runs,
            }],
            seconds: 0.1,
        }
    }

    #[test]
    fn a_model_memorises_with_some_learning_rate() {
        let c = check(
            vec![
                run(1e-4, Outcome::Falling, MAX_STEPS, 0.5),
                run(1e-2, Outcome::Memorised, 80, 0.001),
                run(10.0, Outcome::Diverged, 3, f64::NAN),
            ],
            0,
        );
        assert!(c.passed());
        let line = c.models[0].line(&c);
        assert_eq!(
            line,
            "hidden [8], adam: memorised in 80 steps at learning rate 0.01 (loss 2 → 0.001); not memorised at 0.0001 (1000 steps tried); diverges at learning rate 10"
        );
        assert!(
            c.summary().starts_with("every model memorises"),
            "{}",
            c.summary()
        );
    }

    #[test]
    fn verdicts_name_the_likely_reason() {
        let all_diverge = check(
            vec![
                run(10.0, Outcome::Diverged, 2, f64::INFINITY),
                run(100.0, Outcome::Diverged, 1, f64::NAN),
            ],
            0,
        );
        assert!(!all_diverge.passed());
        assert_eq!(all_diverge.models[0].verdict(0), Verdict::Diverges);
        assert!(all_diverge.summary().contains("diverges (10, 100)"));
        let plateau = check(vec![run(1e-3, Outcome::Plateau, MAX_STEPS, 1.5)], 0);
        assert_eq!(plateau.models[0].verdict(0), Verdict::Capacity);
        assert!(plateau.models[0]
            .line(&plateau)
            .contains("lacks the capacity"));
        // Rows no model can tell apart come before capacity.
        let data = check(vec![run(1e-3, Outcome::Plateau, MAX_STEPS, 1.5)], 2);
        assert_eq!(data.models[0].verdict(2), Verdict::Data);
        assert!(data.summary().contains("2 rows of the batch repeat"));
        let slow = check(vec![run(1e-5, Outcome::Falling, MAX_STEPS, 1.0)], 0);
        assert_eq!(slow.models[0].verdict(0), Verdict::Slow);
    }
}
