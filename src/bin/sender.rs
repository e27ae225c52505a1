//! `sender`: streams a webcam (or a test pattern) to every receiver that
//! connects.

use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use anyhow::{Context, Result, anyhow};
use camwire::console::{self, Kind};
use camwire::flow::slot::Slot;
use camwire::limits;
use camwire::link::net;
use camwire::link::private::Code;
use camwire::media::camera;
use camwire::session::call;
use camwire::session::capture::panic_text;
use camwire::session::preview;
use camwire::session::sender::{Event, Sender, SenderConfig, Stopper};
use camwire::ui::cli::SourceArgs;
use camwire::ui::display::{self, WindowEnd};
use camwire::ui::labels;
use camwire::wire::StreamInfo;
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
    /// Video chat: wait for one caller (`receiver --chat`), show them with
    /// oneself in a corner, and end when either side hangs up.
    #[arg(long)]
    chat: bool,
    /// Print progress lines (such as the preview's) on standard error even
    /// when it is not a terminal.
    #[arg(long)]
    verbose: bool,
    /// Viewers served at once; the next one is told the sender is full.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=1000))]
    max_viewers: u64,
}

/// Queues one line said once for standard output (see `camwire::console`):
/// the sender goes on streaming whether anyone reads it or not.
macro_rules! say {
    ($($arg:tt)*) => {
        console::say(Kind::Single, format!($($arg)*))
    };
}

fn main() -> ExitCode {
    let args = Args::parse();
    // A panic is a bug, but it still ends as one line, not as silence.
    let result = panic::catch_unwind(AssertUnwindSafe(|| run(args)))
        .unwrap_or_else(|panic| Err(anyhow!("internal error: {}", panic_text(&*panic))));
    // What the console holds comes first, if the terminal takes it: the
    // error line is the last word.
    console::flush(limits::CONSOLE_FLUSH_WAIT);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", format!("{e:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<()> {
    console::set_chatty(args.verbose || std::io::stderr().is_terminal());
    console::quiet_panics();
    if args.list_cameras {
        let list = camera::describe_cameras()?;
        return camwire::console::output(&list).context("could not print the cameras");
    }
    let (info, open_source) = camera::prepare(args.video.choice(), args.video.config())?;
    let listener = TcpListener::bind(&args.bind).map_err(|e| {
        anyhow!(
            "could not listen on {}: {e} (is another sender using that port? try another)",
            args.bind
        )
    })?;
    let local = listener.local_addr()?;
    // An empty CAMWIRE_CODE counts as none: a code is made up.
    let code = match args.code.as_deref().and_then(Code::new) {
        _ if args.open => None,
        Some(code) => Some(code),
        None => Some(Code::random()),
    };
    print_banner(&args, info, local, code.as_ref());
    let remote = args.chat.then(call::Call::default);
    let config = SenderConfig {
        info,
        quality: args.video.quality,
        fps: args.video.fps,
        max_frames: args.frames,
        max_viewers: if args.chat {
            1
        } else {
            args.max_viewers as usize
        },
        write_timeout: limits::VIEWER_WRITE_TIMEOUT,
        code,
        call: remote.clone(),
    };
    let sender = Sender::new(listener, config, Arc::new(print_event))?;
    let stopper = sender.stopper();
    stop_on_ctrl_c(stopper.clone())?;
    if !args.preview && !args.chat {
        return sender.run(open_source);
    }
    // The window needs the main thread; the sender runs beside it.
    let (hub, own) = (sender.hub(), Arc::new(Slot::default()));
    let preview_thread = preview::spawn(Arc::clone(&hub), info, Arc::clone(&own));
    let closing = remote.clone();
    let sending = thread::spawn(move || {
        let sent = sender.run(open_source);
        // However the stream ends, the window must not wait for a call.
        if let Some(remote) = closing {
            remote.slot.close();
        }
        sent
    });
    let (width, height) = (info.width as usize, info.height as usize);
    let shown = match &remote {
        None => display::show(&own, width, height, labels::preview(info, hub)),
        Some(remote) => {
            let labels = labels::call(&args.bind, remote.clone());
            let shown = display::show_call(&remote.slot, &own, width, height, labels);
            if let Ok(WindowEnd::StreamOver) = shown {
                say!("{}", call::LEFT);
            }
            shown
        }
    };
    stopper.stop();
    let _ = preview_thread.join();
    let sent = sending
        .join()
        .map_err(|panic| anyhow!("the sending thread failed: {}", panic_text(&*panic)))?;
    shown.map(|_| ()).and(sent)
}

/// Ctrl-C is how a person quits, so it ends with exit status 0, as closing
/// the preview does: the first ends the stream cleanly, telling every
/// viewer, and a second quits at once, without waiting for viewers slow to
/// hear it.
fn stop_on_ctrl_c(stopper: Stopper) -> Result<()> {
    let stopping = AtomicBool::new(false);
    ctrlc::set_handler(move || {
        if stopping.swap(true, Ordering::SeqCst) {
            std::process::exit(0);
        }
        say!("stopping: telling every viewer the stream ended (Ctrl-C again to quit at once)");
        stopper.stop();
    })
    .context("could not install the Ctrl-C handler")
}

fn print_banner(args: &Args, info: StreamInfo, local: SocketAddr, code: Option<&Code>) {
    let (verb, chat) = if args.chat {
        ("call", " --chat")
    } else {
        ("watch", "")
    };
    let what = args.video.describe();
    let rate = match args.video.fps {
        0 => "as fast as viewers take frames".to_string(),
        fps => format!("{fps} fps"),
    };
    say!(
        "camwire sender: {what}, {}x{} {}, {rate}",
        info.width,
        info.height,
        info.codec.name()
    );
    say!("listening on {local}");
    let code_arg = match code {
        Some(code) => {
            say!("private: viewers need the code {code}; the stream is encrypted");
            format!(" --code {code}")
        }
        None => {
            say!("OPEN: anyone who can reach this port can watch, and nothing is encrypted");
            String::new()
        }
    };
    let ips: Vec<IpAddr> = if local.ip().is_unspecified() {
        net::lan_addresses()
            .into_iter()
            .filter(|ip| ip.is_ipv4() || local.is_ipv6())
            .collect()
    } else {
        vec![local.ip()]
    };
    if ips.is_empty() {
        say!("no network address found: only this machine can watch");
    }
    for ip in ips {
        let place = if ip.is_loopback() {
            "this"
        } else {
            "the other"
        };
        let addr = SocketAddr::new(ip, local.port());
        say!("to {verb}, on {place} computer run:  receiver --connect {addr}{chat}{code_arg}");
    }
}

/// Queues the line an event makes. Storms of connections fold (see
/// `camwire::console`); a wrong code never does.
fn print_event(event: Event) {
    let (kind, line) = match event {
        Event::Joined { peer, viewers } => (
            Kind::Alike("joined"),
            format!("{peer} is watching ({viewers} watching)"),
        ),
        Event::Left {
            peer,
            viewers,
            reason,
        } => {
            let why = reason.map(|why| format!(": {why}")).unwrap_or_default();
            let line = format!("{peer} left{why} ({viewers} watching)");
            (Kind::Alike("left"), line)
        }
        Event::Refused { peer, reason } => (
            Kind::Alike("turned away"),
            format!("{peer} turned away: {reason}"),
        ),
        Event::WrongCode { peer, failures } => (
            Kind::Urgent,
            format!("{peer} gave a wrong code ({failures} wrong so far)"),
        ),
        Event::AcceptFailed(why) => (
            Kind::Alike("could not accept"),
            format!("could not accept a connection: {why}"),
        ),
    };
    console::say(kind, line);
}
