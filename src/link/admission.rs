//! The sender's side of the opening exchange: hello, the code in private
//! mode, and what a connection that gets no place is told.

use std::net::{IpAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};

use super::guesses::{GuessLimiter, Limited};
use super::net::{self, Deadline};
use super::paced::Paced;
use super::private::{self, Code, Exchange, Opener, Role, Sealer};
use super::sealed::{Link, Reader};
use crate::framing::{FrameReader, FramingError};
use crate::limits;
use crate::wire::{self, Message, RefusalKind, WireError};

/// Why a connection was not let in.
#[derive(Debug)]
pub enum Refusal {
    /// It came without a code and was asked for one: the ordinary start
    /// of a private session whose viewer types the code when asked.
    CodeAsked,
    /// It gave the wrong code; `failures` counts every wrong code so far.
    WrongCode { failures: u64 },
    /// It, or everyone, has tried too many codes lately.
    Limited(Limited),
    /// It closed (or reset) the connection before the exchange was over:
    /// it left, nobody turned it away.
    Left,
    /// Anything else, as a sentence.
    Other(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for Refusal {
    fn from(e: E) -> Self {
        Refusal::Other(e.into())
    }
}

/// The reading side of a caller's connection in a two-way chat.
pub struct Caller {
    /// Reads the caller's messages (opening them in private mode), with
    /// the bytes the exchange read ahead.
    pub reader: Reader<TcpStream>,
}

/// A connection let in: how to write to it, and for a chat how to read it.
pub struct Admitted<'s> {
    /// Writes to the viewer.
    pub link: Link<Paced<'s>>,
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
    /// Unsent bytes the kernel may queue for the viewer.
    pub unsent_limit: usize,
}

impl Admission<'_> {
    /// Runs the opening exchange on `stream`.
    pub fn admit<'s>(&self, stream: &'s TcpStream) -> Result<Admitted<'s>, Refusal> {
        net::tune(stream)?;
        stream.set_write_timeout(Some(self.write_timeout))?;
        let until = Instant::now() + limits::HANDSHAKE_TIMEOUT;
        let deadline = Deadline::new(stream.try_clone()?, until);
        let mut reader = FrameReader::new(deadline, limits::HANDSHAKE_MESSAGE_LIMIT);
        let mut link = Link::new(Paced(stream), None);
        let (exchange, chat) = match wire::decode_opening(read_opening(&mut reader)?) {
            Ok(Message::Hello { exchange, chat, .. }) => (exchange.to_vec(), chat),
            Ok(_) | Err(WireError::NotCamwire | WireError::Malformed(_)) => {
                return Err(anyhow!("is not a camwire receiver").into());
            }
            Err(e) => {
                let _ = link.send(&Message::version_refusal());
                return Err(anyhow!("{e}").into());
            }
        };
        let mut opener = None;
        if let Some(code) = self.code {
            let (sealer, open) = self.authenticate(code, &exchange, &mut reader, &mut link)?;
            link.seal_from_now(sealer);
            opener = Some(open);
        }
        net::limit_unsent(stream, self.unsent_limit)?;
        let caller = chat.then(|| Caller {
            reader: Reader::new(reader.map_inner(Deadline::into_inner), opener),
        });
        Ok(Admitted { link, caller })
    }

    /// Proves both sides know `code`; returns the keys for what follows.
    fn authenticate(
        &self,
        code: &Code,
        exchange: &[u8],
        reader: &mut FrameReader<Deadline>,
        link: &mut Link<Paced<'_>>,
    ) -> Result<(Sealer, Opener), Refusal> {
        if exchange.is_empty() {
            let _ = link.send(&Message::CodeRequired);
            return Err(Refusal::CodeAsked);
        }
        // Shape first, then the limits: a stranger's garbage and a
        // guesser's flood both cost the sender no curve arithmetic.
        if !private::well_formed(exchange) {
            return Err(anyhow!("is not a camwire receiver (bad key exchange)").into());
        }
        if let Err(limited) = self.guesses.try_start(self.from) {
            let _ = link.send(&Message::refused(RefusalKind::Guessing, limited.reason()));
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
        })
        .map_err(failed)?;
        // From here on, anything but the right confirmation counts as a
        // wrong code: the peer has had its one guess (it can check our
        // confirmation itself). Only a peer that did confirm is told.
        let (confirmed, answered) = match read_opening(reader).map(wire::decode) {
            Ok(Ok(Message::Confirm { confirmation })) => (keys.check(confirmation).is_ok(), true),
            _ => (false, false),
        };
        if !confirmed {
            let failures = self.guesses.failed();
            if answered {
                let _ = link.send(&Message::refused(RefusalKind::WrongCode, "wrong code"));
            }
            return Err(Refusal::WrongCode { failures });
        }
        self.guesses.succeeded(self.from);
        Ok((keys.sealer, keys.opener))
    }
}

/// Reads one message of the opening exchange.
fn read_opening(reader: &mut FrameReader<Deadline>) -> Result<&[u8], Refusal> {
    match reader.read_message() {
        Ok(Some(body)) => Ok(body),
        Ok(None) => Err(Refusal::Left),
        Err(e) if net::is_timeout(&e) => {
            Err(anyhow!("said nothing for {:?}", limits::HANDSHAKE_TIMEOUT).into())
        }
        Err(FramingError::Io(e)) => Err(failed(e)),
        Err(_) => Err(anyhow!("is not a camwire receiver").into()),
    }
}

/// A failed read or write of the opening exchange: the peer left, or
/// the connection failed, in words.
fn failed(e: std::io::Error) -> Refusal {
    match net::is_hang_up(&e) {
        true => Refusal::Left,
        false => anyhow!("the connection failed: {}", net::plain(&e)).into(),
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

/// Tells a connection still in its opening exchange that there is no room
/// for it now, unsealed.
pub fn refuse(stream: &TcpStream, reason: &str) {
    let _ = stream.set_write_timeout(Some(limits::TURN_AWAY_TIMEOUT));
    let _ = Link::new(stream, None).send(&Message::refused(RefusalKind::Busy, reason));
}
