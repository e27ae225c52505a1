//! camwire carries live webcam video from one computer to another over a
//! plain TCP connection.
//!
//! The modules, from the wire up:
//!
//! - [`framing`]: the u64 length prefix; reads messages into a reused buffer.
//! - [`wire`]: the messages and their encoding (bincode 2 lives only here).
//! - [`limits`]: every limit and timeout, as named constants.
//! - [`codec`]: frames to JPEG or raw bytes, and back to display pixels.
//! - [`mjpeg`]: the standard Huffman tables a webcam's MJPEG frame leaves out.
//! - [`source`]: the frame source trait and the moving test pattern.
//! - [`camera`]: the webcam through nokhwa.
//! - [`cli`]: the source flags both binaries share.
//! - [`hub`]: the newest frame, shared by the capture and viewer threads.
//! - [`capture`]: the thread that runs the source while someone watches.
//! - [`sender`]: accepts viewers and streams to each.
//! - [`receiver`]: connects, checks the stream and decodes its frames.
//! - [`display`]: the minifb window showing the newest frame.
//! - [`call`]: two-way chat on one connection (`--chat`).
//! - [`preview`]: the sender's own picture, mirrored (`sender --preview`).
//! - [`private`]: the code, the key exchange and sealed messages.
//! - [`guesses`]: how often each address, and everyone, may try a code.
//! - [`handshake`]: the receiver's side of the opening exchange.
//! - [`viewer`]: the sender's side of one viewer: admission and frames.
//! - [`opening`]: places for connections in their opening exchange.
//! - [`stats`]: what a receiver measures; the `--json` summary.
//! - [`console`]: what the binaries print while they run, through a writer
//!   thread a stream that nobody waits for; storms folded, excess counted.
//! - [`net`]: socket options, connecting with clear errors, LAN addresses.

pub mod call;
pub mod camera;
pub mod capture;
pub mod cli;
pub mod codec;
pub mod console;
pub mod display;
pub mod framing;
pub mod guesses;
pub mod handshake;
pub mod hub;
pub mod limits;
pub mod mjpeg;
pub mod net;
pub mod opening;
pub mod preview;
pub mod private;
pub mod receiver;
pub mod sender;
pub mod source;
pub mod stats;
pub mod viewer;
pub mod wire;
