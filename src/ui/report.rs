//! What a receiver leaves behind: its frame log, written out, and with
//! `--json` the one summary line, printed once however the receiver ends
//! (the stream's end, an error, Ctrl-C).

use std::fs::File;
use std::io::{self, LineWriter};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, TryLockError};
use std::time::Instant;

use anyhow::{Context, Result};

use crate::console;
use crate::limits;
use crate::media::yuv4mpeg::Y4mWriter;
use crate::session::receiver::{Recording, SharedStats, lock};
use crate::session::stats::Stats;

/// A receiver's measurements and how they are reported at its end.
#[derive(Debug, Clone)]
pub struct Report {
    stats: SharedStats,
    json: bool,
    /// Set once the summary has been printed, so it is printed once.
    printed: Arc<AtomicBool>,
    /// The `--y4m` recording, if there is one.
    recording: Arc<OnceLock<Recording>>,
}

impl Report {
    /// Nothing measured yet; `json` prints the summary at the end.
    pub fn new(json: bool) -> Self {
        Report {
            stats: Arc::new(Mutex::new(Stats::default())),
            json,
            printed: Arc::new(AtomicBool::new(false)),
            recording: Arc::new(OnceLock::new()),
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

    /// Records every decoded picture as YUV4MPEG2 to a new file at `path`,
    /// or on standard output for `-`.
    pub fn record_to(&self, path: &Path) -> Result<Recording> {
        let writer = if path == Path::new("-") {
            Y4mWriter::new(io::stdout(), "standard output")
        } else {
            let name = path.display();
            let file = File::create(path)
                .with_context(|| format!("could not create the YUV4MPEG2 recording {name}"))?;
            Y4mWriter::new(file, &name.to_string())
        };
        let recording = Arc::new(Mutex::new(writer));
        let _ = self.recording.set(Arc::clone(&recording));
        Ok(recording)
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
            // Held until the exit, so that no frame is left half written.
            let _whole = report.recording.get().and_then(|r| between_frames(r));
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

/// The recording once no frame is being written into it, waiting at most
/// [`limits::CONSOLE_FLUSH_WAIT`] (a pipe nobody reads cannot hold the
/// exit).
fn between_frames(recording: &Mutex<Y4mWriter>) -> Option<MutexGuard<'_, Y4mWriter>> {
    let deadline = Instant::now() + limits::CONSOLE_FLUSH_WAIT;
    loop {
        match recording.try_lock() {
            Ok(guard) => return Some(guard),
            Err(TryLockError::Poisoned(poisoned)) => return Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Err(TryLockError::WouldBlock) => return None,
        }
    }
}
