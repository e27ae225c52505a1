//! What a person sees and types.
//!
//! - [`display`]: the minifb window (the only module naming minifb).
//! - [`labels`]: window titles and status lines, and what they say.
//! - [`status`]: when a receiver's status line shows.
//! - [`overlay`]: text drawn on a picture, on a darkened band.
//! - [`screen`]: the screen's size (the only module naming x11-dl), and
//!   a window's size fitted to it.
//! - [`compose`]: a call's two pictures in one canvas.
//! - [`cli`]: the source flags both binaries share, and how they end.
//! - [`banner`]: what a sender says on standard output.
//! - [`report`]: a receiver's frame log and `--json` summary.
//! - [`lan`]: a sender's name and announcement, `receiver --list`, and
//!   finding a sender with no address or by name.

pub mod banner;
pub mod cli;
pub mod compose;
pub mod display;
pub mod labels;
pub mod lan;
pub mod overlay;
pub mod report;
pub mod screen;
pub mod status;
