//! The receiving side: connects, checks the stream, and turns each frame
//! into display pixels.
//!
//! [`Incoming::run`] runs on the network thread. It hands finished pixels to
//! a [`Screen`]: a window (see `display`) or nothing at all (`--headless`).

use std::net::TcpStream;
use std::sync::{Arc, Mutex};

use anyhow::{Result, anyhow, bail};

use crate::console;
use crate::flow::slot::{Picture, Screen};
use crate::limits;
use crate::link::admission::Caller;
use crate::link::handshake::{self, Phase, printable};
use crate::link::net;
use crate::link::private::{Code, Sealer};
use crate::link::sealed::{ReadError, Reader};
use crate::link::target;
use crate::media::codec::{DecodeError, Decoder};
use crate::media::yuv4mpeg::{RecordError, Y4mWriter};
use crate::session::stats::Stats;
use crate::wire::{self, Message, StreamInfo};

/// A screen that shows nothing, reuses one buffer, and prints notices on
/// standard error.
#[derive(Debug, Default)]
pub struct Headless {
    buf: Vec<u32>,
    notice: Option<String>,
    shown_any: bool,
}

impl Screen for Headless {
    fn buffer(&mut self, len: usize) -> Vec<u32> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.resize(len, 0);
        buf
    }

    fn present(&mut self, picture: Picture) {
        if !self.shown_any {
            self.shown_any = true;
            console::info("first frame decoded");
        }
        self.buf = picture.pixels;
    }

    fn recycle(&mut self, buf: Vec<u32>) {
        self.buf = buf;
    }

    fn notice(&mut self, text: Option<String>) {
        if text != self.notice {
            if let Some(line) = &text {
                console::info(line);
            }
            self.notice = text;
        }
    }
}

/// How a stream that went well came to an end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The sender ended the stream.
    SenderEnded,
    /// The number of frames asked for arrived.
    FramesReached,
    /// Whoever read the recording stopped (`--y4m -` into `| head`).
    RecordingClosed,
}

/// A connection whose stream has been announced.
pub struct Incoming {
    reader: Reader<TcpStream>,
    info: StreamInfo,
    sealer: Option<Sealer>,
    peer: String,
    record: Option<Recording>,
}

impl Incoming {
    /// Connects to `addr` and completes the opening exchange, proving
    /// `code` in private mode, as a chat caller when `chat` is set.
    pub fn dial(addr: &str, code: Option<&Code>, chat: bool) -> Result<Self> {
        Self::dial_as(addr, addr, code, chat)
    }

    /// [`Incoming::dial`], naming the sender `peer` in what it says.
    pub fn dial_as(addr: &str, peer: &str, code: Option<&Code>, chat: bool) -> Result<Self> {
        let stream = net::connect(addr)?;
        let opened = handshake::open(stream, peer, code, chat)?;
        Ok(Self::from_opened(opened, peer))
    }

    /// Reads a chat caller's announcement from the reading side the sender's
    /// exchange left.
    pub fn from_caller(caller: Caller, peer: &str) -> Result<Self> {
        let mut reader = caller.reader;
        let stream = reader.get_ref();
        stream.set_read_timeout(Some(limits::SENDER_SILENCE_TIMEOUT))?;
        // A caller trickling its announcement cannot hold the line either.
        reader.frames_mut().set_pace(Some(handshake::STREAM_PACE));
        let info = handshake::read_announcement(&mut reader, peer)?;
        handshake::follow_stream(&mut reader, &info)?;
        let opened = handshake::Opened {
            reader,
            info,
            sealer: None,
        };
        Ok(Self::from_opened(opened, peer))
    }

    fn from_opened(opened: handshake::Opened, peer: &str) -> Self {
        Incoming {
            reader: opened.reader,
            info: opened.info,
            sealer: opened.sealer,
            peer: peer.to_string(),
            record: None,
        }
    }

    /// Takes what a chat caller needs to send its own video on this
    /// connection: the socket and, in private mode, the sealer.
    pub fn outgoing(&mut self) -> Result<(TcpStream, Option<Sealer>)> {
        Ok((self.reader.get_ref().try_clone()?, self.sealer.take()))
    }

    /// The stream as the sender announced it.
    pub fn info(&self) -> StreamInfo {
        self.info
    }

    /// Writes every picture decoded from now on to `record` too.
    pub fn record_to(mut self, record: Option<Recording>) -> Self {
        self.record = record;
        self
    }

    /// Receives frames until the sender ends the stream or `max_frames`
    /// (0: no limit) have been decoded; each is shown on `screen` and
    /// written to the recording, if there is one.
    pub fn run(
        mut self,
        max_frames: u64,
        screen: &mut dyn Screen,
        stats: &Mutex<Stats>,
    ) -> Result<Outcome> {
        lock(stats).set_stream(self.info, &self.peer);
        let mut decoder = Decoder::new(self.info)?;
        let pixels = self.info.width as usize * self.info.height as usize;
        loop {
            let (first_byte, body) = match self.reader.read() {
                Ok(Some(read)) => read,
                Ok(None) => return Err(handshake::unended(&self.peer)),
                Err(ReadError::Framing(e)) => {
                    return Err(handshake::describe(&self.peer, e, Phase::Stream));
                }
                Err(ReadError::Sealed(e)) => bail!("the stream from {} ended: {e}", self.peer),
            };
            let (seq, captured_us, kind, data) = match wire::decode(body) {
                Ok(Message::Frame {
                    seq,
                    captured_us,
                    kind,
                    data,
                }) => (seq, captured_us, kind, data),
                Ok(Message::End) => return Ok(Outcome::SenderEnded),
                Ok(Message::Error { reason } | Message::Refused { reason, .. }) => {
                    bail!("{}: {}", self.peer, printable(&reason))
                }
                Ok(_) => bail!("{} broke the protocol: a second announcement", self.peer),
                Err(e) => bail!(
                    "{} broke the protocol: {}",
                    self.peer,
                    printable(&e.to_string())
                ),
            };
            let body_len = body.len();
            lock(stats)
                .frame_arrived(seq, body_len, first_byte)
                .map_err(|e| anyhow!("{} broke the protocol: {e}", self.peer))?;
            let mut buf = screen.buffer(pixels);
            // Decoded once: into the screen's pixels and, when recording,
            // into the recording.
            let picture = match decoder.decode(data, kind) {
                Ok(picture) => picture,
                Err(DecodeError::Corrupt(why)) => {
                    let skipped = lock(stats).frame_undecodable();
                    if skipped == 1 || skipped.is_multiple_of(limits::DECODE_WARNING_EVERY) {
                        // The decoder's words may quote the peer's bytes.
                        let why = printable(&why);
                        console::info(&format!("skipped frame {seq} ({skipped} so far): {why}"));
                    }
                    screen.recycle(buf);
                    continue;
                }
                Err(DecodeError::Protocol(why)) => {
                    bail!("{} broke the protocol: {}", self.peer, printable(&why))
                }
            };
            picture.to_0rgb(&mut buf);
            let decoded = {
                let mut stats = lock(stats);
                stats.frame_decoded(captured_us);
                stats.frames()
            };
            screen.present(Picture {
                pixels: buf,
                width: self.info.width as usize,
                height: self.info.height as usize,
            });
            if let Some(recording) = &self.record {
                let (w, h) = (self.info.width, self.info.height);
                match lock(recording).write(seq, &picture, w, h) {
                    Ok(()) => {}
                    Err(RecordError::Closed(_)) => return Ok(Outcome::RecordingClosed),
                    Err(e) => return Err(e.into()),
                }
            }
            lock(stats).frame_coded(decoder.coded_size());
            if max_frames > 0 && decoded >= max_frames {
                return Ok(Outcome::FramesReached);
            }
        }
    }
}

/// How a receiver follows a sender.
#[derive(Debug, Clone)]
pub struct Follow {
    /// The sender, `HOST:PORT`.
    pub addr: String,
    /// The name it was found by on the LAN, if it was: looked up again
    /// before each retry, as a sender started again may listen elsewhere.
    pub name: Option<String>,
    /// Stop after this many frames in all (0: no limit).
    pub max_frames: u64,
    /// Reconnect whenever the stream stops, instead of ending.
    pub retry: bool,
    /// The sender's code, in private mode.
    pub code: Option<Code>,
    /// Call for a two-way chat.
    pub chat: bool,
    /// Where every decoded picture is also written (`--y4m`).
    pub record: Option<Recording>,
}

impl Follow {
    /// The sender as the user knows it: `NAME (HOST:PORT)` when found by
    /// name on the LAN, else its address.
    pub fn who(&self) -> String {
        match &self.name {
            Some(name) => format!("{} ({})", printable(name), self.addr),
            None => self.addr.clone(),
        }
    }

    /// Connects; with `retry`, tries again every [`limits::RETRY_DELAY`]
    /// until a sender answers.
    pub fn connect(&mut self, screen: &mut dyn Screen) -> Result<Incoming> {
        self.connect_saying(screen, "waiting for the sender")
    }

    /// [`Follow::connect`], with each failed try shown on `screen` as
    /// `doing: why`; a sender found by name is looked up again before
    /// each try but the first (which dials where it was).
    fn connect_saying(&mut self, screen: &mut dyn Screen, doing: &str) -> Result<Incoming> {
        let mut look = false;
        loop {
            if look {
                self.look_again();
            }
            match Incoming::dial_as(&self.addr, &self.who(), self.code.as_ref(), self.chat) {
                Ok(incoming) => {
                    screen.notice(None);
                    return Ok(incoming);
                }
                Err(e) if self.retry && !handshake::is_final(&e) => {
                    screen.notice(Some(format!("{doing}: {e:#}")));
                    std::thread::sleep(limits::RETRY_DELAY);
                    look = true;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Looks on the LAN for the sender of this name again, and follows it
    /// to where it answers now; where none answers, the address stays.
    fn look_again(&mut self) {
        let Some(name) = &self.name else {
            return;
        };
        let Ok(Some(found)) = target::find(name) else {
            return;
        };
        let addr = found.addr.to_string();
        if addr != self.addr {
            console::info(&format!("found {} at {addr}", printable(name)));
            self.addr = addr;
        }
    }

    /// Receives from `first`, and with `retry` from each new connection
    /// after the stream stops, until `max_frames` or an end without retry.
    pub fn run(
        &mut self,
        first: Incoming,
        screen: &mut dyn Screen,
        stats: &Mutex<Stats>,
    ) -> Result<Outcome> {
        let mut incoming = first;
        loop {
            let recording = incoming.record_to(self.record.clone());
            let why = match recording.run(self.max_frames, screen, stats) {
                Ok(done @ (Outcome::FramesReached | Outcome::RecordingClosed)) => return Ok(done),
                result if !self.retry => return result,
                // The recording failing, or changing size, ends it all.
                Err(e) if e.is::<RecordError>() => return Err(e),
                Ok(Outcome::SenderEnded) => SENDER_ENDED.to_string(),
                Err(e) => format!("{e:#}"),
            };
            screen.notice(Some(format!("reconnecting: {why}")));
            incoming = self.connect_saying(screen, "reconnecting")?;
        }
    }
}

/// What a receiver says, on its window and its terminal, when the sender
/// ends the stream.
pub const SENDER_ENDED: &str = "the sender ended the stream";

/// What a window should go on saying once a stream has ended this way:
/// why, when the sender ended it or it failed; nothing when the receiver
/// itself stopped (`--frames` reached, the recording's reader gone).
pub fn last_word(ended: &Result<Outcome>) -> Option<String> {
    match ended {
        Ok(Outcome::SenderEnded) => Some(SENDER_ENDED.to_string()),
        Ok(Outcome::FramesReached | Outcome::RecordingClosed) => None,
        Err(e) => Some(format!("{e:#}")),
    }
}

pub use crate::sync::lock;

/// Stats shared between the network thread and whoever reports them.
pub type SharedStats = Arc<Mutex<Stats>>;

/// A recording of the decoded pictures, shared between the network thread
/// and the end of the receiver (Ctrl-C lets a frame being written finish).
pub type Recording = Arc<Mutex<Y4mWriter>>;
