//! The sender's side of one viewer: the opening exchange (with the code in
//! private mode) and the stream of frames that follows.

use std::io::{self, Write};
use std::net::{IpAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};

use crate::framing::{self, FrameReader, FramingError, PREFIX_LEN};
use crate::guesses::{GuessLimiter, Limited};
use crate::hub::{Cursor, End, Hub, Next};
use crate::limits;
use crate::net::{self, Deadline};
use crate::private::{self, Code, Exchange, Opener, Role, Sealer, TAG_LEN};
use crate::wire::{self, Message, StreamInfo, WireError};

/// Why a connection was not let in.
#[derive(Debug)]
pub enum Refusal {
    /// It gave the wrong code; `failures` counts every wrong code so far.
    WrongCode { failures: u64 },
    /// It, or everyone, has tried too many codes lately.
    Limited(Limited),
    /// Anything else, as a sentence.
    Other(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for Refusal {
    fn from(e: E) -> Self {
        Refusal::Other(e.into())
    }
}

/// A viewer's connection after the opening exchange: writes messages,
/// sealed in private mode.
pub struct Link<'a> {
    stream: &'a TcpStream,
    sealer: Option<Sealer>,
    scratch: Vec<u8>,
}

impl<'a> Link<'a> {
    /// A link writing to `stream`, sealing with `sealer` in private mode.
    pub fn new(stream: &'a TcpStream, sealer: Option<Sealer>) -> Self {
        Link {
            stream,
            sealer,
            scratch: Vec::new(),
        }
    }

    /// Sends one whole message.
    pub fn send(&mut self, msg: &Message<'_>) -> io::Result<()> {
        self.send_parts(&[&wire::encode(msg)])
    }

    /// Sends one message whose body is `parts` joined. An open link writes
    /// the parts where they lie. A sealed one seals them a
    /// [`limits::SEAL_CHUNK`] at a time into a reused buffer and writes each
    /// piece as soon as it is sealed.
    pub fn send_parts(&mut self, parts: &[&[u8]]) -> io::Result<()> {
        let mut out = self.stream;
        let Some(sealer) = &mut self.sealer else {
            return framing::write_message(&mut out, parts);
        };
        let body_len = parts.iter().map(|part| part.len()).sum::<usize>() + TAG_LEN;
        // Grown to a full piece only by a message that needs one (a frame);
        // the tag always fits after the last piece.
        let scratch = &mut self.scratch;
        let needed = (PREFIX_LEN + body_len).min(limits::SEAL_CHUNK + TAG_LEN);
        if scratch.len() < needed {
            scratch.resize(needed, 0);
        }
        scratch[..PREFIX_LEN].copy_from_slice(&framing::prefix(body_len));
        let mut filled = PREFIX_LEN;
        let mut sealing = sealer.start();
        for part in parts {
            let mut rest = *part;
            while !rest.is_empty() {
                let (piece, after) = rest.split_at((limits::SEAL_CHUNK - filled).min(rest.len()));
                sealing.update(piece, &mut scratch[filled..filled + piece.len()]);
                filled += piece.len();
                rest = after;
                if filled == limits::SEAL_CHUNK {
                    out.write_all(&scratch[..filled])?;
                    filled = 0;
                }
            }
        }
        scratch[filled..filled + TAG_LEN].copy_from_slice(&sealing.finish());
        out.write_all(&scratch[..filled + TAG_LEN])
    }
}

/// The reading side of a caller's connection in a two-way chat.
pub struct Caller {
    /// Reads the caller's messages, with the bytes the exchange read ahead.
    pub reader: FrameReader<TcpStream>,
    /// Opens them, in private mode.
    pub opener: Option<Opener>,
}

/// A connection let in: how to write to it, and for a chat how to read it.
pub struct Admitted<'s> {
    /// Writes to the viewer.
    pub link: Link<'s>,
    /// Whether it asked for a two-way chat, and how to read what it sends.
    pub caller: Option<Caller>,
}

/// What a sender asks of a new connection.
pub struct Admission<'a> {
    /// The code it must prove it knows, if the sender is private.
    pub code: Option<&'a Code>,
    /// Limits wrong codes, per source and across all connections.
    pub guesses: &'a GuessLimiter,
    /// Where the connection comes from, for the guess limits.
    pub from: IpAddr,
    /// How long a write may block before the viewer is dropped.
    pub write_timeout: Duration,
}

impl Admission<'_> {
    /// Runs the opening exchange on `stream`.
    pub fn admit<'s>(&self, stream: &'s TcpStream) -> Result<Admitted<'s>, Refusal> {
        net::tune(stream)?;
        stream.set_write_timeout(Some(self.write_timeout))?;
        let until = Instant::now() + limits::HANDSHAKE_TIMEOUT;
        let deadline = Deadline::new(stream.try_clone()?, until);
        let mut reader = FrameReader::new(deadline, limits::HANDSHAKE_MESSAGE_LIMIT);
        let mut link = Link::new(stream, None);
        let (exchange, chat) = match wire::decode_opening(read_opening(&mut reader)?) {
            Ok(Message::Hello { exchange, chat, .. }) => (exchange.to_vec(), chat),
            Ok(_) | Err(WireError::NotCamwire | WireError::Malformed(_)) => {
                return Err(anyhow!("is not a camwire receiver").into());
            }
            Err(e) => {
                let reason = format!("{e}: update camwire on both ends");
                let _ = link.send(&Message::Error {
                    reason: reason.into(),
                });
                return Err(anyhow!("{e}").into());
            }
        };
        let mut opener = None;
        if let Some(code) = self.code {
            let (sealer, open) = self.authenticate(code, &exchange, &mut reader, &mut link)?;
            (link.sealer, opener) = (Some(sealer), Some(open));
        }
        net::limit_unsent(stream)?;
        let caller = chat.then(|| Caller {
            reader: reader.map_inner(Deadline::into_inner),
            opener,
        });
        Ok(Admitted { link, caller })
    }

    /// Proves both sides know `code`; returns the keys for what follows.
    fn authenticate(
        &self,
        code: &Code,
        exchange: &[u8],
        reader: &mut FrameReader<Deadline>,
        link: &mut Link<'_>,
    ) -> Result<(Sealer, Opener), Refusal> {
        if exchange.is_empty() {
            let _ = link.send(&Message::CodeRequired);
            return Err(anyhow!("came without the code").into());
        }
        // Shape first, then the limits: a stranger's garbage and a
        // guesser's flood both cost the sender no curve arithmetic.
        if !private::well_formed(exchange) {
            return Err(anyhow!("is not a camwire receiver (bad key exchange)").into());
        }
        if let Err(limited) = self.guesses.try_start(self.from) {
            let reason = limited.reason();
            let _ = link.send(&Message::Error {
                reason: reason.into(),
            });
            return Err(Refusal::Limited(limited));
        }
        let ours = Exchange::start(code);
        let our_message = ours.message().to_vec();
        let mut keys = match ours.finish(exchange, Role::Sender) {
            Ok(keys) => keys,
            // Its token stays spent: a point off the curve cost arithmetic.
            Err(_) => return Err(anyhow!("is not a camwire receiver (bad key exchange)").into()),
        };
        link.send(&Message::Auth {
            exchange: &our_message,
            confirmation: &keys.confirmation(),
        })?;
        // From here on, anything but the right confirmation counts as a
        // wrong code: the peer has had its one guess.
        let confirmed = match read_opening(reader).map(wire::decode) {
            Ok(Ok(Message::Confirm { confirmation })) => keys.check(confirmation).is_ok(),
            _ => false,
        };
        if !confirmed {
            let failures = self.guesses.failed();
            let _ = link.send(&Message::Error {
                reason: "wrong code".into(),
            });
            return Err(Refusal::WrongCode { failures });
        }
        self.guesses.succeeded(self.from);
        Ok((keys.sealer, keys.opener))
    }
}

/// Reads one message of the opening exchange.
fn read_opening(reader: &mut FrameReader<Deadline>) -> Result<&[u8]> {
    match reader.read_message() {
        Ok(Some(body)) => Ok(body),
        Ok(None) => Err(anyhow!("closed the connection during the opening exchange")),
        Err(e) if net::is_timeout(&e) => {
            Err(anyhow!("said nothing for {:?}", limits::HANDSHAKE_TIMEOUT))
        }
        Err(FramingError::Io(e)) => Err(anyhow!("connection failed: {e}")),
        Err(_) => Err(anyhow!("is not a camwire receiver")),
    }
}

/// Tells a connection that got no place in the opening exchange why: reads
/// its `Hello` (for at most [`limits::TURN_AWAY_TIMEOUT`]), so that closing
/// leaves nothing unread that would reset the connection, then sends an
/// `Error` and closes.
pub fn turn_away(stream: TcpStream, reason: &str) {
    let Ok(reading) = stream.try_clone() else {
        return;
    };
    let until = Instant::now() + limits::TURN_AWAY_TIMEOUT;
    let mut reader = FrameReader::new(
        Deadline::new(reading, until),
        limits::HANDSHAKE_MESSAGE_LIMIT,
    );
    let _ = reader.read_message();
    refuse(&stream, reason);
}

/// Sends a plain `Error` to a connection still in its opening exchange.
pub fn refuse(stream: &TcpStream, reason: &str) {
    let _ = stream.set_write_timeout(Some(limits::TURN_AWAY_TIMEOUT));
    let _ = Link::new(stream, None).send(&Message::Error {
        reason: reason.into(),
    });
}

/// Announces the stream, then sends frames from the hub until the stream
/// ends or the viewer goes.
pub fn send_stream(link: &mut Link<'_>, info: StreamInfo, hub: &Hub) -> Result<()> {
    link.send(&Message::stream(info))
        .context("could not announce the stream")?;
    let mut cursor = Cursor::new();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::private::Keys;
    use std::net::TcpListener;

    fn keys() -> (Keys, Keys) {
        let code = Code::new("1").unwrap();
        let (sender, viewer) = (Exchange::start(&code), Exchange::start(&code));
        let (s_msg, v_msg) = (sender.message().to_vec(), viewer.message().to_vec());
        (
            sender.finish(&v_msg, Role::Sender).unwrap(),
            viewer.finish(&s_msg, Role::Viewer).unwrap(),
        )
    }

    #[test]
    fn a_sealed_link_sends_messages_of_any_length_in_pieces_that_open_whole() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let writer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (reading, _) = listener.accept().unwrap();
        let (sender, mut viewer) = keys();
        let chunk = limits::SEAL_CHUNK;
        let pixels: Vec<u8> = (0..3 * chunk).map(|i| (i % 251) as u8).collect();
        // Bodies that end inside a piece, exactly at the end of the second
        // one (so the tag goes alone), and inside the first.
        let cuts = [2 * chunk + 100, 2 * chunk - PREFIX_LEN - 4, 10];
        let sending = std::thread::spawn({
            let pixels = pixels.clone();
            move || {
                let mut link = Link::new(&writer, Some(sender.sealer));
                for cut in cuts {
                    link.send_parts(&[b"head", &pixels[..cut]]).unwrap();
                }
            }
        });
        let mut reader = FrameReader::new(reading, 4 * chunk);
        for cut in cuts {
            let mut body = reader.read_message().unwrap().unwrap().to_vec();
            let plain = viewer.opener.open(&mut body).unwrap();
            assert_eq!(&plain[..4], b"head");
            assert_eq!(&plain[4..], &pixels[..cut], "cut at {cut}");
        }
        sending.join().unwrap();
    }
}
