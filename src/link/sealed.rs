//! Messages on a connection whose opening exchange is over, over any
//! byte stream: plain, or sealed in private mode. [`Link`] writes them,
//! sealing a piece at a time; [`Reader`] reads them and opens each.

use std::io::{self, Read, Write};
use std::time::Instant;

use super::private::{Opener, PrivateError, Sealer, TAG_LEN};
use crate::framing::{self, FrameReader, FramingError, PREFIX_LEN};
use crate::limits;
use crate::wire::{self, Message};

/// Writes messages to `W` (a socket, or a buffer in a test), sealed in
/// private mode.
pub struct Link<W> {
    out: W,
    sealer: Option<Sealer>,
    scratch: Vec<u8>,
}

impl<W: Write> Link<W> {
    /// A link writing to `out`, sealing with `sealer` in private mode.
    pub fn new(out: W, sealer: Option<Sealer>) -> Self {
        Link {
            out,
            sealer,
            scratch: Vec::new(),
        }
    }

    /// Seals every message from now on: the exchange has proved the code.
    pub fn seal_from_now(&mut self, sealer: Sealer) {
        self.sealer = Some(sealer);
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
        let out = &mut self.out;
        let Some(sealer) = &mut self.sealer else {
            return framing::write_message(out, parts);
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

/// Why a message could not be read from a [`Reader`].
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The framing failed: the stream ended inside a message, a length
    /// over the limit, a stalled peer, a failed socket.
    #[error(transparent)]
    Framing(#[from] FramingError),
    /// A sealed message did not open.
    #[error(transparent)]
    Sealed(#[from] PrivateError),
}

/// Reads messages from `R`, opening each in private mode.
pub struct Reader<R> {
    frames: FrameReader<R>,
    opener: Option<Opener>,
}

impl<R: Read> Reader<R> {
    /// A reader of `frames`, opening with `opener` in private mode.
    pub fn new(frames: FrameReader<R>, opener: Option<Opener>) -> Self {
        Reader { frames, opener }
    }

    /// The next message's body (opened) and when its first byte came;
    /// `None` when the stream ends cleanly between messages.
    pub fn read(&mut self) -> Result<Option<(Instant, &[u8])>, ReadError> {
        let Some((first_byte, body)) = self.frames.read_timed()? else {
            return Ok(None);
        };
        let body = match &mut self.opener {
            None => &*body,
            Some(opener) => &*opener.open(body)?,
        };
        Ok(Some((first_byte, body)))
    }

    /// Whether messages are sealed.
    pub fn is_sealed(&self) -> bool {
        self.opener.is_some()
    }

    /// The framing underneath, to change its limits.
    pub fn frames_mut(&mut self) -> &mut FrameReader<R> {
        &mut self.frames
    }

    /// What the reader reads from.
    pub fn get_ref(&self) -> &R {
        self.frames.get_ref()
    }

    /// Swaps what the reader reads from, keeping what it has read ahead.
    pub fn map_inner<S>(self, f: impl FnOnce(R) -> S) -> Reader<S> {
        Reader {
            frames: self.frames.map_inner(f),
            opener: self.opener,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::FrameReader;
    use crate::link::private::{Code, Exchange, Keys, Role};

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
        /// Keeps each write apart, to see the pieces.
        #[derive(Default)]
        struct Pieces(Vec<Vec<u8>>);
        impl Write for Pieces {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0.push(buf.to_vec());
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let (sender, viewer) = keys();
        let chunk = limits::SEAL_CHUNK;
        let pixels: Vec<u8> = (0..3 * chunk).map(|i| (i % 251) as u8).collect();
        // Bodies that end inside a piece, exactly at the end of the second
        // one (so the tag goes alone), and inside the first.
        let cuts = [2 * chunk + 100, 2 * chunk - PREFIX_LEN - 4, 10];
        let mut written = Pieces::default();
        let mut link = Link::new(&mut written, Some(sender.sealer));
        for cut in cuts {
            link.send_parts(&[b"head", &pixels[..cut]]).unwrap();
        }
        let pieces = &written.0;
        assert!(pieces.iter().all(|p| p.len() <= chunk + TAG_LEN));
        assert!(pieces.len() > cuts.len(), "big messages go out in pieces");
        let wire_bytes = pieces.concat();
        let frames = FrameReader::new(&wire_bytes[..], 4 * chunk);
        let mut reader = Reader::new(frames, Some(viewer.opener));
        for cut in cuts {
            let (_, plain) = reader.read().unwrap().unwrap();
            assert_eq!(&plain[..4], b"head");
            assert_eq!(&plain[4..], &pixels[..cut], "cut at {cut}");
        }
    }

    #[test]
    fn sealed_messages_read_back_from_a_buffer_and_a_flipped_byte_fails() {
        let (sender, viewer) = keys();
        let mut wire_bytes = Vec::new();
        let mut link = Link::new(&mut wire_bytes, Some(sender.sealer));
        let big = vec![7u8; limits::SEAL_CHUNK + 3];
        link.send(&Message::End).unwrap();
        link.send_parts(&[b"head", &big]).unwrap();
        let mut reader = Reader::new(
            FrameReader::new(&wire_bytes[..], 2 * big.len()),
            Some(viewer.opener),
        );
        let (_, first) = reader.read().unwrap().unwrap();
        assert_eq!(wire::decode(first).unwrap(), Message::End);
        let (_, second) = reader.read().unwrap().unwrap();
        assert_eq!((&second[..4], &second[4..]), (&b"head"[..], &big[..]));
        assert!(reader.read().unwrap().is_none(), "a clean end");

        let (sender, viewer) = keys();
        let mut flipped = Vec::new();
        Link::new(&mut flipped, Some(sender.sealer))
            .send(&Message::End)
            .unwrap();
        flipped[PREFIX_LEN] ^= 1;
        let mut reader = Reader::new(FrameReader::new(&flipped[..], 64), Some(viewer.opener));
        assert!(matches!(
            reader.read(),
            Err(ReadError::Sealed(PrivateError::Tampered))
        ));
    }

    #[test]
    fn a_replayed_or_cut_sealed_stream_fails_and_an_open_one_passes_through() {
        let (sender, viewer) = keys();
        let mut once = Vec::new();
        Link::new(&mut once, Some(sender.sealer))
            .send(&Message::End)
            .unwrap();
        let twice = [once.clone(), once.clone()].concat();
        let mut reader = Reader::new(FrameReader::new(&twice[..], 64), Some(viewer.opener));
        assert!(reader.read().unwrap().is_some());
        assert!(
            matches!(reader.read(), Err(ReadError::Sealed(_))),
            "a replay"
        );
        let cut = &once[..once.len() - 1];
        let (_, viewer) = keys();
        let mut reader = Reader::new(FrameReader::new(cut, 64), Some(viewer.opener));
        assert!(matches!(
            reader.read(),
            Err(ReadError::Framing(FramingError::Truncated { .. }))
        ));
        let mut open = Vec::new();
        Link::new(&mut open, None).send(&Message::End).unwrap();
        let mut reader = Reader::new(FrameReader::new(&open[..], 64), None);
        let (_, body) = reader.read().unwrap().unwrap();
        assert_eq!(wire::decode(body).unwrap(), Message::End);
    }
}
