//! The receiver's side of the opening exchange: hello, the code in private
//! mode, and the sender's announcement of the stream.

use std::io::Read;
use std::net::TcpStream;
use std::time::Instant;

use anyhow::{Result, anyhow, bail};

use crate::framing::{self, FrameReader, FramingError, Pace};
use crate::limits;
use crate::link::net::{self, Deadline};
use crate::link::private::{Code, Exchange, Role, Sealer};
use crate::link::sealed::{ReadError, Reader};
use crate::wire::{self, Message, RefusalKind, StreamInfo, WireError};

/// The sender wants a code and none was given.
#[derive(Debug, thiserror::Error)]
#[error("{0} is private: give its code with --code CODE or the CAMWIRE_CODE variable")]
pub struct CodeRequired(pub String);

/// The code given is not the sender's: the two sides' keys differ.
#[derive(Debug, thiserror::Error)]
#[error("wrong code: {0} was started with another one")]
pub struct WrongCode(pub String);

/// A refusal that trying again will not change: a wrong code, another
/// protocol version, a peer that is not a camwire sender. Only a peer that
/// answered, and answered wrong, is refused for good; one that went away
/// before its answer was whole may be a sender restarting.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Final(pub String);

/// Whether `e` is a refusal that retrying cannot cure.
pub fn is_final(e: &anyhow::Error) -> bool {
    e.is::<Final>() || e.is::<CodeRequired>() || e.is::<WrongCode>()
}

macro_rules! final_err {
    ($($arg:tt)*) => {
        return Err(Final(format!($($arg)*)).into())
    };
}

/// A connection whose stream has been announced, ready for frames.
pub struct Opened {
    /// Reads the stream's messages, opening them in private mode.
    pub reader: Reader<TcpStream>,
    /// The stream as announced.
    pub info: StreamInfo,

    /// Seals what this side sends (a chat caller's video), in private mode.
    pub sealer: Option<Sealer>,
}

/// Says hello on `stream`, proves the code if there is one, and reads the
/// announcement. `peer` names the sender in errors.
pub fn open(stream: TcpStream, peer: &str, code: Option<&Code>, chat: bool) -> Result<Opened> {
    let ours = code.map(Exchange::start);
    let exchange = ours.as_ref().map_or(&[][..], |e| e.message());
    let hello = if chat {
        Message::call(exchange)
    } else {
        Message::hello(exchange)
    };
    framing::write_message(&mut &stream, &[&wire::encode(&hello)]).map_err(|e| {
        match net::is_hang_up(&e) {
            true => anyhow!("{peer} closed the connection at once"),
            false => failed(peer, &e),
        }
    })?;
    // The whole exchange has one deadline: a sender trickling bytes cannot
    // stretch it.
    let deadline = Deadline::new(stream, Instant::now() + limits::HANDSHAKE_TIMEOUT);
    let mut reader = FrameReader::new(deadline, limits::HANDSHAKE_MESSAGE_LIMIT);
    let not_camwire = || anyhow::Error::from(Final(format!("{peer} is not a camwire sender")));
    let (info, reader, sealer) = match wire::decode_opening(read(&mut reader, peer)?) {
        Ok(Message::Stream { info, .. }) if code.is_none() => {
            (info, Reader::new(reader, None), None)
        }
        Ok(Message::Stream { .. }) => final_err!(
            "{peer} is an open sender: anyone can watch it and nothing is encrypted; connect without a code to watch it anyway"
        ),
        Ok(Message::Auth {
            exchange,
            confirmation,
        }) => {
            let (exchange, confirmation) = (exchange.to_vec(), confirmation.to_vec());
            let ours = ours.ok_or_else(not_camwire)?;
            let mut keys = ours
                .finish(&exchange, Role::Viewer)
                .map_err(|_| not_camwire())?;
            // Check the sender first: a fake sender learns nothing from us.
            if keys.check(&confirmation).is_err() {
                return Err(WrongCode(peer.to_string()).into());
            }
            let mine = keys.confirmation();
            let confirm = Message::Confirm {
                confirmation: &mine,
            };
            framing::write_message(&mut reader.get_ref().get_ref(), &[&wire::encode(&confirm)])
                .map_err(|e| match net::is_hang_up(&e) {
                    true => cut_short(peer),
                    false => failed(peer, &e),
                })?;
            let mut sealed = Reader::new(reader, Some(keys.opener));
            let info = read_announcement(&mut sealed, peer)?;
            (info, sealed, Some(keys.sealer))
        }
        Ok(Message::CodeRequired) => return Err(CodeRequired(peer.to_string()).into()),
        Ok(Message::Refused { kind, reason }) => return Err(refused(peer, kind, &reason)),
        // Senders before version 3 refused another version only in words;
        // that will not change by retrying either.
        Ok(Message::Error { reason }) if reason.contains("protocol version") => {
            final_err!("{peer} refused: {}", printable(&reason))
        }
        Ok(Message::Error { reason }) => bail!("{peer} refused: {}", printable(&reason)),
        Ok(_) | Err(WireError::NotCamwire | WireError::Malformed(_)) => return Err(not_camwire()),
        Err(e) => final_err!("{peer}: {e}: update camwire on both ends"),
    };
    info.validate().map_err(|e| anyhow!("{peer}: {e}"))?;
    let mut reader = reader.map_inner(Deadline::into_inner);
    follow_stream(&mut reader, &info)?;
    Ok(Opened {
        reader,
        info,
        sealer,
    })
}

/// Sets `reader` up for a stream of `info` once it is announced: the
/// stream's limit, pace and silence timeout instead of the exchange's.
pub fn follow_stream(reader: &mut Reader<TcpStream>, info: &StreamInfo) -> Result<()> {
    let limit = body_limit(info, reader.is_sealed());
    let frames = reader.frames_mut();
    frames.set_limit(limit);
    frames.set_pace(Some(STREAM_PACE));
    reader
        .get_ref()
        .set_read_timeout(Some(limits::SENDER_SILENCE_TIMEOUT))?;
    Ok(())
}

/// How fast each message of a stream must arrive once it has started.
pub const STREAM_PACE: Pace = Pace {
    grace: limits::MESSAGE_GRACE,
    floor: limits::MESSAGE_FLOOR_RATE,
};

/// The largest body a stream's messages may have: its frames' limit, plus
/// the tag when they are sealed.
pub fn body_limit(info: &StreamInfo, sealed: bool) -> usize {
    let tag = if sealed {
        crate::link::private::TAG_LEN
    } else {
        0
    };
    info.max_body_len() + tag
}

/// Reads a `Stream` announcement (or a refusal), sealed in private mode:
/// the sender's after a good exchange, or a chat caller's.
pub fn read_announcement<R: Read>(reader: &mut Reader<R>, peer: &str) -> Result<StreamInfo> {
    let plain = match reader.read() {
        Ok(Some((_, body))) => body,
        Ok(None) => return Err(cut_short(peer)),
        Err(ReadError::Framing(e)) => return Err(describe(peer, e, Phase::Opening)),
        Err(ReadError::Sealed(e)) => bail!("the connection to {peer} failed: {e}"),
    };
    let info = match wire::decode(plain) {
        Ok(Message::Stream { info, .. }) => info,
        Ok(Message::Refused { kind, reason }) => return Err(refused(peer, kind, &reason)),
        Ok(Message::Error { reason }) => bail!("{peer} refused: {}", printable(&reason)),
        _ => bail!("{peer} broke the protocol: no stream announcement"),
    };
    info.validate().map_err(|e| anyhow!("{peer}: {e}"))?;
    Ok(info)
}

fn read<'r, R: Read>(reader: &'r mut FrameReader<R>, peer: &str) -> Result<&'r [u8]> {
    match reader.read_message() {
        Ok(Some(body)) => Ok(body),
        Ok(None) => Err(cut_short(peer)),
        Err(e) => Err(describe(peer, e, Phase::Opening)),
    }
}

/// Where a receiver was when reading failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// In the opening exchange, before the stream was announced.
    Opening,
    /// In the stream.
    Stream,
}

/// A failed read from a sender, as one sentence for the user: the one
/// place a receiver turns framing errors into words.
pub fn describe(peer: &str, e: FramingError, phase: Phase) -> anyhow::Error {
    match (phase, e) {
        (Phase::Opening, e) if net::is_timeout(&e) => anyhow!(
            "{peer} did not complete the opening exchange within {:?}: it is not a camwire sender, or it is stuck",
            limits::HANDSHAKE_TIMEOUT
        ),
        (Phase::Opening, FramingError::Truncated { .. }) => cut_short(peer),
        (Phase::Opening, FramingError::Io(e)) if net::is_hang_up(&e) => cut_short(peer),
        (Phase::Opening, FramingError::TooLarge { .. } | FramingError::TooSlow { .. }) => {
            Final(format!("{peer} is not a camwire sender")).into()
        }
        (Phase::Stream, FramingError::Truncated { .. }) => {
            anyhow!("sender closed the connection in the middle of a frame")
        }
        (Phase::Stream, FramingError::TooLarge { len, limit }) => anyhow!(
            "{peer} broke the protocol: a message of {len} bytes, over the {limit} this stream allows"
        ),
        (
            Phase::Stream,
            FramingError::TooSlow {
                got,
                expected,
                allowed,
            },
        ) => anyhow!(
            "{peer} sent {got} bytes of a {expected}-byte message in {allowed:.0?}: the sender or the network is stalling"
        ),
        (Phase::Stream, e) if net::is_timeout(&e) => anyhow!(
            "{peer} sent nothing for {:?}: the sender or the network stopped",
            limits::SENDER_SILENCE_TIMEOUT
        ),
        (Phase::Stream, FramingError::Io(e)) if net::is_hang_up(&e) => unended(peer),
        (_, FramingError::Io(e)) => failed(peer, &e),
    }
}

/// The peer closed or reset the connection between messages of the
/// stream, without its end message: it left, or was killed.
pub fn unended(peer: &str) -> anyhow::Error {
    anyhow!("{peer} closed the connection without ending the stream")
}

/// The connection to `peer` failed otherwise, in words.
fn failed(peer: &str, e: &std::io::Error) -> anyhow::Error {
    anyhow!("the connection to {peer} failed: {}", net::plain(e))
}

/// A sender's refusal, final when its kind says retrying cannot help.
fn refused(peer: &str, kind: RefusalKind, reason: &str) -> anyhow::Error {
    let text = format!("{peer} refused: {}", printable(reason));
    if kind.is_final() {
        Final(text).into()
    } else {
        anyhow!(text)
    }
}

/// The peer closed or reset the connection before its answer was whole:
/// not a refusal, since a sender that is restarting does that too.
fn cut_short(peer: &str) -> anyhow::Error {
    anyhow!("{peer} closed the connection during the opening exchange")
}

/// A peer's text made safe for a terminal or a window title, at most
/// [`limits::MAX_REASON_CHARS`] characters long. Every character that
/// could move the cursor, break the line, turn the text around or hide is
/// shown as its escape, such as `\u{202e}`: control characters (escape
/// sequences, newlines), bidirectional overrides and isolates, line and
/// paragraph separators, zero-width and other invisible format characters.
pub fn printable(text: &str) -> String {
    let mut out = String::new();
    let mut shown = 0;
    for c in text.chars() {
        let escape = acts_unseen(c).then(|| c.escape_unicode());
        shown += escape.as_ref().map_or(1, |escape| escape.len());
        if shown > limits::MAX_REASON_CHARS {
            break;
        }
        match escape {
            Some(escape) => out.extend(escape),
            None => out.push(c),
        }
    }
    out
}

/// Whether `c` acts on a terminal or on the text around it instead of
/// showing as itself: control characters, and Unicode's format characters
/// (general category Cf), separators and invisible fillers.
fn acts_unseen(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{ad}'
                | '\u{34f}'
                | '\u{600}'..='\u{605}'
                | '\u{61c}'
                | '\u{6dd}'
                | '\u{70f}'
                | '\u{890}'..='\u{891}'
                | '\u{8e2}'
                | '\u{115f}'..='\u{1160}'
                | '\u{17b4}'..='\u{17b5}'
                | '\u{180b}'..='\u{180f}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{206f}'
                | '\u{3164}'
                | '\u{fe00}'..='\u{fe0f}'
                | '\u{feff}'
                | '\u{ffa0}'
                | '\u{fff9}'..='\u{fffb}'
                | '\u{110bd}'
                | '\u{110cd}'
                | '\u{13430}'..='\u{1343f}'
                | '\u{1bca0}'..='\u{1bca3}'
                | '\u{1d173}'..='\u{1d17a}'
                | '\u{e0000}'..='\u{e0fff}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_escapes_what_would_act_on_the_terminal() {
        let cases = [
            ("wrong code\nfake line", "wrong code\\u{a}fake line"),
            ("\u{1b}[2J", "\\u{1b}[2J"),
            ("abc\u{202e}fed", "abc\\u{202e}fed"),
            (
                "one\u{2028}two\u{2029}three",
                "one\\u{2028}two\\u{2029}three",
            ),
            ("in\u{200b}vis\u{feff}ible", "in\\u{200b}vis\\u{feff}ible"),
            ("\u{2066}isolate\u{2069}", "\\u{2066}isolate\\u{2069}"),
            ("tag\u{e0041}", "tag\\u{e0041}"),
        ];
        for (peer, shown) in cases {
            assert_eq!(printable(peer), shown, "{peer:?}");
        }
    }

    #[test]
    fn printable_keeps_ordinary_text_of_any_script() {
        for text in [
            "busy: try again",
            "caméra occupée",
            "ビジー",
            "שלום",
            "🙂 ok",
        ] {
            assert_eq!(printable(text), text);
        }
    }

    #[test]
    fn printable_is_bounded_and_never_cuts_an_escape() {
        let long = "x".repeat(10 * limits::MAX_REASON_CHARS);
        assert_eq!(printable(&long).chars().count(), limits::MAX_REASON_CHARS);
        let hidden = "\u{202e}".repeat(limits::MAX_REASON_CHARS);
        let shown = printable(&hidden);
        assert!(shown.chars().count() <= limits::MAX_REASON_CHARS);
        assert!(shown.ends_with('}'), "{shown}");
        assert_eq!(shown.matches("\\u{202e}").count(), shown.len() / 8);
    }
}
