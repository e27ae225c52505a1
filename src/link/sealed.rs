//! Writing messages on a connection whose opening exchange is over:
//! plain, or sealed piece by piece in private mode.

use std::io::{self, Write};
use std::net::TcpStream;

use super::private::{Sealer, TAG_LEN};
use crate::framing::{self, PREFIX_LEN};
use crate::limits;
use crate::wire::{self, Message};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::FrameReader;
    use crate::link::private::{Code, Exchange, Keys, Role};
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
