//! Informational lines on standard error, kept apart from errors, and
//! output on standard output that may be cut off.
//!
//! A failing command must leave exactly one line on standard error, so
//! progress lines ("receiving ...", "reconnecting ...") appear only when a
//! person watches the terminal or `--verbose` asks for them.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

static CHATTY: AtomicBool = AtomicBool::new(false);

/// Turns informational lines on or off for the whole process.
pub fn set_chatty(on: bool) {
    CHATTY.store(on, Ordering::Relaxed);
}

/// Prints `line` on standard error, prefixed with `camwire: `, when
/// informational lines are on.
pub fn info(line: &str) {
    if CHATTY.load(Ordering::Relaxed) {
        eprintln!("camwire: {line}");
    }
}

/// Keeps panic messages off standard error unless informational lines are
/// on: the one error line a failing command prints says what went wrong.
pub fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        if CHATTY.load(Ordering::Relaxed) {
            eprintln!("camwire: {info}");
        }
    }));
}

/// Writes `text` on standard output. A closed pipe there is a normal end,
/// as in ripgrep: whoever reads the output has stopped (`| head`), so the
/// text counts as written and nothing is said about it.
pub fn output(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        written => written,
    }
}
