//! `sender`: streams a webcam (or a test pattern) to every receiver that
//! connects.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use camwire::limits;
use camwire::link::discovery::Announcement;
use camwire::session::sender::{Audience, SenderConfig};
use camwire::session::stream::{self, Sending};
use camwire::session::{chat, window::Window};
use camwire::ui::banner::{self, Banner};
use camwire::ui::cli::{self, SourceArgs};
use camwire::ui::display;
use camwire::ui::lan;
use clap::Parser;

/// Stream a webcam, or a moving test pattern, to every camwire receiver that
/// connects. Capture runs only while someone watches.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Address and port to listen on: 0.0.0.0:9999 for every IPv4 network,
    /// [::]:9999 for IPv6 too, 127.0.0.1:0 for this machine and any free port.
    #[arg(long, default_value = "0.0.0.0:9999")]
    bind: String,
    /// Print the webcams found (index, name, formats) and exit.
    #[arg(long)]
    list_cameras: bool,
    #[command(flatten)]
    video: SourceArgs,
    /// Send this many frames, end every connection cleanly and exit (0: forever).
    #[arg(long, default_value_t = 0)]
    frames: u64,
    /// The code viewers must give (made up at start when not given).
    #[arg(long, env = "CAMWIRE_CODE", hide_env_values = true)]
    code: Option<String>,
    /// Stream to anyone who can reach the port, with no code and no
    /// encryption (any code given is ignored).
    #[arg(long)]
    open: bool,
    /// Show what is being sent in a window (mirrored); closing it or q
    /// stops the sender.
    #[arg(long)]
    preview: bool,
    /// Video chat: wait for a caller (`receiver --chat`), show them with
    /// oneself in a corner; after each call, wait for the next (q or
    /// Ctrl-C quits).
    #[arg(long)]
    chat: bool,
    /// Print progress lines (such as the preview's) on standard error even
    /// when it is not a terminal.
    #[arg(long)]
    verbose: bool,
    /// The name announced on the LAN, which receivers give to --connect
    /// [default: this machine's host name].
    #[arg(long, value_parser = lan::parse_name)]
    name: Option<String>,
    /// Announce nothing on the LAN (receivers then need an address). A
    /// sender bound to loopback never announces.
    #[arg(long)]
    no_announce: bool,
    /// Viewers served at once; the next one is told the sender is full.
    #[arg(long, default_value_t = limits::DEFAULT_MAX_VIEWERS, value_parser = clap::value_parser!(u64).range(1..=1000))]
    max_viewers: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    cli::run(|| send(args), || Ok(()))
}

fn send(args: Args) -> Result<()> {
    cli::start_console(args.verbose);
    if args.list_cameras {
        return cli::list_cameras();
    }
    let (info, open_source) = args.video.prepare()?;
    let listener = cli::listen(&args.bind)?;
    let config = SenderConfig {
        max_frames: args.frames,
        audience: Audience::Viewers(args.max_viewers as usize),
        code: cli::sender_code(args.code.as_deref(), args.open),
        ..args.video.sender_config(info)
    };
    let local = listener.local_addr()?;
    let what = Announcement {
        name: args.name.clone().unwrap_or_else(lan::default_name),
        private: config.code.is_some(),
        chat: args.chat,
    };
    let name = what.name.clone();
    // Withdrawn from the LAN when the sender ends, as it goes out of scope.
    let announcer = lan::announce(local, what, args.no_announce);
    banner::print(&Banner {
        source: &args.video.describe(),
        fps: args.video.fps,
        config: &config,
        local,
        chat: args.chat,
        announced: announcer.as_ref().map(|_| name.as_str()),
    });
    let sending = Sending {
        listener,
        config,
        open_source,
        events: match args.chat {
            true => Arc::new(banner::print_call_event),
            false => Arc::new(banner::print_event),
        },
        on_start: Box::new(cli::stop_on_ctrl_c(args.chat)),
    };
    let mut window = display::show_view;
    match (args.chat, args.preview) {
        (true, _) => chat::host(sending, &args.bind, &mut window).map(drop),
        (false, true) => stream::send(sending, Some(&mut window as &mut dyn Window)),
        (false, false) => stream::send(sending, None),
    }
}
