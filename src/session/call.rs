//! Two-way video chat on one connection (`--chat` on both ends).
//!
//! The caller's receiver says `chat` in its hello. After the usual opening
//! exchange each side streams its own video to the other on the same
//! socket, with the same guarantees as one-way streaming: the newest frame
//! wins, and in private mode each direction is sealed with its own key.

use std::net::TcpStream;
use std::sync::Arc;
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

/// The sender's side: shows the caller's video in `call` until the caller
/// hangs up; then says so and closes the slot. Returns `false`, leaving the
/// slot alone, when the caller never announced its video: nobody was on
/// the line.
pub fn answer(caller: Caller, peer: &str, call: &Call) -> bool {
    let Ok(incoming) = Incoming::from_caller(caller, peer) else {
        return false;
    };
    let slot = Arc::clone(&call.slot);
    let mut screen = Arc::clone(&slot);
    let result = incoming.run(0, &mut screen, &call.stats);
    let notice = match &result {
        Ok(_) => LEFT.to_string(),
        Err(e) => format!("{LEFT} ({e:#})"),
    };
    screen.notice(Some(notice));
    slot.close();
    true
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
