//! Length-prefixed messages over any byte stream.
//!
//! Every message on a camwire connection is framed the same way:
//!
//! ```text
//! +----------------------------+--------------------------------+
//! | length: u64, big-endian    | body: `length` bytes           |
//! | (8 bytes)                  | (one encoded `wire::Message`)  |
//! +----------------------------+--------------------------------+
//! ```
//!
//! This module owns the prefix and nothing else: it never looks inside a body.
//! [`FrameReader`] reads the stream in chunks of [`READ_CHUNK`] bytes into one
//! reused buffer, so reassembling a message costs time linear in its size and
//! no allocation once the buffer has grown to the largest message seen. A
//! length over the reader's limit is rejected before any memory is reserved
//! for it. A stream that ends between messages is a clean end (`Ok(None)`);
//! one that ends inside a message is [`FramingError::Truncated`].

use std::io::{self, IoSlice, Read, Write};
use std::time::{Duration, Instant};

/// Size of the length prefix in bytes.
pub const PREFIX_LEN: usize = 8;

/// How many bytes [`FrameReader`] asks the stream for in one read.
pub const READ_CHUNK: usize = 4096;

/// Why a message could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FramingError {
    /// The stream ended inside a message (in its prefix or its body).
    #[error("connection closed in the middle of a message ({got} of {expected} bytes)")]
    Truncated {
        /// Bytes of the message (prefix included) that arrived.
        got: usize,
        /// Bytes the message should have had (prefix included), or the prefix
        /// length when the prefix itself was cut.
        expected: usize,
    },
    /// The prefix announced a body larger than the reader accepts.
    #[error("message of {len} bytes is over the limit of {limit} bytes")]
    TooLarge {
        /// The announced body length.
        len: u64,
        /// The limit in force.
        limit: usize,
    },
    /// A message that had started did not arrive within its [`Pace`].
    #[error("a message of {expected} bytes still had {got} after {allowed:?}")]
    TooSlow {
        /// Bytes of the message (prefix included) that arrived in time.
        got: usize,
        /// Bytes it should have had (prefix included).
        expected: usize,
        /// The time it was allowed.
        allowed: Duration,
    },
    /// The stream itself failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// How fast a message must arrive once its first byte has: within `grace`
/// plus its length at `floor` bytes a second. A peer trickling a byte now
/// and then cannot hold a reader for ever, however short each wait.
///
/// The check runs as bytes arrive, so a reader may notice up to one read's
/// timeout late.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// Time any message is allowed, however short.
    pub grace: Duration,
    /// The slowest rate a message may arrive at, in bytes a second.
    pub floor: u64,
}

impl Pace {
    /// The time a message of `total` bytes (prefix included) is allowed.
    pub fn allowed(&self, total: usize) -> Duration {
        let floor = self.floor.max(1);
        self.grace + Duration::from_secs_f64(total as f64 / floor as f64)
    }
}

/// Reads length-prefixed messages from a byte stream into a reused buffer.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// Bytes of `buf` that hold data read from the stream.
    filled: usize,
    /// Bytes at the front of `buf` that belong to the message returned last.
    consumed: usize,
    limit: usize,
    pace: Option<Pace>,
    first_byte_at: Option<Instant>,
}

impl<R: Read> FrameReader<R> {
    /// Wraps `inner`, accepting message bodies of at most `limit` bytes.
    pub fn new(inner: R, limit: usize) -> Self {
        FrameReader {
            inner,
            buf: Vec::new(),
            filled: 0,
            consumed: 0,
            limit,
            pace: None,
            first_byte_at: None,
        }
    }

    /// Changes the largest body length accepted from now on.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// Holds every message from now on to `pace` (`None`: no such limit).
    pub fn set_pace(&mut self, pace: Option<Pace>) {
        self.pace = pace;
    }

    /// Reads the next message and returns its body.
    ///
    /// Returns `Ok(None)` when the stream ends cleanly between two messages.
    pub fn read_message(&mut self) -> Result<Option<&[u8]>, FramingError> {
        Ok(self.read_timed()?.map(|(_, body)| &*body))
    }

    /// Like [`read_message`](Self::read_message), also telling when the
    /// message's first byte arrived.
    pub fn read_timed(&mut self) -> Result<Option<(Instant, &mut [u8])>, FramingError> {
        self.discard_consumed();
        self.first_byte_at = (self.filled > 0).then(Instant::now);
        if !self.fill_to(PREFIX_LEN)? {
            return if self.filled == 0 {
                Ok(None)
            } else {
                Err(self.truncated(PREFIX_LEN))
            };
        }
        let prefix: [u8; PREFIX_LEN] = self.buf[..PREFIX_LEN].try_into().expect("prefix length");
        let len = u64::from_be_bytes(prefix);
        let body_len = usize::try_from(len)
            .ok()
            .filter(|&n| n <= self.limit)
            .ok_or(FramingError::TooLarge {
                len,
                limit: self.limit,
            })?;
        let total = PREFIX_LEN + body_len;
        if !self.fill_to(total)? {
            return Err(self.truncated(total));
        }
        self.consumed = total;
        let first_byte_at = self.first_byte_at.unwrap_or_else(Instant::now);
        Ok(Some((first_byte_at, &mut self.buf[PREFIX_LEN..total])))
    }

    /// Bytes of memory the reader holds for its buffer.
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Swaps the stream this reader wraps, keeping the bytes already read.
    pub fn map_inner<S>(self, f: impl FnOnce(R) -> S) -> FrameReader<S> {
        FrameReader {
            inner: f(self.inner),
            buf: self.buf,
            filled: self.filled,
            consumed: self.consumed,
            limit: self.limit,
            pace: self.pace,
            first_byte_at: self.first_byte_at,
        }
    }

    /// The stream this reader wraps.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Moves bytes that arrived after the last message to the front.
    ///
    /// At most one read's worth of bytes is moved, so this stays cheap.
    fn discard_consumed(&mut self) {
        if self.consumed > 0 {
            self.buf.copy_within(self.consumed..self.filled, 0);
            self.filled -= self.consumed;
            self.consumed = 0;
        }
    }

    /// Reads until `want` bytes are buffered; `false` if the stream ended first.
    fn fill_to(&mut self, want: usize) -> Result<bool, FramingError> {
        if self.buf.len() < want + READ_CHUNK {
            self.buf.resize(want + READ_CHUNK, 0);
        }
        while self.filled < want {
            self.check_pace(want)?;
            let chunk = &mut self.buf[self.filled..self.filled + READ_CHUNK];
            match self.inner.read(chunk) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.first_byte_at.get_or_insert_with(Instant::now);
                    self.filled += n;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(true)
    }

    /// Fails when the message being read, `want` bytes long, is late.
    fn check_pace(&self, want: usize) -> Result<(), FramingError> {
        let (Some(pace), Some(first)) = (self.pace, self.first_byte_at) else {
            return Ok(());
        };
        let allowed = pace.allowed(want);
        if first.elapsed() > allowed {
            return Err(FramingError::TooSlow {
                got: self.filled,
                expected: want,
                allowed,
            });
        }
        Ok(())
    }

    fn truncated(&self, expected: usize) -> FramingError {
        FramingError::Truncated {
            got: self.filled,
            expected,
        }
    }
}

/// The length prefix of a body of `body_len` bytes, for a writer that
/// sends the body in pieces after it.
pub fn prefix(body_len: usize) -> [u8; PREFIX_LEN] {
    (body_len as u64).to_be_bytes()
}

/// Writes one message whose body is the concatenation of `parts`.
///
/// The parts go to the stream with vectored writes, so a large body (the
/// pixels of a frame) is never copied into a message buffer first.
pub fn write_message<W: Write>(out: &mut W, parts: &[&[u8]]) -> io::Result<()> {
    let body_len: usize = parts.iter().map(|p| p.len()).sum();
    let prefix = prefix(body_len);
    let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(parts.len() + 1);
    slices.push(IoSlice::new(&prefix));
    slices.extend(parts.iter().map(|p| IoSlice::new(p)));
    let mut remaining = &mut slices[..];
    while !remaining.is_empty() {
        match out.write_vectored(remaining) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut remaining, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A reader that hands out its data `step` bytes at a time.
    struct Trickle {
        data: Vec<u8>,
        pos: usize,
        step: usize,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    fn framed(bodies: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for body in bodies {
            write_message(&mut out, &[body]).unwrap();
        }
        out
    }

    fn read_all<R: Read>(reader: &mut FrameReader<R>) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        while let Some(body) = reader.read_message().unwrap() {
            got.push(body.to_vec());
        }
        got
    }

    #[test]
    fn write_message_puts_big_endian_length_first() {
        let mut out = Vec::new();
        write_message(&mut out, &[b"ab", b"cde"]).unwrap();
        assert_eq!(out, b"\0\0\0\0\0\0\0\x05abcde");
    }

    #[test]
    fn read_single_frame_one_byte_at_a_time() {
        let data = framed(&[b"hello camwire"]);
        let mut reader = FrameReader::new(
            Trickle {
                data,
                pos: 0,
                step: 1,
            },
            100,
        );
        assert_eq!(read_all(&mut reader), vec![b"hello camwire".to_vec()]);
    }

    #[test]
    fn read_many_frames_split_across_awkward_reads() {
        let big = vec![7u8; 3 * READ_CHUNK + 5];
        let bodies: Vec<&[u8]> = vec![b"a", &big, b"", b"tail"];
        for step in [1, 3, 7, READ_CHUNK - 1, READ_CHUNK, usize::MAX] {
            let data = framed(&bodies);
            let mut reader = FrameReader::new(Trickle { data, pos: 0, step }, big.len());
            let got = read_all(&mut reader);
            assert_eq!(got, bodies.iter().map(|b| b.to_vec()).collect::<Vec<_>>());
        }
    }

    #[test]
    fn clean_end_between_messages_is_none() {
        let mut reader = FrameReader::new(Cursor::new(Vec::new()), 10);
        assert!(reader.read_message().unwrap().is_none());
    }

    #[test]
    fn truncated_header_is_an_error() {
        let mut reader = FrameReader::new(Cursor::new(vec![0u8, 0, 0]), 10);
        let err = reader.read_message().unwrap_err();
        assert!(
            matches!(
                err,
                FramingError::Truncated {
                    got: 3,
                    expected: 8
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn truncated_body_is_an_error() {
        let mut data = framed(&[b"0123456789"]);
        data.truncate(PREFIX_LEN + 4);
        let mut reader = FrameReader::new(
            Trickle {
                data,
                pos: 0,
                step: 2,
            },
            100,
        );
        let err = reader.read_message().unwrap_err();
        assert!(
            matches!(
                err,
                FramingError::Truncated {
                    got: 12,
                    expected: 18
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn size_limit_hit_before_allocating() {
        let data = u64::MAX.to_be_bytes().to_vec();
        let mut reader = FrameReader::new(Cursor::new(data), 1 << 20);
        let err = reader.read_message().unwrap_err();
        assert!(
            matches!(
                err,
                FramingError::TooLarge {
                    len: u64::MAX,
                    limit: 1048576
                }
            ),
            "{err}"
        );
        assert!(reader.buf.capacity() < 2 * READ_CHUNK);
    }

    #[test]
    fn limit_is_inclusive_and_can_change() {
        let data = framed(&[b"1234", b"12345"]);
        let mut reader = FrameReader::new(Cursor::new(data), 4);
        assert_eq!(reader.read_message().unwrap().unwrap(), b"1234");
        assert!(matches!(
            reader.read_message(),
            Err(FramingError::TooLarge { len: 5, limit: 4 })
        ));
        reader.set_limit(5);
        assert_eq!(reader.read_message().unwrap().unwrap(), b"12345");
    }

    /// A reader that hands out one byte a call, each `delay` later on a
    /// clock of its own: the reader's pace is checked against real time,
    /// so the delay is real, and short.
    struct Slow {
        data: Vec<u8>,
        pos: usize,
        delay: Duration,
    }

    impl Read for Slow {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            std::thread::sleep(self.delay);
            let n = 1.min(buf.len()).min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    #[test]
    fn a_message_trickled_slower_than_its_pace_is_too_slow() {
        let data = framed(&[&[5u8; 40]]);
        let pace = Pace {
            grace: Duration::from_millis(50),
            floor: 1_000_000,
        };
        let delay = Duration::from_millis(5);
        let mut reader = FrameReader::new(
            Slow {
                data,
                pos: 0,
                delay,
            },
            100,
        );
        reader.set_pace(Some(pace));
        let err = reader.read_message().unwrap_err();
        let FramingError::TooSlow { got, expected, .. } = err else {
            panic!("{err}");
        };
        assert!(got < 48 && expected >= PREFIX_LEN, "{got} of {expected}");
        let mut roomy = FrameReader::new(
            Slow {
                data: framed(&[b"quick"]),
                pos: 0,
                delay: Duration::ZERO,
            },
            100,
        );
        roomy.set_pace(Some(pace));
        assert_eq!(roomy.read_message().unwrap().unwrap(), b"quick");
    }

    #[test]
    fn the_time_a_message_is_allowed_grows_with_its_length() {
        let pace = Pace {
            grace: Duration::from_secs(2),
            floor: 1000,
        };
        assert_eq!(pace.allowed(0), Duration::from_secs(2));
        assert_eq!(pace.allowed(3000), Duration::from_secs(5));
    }

    #[test]
    fn buffer_is_reused_across_messages() {
        let body = vec![1u8; 10 * READ_CHUNK];
        let data = framed(&[&body, &body, &body]);
        let mut reader = FrameReader::new(Cursor::new(data), body.len());
        reader.read_message().unwrap();
        let capacity = reader.buf.capacity();
        reader.read_message().unwrap();
        reader.read_message().unwrap();
        assert_eq!(reader.buf.capacity(), capacity);
    }

    #[test]
    fn reads_ask_for_one_chunk_at_most() {
        struct Spy(Cursor<Vec<u8>>, usize);
        impl Read for Spy {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.1 = self.1.max(buf.len());
                self.0.read(buf)
            }
        }
        let body = vec![9u8; 5 * READ_CHUNK];
        let mut reader = FrameReader::new(Spy(Cursor::new(framed(&[&body])), 0), body.len());
        assert_eq!(reader.read_message().unwrap().unwrap(), &body[..]);
        assert_eq!(reader.get_ref().1, READ_CHUNK);
    }
}
