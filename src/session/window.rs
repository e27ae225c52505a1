//! The window seam: how a session asks the thread that called it to show
//! pictures.
//!
//! A window must stay on the main thread (minifb and macOS insist), so a
//! session starts its threads, then calls [`Window::show`] on the calling
//! thread with a [`View`] of the slots those threads fill, and joins them
//! once the window returns. The binaries pass the minifb window
//! (`ui::display::show_view`); a test passes a stand-in that takes pictures
//! from the slots and returns when it has seen enough, as a person hangs up.

use std::sync::Arc;

use anyhow::Result;

use crate::flow::hub::Hub;
use crate::flow::slot::Slot;
use crate::session::call::Call;
use crate::session::receiver::SharedStats;
use crate::wire::StreamInfo;

/// Why a window stopped showing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowEnd {
    /// The user pressed q or Esc, or closed the window: for a call, this
    /// end hung up.
    UserQuit,
    /// The slot of the pictures shown was closed and drained: the stream,
    /// or the other person, went.
    StreamOver,
}

/// What a session asks its window to show.
pub enum View<'a> {
    /// A sender's stream, as a receiver decodes it.
    Stream {
        /// The newest picture.
        slot: &'a Slot,
        /// The stream as announced.
        info: StreamInfo,
        /// The sender, as the user named it.
        peer: &'a str,
        /// What the receiver measures, for the title.
        stats: &'a SharedStats,
    },
    /// What a sender sends, mirrored.
    Preview {
        /// The newest picture.
        slot: &'a Slot,
        /// The stream as announced.
        info: StreamInfo,
        /// The sender's hub, which counts who watches.
        hub: &'a Arc<Hub>,
    },
    /// A call: the other person, and oneself in a corner.
    Call {
        /// The other person's pictures and figures.
        call: &'a Call,
        /// One's own pictures, mirrored.
        own: &'a Slot,
        /// Where the call is (the address given), for the title.
        place: &'a str,
        /// The window's width and height in pixels.
        size: (usize, usize),
    },
}

/// Shows a [`View`] on the calling thread until the user quits or the
/// pictures stop.
pub trait Window {
    /// Shows `view`; returns why it stopped.
    fn show(&mut self, view: View<'_>) -> Result<WindowEnd>;
}

impl<F> Window for F
where
    F: FnMut(View<'_>) -> Result<WindowEnd>,
{
    fn show(&mut self, view: View<'_>) -> Result<WindowEnd> {
        self(view)
    }
}
