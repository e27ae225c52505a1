//! The sender's side of one viewer once it is let in: the stream's
//! announcement, then the frames it can decode, until the stream ends or
//! the viewer goes.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::flow::hub::{Cursor, End, Hub, Next};
use crate::flow::rate::Report;
use crate::link::net;
use crate::link::sealed::Link;
use crate::link::tcpinfo;
use crate::media::codec;
use crate::wire::{Message, StreamInfo};

/// A viewer's own connection, so that what the kernel says of it reaches
/// the bitrate law and its unsent limit follows the bitrate.
#[derive(Debug, Clone, Copy)]
pub struct Conn<'a> {
    /// The viewer's socket.
    pub stream: &'a TcpStream,
    /// The viewer's id in the hub.
    pub id: u64,
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
    link.send(&Message::stream(info))
        .context("could not announce the stream")?;
    // Raw and JPEG have no bitrate to follow: no TCP_INFO to read.
    let follows_link = hub.target_kbit().is_some();
    let mut watch = conn.filter(|_| follows_link).map(|conn| LinkWatch {
        conn,
        skipped: cursor.skipped_count(),
        limit_kbit: None,
    });
    loop {
        match hub.next_for(&mut cursor) {
            Next::Frame(packet) => {
                if let Some(watch) = &mut watch {
                    watch.before_sending(hub, &cursor, info);
                }
                match link.send_parts(&[&packet.header, &packet.data]) {
                    Ok(()) => {}
                    Err(e) if net::is_hang_up(&e) => return Ok(()),
                    Err(e) => return Err(net::describe_write_error(e)),
                }
            }
            Next::End(End::Clean) => return Ok(link.send(&Message::End)?),
            Next::End(End::Failed(reason)) => {
                return Ok(link.send(&Message::Error {
                    reason: reason.into(),
                })?);
            }
        }
    }
}

/// What a viewer thread follows of its link between frames.
struct LinkWatch<'a> {
    conn: Conn<'a>,
    /// Frames the viewer had skipped at the last report.
    skipped: u64,
    /// The bitrate its unsent limit was last set for.
    limit_kbit: Option<u32>,
}

impl LinkWatch<'_> {
    /// Reports the link to the hub, just before the next frame goes: a
    /// link that keeps up has sent the last frame by now (nothing waits
    /// unsent) and the viewer skipped nothing to get here. Then sets the
    /// unsent limit for the bitrate, when that changed.
    fn before_sending(&mut self, hub: &Hub, cursor: &Cursor, info: StreamInfo) {
        let Some(sample) = tcpinfo::sample(self.conn.stream) else {
            return;
        };
        let skipped = cursor.skipped_count();
        hub.report(
            self.conn.id,
            Report {
                delivery_bps: sample.delivery_rate.saturating_mul(8),
                app_limited: sample.app_limited,
                backed_up: sample.notsent > 0 || skipped > self.skipped,
                queue_delay: Duration::from_micros(u64::from(
                    sample.rtt_us.saturating_sub(sample.min_rtt_us),
                )),
            },
        );
        self.skipped = skipped;
        let target = hub.target_kbit();
        if target != self.limit_kbit
            && let Some(kbit) = target
        {
            let _ = net::limit_unsent(self.conn.stream, codec::unsent_limit(info.codec, kbit));
            self.limit_kbit = target;
        }
    }
}
