//! `receiver`: shows a camwire sender's stream in a window.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
use camwire::link::private::Code;
use camwire::session::window::Window;
use camwire::session::{chat, stream};
use camwire::ui::cli::{self, SourceArgs};
use camwire::ui::display;
use camwire::ui::lan;
use camwire::ui::report::Report;
use clap::Parser;

/// Show the stream of a camwire sender in a window; q, Esc or closing the
/// window quits.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// The sender: HOST:PORT (192.168.1.5:9999), HOST (port 9999), or the
    /// NAME it announces on the LAN. Without it, the only sender found on
    /// the LAN within 2 s (the only one taking calls, with --chat).
    #[arg(long, value_name = "ADDR|NAME")]
    connect: Option<String>,
    /// Print the senders found on the LAN within 2 s, one a line (name,
    /// address, private or open, chat when it takes calls), and exit.
    #[arg(long)]
    list: bool,
    /// No window: frames are still received, checked and decoded.
    #[arg(long)]
    headless: bool,
    /// Exit after this many frames (0: until the sender ends the stream).
    #[arg(long, default_value_t = 0)]
    frames: u64,
    /// At exit, print a one-line JSON summary on standard output.
    #[arg(long)]
    json: bool,
    /// The sender's code, for a private sender (it prints it). Without it,
    /// the receiver asks for it when the sender needs one.
    #[arg(long, env = "CAMWIRE_CODE", hide_env_values = true)]
    code: Option<String>,
    /// Write a CSV line per frame to FILE: sequence number, capture and
    /// decode times, age.
    #[arg(long, value_name = "FILE")]
    frame_log: Option<std::path::PathBuf>,
    /// Write every decoded picture to PATH as I420 YUV4MPEG2 (`-`: on
    /// standard output, then without --json), each FRAME line with
    /// Xseq=N, the frame's sequence number. A stream of another size
    /// after a reconnection ends the receiver.
    #[arg(long, value_name = "PATH")]
    y4m: Option<std::path::PathBuf>,
    /// Print progress lines (receiving, showing, reconnecting) on standard
    /// error even when it is not a terminal.
    #[arg(long)]
    verbose: bool,
    /// Video chat with a `sender --chat`: send this end's own video too, and
    /// show oneself in a corner. The flags below choose that video.
    #[arg(long)]
    chat: bool,
    #[command(flatten)]
    video: SourceArgs,
    /// Keep going when the sender is not there yet, goes away or restarts:
    /// reconnect every second instead of exiting.
    #[arg(long)]
    retry: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // With the video on standard output there can be no summary there:
    // `receive` refuses the two together, and no summary follows.
    let report = Report::new(args.json && !args.list && !video_on_stdout(&args));
    cli::run(|| receive(&args, &report), || report.finish())
}

/// Whether `--y4m -` puts the video on standard output.
fn video_on_stdout(args: &Args) -> bool {
    args.y4m.as_deref() == Some(Path::new("-"))
}

fn receive(args: &Args, report: &Report) -> Result<()> {
    cli::start_console(args.verbose);
    if args.list {
        return lan::list();
    }
    if video_on_stdout(args) && args.json {
        bail!(
            "--y4m - writes the video on standard output, where --json would print its summary: drop one, or give --y4m a file"
        );
    }
    if let Some(path) = &args.frame_log {
        report.log_to(path)?;
    }
    let record = args
        .y4m
        .as_deref()
        .map(|p| report.record_to(p))
        .transpose()?;
    report.finish_on_ctrl_c()?;
    // In a chat this end's own video must work before calling.
    let own = args.chat.then(|| args.video.own_video()).transpose()?;
    let located = match &args.connect {
        Some(arg) => lan::locate(arg)?,
        // Standard output is free for the list unless the summary or the
        // video goes there.
        None => lan::only_sender(args.chat, !args.json && !video_on_stdout(args))?,
    };
    let watching = stream::Watching {
        addr: located.addr(),
        name: located.name().map(str::to_string),
        max_frames: args.frames,
        retry: args.retry,
        // An empty CAMWIRE_CODE counts as none.
        code: args.code.as_deref().and_then(Code::new),
        ask_code: cli::code_prompt(),
        stats: report.stats(),
        record,
    };
    let mut shown = display::show_view;
    let window = (!args.headless).then_some(&mut shown as &mut dyn Window);
    match own {
        Some(own) => chat::call(watching, own, window).map(drop),
        None => stream::watch(watching, window),
    }
}
