//! Which signal stopped the run, for the exit code (see [`unix`]).

#[cfg(unix)]
pub use unix::*;

#[cfg(not(unix))]
pub use other::*;

/// Which signal stopped the run, for the exit code. The `ctrlc` crate runs one handler for SIGINT,
/// SIGTERM and SIGHUP and does not say which arrived; on Unix, a handler installed in front of its
/// own notes the signal's number and then calls it. ctrlc also takes over signals that were
/// ignored (`nohup tune ...` ignores SIGHUP): they are ignored again.
#[cfg(unix)]
mod unix {
    use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering::SeqCst};

    /// POSIX fixes these numbers (they are the ones `kill -s` accepts as numbers).
    const SIGNALS: [(i32, &str); 3] = [(2, "SIGINT"), (15, "SIGTERM"), (1, "SIGHUP")];
    const SIG_DFL: usize = 0;
    const SIG_IGN: usize = 1;
    const SIG_ERR: usize = usize::MAX;

    extern "C" {
        /// The C library's `signal`: installs `handler` (a function pointer, SIG_DFL or SIG_IGN)
        /// for `signum` and returns the one it replaces. BSD semantics on glibc, musl and the BSDs:
        /// the handler stays installed, and interrupted system calls restart.
        fn signal(signum: i32, handler: usize) -> usize;
    }

    /// The signals ignored when `tune` started (by `nohup`, or a shell for a background job), by
    /// position in [`SIGNALS`]: they stay ignored.
    static IGNORED: [AtomicBool; 3] = [const { AtomicBool::new(false) }; 3];
    /// The handlers replaced (ctrlc's), by position in [`SIGNALS`]; SIG_DFL until known.
    static PREVIOUS: [AtomicUsize; 3] = [const { AtomicUsize::new(SIG_DFL) }; 3];
    /// The first signal's number and the latest's (0: none yet).
    static FIRST: AtomicI32 = AtomicI32::new(0);
    static LAST: AtomicI32 = AtomicI32::new(0);

    /// Async-signal-safe: atomics, then the replaced handler (which posts a semaphore).
    extern "C" fn note(signum: i32) {
        let _ = FIRST.compare_exchange(0, signum, SeqCst, SeqCst);
        LAST.store(signum, SeqCst);
        let i = SIGNALS.iter().position(|s| s.0 == signum);
        match i.map(|i| PREVIOUS[i].load(SeqCst)) {
            Some(previous) if ![SIG_DFL, SIG_IGN, SIG_ERR].contains(&previous) => {
                // SAFETY: `previous` came from `signal` for this signal and is none of its special
                // values, so it is a handler function of this C signature.
                let previous: extern "C" fn(i32) = unsafe { std::mem::transmute(previous) };
                previous(signum);
            }
            // Between `note`'s installation and the store of what it replaced: stop, unannounced.
            _ => crate::STOP.store(true, SeqCst),
        }
    }

    /// Notes which of the signals are ignored, before ctrlc replaces their handlers.
    pub fn note_ignored() {
        for (i, &(signum, _)) in SIGNALS.iter().enumerate() {
            // SAFETY: SIG_IGN, then what `signal` reported back: the disposition is as it was.
            let previous = unsafe { signal(signum, SIG_IGN) };
            if ![SIG_IGN, SIG_ERR].contains(&previous) {
                unsafe { signal(signum, previous) };
            }
            IGNORED[i].store(previous == SIG_IGN, SeqCst);
        }
    }

    /// Puts [`note`] in front of the handlers ctrlc installed for the signals, and ignores again
    /// those that were ignored.
    pub fn install() {
        for (i, &(signum, _)) in SIGNALS.iter().enumerate() {
            if IGNORED[i].load(SeqCst) {
                // SAFETY: SIG_IGN is a valid disposition for these signals.
                unsafe { signal(signum, SIG_IGN) };
                continue;
            }
            // SAFETY: `note` is async-signal-safe and has the C signature of a signal handler.
            let previous = unsafe { signal(signum, note as extern "C" fn(i32) as usize) };
            if [SIG_DFL, SIG_IGN, SIG_ERR].contains(&previous) {
                // Nothing of ctrlc's to call: leave the signal as it was.
                // SAFETY: restores what `signal` reported.
                unsafe { signal(signum, previous) };
            } else {
                PREVIOUS[i].store(previous, SeqCst);
            }
        }
    }

    /// The exit code for the first signal or the latest: 128 + its number; 130 (SIGINT's) when
    /// none came (a stop after --stop-after-epochs).
    pub fn exit_code(first: bool) -> u8 {
        match if first { &FIRST } else { &LAST }.load(SeqCst) {
            n @ 1..=64 => 128 + n as u8,
            _ => 130,
        }
    }

    /// The name of the first signal, or of the latest.
    pub fn name(first: bool) -> &'static str {
        let n = if first { &FIRST } else { &LAST }.load(SeqCst);
        SIGNALS.iter().find(|s| s.0 == n).map_or("SIGINT", |s| s.1)
    }
}

/// Elsewhere ctrlc's handler runs for Ctrl-C and Ctrl-Break: the exit code is SIGINT's.
#[cfg(not(unix))]
mod other {
    pub fn note_ignored() {}

    pub fn install() {}

    pub fn exit_code(_first: bool) -> u8 {
        130
    }

    pub fn name(_first: bool) -> &'static str {
        "SIGINT"
    }
}
