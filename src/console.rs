//! Informational lines on standard error, kept apart from errors.
//!
//! A failing command must leave exactly one line on standard error, so
//! progress lines ("receiving ...", "reconnecting ...") appear only when a
//! person watches the terminal or `--verbose` asks for them.

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
