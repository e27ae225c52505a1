//! A video chat as a session on each side: [`host`] waits on a sender for
//! a caller, [`call()`] calls it. The connection carries a stream each way
//! (see [`crate::session::call`]).
//!
//! The chat's policy is stated here, once: a chat sender takes one caller
//! at a time ([`Audience::Call`]), and after each call it waits for the
//! next, with the same code, until its own user quits. A caller's call
//! that ends is over: the caller may wait for the sender to come up
//! (`retry`), but once the call has started it never reconnects: that
//! would call nobody.

use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{Result, anyhow};

use crate::console;
use crate::flow::hub::{End, Hub};
use crate::flow::slot::Slot;
use crate::media::source::SourceFactory;
use crate::session::call::{self, Call, LEFT, Line};
use crate::session::capture::{CaptureConfig, spawn_capture};
use crate::session::preview;
use crate::session::receiver::{Headless, Incoming, Outcome};
use crate::session::sender::{Audience, SenderConfig};
use crate::session::stream::{Beside, Sending, Watching, dial, join, spawn_network};
use crate::session::window::{View, Window, WindowEnd};
use crate::wire::StreamInfo;

/// How a call ended, when it ended well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallEnd {
    /// This end hung up (or had the frames it asked for).
    HungUp,
    /// The other person left.
    OtherLeft,
}

/// This end's own video in a call.
pub struct OwnVideo {
    /// How it is captured and encoded; its `max_frames` is not used.
    pub capture: CaptureConfig,
    /// Opens the source on the capture thread.
    pub open_source: SourceFactory,
}

/// How a chat sender's session went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hosted {
    /// Calls that took place and ended.
    pub calls: u64,
}

/// Waits for a caller and shows the call in `window`, the other person
/// large and oneself small; when they leave, shows the waiting window again
/// for the next caller, until this end's user quits (the window, or the
/// sender stopped); `place` (the address given) names the call in the
/// window. Threads: those of [`crate::session::stream::send`] with a
/// preview, and, while a caller is on the line, one that reads their video.
pub fn host(sending: Sending, place: &str, window: &mut dyn Window) -> Result<Hosted> {
    let line = Line::default();
    let info = sending.config.encoder.info;
    let config = SenderConfig {
        audience: Audience::Call(line.clone()),
        ..sending.config
    };
    let sending = Sending { config, ..sending };
    // However the stream ends, the window must not wait for a call.
    let closing = line.clone();
    let beside = Beside::start(sending, move || closing.close())?;
    let shown = loop {
        let call = line.current();
        let shown = window.show(View::Call {
            call: &call,
            own: &beside.own,
            place,
            size: (info.width as usize, info.height as usize),
        });
        match shown {
            // The caller left (the sender says so), and the sender goes
            // on: wait for the next.
            Ok(WindowEnd::StreamOver) if beside.hub.ended().is_none() => {}
            shown => break shown,
        }
    };
    let sent = beside.finish()?;
    shown.and(sent)?;
    Ok(Hosted {
        calls: line.calls_ended(),
    })
}

/// Calls a chat sender: this end's video goes out on the connection while
/// the other person's comes in, until either side hangs up. Threads:
/// capture and sending for one's own video; with a `window`, also a
/// network thread and a preview. Headless, it receives on the calling
/// thread.
pub fn call(watching: Watching, own: OwnVideo, window: Option<&mut dyn Window>) -> Result<CallEnd> {
    let mut follow = watching.follow(true);
    let mut first = dial(&mut follow, watching.ask_code)?;
    // The call has started: it never reconnects.
    follow.retry = false;
    let outgoing = Outgoing::start(&mut first, own)?;
    let Some(window) = window else {
        let received = follow.run(first, &mut Headless::default(), &watching.stats);
        outgoing.hang_up()?;
        return Ok(said(received?));
    };
    let remote = Call {
        slot: Arc::new(Slot::default()),
        stats: Arc::clone(&watching.stats),
    };
    let own = Arc::new(Slot::default());
    let own_view = preview::spawn(Arc::clone(&outgoing.hub), outgoing.info, Arc::clone(&own));
    let (info, place) = (first.info(), follow.who());
    let network = spawn_network(follow.clone(), first, &remote.slot, &watching.stats);
    let shown = window.show(View::Call {
        call: &remote,
        own: &own,
        place: &place,
        size: (info.width as usize, info.height as usize),
    });
    let hung_up = outgoing.hang_up();
    let _ = own_view.join();
    let line = hung_up?;
    end_call(shown?, line, network)
}

/// Ends a call once this end's video has stopped: after a hang-up the
/// connection is shut so that the network thread ends too.
fn end_call(
    shown: WindowEnd,
    line: TcpStream,
    network: JoinHandle<Result<Outcome>>,
) -> Result<CallEnd> {
    match shown {
        WindowEnd::UserQuit => {
            let _ = line.shutdown(Shutdown::Both);
            let _ = join(network, "the network thread")?;
            Ok(CallEnd::HungUp)
        }
        WindowEnd::StreamOver => Ok(said(join(network, "the network thread")??)),
    }
}

/// How a call whose incoming stream ended well came out, said on the
/// terminal when the other person left.
fn said(received: Outcome) -> CallEnd {
    match received {
        Outcome::SenderEnded => {
            console::info(LEFT);
            CallEnd::OtherLeft
        }
        Outcome::FramesReached | Outcome::RecordingClosed => CallEnd::HungUp,
    }
}

/// A caller's own video: captured into a hub of its own and sent on the
/// connection.
struct Outgoing {
    hub: Arc<Hub>,
    info: StreamInfo,
    line: TcpStream,
    capture: JoinHandle<()>,
    sending: JoinHandle<Result<()>>,
}

impl Outgoing {
    /// Starts capturing and sending on the connection `first` came from.
    fn start(first: &mut Incoming, own: OwnVideo) -> Result<Self> {
        let (stream, sealer) = first.outgoing()?;
        let line = stream.try_clone()?;
        let hub = Arc::new(Hub::with_rate(
            own.capture.encoder.info.codec,
            own.capture.encoder.bitrate_kbit,
        ));
        let info = own.capture.encoder.info;
        let unsent_limit = own.capture.encoder.unsent_limit();
        let capture = spawn_capture(
            Arc::clone(&hub),
            own.capture,
            own.open_source,
            |hub, end| hub.end(end),
        );
        let sending = call::spawn_outgoing(stream, sealer, info, unsent_limit, Arc::clone(&hub));
        Ok(Outgoing {
            hub,
            info,
            line,
            capture,
            sending,
        })
    }

    /// Ends this end's stream, which tells the other side, and waits for
    /// both threads; an error if one's own video failed (a camera
    /// unplugged): the call ended for that reason, not because anyone left.
    fn hang_up(self) -> Result<TcpStream> {
        self.hub.end(End::Clean);
        let _ = (self.sending.join(), self.capture.join());
        match self.hub.ended() {
            Some(End::Failed(reason)) => Err(anyhow!(reason)),
            _ => Ok(self.line),
        }
    }
}
