//! Where frames and pictures wait between threads, each holding only the
//! newest: no queue of frames can build up.
//!
//! - [`hub`]: the newest encoded frame, for the capture and viewer threads,
//!   and which frame each viewer can decode next.
//! - [`rate`]: the encoder's bitrate, from every viewer's link.
//! - [`layers`]: how many temporal layers a viewer on a slower link takes.
//! - [`ack_lag`]: how far behind the rate a viewer's link acknowledges.
//! - [`stuck`]: writes that wait for the link, measured meanwhile.
//! - [`slot`]: the newest decoded picture, for the window.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub mod ack_lag;
pub mod hub;
pub mod layers;
pub mod rate;
pub mod slot;
pub mod stuck;

/// Drops the timed samples, oldest first, that lie wholly before the last
/// `span` to `now`: the one at or just before its start stays, so that the
/// window is covered from its start.
pub fn keep_last<T>(samples: &mut VecDeque<(Instant, T)>, now: Instant, span: Duration) {
    while samples
        .get(1)
        .is_some_and(|(at, _)| now.duration_since(*at) >= span)
    {
        samples.pop_front();
    }
}
