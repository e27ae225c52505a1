//! `sender`: streams a webcam (or a test pattern) to every receiver that
//! connects.

use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use anyhow::{Context, Result, anyhow};
use camwire::camera::{self, CameraSource};
use camwire::display::{self, Slot};
use camwire::net;
use camwire::preview;
use camwire::private::Code;
use camwire::sender::{Event, Sender, SenderConfig, SourceFactory};
use camwire::source::{FrameSource, SourceConfig, TestPattern};
use camwire::wire::{Codec, StreamInfo};
use clap::{Parser, ValueEnum};

/// Stream a webcam, or a moving test pattern, to every camwire receiver that
/// connects. Capture runs only while someone watches.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Address and port to listen on: 0.0.0.0:9999 for every IPv4 network,
    /// [::]:9999 for IPv6 too, 127.0.0.1:0 for this machine and any free port.
    #[arg(long, default_value = "0.0.0.0:9999")]
    bind: String,
    /// What to stream.
    #[arg(long, value_enum, default_value_t = SourceKind::Camera)]
    source: SourceKind,
    /// Which webcam, by index (see --list-cameras).
    #[arg(long, default_value_t = 0)]
    camera: u32,
    /// Print the webcams found (index, name, formats) and exit.
    #[arg(long)]
    list_cameras: bool,
    /// Frame width; a camera gives the closest size it supports.
    #[arg(long, default_value_t = 640)]
    width: u32,
    /// Frame height; a camera gives the closest size it supports.
    #[arg(long, default_value_t = 480)]
    height: u32,
    /// Frames per second; 0 makes each frame as soon as the fastest viewer
    /// has taken the last one.
    #[arg(long, default_value_t = 30)]
    fps: u32,
    /// What goes on the wire: JPEG (about 20x smaller) or raw RGB.
    #[arg(long, value_enum, default_value_t = CodecArg::Jpeg)]
    codec: CodecArg,
    /// JPEG quality, 1 (smallest) to 100 (best).
    #[arg(long, default_value_t = 80, value_parser = clap::value_parser!(u8).range(1..=100))]
    quality: u8,
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
    /// Print progress lines (such as the preview's) on standard error even
    /// when it is not a terminal.
    #[arg(long)]
    verbose: bool,
    /// Viewers served at once; the next one is told the sender is full.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=1000))]
    max_viewers: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum SourceKind {
    /// The webcam, through nokhwa.
    Camera,
    /// A built-in moving test pattern.
    Test,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum CodecArg {
    Jpeg,
    Raw,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", format!("{e:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<()> {
    camwire::console::set_chatty(args.verbose || std::io::stderr().is_terminal());
    camwire::console::quiet_panics();
    if args.list_cameras {
        print!("{}", camera::describe_cameras()?);
        return Ok(());
    }
    let source_config = SourceConfig {
        width: args.width,
        height: args.height,
        fps: args.fps,
        codec: match args.codec {
            CodecArg::Jpeg => Codec::Jpeg,
            CodecArg::Raw => Codec::Raw,
        },
        quality: args.quality,
    };
    let (info, open_source) = prepare_source(&args, source_config)?;
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
    let config = SenderConfig {
        info,
        fps: args.fps,
        max_frames: args.frames,
        max_viewers: args.max_viewers as usize,
        write_timeout: camwire::limits::VIEWER_WRITE_TIMEOUT,
        code,
        call: None,
    };
    let sender = Sender::new(listener, config, Arc::new(print_event))?;
    let stopper = sender.stopper();
    let on_ctrl_c = stopper.clone();
    let stopping = AtomicBool::new(false);
    ctrlc::set_handler(move || {
        if stopping.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        println!("stopping: telling every viewer the stream ended (Ctrl-C again to quit at once)");
        on_ctrl_c.stop();
    })
    .context("could not install the Ctrl-C handler")?;
    if !args.preview {
        return sender.run(open_source);
    }
    // The window needs the main thread; the sender runs beside it.
    let (hub, slot) = (sender.hub(), Arc::new(Slot::default()));
    let preview_thread = preview::spawn(Arc::clone(&hub), info, Arc::clone(&slot));
    let sending = thread::spawn(move || sender.run(open_source));
    let (width, height) = (info.width as usize, info.height as usize);
    let shown = display::show(&slot, width, height, preview::labels(info, hub));
    stopper.stop();
    let _ = preview_thread.join();
    let sent = sending
        .join()
        .map_err(|_| anyhow!("the sending thread failed"))?;
    shown.and(sent)
}

/// Checks the source works now, before listening, and returns the stream it
/// makes and how to open it on the capture thread.
fn prepare_source(args: &Args, config: SourceConfig) -> Result<(StreamInfo, SourceFactory)> {
    match args.source {
        SourceKind::Test => {
            let info = TestPattern::new(&config)?.info();
            let open: SourceFactory =
                Box::new(move || Ok(Box::new(TestPattern::new(&config)?) as Box<dyn FrameSource>));
            Ok((info, open))
        }
        SourceKind::Camera => {
            let index = args.camera;
            let info = CameraSource::probe(index, &config)?;
            let open: SourceFactory = Box::new(move || {
                Ok(Box::new(CameraSource::open(index, &config)?) as Box<dyn FrameSource>)
            });
            Ok((info, open))
        }
    }
}

fn print_banner(args: &Args, info: StreamInfo, local: SocketAddr, code: Option<&Code>) {
    let what = match args.source {
        SourceKind::Camera => format!("camera {}", args.camera),
        SourceKind::Test => "the test pattern".to_string(),
    };
    let rate = match args.fps {
        0 => "as fast as viewers take frames".to_string(),
        fps => format!("{fps} fps"),
    };
    println!(
        "camwire sender: {what}, {}x{} {}, {rate}",
        info.width,
        info.height,
        info.codec.name()
    );
    println!("listening on {local}");
    let code_arg = match code {
        Some(code) => {
            println!("private: viewers need the code {code}; the stream is encrypted");
            format!(" --code {code}")
        }
        None => {
            println!("OPEN: anyone who can reach this port can watch, and nothing is encrypted");
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
        println!("no network address found: only this machine can watch");
    }
    for ip in ips {
        let place = if ip.is_loopback() {
            "this"
        } else {
            "the other"
        };
        let addr = SocketAddr::new(ip, local.port());
        println!("to watch, on {place} computer run:  receiver --connect {addr}{code_arg}");
    }
}

/// Prints one line on standard output, ignoring a closed pipe: the sender
/// goes on streaming when its console output is cut off.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

fn print_event(event: Event) {
    match event {
        Event::Joined { peer, viewers } => say!("{peer} is watching ({viewers} watching)"),
        Event::Left {
            peer,
            viewers,
            reason,
        } => match reason {
            None => say!("{peer} left ({viewers} watching)"),
            Some(why) => say!("{peer} left: {why} ({viewers} watching)"),
        },
        Event::Refused { peer, reason } => say!("{peer} turned away: {reason}"),
        Event::WrongCode { peer, failures } => {
            say!("{peer} gave a wrong code ({failures} wrong so far)");
        }
        Event::AcceptFailed(why) => say!("could not accept a connection: {why}"),
    }
}
