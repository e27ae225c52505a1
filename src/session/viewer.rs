//! The sender's side of one viewer once it is let in: the stream's
//! announcement, then the frames it can decode, until the stream ends or
//! the viewer goes.

use std::io::Write;

use anyhow::{Context, Result};

use crate::flow::hub::{Cursor, End, Hub, Next};
use crate::link::net;
use crate::link::sealed::Link;
use crate::wire::{Message, StreamInfo};

/// Announces the stream, then sends frames from the hub until the stream
/// ends or the viewer goes.
pub fn send_stream<W: Write>(
    link: &mut Link<W>,
    info: StreamInfo,
    hub: &Hub,
    mut cursor: Cursor,
) -> Result<()> {
    link.send(&Message::stream(info))
        .context("could not announce the stream")?;
    loop {
        match hub.next_for(&mut cursor) {
            Next::Frame(packet) => match link.send_parts(&[&packet.header, &packet.data]) {
                Ok(()) => {}
                Err(e) if net::is_hang_up(&e) => return Ok(()),
                Err(e) => return Err(net::describe_write_error(e)),
            },
            Next::End(End::Clean) => return Ok(link.send(&Message::End)?),
            Next::End(End::Failed(reason)) => {
                return Ok(link.send(&Message::Error {
                    reason: reason.into(),
                })?);
            }
        }
    }
}
