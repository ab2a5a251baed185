//! The hub: each tracker on a thread of its own, fed by a queue the study never waits on. A
//! tracker that cannot reach its server keeps the notes and tries again later, waiting longer each
//! time (up to [`MAX_WAIT`]), and says so once; at the study's end the hub waits for the queues
//! to empty while the trackers make progress, giving up with one line after [`FLUSH`] without
//! any (a server down) or [`CAP`] in all (a server too slow).

use std::collections::VecDeque;
use std::sync::mpsc::{channel, Receiver, Sender, TryRecvError};
use std::sync::{Condvar, Mutex};
use std::thread::Scope;
use std::time::{Duration, Instant};

use super::{next, send, Failure, Note, Settings, Tracker};

/// The longest wait between two tries of a server that is down.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// The first wait after a failed try, doubled at each next failure. The unit tests' fake servers
/// come back after a few tries: a short first wait keeps their retries far inside [`FLUSH`] on a
/// loaded machine.
const FIRST_WAIT: Duration = Duration::from_millis(if cfg!(test) { 10 } else { 250 });

/// How long the end of a study waits for a tracker that sends nothing.
pub const FLUSH: Duration = Duration::from_secs(5);

/// How long the end of a study waits for its trackers in all.
pub const CAP: Duration = Duration::from_secs(60);

/// When the study ended, shared by the hub and its trackers' threads: from then on a tracker
/// gives up at its deadline ([`Ending::deadline`]).
#[derive(Default)]
pub struct Ending {
    end: Mutex<Option<Instant>>,
    woken: Condvar,
}

/// The trackers of a study, running.
pub struct Hub<'a> {
    queues: Vec<Sender<Note>>,
    ending: &'a Ending,
}

impl<'a> Hub<'a> {
    /// Starts the trackers `settings` ask for on threads of `scope`; `say` receives the one-line
    /// messages (a server down, back, or given up on), from those threads. Dropping the hub ends
    /// them as [`Hub::finish`] does.
    pub fn start<'e>(
        scope: &'a Scope<'a, 'e>,
        settings: &Settings,
        say: &'a (dyn Fn(&str) + Sync),
        ending: &'a Ending,
    ) -> Hub<'a> {
        let mut trackers: Vec<Box<dyn Tracker>> = vec![];
        if settings.tensorboard {
            trackers.push(Box::new(super::tensorboard::TensorBoard::new(
                &settings.out_dir.join("tensorboard"),
            )));
        }
        if let Some((uri, experiment, checkpoints)) = &settings.mlflow {
            trackers.push(Box::new(super::mlflow::Mlflow::new(
                settings,
                uri,
                experiment,
                *checkpoints,
            )));
        }
        Hub::with(scope, trackers, say, ending)
    }

    /// Runs `trackers` on threads of `scope` (see [`Hub::start`]).
    pub fn with<'e>(
        scope: &'a Scope<'a, 'e>,
        trackers: Vec<Box<dyn Tracker>>,
        say: &'a (dyn Fn(&str) + Sync),
        ending: &'a Ending,
    ) -> Hub<'a> {
        let queues = trackers
            .into_iter()
            .map(|tracker| {
                let (tx, rx) = channel();
                scope.spawn(move || pump(ending, tracker, rx, say));
                tx
            })
            .collect();
        Hub { queues, ending }
    }

    /// Queues `notes` for every tracker; never waits.
    pub fn note(&self, notes: &[Note]) {
        for q in &self.queues {
            for n in notes {
                let _ = q.send(n.clone());
            }
        }
    }

    /// The study ended: the trackers send what is queued and stop, giving up after [`FLUSH`].
    pub fn finish(self) {}
}

impl Drop for Hub<'_> {
    fn drop(&mut self) {
        self.ending
            .end
            .lock()
            .unwrap()
            .get_or_insert_with(Instant::now);
        self.queues.clear();
        self.ending.woken.notify_all();
    }
}

/// A tracker's loop: takes the notes as they come and sends them in order, keeping those it
/// could not send for the next try.
fn pump(ending: &Ending, mut tracker: Box<dyn Tracker>, rx: Receiver<Note>, say: &dyn Fn(&str)) {
    let mut queue: VecDeque<Note> = VecDeque::new();
    let mut open = true;
    let mut wait = FIRST_WAIT;
    let mut down_said = false;
    let mut refused_said = false;
    let mut last_ok = Instant::now();
    loop {
        if queue.is_empty() && open {
            match rx.recv() {
                Ok(n) => queue.push_back(n),
                Err(_) => open = false,
            }
        }
        while open {
            match rx.try_recv() {
                Ok(n) => queue.push_back(n),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => open = false,
            }
        }
        if queue.is_empty() {
            if !open {
                return;
            }
            continue;
        }
        let which = next(&queue);
        let sent = send(&mut *tracker, &queue, &which);
        if !matches!(sent, Err(Failure::Down(_))) {
            // Sent, or refused (which trying again would not change): off the queue.
            let mut i = 0;
            queue.retain(|_| {
                i += 1;
                which.binary_search(&(i - 1)).is_err()
            });
        }
        match sent {
            Ok(()) => {
                last_ok = Instant::now();
                wait = FIRST_WAIT;
                if down_said {
                    say(&format!(
                        "{}: reached again; logging goes on",
                        tracker.name()
                    ));
                    down_said = false;
                }
            }
            Err(Failure::Refused(why)) => {
                if !refused_said {
                    say(&format!(
                        "{}: {why} (passed over; the study goes on)",
                        tracker.name()
                    ));
                    refused_said = true;
                }
            }
            Err(Failure::Down(why)) => {
                if !down_said {
                    say(&format!(
                        "{}: {why}; retrying in the background, the study goes on",
                        tracker.name()
                    ));
                    down_said = true;
                }
                if !ending.sleep(wait, last_ok) {
                    let left = queue.len() + rx.try_iter().count();
                    say(&gave_up(&*tracker, left));
                    return;
                }
                wait = (wait * 2).min(MAX_WAIT);
            }
        }
        if ending.past(last_ok) {
            let left = queue.len() + rx.try_iter().count();
            if left > 0 {
                say(&gave_up(&*tracker, left));
            }
            return;
        }
    }
}

/// The one line said when a tracker stops with `left` notes unsent.
fn gave_up(tracker: &dyn Tracker, left: usize) -> String {
    format!(
        "{}: gave up at the study's end (nothing sent for {} s, or {} s in all): {left} update{} not sent",
        tracker.name(),
        FLUSH.as_secs(),
        CAP.as_secs(),
        if left == 1 { "" } else { "s" }
    )
}

impl Ending {
    /// When a tracker whose last success was at `last_ok` gives up: [`FLUSH`] after the study's
    /// end or that success, whichever is later, and [`CAP`] after the end at the latest.
    fn deadline(end: Option<Instant>, last_ok: Instant) -> Option<Instant> {
        end.map(|e| (e.max(last_ok) + FLUSH).min(e + CAP))
    }

    /// Waits `wait`, or less when the study ends or the deadline comes; `false` once past it.
    fn sleep(&self, wait: Duration, last_ok: Instant) -> bool {
        let until = Instant::now() + wait;
        let mut end = self.end.lock().unwrap();
        loop {
            let now = Instant::now();
            let deadline = Self::deadline(*end, last_ok);
            if deadline.is_some_and(|d| now >= d) {
                return false;
            }
            let stop = deadline.map_or(until, |d| d.min(until));
            if now >= stop {
                return true;
            }
            let was_open = end.is_none();
            end = self.woken.wait_timeout(end, stop - now).unwrap().0;
            if was_open && end.is_some() {
                // The study just ended: try again at once.
                return true;
            }
        }
    }

    /// Whether the deadline of a tracker whose last success was at `last_ok` passed.
    fn past(&self, last_ok: Instant) -> bool {
        Self::deadline(*self.end.lock().unwrap(), last_ok).is_some_and(|d| Instant::now() >= d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracking::{Param, Point};
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    /// Down for its first `down` calls, then records what it is given.
    struct Flaky {
        down: usize,
        got: Arc<Mutex<Vec<String>>>,
    }

    impl Flaky {
        fn call(&mut self, what: String) -> Result<(), Failure> {
            if self.down > 0 {
                self.down -= 1;
                return Err(Failure::Down("connection refused".into()));
            }
            self.got.lock().unwrap().push(what);
            Ok(())
        }
    }

    impl Tracker for Flaky {
        fn name(&self) -> String {
            "flaky".into()
        }
        fn trial_started(&mut self, trial: u64, _: &[(String, Param)]) -> Result<(), Failure> {
            self.call(format!("start {trial}"))
        }
        fn boundaries(&mut self, trial: u64, points: &[Point]) -> Result<(), Failure> {
            let steps: Vec<String> = points.iter().map(|p| p.step.to_string()).collect();
            self.call(format!("points {trial}: {}", steps.join(" ")))
        }
        fn status(
            &mut self,
            trial: u64,
            s: &str,
            _: Option<&str>,
            _: Option<&Path>,
        ) -> Result<(), Failure> {
            self.call(format!("{s} {trial}"))
        }
        fn study_ended(
            &mut self,
            _: Option<u64>,
            _: &Path,
            _: Option<&super::super::Front>,
        ) -> Result<(), Failure> {
            self.call("end".into())
        }
    }

    fn notes() -> Vec<Note> {
        let p = |trial, step| Note::Point {
            trial,
            point: Point {
                step,
                values: vec![],
            },
        };
        let started = |trial| Note::Started {
            trial,
            params: vec![],
        };
        let ended = |trial| Note::Status {
            trial,
            status: "complete".into(),
            reason: None,
            checkpoint: None,
        };
        vec![
            started(0),
            started(1),
            p(0, 10),
            p(1, 10),
            p(0, 20),
            ended(0),
            p(1, 20),
            ended(1),
            Note::StudyEnded {
                best: Some(0),
                leaderboard: PathBuf::new(),
                front: None,
            },
        ]
    }

    /// Runs the notes through a tracker down for its first `down` calls: what it was given and
    /// what was said.
    fn through(down: usize) -> (Vec<String>, Vec<String>) {
        let got = Arc::new(Mutex::new(vec![]));
        let said = Mutex::new(vec![]);
        let say = |line: &str| said.lock().unwrap().push(line.to_string());
        let ending = Ending::default();
        std::thread::scope(|scope| {
            let tracker = Box::new(Flaky {
                down,
                got: got.clone(),
            });
            let hub = Hub::with(scope, vec![tracker], &say, &ending);
            hub.note(&notes());
            hub.finish();
        });
        let got = got.lock().unwrap().clone();
        (got, said.into_inner().unwrap())
    }

    #[test]
    fn a_server_down_for_a_while_gets_each_trial_s_notes_in_order_and_is_named_twice() {
        let want = [
            "start 0",
            "start 1",
            "points 0: 10 20",
            "points 1: 10 20",
            "complete 0",
            "complete 1",
            "end",
        ];
        assert_eq!(through(0), (want.map(String::from).to_vec(), vec![]));
        let (got, said) = through(3);
        assert_eq!(got, want);
        assert_eq!(said.len(), 2, "{said:?}");
        assert!(said[0].starts_with("flaky: connection refused; retrying in the background"));
        assert_eq!(said[1], "flaky: reached again; logging goes on");
    }

    #[test]
    fn a_server_down_for_good_is_given_up_on_at_the_end() {
        let (got, said) = through(usize::MAX);
        assert!(got.is_empty());
        assert_eq!(said.len(), 2, "{said:?}");
        assert!(
            said[1].starts_with("flaky: gave up at the study's end"),
            "{said:?}"
        );
        assert!(said[1].ends_with(": 9 updates not sent"), "{said:?}");
    }
}
