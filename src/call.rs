//! Two-way video chat on one connection (`--chat` on both ends).
//!
//! The caller's receiver says `chat` in its hello. After the usual opening
//! exchange each side streams its own video to the other on the same
//! socket, with the same guarantees as one-way streaming: the newest frame
//! wins, and in private mode each direction is sealed with its own key.

use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use anyhow::Result;

use crate::display::Slot;
use crate::hub::Hub;
use crate::limits;
use crate::net;
use crate::private::Sealer;
use crate::receiver::{Incoming, Screen};
use crate::stats::Stats;
use crate::viewer::{self, Caller, Link};
use crate::wire::StreamInfo;

/// What each window says when the other person has gone.
pub const LEFT: &str = "the other person left";

/// The sender's side: shows the caller's video in `slot` until the caller
/// hangs up; then says so and closes the slot.
pub fn answer(caller: Caller, peer: &str, slot: Arc<Slot>) -> Result<()> {
    let mut screen = Arc::clone(&slot);
    let result = Incoming::from_caller(caller, peer)
        .and_then(|incoming| incoming.run(0, &mut screen, &Mutex::new(Stats::default())));
    screen.notice(Some(LEFT.into()));
    slot.close();
    result.map(|_| ())
}

/// The caller's side: streams frames of `hub` (announced as `info`) to the
/// sender on `stream`, sealed in private mode, until the hub's stream ends.
pub fn spawn_outgoing(
    stream: TcpStream,
    sealer: Option<Sealer>,
    info: StreamInfo,
    hub: Arc<Hub>,
) -> JoinHandle<Result<()>> {
    hub.join();
    thread::spawn(move || {
        let result = (|| {
            stream.set_write_timeout(Some(limits::VIEWER_WRITE_TIMEOUT))?;
            net::limit_unsent(&stream)?;
            viewer::send_stream(&mut Link::new(&stream, sealer), info, &hub)
        })();
        hub.leave();
        result
    })
}
