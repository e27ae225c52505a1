//! What the binaries run: a sender with its viewers, a receiver, a call.
//!
//! Four sessions are the library's entry points: [`stream::send`],
//! [`stream::watch`], [`chat::host`] and [`chat::call`]. Each takes opened
//! resources and settings, starts its threads, shows its window on the
//! calling thread through the [`window`] seam, and joins its threads
//! before it returns.
//!
//! - [`stream`]: one-way sessions, sending and watching.
//! - [`chat`]: the two sides of a video chat, and its policy.
//! - [`window`]: how a session asks the calling thread to show pictures.
//! - [`sender`]: accepts viewers and streams to each.
//! - [`capture`]: the thread that runs the source and the encoder while
//!   someone watches.
//! - [`viewer`]: one viewer's stream, once it is let in.
//! - [`link_watch`]: what a viewer thread follows of its link: its rate,
//!   its layers, its report to the bitrate law, its unsent limit.
//! - [`receiver`]: connects, checks the stream and decodes its frames.
//! - [`call`]: two-way chat on one connection (`--chat`).
//! - [`preview`]: the sender's own picture, mirrored (`--preview`).
//! - [`stats`]: what a receiver measures; the `--json` summary.

pub mod call;
pub mod capture;
pub mod chat;
mod link_watch;
pub mod preview;
pub mod receiver;
pub mod sender;
pub mod stats;
pub mod stream;
pub(crate) mod viewer;
pub mod window;
