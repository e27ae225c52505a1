//! One-way streaming as a session on each side: [`send`] streams to every
//! viewer, with a preview when given a window; [`watch`] follows a sender,
//! in a window or headless.
//!
//! Each takes opened resources and settings, starts its threads, shows its
//! window on the calling thread (see [`crate::session::window`]) and joins
//! its threads before it returns.

use std::net::TcpListener;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use anyhow::{Result, anyhow};

use crate::console;
use crate::flow::hub::Hub;
use crate::flow::slot::{Screen, Slot};
use crate::limits;
use crate::link::handshake::{CodeRequired, WrongCode};
use crate::link::private::Code;
use crate::media::source::SourceFactory;
use crate::session::capture::panic_text;
use crate::session::preview;
use crate::session::receiver::{
    Follow, Headless, Incoming, Outcome, Recording, SENDER_ENDED, SharedStats, last_word,
};
use crate::session::sender::{EventSink, Sender, SenderConfig, Stopper};
use crate::session::window::{View, Window, WindowEnd};
use crate::wire::StreamInfo;

/// What a sending session is given.
pub struct Sending {
    /// Where viewers connect, already bound.
    pub listener: TcpListener,
    /// The stream and its limits.
    pub config: SenderConfig,
    /// Opens the source on the capture thread.
    pub open_source: SourceFactory,
    /// Hears of viewers joining, leaving and being turned away.
    pub events: EventSink,
    /// Given the sender's stopper before it streams (the binary stops it
    /// on Ctrl-C).
    pub on_start: Box<dyn FnOnce(Stopper) -> Result<()> + Send>,
}

/// Asks the person for a private sender's code, given its address and
/// which try this is (1 the first; a later one follows a wrong code).
pub type AskCode = fn(&str, u32) -> Result<Code>;

/// What a receiving session is given.
#[derive(Debug, Clone)]
pub struct Watching {
    /// The sender, `HOST:PORT`.
    pub addr: String,
    /// The name the sender was found by on the LAN, if it was: shown
    /// with its address, and looked up again before each retry.
    pub name: Option<String>,
    /// Stop after this many frames (0: until the sender ends).
    pub max_frames: u64,
    /// Wait for the sender, and reconnect whenever the stream stops.
    pub retry: bool,
    /// The sender's code, in private mode.
    pub code: Option<Code>,
    /// Asks for the code when the sender is private and none was given;
    /// without it, that is an error.
    pub ask_code: Option<AskCode>,
    /// What the receiver measures.
    pub stats: SharedStats,
    /// Where every decoded picture is also written (`--y4m`).
    pub record: Option<Recording>,
}

/// Streams until the stream ends. Threads: capture and one a viewer (see
/// [`Sender::run`]); with a `preview` window, the sender runs on a thread
/// of its own beside a preview thread, and closing the window stops it.
pub fn send(sending: Sending, preview: Option<&mut dyn Window>) -> Result<()> {
    let Some(window) = preview else {
        let (sender, open_source) = open(sending)?;
        return sender.run(open_source);
    };
    let info = sending.config.encoder.info;
    let beside = Beside::start(sending, || {})?;
    let view = View::Preview {
        slot: &beside.own,
        info,
        hub: &beside.hub,
    };
    let shown = window.show(view);
    let sent = beside.finish()?;
    shown.map(drop).and(sent)
}

/// Receives a sender's stream until it ends, `max_frames` arrive or the
/// window is closed. Headless (no `window`), it receives on the calling
/// thread; otherwise a network thread decodes into the window's slot, and
/// tells the window why the stream ended, which it shows for a moment. A
/// closed window ends the session at once: the network thread, perhaps
/// blocked in a read or waiting to reconnect, ends with the connection.
pub fn watch(watching: Watching, window: Option<&mut dyn Window>) -> Result<()> {
    let mut follow = watching.follow(false);
    let first = dial(&mut follow, watching.ask_code)?;
    let stats = &watching.stats;
    let Some(window) = window else {
        return say_end(follow.run(first, &mut Headless::default(), stats));
    };
    let (info, slot) = (first.info(), Arc::new(Slot::default()));
    let peer = follow.who();
    let network = spawn_receiving(follow, first, &slot, stats, true);
    let view = View::Stream {
        slot: &slot,
        info,
        peer: &peer,
        stats,
    };
    match window.show(view)? {
        WindowEnd::UserQuit => Ok(()),
        WindowEnd::StreamOver => say_end(join(network, "the network thread")?),
    }
}

/// Says on the terminal, once, that the sender ended the stream, when it
/// did; an error is left for the binary's one error line.
fn say_end(received: Result<Outcome>) -> Result<()> {
    if let Ok(Outcome::SenderEnded) = received {
        console::info(SENDER_ENDED);
    }
    received.map(drop)
}

impl Watching {
    /// How the session follows the sender; `chat` calls for a chat.
    pub(crate) fn follow(&self, chat: bool) -> Follow {
        Follow {
            addr: self.addr.clone(),
            name: self.name.clone(),
            max_frames: self.max_frames,
            retry: self.retry,
            code: self.code.clone(),
            chat,
            record: self.record.clone(),
        }
    }
}

/// Connects as `follow` says, asking for the code when the sender turns
/// out to be private and none was given, and again after a wrong one, up
/// to [`limits::CODE_TRIES`] in all; says what it receives. Each try is a
/// new connection, and costs a guess at the sender like any other.
pub(crate) fn dial(follow: &mut Follow, ask_code: Option<AskCode>) -> Result<Incoming> {
    let mut console = Headless::default();
    let mut asked = 0;
    let first = loop {
        let e = match follow.connect(&mut console) {
            Ok(first) => break first,
            Err(e) => e,
        };
        let ask_again = match asked {
            0 => e.is::<CodeRequired>() && follow.code.is_none(),
            n => e.is::<WrongCode>() && n < limits::CODE_TRIES,
        };
        let Some(ask) = ask_code.filter(|_| ask_again) else {
            return Err(e);
        };
        asked += 1;
        follow.code = Some(ask(&follow.addr, asked)?);
    };
    let info = first.info();
    console::info(&format!(
        "receiving {}x{} {} from {}",
        info.width,
        info.height,
        info.codec.name(),
        follow.who()
    ));
    Ok(first)
}

/// Receives on its own thread into `slot`, closing the slot at the end so
/// that the window learns the stream is over.
pub(crate) fn spawn_network(
    follow: Follow,
    first: Incoming,
    slot: &Arc<Slot>,
    stats: &SharedStats,
) -> JoinHandle<Result<Outcome>> {
    spawn_receiving(follow, first, slot, stats, false)
}

/// [`spawn_network`]; with `say_why`, the slot is closed with a notice
/// saying why when the sender ended the stream or it failed
/// ([`last_word`]), for the window to show.
fn spawn_receiving(
    mut follow: Follow,
    first: Incoming,
    slot: &Arc<Slot>,
    stats: &SharedStats,
    say_why: bool,
) -> JoinHandle<Result<Outcome>> {
    let (mut screen, stats) = (Arc::clone(slot), Arc::clone(stats));
    thread::spawn(move || {
        let result = follow.run(first, &mut screen, &stats);
        if say_why {
            screen.notice(last_word(&result));
        }
        screen.close();
        result
    })
}

/// Waits for `thread` (named `what` should it panic) and returns its result.
pub(crate) fn join<T>(thread: JoinHandle<T>, what: &str) -> Result<T> {
    thread
        .join()
        .map_err(|panic| anyhow!("{what} failed: {}", panic_text(&*panic)))
}

/// A sender streaming on a thread of its own beside a window, and the
/// preview of what it sends (one more, local, viewer of its hub).
pub(crate) struct Beside {
    /// The sender's hub.
    pub hub: Arc<Hub>,
    /// Its own pictures, mirrored.
    pub own: Arc<Slot>,
    stopper: Stopper,
    preview: JoinHandle<()>,
    sending: JoinHandle<Result<()>>,
}

impl Beside {
    /// Starts the sender and its preview; `on_end` runs on the sending
    /// thread once the sender stops, however it stops.
    pub(crate) fn start(sending: Sending, on_end: impl FnOnce() + Send + 'static) -> Result<Self> {
        let info: StreamInfo = sending.config.encoder.info;
        let (sender, open_source) = open(sending)?;
        let (hub, own, stopper) = (sender.hub(), Arc::new(Slot::default()), sender.stopper());
        let preview = preview::spawn(Arc::clone(&hub), info, Arc::clone(&own));
        let sending = thread::spawn(move || {
            let sent = sender.run(open_source);
            on_end();
            sent
        });
        Ok(Beside {
            hub,
            own,
            stopper,
            preview,
            sending,
        })
    }

    /// Stops the sender, telling every viewer, and waits for both threads;
    /// the sender's own result inside.
    pub(crate) fn finish(self) -> Result<Result<()>> {
        self.stopper.stop();
        let _ = self.preview.join();
        join(self.sending, "the sending thread")
    }
}

/// Binds the sender to its listener and hands out its stopper.
fn open(sending: Sending) -> Result<(Sender, SourceFactory)> {
    let Sending {
        listener,
        config,
        open_source,
        events,
        on_start,
    } = sending;
    let sender = Sender::new(listener, config, events)?;
    on_start(sender.stopper())?;
    Ok((sender, open_source))
}
