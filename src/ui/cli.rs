//! The command line: the source flags both binaries share, how a binary
//! ends (one error line and an exit code), and the small steps between
//! the flags and a session: the console, listening, the code, Ctrl-C.

use std::io::{self, IsTerminal};
use std::net::TcpListener;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, anyhow};
use clap::{Args, ValueEnum};

use crate::console::{self, Kind};
use crate::limits;
use crate::link::guesses;
use crate::link::private::{self, Code};
use crate::media::camera::{self, SourceChoice};
use crate::media::source::{SourceConfig, SourceFactory};
use crate::session::capture::{CaptureConfig, panic_text};
use crate::session::chat::OwnVideo;
use crate::session::sender::{Audience, SenderConfig, Stopper};
use crate::session::stream::AskCode;
use crate::wire::{Codec, StreamInfo};

/// Flags that choose and shape the video this end sends.
#[derive(Args, Debug, Clone)]
pub struct SourceArgs {
    /// What to stream: camera (the webcam), test (a moving test pattern),
    /// or PATH.y4m, a YUV4MPEG2 (I420) clip played in a loop at --fps,
    /// every frame encoded as a camera's; a clip keeps its own size
    /// (--width and --height are ignored).
    #[arg(long, value_name = "camera|test|PATH.y4m", default_value = "camera", value_parser = parse_source)]
    pub source: SourceKind,
    /// Which webcam, by index (see `sender --list-cameras`).
    #[arg(long, default_value_t = 0)]
    pub camera: u32,
    /// Colouring of the test pattern (0, 1 or 2), to tell two apart.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub colours: u8,
    /// Frame width; a camera gives the closest size it supports.
    #[arg(long, default_value_t = 640, value_parser = clap::value_parser!(u32).range(1..=i64::from(limits::MAX_WIDTH)))]
    pub width: u32,
    /// Frame height; a camera gives the closest size it supports.
    #[arg(long, default_value_t = 480, value_parser = clap::value_parser!(u32).range(1..=i64::from(limits::MAX_HEIGHT)))]
    pub height: u32,
    /// Frames per second; 0 makes each frame as soon as the fastest viewer
    /// has taken the last one.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(0..=i64::from(limits::MAX_FPS)))]
    pub fps: u32,
    /// What goes on the wire: H.264 (a twentieth of JPEG's bytes), JPEG
    /// or raw RGB.
    #[arg(long, value_enum, default_value_t = CodecArg::H264)]
    pub codec: CodecArg,
    /// H.264 target in kbit/s [default: 1200 up to 640x480, 2500 up to
    /// 1280x720, 4500 above].
    #[arg(long, value_name = "KBIT", value_parser = clap::value_parser!(u32).range(50..=100_000))]
    pub bitrate: Option<u32>,
    /// JPEG quality, 1 (smallest) to 100 (best).
    #[arg(long, default_value_t = 80, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub quality: u8,
}

/// `--source`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceKind {
    /// The webcam, through nokhwa.
    Camera,
    /// A built-in moving test pattern.
    Test,
    /// A YUV4MPEG2 clip, played in a loop.
    Clip(PathBuf),
}

/// Reads `--source`: `camera`, `test` or a path ending in `.y4m`.
pub fn parse_source(value: &str) -> Result<SourceKind, String> {
    match value {
        "camera" => Ok(SourceKind::Camera),
        "test" => Ok(SourceKind::Test),
        path if path.to_ascii_lowercase().ends_with(".y4m") => {
            Ok(SourceKind::Clip(PathBuf::from(path)))
        }
        _ => Err("expected camera, test or the path of a YUV4MPEG2 clip ending in .y4m".into()),
    }
}

/// `--codec`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CodecArg {
    /// H.264, at the bitrate set by --bitrate.
    H264,
    /// JPEG, quality set by --quality.
    Jpeg,
    /// Uncompressed RGB.
    Raw,
}

impl SourceArgs {
    /// The source these flags choose.
    pub fn choice(&self) -> SourceChoice {
        match &self.source {
            SourceKind::Camera => SourceChoice::Camera(self.camera),
            SourceKind::Test => SourceChoice::Test(self.colours),
            SourceKind::Clip(path) => SourceChoice::Clip(path.clone()),
        }
    }

    /// What the source is asked for.
    pub fn config(&self) -> SourceConfig {
        SourceConfig {
            width: self.width,
            height: self.height,
            fps: self.fps,
            codec: match self.codec {
                CodecArg::H264 => Codec::H264,
                CodecArg::Jpeg => Codec::Jpeg,
                CodecArg::Raw => Codec::Raw,
            },
            quality: self.quality,
            bitrate_kbit: self.bitrate,
        }
    }

    /// Checks the source these flags choose works now; the stream it makes
    /// and how to open it on the capture thread.
    pub fn prepare(&self) -> Result<(StreamInfo, SourceFactory)> {
        camera::prepare(self.choice(), self.config())
    }

    /// This end's own video in a call, checked before calling. The
    /// receiver has no `--list-cameras`: its advice names the sender's.
    pub fn own_video(&self) -> Result<OwnVideo> {
        let (info, open_source) = self.prepare().map_err(|e| {
            let line = format!("{e:#}").replace("--list-cameras", "sender --list-cameras");
            anyhow!(line)
        })?;
        let capture = CaptureConfig {
            encoder: self.config().encoder(info),
            max_frames: 0,
        };
        Ok(OwnVideo {
            capture,
            open_source,
        })
    }

    /// A sender of the stream `info` these flags made: the defaults for
    /// everything they do not say.
    pub fn sender_config(&self, info: StreamInfo) -> SenderConfig {
        SenderConfig {
            encoder: self.config().encoder(info),
            max_frames: 0,
            write_timeout: limits::VIEWER_WRITE_TIMEOUT,
            code: None,
            audience: Audience::Viewers(limits::DEFAULT_MAX_VIEWERS as usize),
        }
    }

    /// How the source is named to the user.
    pub fn describe(&self) -> String {
        match &self.source {
            SourceKind::Camera => format!("camera {}", self.camera),
            SourceKind::Test => "the test pattern".to_string(),
            SourceKind::Clip(path) => format!("the clip {}", path.display()),
        }
    }
}

/// A failure the user fixes by saying more on the command line (which of
/// several senders to watch): exit status 2, as for a flag clap refuses.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Runs a binary's `work` and ends it as the contract says: a panic (a
/// bug) still ends as one line; what the console holds is written first,
/// then `at_exit` runs (a receiver's summary); an error is then one line
/// on standard error and a failing exit status (2 for a [`UsageError`],
/// else 1).
pub fn run(work: impl FnOnce() -> Result<()>, at_exit: impl FnOnce() -> Result<()>) -> ExitCode {
    let result = panic::catch_unwind(AssertUnwindSafe(work))
        .unwrap_or_else(|panic| Err(anyhow!("internal error: {}", panic_text(&*panic))));
    // What the console holds comes first, if the terminal takes it: the
    // error line is the last word.
    console::flush(limits::CONSOLE_FLUSH_WAIT);
    let exited = at_exit();
    match result.and(exited) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", format!("{e:#}").replace('\n', " "));
            match e.is::<UsageError>() {
                true => ExitCode::from(2),
                false => ExitCode::FAILURE,
            }
        }
    }
}

/// Sets the console up: progress lines on standard error when a person
/// watches it or `verbose` asks, and panics kept to the error line.
pub fn start_console(verbose: bool) {
    console::set_chatty(verbose || io::stderr().is_terminal());
    console::quiet_panics();
}

/// Listens on `bind`, saying what to do when that fails.
pub fn listen(bind: &str) -> Result<TcpListener> {
    TcpListener::bind(bind).map_err(|e| {
        let hint = match e.kind() {
            io::ErrorKind::AddrInUse => " (is another sender using that port? try another)",
            io::ErrorKind::AddrNotAvailable => " (that address is not this machine's)",
            io::ErrorKind::PermissionDenied => " (ports below 1024 need root: try 9999)",
            io::ErrorKind::InvalidInput => " (give IP:PORT, e.g. 0.0.0.0:9999)",
            _ => "",
        };
        anyhow!("could not listen on {bind}: {e}{hint}")
    })
}

/// The code a sender asks of its viewers: none when `open`, else `given`
/// or, when none was given (an empty `CAMWIRE_CODE` counts as none), a
/// code made up now. A given code weaker than six digits gets a warning
/// saying how soon it can be guessed.
pub fn sender_code(given: Option<&str>, open: bool) -> Option<Code> {
    match given.and_then(Code::new) {
        _ if open => None,
        Some(code) => {
            if let Some(warning) = weak_code_warning(&code) {
                console::warn(&warning);
            }
            Some(code)
        }
        None => Some(Code::random()),
    }
}

/// Codes fewer than this many possible ones (six digits) are weak.
const STRONG_ENOUGH: f64 = 1e6;

/// What to tell the user of a code with fewer possible values than six
/// digits: how soon someone guessing at the limits tries them all.
pub fn weak_code_warning(code: &Code) -> Option<String> {
    let possible = code.possible();
    if possible >= STRONG_ENOUGH {
        return None;
    }
    let (everyone, one) = guesses::time_to_try_all(possible);
    Some(format!(
        "a {}-character code is weak: its {} possible codes can all be tried within {} from many machines at once, {} from one (a made-up code has {} digits)",
        code.len(),
        console::grouped(possible as u64),
        about(everyone),
        about(one),
        private::CODE_DIGITS,
    ))
}

/// A duration as a person says it: `about 3 hours`.
fn about(d: std::time::Duration) -> String {
    let secs = d.as_secs_f64();
    let (n, unit) = match secs {
        s if s < 60.0 => return "a minute".to_string(),
        s if s < 90.0 * 60.0 => (s / 60.0, "minutes"),
        s if s < 48.0 * 3600.0 => (s / 3600.0, "hours"),
        s => (s / 86400.0, "days"),
    };
    match n < 10.0 {
        true => format!("about {n:.1} {unit}"),
        false => format!("about {n:.0} {unit}"),
    }
}

/// Prints the webcams found (index, name, formats).
pub fn list_cameras() -> Result<()> {
    let list = camera::describe_cameras()?;
    console::output(&list).context("could not print the cameras")
}

/// Ctrl-C is how a person quits a sender, so it ends with exit status 0,
/// as closing the preview does: the first ends the stream cleanly,
/// telling every viewer (or the other person in a `chat`), and a second
/// quits at once, without waiting for viewers slow to hear it.
pub fn stop_on_ctrl_c(chat: bool) -> impl FnOnce(Stopper) -> Result<()> + Send {
    let line = match chat {
        true => "stopping: hanging up (Ctrl-C again to quit at once)",
        false => "stopping: telling every viewer the stream ended (Ctrl-C again to quit at once)",
    };
    move |stopper| {
        let stopping = AtomicBool::new(false);
        ctrlc::set_handler(move || {
            if stopping.swap(true, Ordering::SeqCst) {
                std::process::exit(0);
            }
            console::say(Kind::Single, line.to_string());
            stopper.stop();
        })
        .context("could not install the Ctrl-C handler")
    }
}

/// How a receiver asks for a private sender's code: at the terminal, when
/// standard input is one.
pub fn code_prompt() -> Option<AskCode> {
    io::stdin().is_terminal().then_some(ask_code as AskCode)
}

/// Asks the person at the terminal for the code of the sender at `addr`;
/// `attempt` 2 and later follow a wrong code.
fn ask_code(addr: &str, attempt: u32) -> Result<Code> {
    console::flush(limits::CONSOLE_FLUSH_WAIT);
    match attempt {
        1 => eprint!("{addr} is private. Code (the sender prints it): "),
        n => eprint!("wrong code. Try again ({n} of {}): ", limits::CODE_TRIES),
    }
    let mut line = String::new();
    io::stdin()
        .read_line(&mut line)
        .context("could not read the code")?;
    Code::new(&line).context("no code given")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_codes_are_told_how_soon_they_fall() {
        let four = weak_code_warning(&Code::new("1234").unwrap()).unwrap();
        assert!(
            four.starts_with("a 4-character code is weak: its 10,000 possible codes"),
            "{four}"
        );
        assert!(
            four.contains(
                "within about 2.8 hours from many machines at once, about 28 hours from one"
            ),
            "{four}"
        );
        assert!(weak_code_warning(&Code::new("123-456").unwrap()).is_none());
        assert!(
            weak_code_warning(&Code::new("abcd").unwrap()).is_none(),
            "36^4 is over a million"
        );
        let two = weak_code_warning(&Code::new("1").unwrap()).unwrap();
        assert!(two.contains("within a minute from many"), "{two}");
    }
}
