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

pub mod ack_lag;
pub mod hub;
pub mod layers;
pub mod rate;
pub mod slot;
pub mod stuck;
