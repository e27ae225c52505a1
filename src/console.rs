//! What camwire prints while it runs, apart from the one error line of a
//! failing command.
//!
//! Each stream (standard output, standard error) is written by one thread
//! that owns it. Every other thread only queues its line in a [`Backlog`],
//! holding a lock just long enough to fold or count it, so none of them
//! ever waits for the terminal, which may be a pipe nobody reads. Runs of
//! alike lines (a storm of connections turned away) fold into a count,
//! lines beyond [`limits::CONSOLE_QUEUE`] are counted and left out, and
//! urgent lines (a wrong code) are never folded: see [`Backlog`].
//!
//! Progress lines on standard error ("receiving ...", "reconnecting ...")
//! appear only when a person watches the terminal or `--verbose` asks for
//! them: a failing command leaves exactly one line there, which the binary
//! prints itself after [`flush`].

mod backlog;

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

pub use backlog::{Backlog, Kind, grouped};

use crate::limits;

static CHATTY: AtomicBool = AtomicBool::new(false);
static STDOUT: OnceLock<Console> = OnceLock::new();
static STDERR: OnceLock<Console> = OnceLock::new();

/// Turns informational lines on or off for the whole process.
pub fn set_chatty(on: bool) {
    CHATTY.store(on, Ordering::Relaxed);
}

/// Queues `line` for standard output.
pub fn say(kind: Kind, line: String) {
    STDOUT
        .get_or_init(|| Console::start(io::stdout))
        .push(kind, line);
}

/// Queues `line` for standard error, prefixed with `camwire: `, when
/// informational lines are on.
pub fn info(line: &str) {
    if CHATTY.load(Ordering::Relaxed) {
        warn(line);
    }
}

/// Queues `line` for standard error, prefixed with `camwire: `, whether
/// informational lines are on or not: something went wrong on the side.
pub fn warn(line: &str) {
    stderr().push(Kind::Single, format!("camwire: {line}"));
}

/// Writes what the consoles hold, waiting at most `limit` in all: before
/// a command prints its error line and exits.
pub fn flush(limit: Duration) {
    let until = Instant::now() + limit;
    for console in [STDOUT.get(), STDERR.get()].into_iter().flatten() {
        console.flush(until);
    }
}

/// Keeps panic messages off standard error unless informational lines are
/// on: the one error line a failing command prints says what went wrong.
pub fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        if CHATTY.load(Ordering::Relaxed) {
            stderr().push_or_write(format!("camwire: {info}"));
        }
    }));
}

fn stderr() -> &'static Console {
    STDERR.get_or_init(|| Console::start(io::stderr))
}

/// One stream's backlog and the thread that writes it.
struct Console {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when a line is queued, or a flush ends a run.
    queued: Condvar,
    /// Signalled when the writer has nothing left to write.
    written: Condvar,
}

struct State {
    backlog: Backlog,
    /// The writer is writing a line it took from the backlog.
    writing: bool,
    /// A writer thread runs: without one, lines are only counted.
    writer: bool,
}

impl Console {
    /// A console writing to the stream `open` gives, on its own thread.
    fn start<W: Write + 'static>(open: fn() -> W) -> Console {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                backlog: Backlog::new(limits::CONSOLE_QUEUE),
                writing: false,
                writer: true,
            }),
            queued: Condvar::new(),
            written: Condvar::new(),
        });
        let writing = Arc::clone(&shared);
        let started = thread::Builder::new()
            .name("console".into())
            .spawn(move || writing.write_lines(open()));
        if started.is_err() {
            shared.lock().writer = false;
        }
        Console { shared }
    }

    fn push(&self, kind: Kind, line: String) {
        self.shared.lock().backlog.push(kind, line, Instant::now());
        self.shared.queued.notify_one();
    }

    /// Queues `line`, or writes it at once when the backlog is locked by
    /// this very thread (a panic inside the console).
    fn push_or_write(&self, line: String) {
        match self.shared.state.try_lock() {
            Ok(mut state) => state.backlog.push(Kind::Single, line, Instant::now()),
            Err(_) => {
                let _ = writeln!(io::stderr(), "{line}");
                return;
            }
        }
        self.shared.queued.notify_one();
    }

    /// Ends the run under way and waits until everything is written, or
    /// until `until`.
    fn flush(&self, until: Instant) {
        let mut state = self.shared.lock();
        state.backlog.finish();
        self.shared.queued.notify_one();
        while state.writer && (state.writing || !state.backlog.is_empty()) {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            state = self
                .shared
                .written
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        crate::sync::lock(&self.state)
    }

    /// The writer thread: takes each line from the backlog and writes it
    /// with the lock released, so that only this thread waits for `out`.
    fn write_lines(&self, mut out: impl Write) {
        let mut state = self.lock();
        loop {
            let now = Instant::now();
            if let Some(line) = state.backlog.pop(now) {
                state.writing = true;
                drop(state);
                // A closed pipe is no reason to stop: the lines are dropped.
                let _ = writeln!(out, "{line}").and_then(|()| out.flush());
                state = self.lock();
                state.writing = false;
                continue;
            }
            self.written.notify_all();
            state = match state.backlog.due() {
                Some(due) => {
                    let wait = due.saturating_duration_since(now);
                    let woken = self.queued.wait_timeout(state, wait);
                    woken.unwrap_or_else(PoisonError::into_inner).0
                }
                None => self
                    .queued
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
    }
}

/// Writes `text` on standard output at once. A closed pipe there is a
/// normal end, as in ripgrep: whoever reads the output has stopped
/// (`| head`), so the text counts as written and nothing is said about it.
pub fn output(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        written => written,
    }
}
