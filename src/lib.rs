//! camwire carries live webcam video from one computer to another over a
//! plain TCP connection.
//!
//! The layers, from the bottom up; each uses only those above it in this
//! list (see ARCHITECTURE.md for what must never be where):
//!
//! - [`limits`]: every limit and timeout, as named constants.
//! - [`sync`]: locks that outlive a panic.
//! - [`console`]: what the binaries print while they run, through a writer
//!   thread that nobody waits for; storms folded, excess counted.
//! - [`framing`]: the u64 length prefix; reads messages into a reused buffer.
//! - [`wire`]: the messages and their encoding (bincode 2 lives only here).
//! - [`link`]: sockets, the opening exchanges on both sides, private mode,
//!   and the limits that keep strangers from locking people out.
//! - [`media`]: codecs, frame sources (the test pattern, the webcam).
//! - [`flow`]: where frames and pictures wait between threads: the hub and
//!   the slot, each holding the newest.
//! - [`session`]: sending, receiving and calling, with their threads: the
//!   entry points the binaries call.
//! - [`ui`]: the window, what it says, and the command-line flags.

pub mod console;
pub mod flow;
pub mod framing;
pub mod limits;
pub mod link;
pub mod media;
pub mod session;
pub mod sync;
pub mod ui;
pub mod wire;
