//! What the binaries run: a sender with its viewers, a receiver, a call.
//!
//! - [`sender`]: accepts viewers and streams to each.
//! - [`capture`]: the thread that runs the source and the encoder while
//!   someone watches.
//! - [`viewer`]: one viewer's stream, once it is let in.
//! - [`receiver`]: connects, checks the stream and decodes its frames.
//! - [`call`]: two-way chat on one connection (`--chat`).
//! - [`preview`]: the sender's own picture, mirrored (`--preview`).
//! - [`stats`]: what a receiver measures; the `--json` summary.

pub mod call;
pub mod capture;
pub mod preview;
pub mod receiver;
pub mod sender;
pub mod stats;
pub(crate) mod viewer;
