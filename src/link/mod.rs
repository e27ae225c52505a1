//! A connection from its first byte to the end of its opening exchange,
//! and how messages are written on it afterwards.
//!
//! - [`net`]: socket options, connecting with clear errors, LAN addresses.
//! - [`handshake`]: the receiver's side of the opening exchange.
//! - [`admission`]: the sender's side, and what a refused connection hears.
//! - [`private`]: the code, the key exchange and sealing.
//! - [`sealed`]: writing messages after the exchange, sealed or not.
//! - [`paced`]: writing a little at a time, so the unsent limit holds.
//! - [`tcpinfo`]: what the kernel knows of a connection's sending side.
//! - [`guesses`]: how often each address, and everyone, may try a code.
//! - [`opening`]: places for connections in their opening exchange.
//! - [`discovery`]: announcing a sender on the LAN (mDNS), and finding them.
//! - [`target`]: what `--connect` names (an address, a host or a sender's
//!   name) and the order in which it is tried.

pub(crate) mod admission;
pub mod discovery;
pub(crate) mod guesses;
pub mod handshake;
pub mod net;
pub(crate) mod opening;
pub mod paced;
pub mod private;
pub(crate) mod sealed;
pub mod target;
pub mod tcpinfo;
