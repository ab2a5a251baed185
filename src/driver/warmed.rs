//! A warm start with several objectives or constraints. The GP and TPE learn from ParEGO's
//! scalarisation of every objective (with weights drawn for each trial, scaled over the trials
//! seen), which no single number per earlier trial can stand for: the earlier study's trials
//! join the history the sampler asks with, before the study's own, as if the study had run them
//! first. Trial `n` of the study is asked as trial `w + n` (`w` warm trials), so that they count
//! toward the start-up trials as with one objective, and the scalarisation, the start-up design
//! and the sampler's draws run on as the earlier study's own search would have (a warm start from
//! a Bayesian study of the same seed suggests what its next trial would have been).

use std::collections::BTreeMap;

use crate::plan::{Method, StudyPlan};
use crate::sampler::Sampler;
use crate::space::Params;
use crate::storage::{History, TrialRecord};

/// The sampler `plan` asks for, seeded with its warm trials' records when it has several
/// objectives or constraints and a search that learns from them.
pub(super) fn sampler(plan: &StudyPlan) -> Box<dyn Sampler> {
    match &plan.warm {
        Some(w) if !w.records.is_empty() && matches!(plan.method, Method::Bayes | Method::Tpe) => {
            // The inner sampler must not also take them as single values.
            let cold = StudyPlan {
                warm: None,
                ..plan.clone()
            };
            Box::new(Warmed::new(crate::sampler::for_plan(&cold), &w.records))
        }
        _ => crate::sampler::for_plan(plan),
    }
}

/// A sampler that sees `warm` before the study's trials.
struct Warmed {
    inner: Box<dyn Sampler>,
    /// The warm trials, numbered 0, 1, ….
    warm: BTreeMap<u64, TrialRecord>,
}

impl Warmed {
    fn new(inner: Box<dyn Sampler>, records: &[TrialRecord]) -> Warmed {
        let warm = records.iter().map(|r| (r.trial, r.clone())).collect();
        Warmed { inner, warm }
    }

    fn shift(&self) -> u64 {
        self.warm.len() as u64
    }

    /// `history` after the warm trials, each of its trials numbered `shift` later.
    fn seen(&self, history: &History) -> History {
        let mut trials = self.warm.clone();
        for t in history.trials.values() {
            let n = t.trial + self.shift();
            trials.insert(
                n,
                TrialRecord {
                    trial: n,
                    ..t.clone()
                },
            );
        }
        History {
            trials,
            fingerprint: history.fingerprint.clone(),
            code: history.code.clone(),
        }
    }
}

impl Sampler for Warmed {
    fn ask(&mut self, trial: u64, history: &History) -> Params {
        let seen = self.seen(history);
        self.inner.ask(trial + self.shift(), &seen)
    }

    fn independent(&self) -> bool {
        self.inner.independent()
    }

    /// The inner sampler's warnings, which name trials as it was asked for them, with the
    /// study's own numbers.
    fn take_warnings(&mut self) -> Vec<String> {
        let shift = self.shift();
        let renumber = |w: String| -> String {
            let Some((n, rest)) = w.strip_prefix("trial ").and_then(|r| r.split_once(':')) else {
                return w;
            };
            match n.parse::<u64>().ok().and_then(|n| n.checked_sub(shift)) {
                Some(n) => format!("trial {n}:{rest}"),
                None => w,
            }
        };
        self.inner
            .take_warnings()
            .into_iter()
            .map(renumber)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::Value;
    use crate::storage::Status;
    use std::sync::{Arc, Mutex};

    /// The trial asked for, and each trial of the history it was asked with (number, `x`).
    type Asked = (u64, Vec<(u64, f64)>);

    /// Records what it is asked with, and warns of each ask.
    struct Spy(Arc<Mutex<Vec<Asked>>>, Vec<String>);

    impl Sampler for Spy {
        fn ask(&mut self, trial: u64, history: &History) -> Params {
            let seen = history
                .trials
                .values()
                .map(|t| (t.trial, t.params["x"].as_f64()))
                .collect();
            self.0.lock().unwrap().push((trial, seen));
            self.1.push(format!("trial {trial}: no fit"));
            Params::from([("x".to_string(), Value::Float(0.5))])
        }

        fn take_warnings(&mut self) -> Vec<String> {
            std::mem::take(&mut self.1)
        }
    }

    fn record(trial: u64, x: f64, status: Status) -> TrialRecord {
        TrialRecord {
            trial,
            params: Params::from([("x".to_string(), Value::Float(x))]),
            status,
            reason: None,
            curve: vec![],
            seconds: 0.0,
            suggest_ms: None,
            decision: None,
            exploits: vec![],
        }
    }

    #[test]
    fn the_warm_trials_come_first_and_the_study_asks_and_warns_with_its_own_numbers() {
        let asked = Arc::new(Mutex::new(vec![]));
        let warm = [
            record(0, 0.1, Status::Complete),
            record(1, 0.2, Status::Failed),
        ];
        let mut s = Warmed::new(Box::new(Spy(asked.clone(), vec![])), &warm);
        let mut h = History::default();
        h.trials.insert(0, record(0, 0.7, Status::Complete));
        h.trials.insert(1, record(1, 0.8, Status::Running));
        s.ask(2, &h);
        let asked = asked.lock().unwrap();
        assert_eq!(asked[0], (4, vec![(0, 0.1), (1, 0.2), (2, 0.7), (3, 0.8)]));
        assert_eq!(s.take_warnings(), vec!["trial 2: no fit".to_string()]);
        // The study's history itself is left as it was.
        assert_eq!(h.trials.keys().copied().collect::<Vec<_>>(), vec![0, 1]);
    }
}
