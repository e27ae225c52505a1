//! The sender's side of one viewer once it is let in: the stream's
//! announcement, then the frames it can decode, until the stream ends or
//! the viewer goes.

use std::io::{self, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::link_watch::LinkWatch;
use crate::flow::hub::{Cursor, End, Hub, Next};
use crate::link::net;
use crate::link::sealed::Link;
use crate::wire::{Message, StreamInfo};

/// A viewer's own connection, so that what the kernel says of it reaches
/// the bitrate law and its unsent limit follows the bitrate.
#[derive(Debug, Clone, Copy)]
pub struct Conn<'a> {
    /// The viewer's socket.
    pub stream: &'a TcpStream,
    /// The viewer's id in the hub.
    pub id: u64,
    /// Who it is, as `--verbose` names it.
    pub far: Far,
}

/// Who reads what a viewer thread writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Far {
    /// A viewer of a one-way stream.
    Viewer,
    /// The caller, on a chat sender.
    Caller,
    /// The chat sender, which a caller's own video goes to.
    Call,
}

impl Far {
    /// How `--verbose` names the far end at `addr`: `viewer ADDR`,
    /// `caller ADDR` or `the call`.
    pub(super) fn named(self, addr: Option<std::net::SocketAddr>) -> String {
        let addr = addr.map_or_else(String::new, |a| format!(" {a}"));
        match self {
            Far::Viewer => format!("viewer{addr}"),
            Far::Caller => format!("caller{addr}"),
            Far::Call => "the call".to_string(),
        }
    }
}

/// Announces the stream, then sends frames from the hub until the stream
/// ends or the viewer goes.
pub fn send_stream<W: Write>(
    link: &mut Link<W>,
    info: StreamInfo,
    hub: &Hub,
    mut cursor: Cursor,
    conn: Option<Conn<'_>>,
) -> Result<()> {
    let announced = went(link.send(&Message::stream(info)));
    if !announced.context("could not announce the stream")? {
        return Ok(());
    }
    // Raw and JPEG have no bitrate to follow: no TCP_INFO to read.
    let follows_link = hub.target_kbit().is_some();
    let mut watch = conn
        .filter(|_| follows_link)
        .map(|conn| LinkWatch::new(conn, &cursor, info));
    if let Some(watch) = &watch {
        watch.follow_writes(hub);
    }
    loop {
        match hub.next_for(&mut cursor) {
            Next::Frame(packet) => {
                if let Some(watch) = &mut watch {
                    let newest = hub.newest_captured_us().unwrap_or(packet.captured_us);
                    let behind = Duration::from_micros(newest.saturating_sub(packet.captured_us));
                    watch.before_sending(hub, &mut cursor, behind);
                    watch.writing(hub);
                }
                let started = Instant::now();
                if !went(link.send_parts(&[&packet.header, &packet.data]))? {
                    return Ok(());
                }
                if let Some(watch) = &mut watch {
                    let bytes = packet.header.len() + packet.data.len();
                    watch.wrote(hub, bytes as u64, started.elapsed());
                }
            }
            // A viewer gone by the end has left all the same.
            Next::End(End::Clean) => return went(link.send(&Message::End)).map(drop),
            Next::End(End::Failed(reason)) => {
                let reason = reason.into();
                return went(link.send(&Message::Error { reason })).map(drop);
            }
        }
    }
}

/// Whether a write to the viewer went: `false` when the viewer had hung
/// up, the normal way to leave (whenever it comes, even before the
/// announcement or at the end), else the failure in words.
fn went(written: io::Result<()>) -> Result<bool> {
    match written {
        Ok(()) => Ok(true),
        Err(e) if net::is_hang_up(&e) => Ok(false),
        Err(e) => Err(net::describe_write_error(e)),
    }
}
