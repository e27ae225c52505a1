//! What a receiver leaves behind: its frame log, written out, and with
//! `--json` the one summary line, printed once however the receiver ends
//! (the stream's end, an error, Ctrl-C).

use std::fs::File;
use std::io::LineWriter;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};

use crate::console;
use crate::limits;
use crate::session::receiver::{SharedStats, lock};
use crate::session::stats::Stats;

/// A receiver's measurements and how they are reported at its end.
#[derive(Debug, Clone)]
pub struct Report {
    stats: SharedStats,
    json: bool,
    /// Set once the summary has been printed, so it is printed once.
    printed: Arc<AtomicBool>,
}

impl Report {
    /// Nothing measured yet; `json` prints the summary at the end.
    pub fn new(json: bool) -> Self {
        Report {
            stats: Arc::new(Mutex::new(Stats::default())),
            json,
            printed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The measurements, for the session to fill.
    pub fn stats(&self) -> SharedStats {
        Arc::clone(&self.stats)
    }

    /// Writes a CSV line per frame shown to a new file at `path`.
    pub fn log_to(&self, path: &Path) -> Result<()> {
        let file = File::create(path)
            .with_context(|| format!("could not create the frame log {}", path.display()))?;
        // A line at a time, so that someone following the log (tail -f, a
        // test) sees each frame when it is shown.
        lock(&self.stats).set_log(Box::new(LineWriter::new(file)))?;
        Ok(())
    }

    /// Writes the frame log out (a failure there is said, not fatal) and
    /// prints the summary.
    pub fn finish(&self) -> Result<()> {
        let mut stats = lock(&self.stats);
        if let Err(e) = stats.flush_log() {
            eprintln!("camwire: could not write the frame log: {e}");
        }
        self.print_summary(&stats)
    }

    /// Ctrl-C is how a person quits, so it ends with exit status 0, as q,
    /// Esc and closing the window do, once the frame log and the summary
    /// are written.
    pub fn finish_on_ctrl_c(&self) -> Result<()> {
        let report = self.clone();
        ctrlc::set_handler(move || {
            console::flush(limits::CONSOLE_FLUSH_WAIT);
            let mut stats = lock(&report.stats);
            let _ = stats.flush_log();
            match report.print_summary(&stats) {
                Ok(()) => std::process::exit(0),
                Err(e) => {
                    eprintln!("{e:#}");
                    std::process::exit(1)
                }
            }
        })
        .context("could not install the Ctrl-C handler")
    }

    /// Prints the JSON summary line, with `--json` and only once.
    fn print_summary(&self, stats: &Stats) -> Result<()> {
        if !self.json || self.printed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let line = format!("{}\n", stats.summary().to_json());
        console::output(&line).context("could not write the summary")
    }
}
