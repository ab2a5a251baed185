//! One program server for all of a study's workers. The first worker starts the program for its
//! trial with the offer to fork; a client that can serve other workers says so (`TUNE_SHARES`)
//! before it takes the offer. From then on every other worker, instead of starting the program
//! (its imports, PyTorch's set-up: seconds of CPU each), asks that server for a server of its own,
//! forked from it with the input and output tune hands over (see [`super::process::fork_from`]).
//! The others wait while the first program starts; a program that does not share (no client, an
//! older client, one that declined) leaves each worker to start its own, as before.

use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use super::control::Control;

/// How long a worker waits for the first program to say whether it shares, before it starts one
/// of its own: a program without the client says nothing until its first report, which may be
/// minutes away; a client says so once its imports and loading are done.
const PATIENCE: Duration = Duration::from_secs(10);

/// Where the study's shared server stands.
enum State {
    /// No worker has started one (or the last one is gone).
    Unknown,
    /// A worker started the program; whether it shares is not known yet.
    Starting,
    /// It shares: its control channel (held by its worker's trial) and its processes' token.
    Ready {
        control: Weak<Control>,
        token: String,
    },
    /// It does not share: every worker starts the program itself.
    Alone,
}

/// The study's shared server, as its workers see it.
pub struct Root {
    state: Mutex<State>,
    changed: Condvar,
}

/// What a worker without a server of its own does.
pub enum Turn {
    /// Start the program, with this hold on the answer to give the others.
    Start(Announce),
    /// Ask this server for a server of its own.
    Fork(Arc<Control>, String),
    /// Start the program for its own use.
    Alone,
}

impl Root {
    pub fn new() -> Arc<Root> {
        Arc::new(Root {
            state: Mutex::new(State::Unknown),
            changed: Condvar::new(),
        })
    }

    /// What a worker without a server does now: waits while another worker's program starts
    /// (up to [`PATIENCE`], and unless `stopping` says the study stops).
    pub fn turn(self: &Arc<Root>, stopping: &dyn Fn() -> bool) -> Turn {
        let until = Instant::now() + PATIENCE;
        let mut s = self.state.lock().unwrap();
        loop {
            match &*s {
                State::Unknown => {
                    *s = State::Starting;
                    return Turn::Start(Announce(self.clone()));
                }
                State::Starting if !stopping() && Instant::now() < until => {
                    s = self
                        .changed
                        .wait_timeout(s, Duration::from_millis(50))
                        .unwrap()
                        .0;
                }
                State::Ready { control, token } => match control.upgrade() {
                    Some(c) => return Turn::Fork(c, token.clone()),
                    None => *s = State::Unknown,
                },
                State::Starting | State::Alone => return Turn::Alone,
            }
        }
    }

    /// The server behind `control` did not answer: the next worker starts another.
    pub fn lost(&self, control: &Arc<Control>) {
        let mut s = self.state.lock().unwrap();
        if let State::Ready { control: c, .. } = &*s {
            if c.as_ptr() == Arc::as_ptr(control) {
                *s = State::Unknown;
            }
        }
    }

    fn set(&self, state: State) {
        *self.state.lock().unwrap() = state;
        self.changed.notify_all();
    }
}

/// A starting worker's hold on the others' wait: it says whether its program shares; dropped
/// unsaid (the program did not take the offer, or failed first), the others start their own.
pub struct Announce(Arc<Root>);

impl Announce {
    /// The program shares: the others fork from it.
    pub fn ready(self, control: &Arc<Control>, token: &str) {
        self.0.set(State::Ready {
            control: Arc::downgrade(control),
            token: token.to_string(),
        });
    }
}

impl Drop for Announce {
    fn drop(&mut self) {
        let mut s = self.0.state.lock().unwrap();
        if matches!(*s, State::Starting) {
            *s = State::Alone;
            self.0.changed.notify_all();
        }
    }
}
