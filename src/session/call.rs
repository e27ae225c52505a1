//! Two-way video chat on one connection (`--chat` on both ends).
//!
//! The caller's receiver says `chat` in its hello. After the usual opening
//! exchange each side streams its own video to the other on the same
//! socket, with the same guarantees as one-way streaming: the newest frame
//! wins, and in private mode each direction is sealed with its own key.
//!
//! A chat sender's [`Line`] holds one call at a time; when the caller
//! leaves, a fresh call takes its place and the sender waits for the next.

use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use anyhow::Result;

use crate::flow::hub::Hub;
use crate::flow::slot::{Screen, Slot};
use crate::limits;
use crate::link::admission::Caller;
use crate::link::net;
use crate::link::paced::Paced;
use crate::link::private::Sealer;
use crate::link::sealed::Link;
use crate::session::receiver::{Incoming, SharedStats};
use crate::session::viewer;
use crate::sync::lock;
use crate::wire::StreamInfo;

/// What each window says when the other person has gone.
pub const LEFT: &str = "the other person left";

/// One end's view of the other person: their pictures, and what this end
/// measures of them.
#[derive(Debug, Clone, Default)]
pub struct Call {
    /// The other person's newest picture.
    pub slot: Arc<Slot>,
    /// Frames, latency and bytes of their video.
    pub stats: SharedStats,
}

/// A chat sender's line: the call on it now, and whether a caller is on
/// it. When a caller leaves, a fresh call takes its place before the old
/// one's slot closes, so that a window that sees the old call end finds
/// the next one waiting, and the next caller gets through.
#[derive(Debug, Clone, Default)]
pub struct Line(Arc<Mutex<LineState>>);

#[derive(Debug, Default)]
struct LineState {
    call: Call,
    /// A caller is on the line.
    busy: bool,
    /// Calls that have ended.
    ended: u64,
    /// The sender has stopped: no call will come.
    closed: bool,
}

impl Line {
    /// The call on the line now, or the one waiting for a caller.
    pub fn current(&self) -> Call {
        lock(&self.0).call.clone()
    }

    /// How many calls have ended.
    pub fn calls_ended(&self) -> u64 {
        lock(&self.0).ended
    }

    /// Takes the line for a caller: the call to show them in, or `None`
    /// when someone else is on it.
    pub fn pick_up(&self) -> Option<Call> {
        let mut state = lock(&self.0);
        if state.busy {
            return None;
        }
        state.busy = true;
        Some(state.call.clone())
    }

    /// Frees the line without a call: the caller never sent its video, or
    /// could not be answered.
    pub fn free(&self) {
        lock(&self.0).busy = false;
    }

    /// Ends the current call: the next takes its place and the line is
    /// free, then the ended one's slot closes (after the sender has
    /// stopped, the next one's too).
    pub fn hang_up(&self) {
        let mut state = lock(&self.0);
        let ended = std::mem::take(&mut state.call);
        state.ended += 1;
        state.busy = false;
        if state.closed {
            state.call.slot.close();
        }
        drop(state);
        ended.slot.close();
    }

    /// Says no call will come any more: the sender has stopped.
    pub fn close(&self) {
        let mut state = lock(&self.0);
        state.closed = true;
        state.call.slot.close();
    }
}

/// How answering a caller went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answered {
    /// The caller never announced its video: nobody was on the line.
    NoVideo,
    /// The call took place and the caller left; `why`, when it did not
    /// hang up cleanly.
    Left { why: Option<String> },
}

/// The sender's side: shows the caller's video in `call` until the caller
/// hangs up, then leaves a notice saying so (the slot is closed by
/// [`Line::hang_up`]). A caller that never announced its video leaves the
/// slot alone.
pub fn answer(caller: Caller, peer: &str, call: &Call) -> Answered {
    let Ok(incoming) = Incoming::from_caller(caller, peer) else {
        return Answered::NoVideo;
    };
    let mut screen = Arc::clone(&call.slot);
    let why = incoming
        .run(0, &mut screen, &call.stats)
        .err()
        .map(|e| format!("{e:#}"));
    let notice = match &why {
        None => LEFT.to_string(),
        Some(why) => format!("{LEFT} ({why})"),
    };
    screen.notice(Some(notice));
    Answered::Left { why }
}

/// The caller's side: streams frames of `hub` (announced as `info`) to the
/// sender on `stream`, sealed in private mode, until the hub's stream ends.
pub fn spawn_outgoing(
    stream: TcpStream,
    sealer: Option<Sealer>,
    info: StreamInfo,
    unsent_limit: usize,
    hub: Arc<Hub>,
) -> JoinHandle<Result<()>> {
    let (watching, _) = hub.watch();
    thread::spawn(move || {
        let cursor = watching.cursor();
        let conn = viewer::Conn {
            stream: &stream,
            id: watching.id(),
            far: viewer::Far::Call,
        };
        stream.set_write_timeout(Some(limits::VIEWER_WRITE_TIMEOUT))?;
        net::limit_unsent(&stream, unsent_limit)?;
        let sent = viewer::send_stream(
            &mut Link::new(Paced(&stream), sealer),
            info,
            &hub,
            cursor,
            Some(conn),
        );
        drop(watching);
        sent
    })
}
