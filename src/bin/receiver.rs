//! `receiver`: shows a camwire sender's stream in a window.

use std::io::{self, IsTerminal};
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use anyhow::{Context, Result, anyhow};
use camwire::console;
use camwire::flow::hub::{End, Hub};
use camwire::flow::slot::Slot;
use camwire::limits;
use camwire::link::handshake::CodeRequired;
use camwire::link::private::Code;
use camwire::media::camera;
use camwire::media::source::SourceFactory;
use camwire::session::call;
use camwire::session::capture::{CaptureConfig, panic_text, spawn_capture};
use camwire::session::preview;
use camwire::session::receiver::{Follow, Headless, Incoming, SharedStats, lock};
use camwire::session::stats::Stats;
use camwire::ui::cli::SourceArgs;
use camwire::ui::display::{self, WindowEnd};
use camwire::ui::labels;
use camwire::wire::StreamInfo;
use clap::Parser;

/// Show the stream of a camwire sender in a window; q, Esc or closing the
/// window quits.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// The sender's address and port, e.g. 192.168.1.5:9999.
    #[arg(long)]
    connect: String,
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

/// Set once the summary has been printed, so it is printed once.
static REPORTED: AtomicBool = AtomicBool::new(false);

fn main() -> ExitCode {
    let args = Args::parse();
    let stats: SharedStats = Arc::new(Mutex::new(Stats::default()));
    // A panic is a bug, but it still ends as one line, not as silence.
    let result = panic::catch_unwind(AssertUnwindSafe(|| run(&args, &stats)))
        .unwrap_or_else(|panic| Err(anyhow!("internal error: {}", panic_text(&*panic))));
    // Progress lines still queued come first: the error line is the last word.
    console::flush(limits::CONSOLE_FLUSH_WAIT);
    let reported = report(&args, &stats);
    match result.and(reported) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", format!("{e:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

fn report(args: &Args, stats: &SharedStats) -> Result<()> {
    if let Err(e) = lock(stats).flush_log() {
        eprintln!("camwire: could not write the frame log: {e}");
    }
    match args.json {
        true => print_summary(&lock(stats)),
        false => Ok(()),
    }
}

/// Prints the JSON summary line, once however the receiver ends.
fn print_summary(stats: &Stats) -> Result<()> {
    if REPORTED.swap(true, Ordering::SeqCst) {
        return Ok(());
    }
    let line = format!("{}\n", stats.summary().to_json());
    console::output(&line).context("could not write the summary")
}

/// Ctrl-C is how a person quits, so it ends with exit status 0, as q, Esc
/// and closing the window do, once the frame log and the summary are
/// written.
fn quit_on_ctrl_c(json: bool, stats: SharedStats) -> Result<()> {
    ctrlc::set_handler(move || {
        console::flush(limits::CONSOLE_FLUSH_WAIT);
        let mut stats = lock(&stats);
        let _ = stats.flush_log();
        let printed = if json { print_summary(&stats) } else { Ok(()) };
        match printed {
            Ok(()) => std::process::exit(0),
            Err(e) => {
                eprintln!("{e:#}");
                std::process::exit(1)
            }
        }
    })
    .context("could not install the Ctrl-C handler")
}

fn run(args: &Args, stats: &SharedStats) -> Result<()> {
    console::set_chatty(args.verbose || io::stderr().is_terminal());
    console::quiet_panics();
    if let Some(path) = &args.frame_log {
        let file = std::fs::File::create(path)
            .with_context(|| format!("could not create the frame log {}", path.display()))?;
        lock(stats).set_log(Box::new(std::io::BufWriter::new(file)))?;
    }
    quit_on_ctrl_c(args.json, Arc::clone(stats))?;
    // An empty CAMWIRE_CODE counts as none.
    let code = args.code.as_deref().and_then(Code::new);
    let mut follow = Follow {
        addr: args.connect.clone(),
        max_frames: args.frames,
        retry: args.retry,
        code,
        chat: args.chat,
    };
    // In a chat this end's own video must work before calling.
    let own = match args.chat {
        true => Some(camera::prepare(args.video.choice(), args.video.config())?),
        false => None,
    };
    let mut console = Headless::default();
    let first = match follow.connect(&mut console) {
        Err(e) if e.is::<CodeRequired>() && follow.code.is_none() && io::stdin().is_terminal() => {
            follow.code = Some(ask_code(&args.connect)?);
            follow.connect(&mut console)?
        }
        other => other?,
    };
    let info = first.info();
    announce(info, &args.connect);
    if let Some((own_info, open_own)) = own {
        return chat(args, first, follow, own_info, open_own, stats);
    }
    if args.headless {
        follow.run(first, &mut console, stats)?;
        return Ok(());
    }
    let slot = Arc::new(Slot::default());
    let network = spawn_network(follow, first, &slot, stats);
    let labels = labels::receiver(info, &args.connect, stats);
    let (width, height) = (info.width as usize, info.height as usize);
    match display::show(&slot, width, height, labels)? {
        // The network thread may be blocked in a read; exiting ends it.
        WindowEnd::UserQuit => Ok(()),
        WindowEnd::StreamOver => network
            .join()
            .map_err(|panic| anyhow!("the network thread failed: {}", panic_text(&*panic)))?
            .map(|_| ()),
    }
}

/// A two-way call on the connection `first` came from: this end's video goes
/// out on it while the other person's comes in.
fn chat(
    args: &Args,
    mut first: Incoming,
    follow: Follow,
    own_info: StreamInfo,
    open_own: SourceFactory,
    stats: &SharedStats,
) -> Result<()> {
    // A call that ends is over: reconnecting would call nobody.
    let follow = Follow {
        retry: false,
        ..follow
    };
    let info = first.info();
    let (stream, sealer) = first.outgoing()?;
    let hub = Arc::new(Hub::new());
    let capture_config = CaptureConfig {
        encoder: args.video.config().encoder(own_info),
        fps: args.video.fps,
        max_frames: 0,
    };
    let capture = spawn_capture(Arc::clone(&hub), capture_config, open_own, |hub, end| {
        hub.end(end)
    });
    let outgoing = call::spawn_outgoing(stream, sealer, own_info, Arc::clone(&hub));
    if args.headless {
        let result = follow.run(first, &mut Headless::default(), stats);
        hub.end(End::Clean);
        let _ = (outgoing.join(), capture.join());
        own_failure(&hub)?;
        return result.map(|_| ());
    }
    let (remote, own) = (Arc::new(Slot::default()), Arc::new(Slot::default()));
    let own_view = preview::spawn(Arc::clone(&hub), own_info, Arc::clone(&own));
    let network = spawn_network(follow, first, &remote, stats);
    let (width, height) = (info.width as usize, info.height as usize);
    let call = call::Call {
        slot: Arc::clone(&remote),
        stats: Arc::clone(stats),
    };
    let labels = labels::call(&args.connect, call);
    let shown = display::show_call(&remote, &own, width, height, labels);
    // Hanging up: the other side gets the end of this end's stream.
    hub.end(End::Clean);
    let _ = (outgoing.join(), own_view.join(), capture.join());
    own_failure(&hub)?;
    match shown? {
        WindowEnd::UserQuit => Ok(()),
        WindowEnd::StreamOver => {
            console::info(call::LEFT);
            network
                .join()
                .map_err(|panic| anyhow!("the network thread failed: {}", panic_text(&*panic)))?
                .map(|_| ())
        }
    }
}

/// Receives on its own thread into `slot`, closing the slot at the end so
/// that the window learns the stream is over.
fn spawn_network(
    follow: Follow,
    first: Incoming,
    slot: &Arc<Slot>,
    stats: &SharedStats,
) -> thread::JoinHandle<Result<camwire::session::receiver::Outcome>> {
    let (mut screen, stats) = (Arc::clone(slot), Arc::clone(stats));
    thread::spawn(move || {
        let result = follow.run(first, &mut screen, &stats);
        screen.close();
        result
    })
}

/// This end's own video failed (a camera unplugged): the call ended for
/// that reason, not because the other person left.
fn own_failure(hub: &Hub) -> Result<()> {
    match hub.ended() {
        Some(End::Failed(reason)) => Err(anyhow!(reason)),
        _ => Ok(()),
    }
}

/// Asks the person at the terminal for the sender's code.
fn ask_code(addr: &str) -> Result<Code> {
    console::flush(limits::CONSOLE_FLUSH_WAIT);
    eprint!("{addr} is private. Code (the sender prints it): ");
    let mut line = String::new();
    io::stdin()
        .read_line(&mut line)
        .context("could not read the code")?;
    Code::new(&line).context("no code given")
}

fn announce(info: StreamInfo, addr: &str) {
    let codec = info.codec.name();
    console::info(&format!(
        "receiving {}x{} {codec} from {addr}",
        info.width, info.height
    ));
}
