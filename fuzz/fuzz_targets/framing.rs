//! `FrameReader` over an arbitrary byte stream, served in input-chosen chunks.
//!
//! Input layout: byte 0 picks how the stream is served (see `Chunked::new`),
//! the rest is the stream. Every result is checked against a straightforward
//! reference parse of the same bytes. Memory is bounded by the reader's limit
//! (1 MiB); run with `-malloc_limit_mb=64` so a larger allocation is a crash.
#![no_main]

use std::io::{self, Read};

use camwire::framing::{FrameReader, FramingError, PREFIX_LEN, READ_CHUNK};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 1 << 20;

/// The most buffer the reader may hold: the largest message plus one read,
/// twice over for `Vec`'s amortized growth.
const MAX_CAPACITY: usize = 2 * (PREFIX_LEN + LIMIT + READ_CHUNK);

/// A reader that returns at most `step` bytes a call and, if asked, fails
/// every other call with `Interrupted`.
struct Chunked<'a> {
    data: &'a [u8],
    step: usize,
    interrupt: bool,
    interrupted_last: bool,
}

impl<'a> Chunked<'a> {
    /// Low 7 bits of `mode`: 0 = whole reads, 1..=63 = that many bytes,
    /// 64..=127 = multiples of 64 bytes up to 4096. Top bit: interruptions.
    fn new(mode: u8, data: &'a [u8]) -> Self {
        let step = match (mode & 0x7f) as usize {
            0 => usize::MAX,
            n @ 1..=63 => n,
            n => (n - 63) * 64,
        };
        Chunked {
            data,
            step,
            interrupt: mode & 0x80 != 0,
            interrupted_last: false,
        }
    }
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        assert!(!buf.is_empty(), "FrameReader asked for zero bytes");
        assert!(
            buf.len() <= READ_CHUNK,
            "FrameReader asked for {} bytes in one read",
            buf.len()
        );
        if self.interrupt && !self.interrupted_last {
            self.interrupted_last = true;
            return Err(io::ErrorKind::Interrupted.into());
        }
        self.interrupted_last = false;
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// What the reader should report next for the stream at `rest`.
enum Expected<'a> {
    Message(&'a [u8]),
    End,
    Truncated { got: usize, expected: usize },
    TooLarge { len: u64 },
}

fn expected(rest: &[u8]) -> Expected<'_> {
    if rest.is_empty() {
        return Expected::End;
    }
    if rest.len() < PREFIX_LEN {
        return Expected::Truncated {
            got: rest.len(),
            expected: PREFIX_LEN,
        };
    }
    let len = u64::from_be_bytes(rest[..PREFIX_LEN].try_into().unwrap());
    if len > LIMIT as u64 {
        return Expected::TooLarge { len };
    }
    let total = PREFIX_LEN + len as usize;
    if rest.len() < total {
        return Expected::Truncated {
            got: rest.len(),
            expected: total,
        };
    }
    Expected::Message(&rest[PREFIX_LEN..total])
}

fuzz_target!(|input: &[u8]| {
    let Some((&mode, stream)) = input.split_first() else {
        return;
    };
    let mut reader = FrameReader::new(Chunked::new(mode, stream), LIMIT);
    let mut pos = 0;
    loop {
        let want = expected(&stream[pos..]);
        let got = reader.read_message();
        let got = got.map(|b| b.map(<[u8]>::to_vec));
        assert!(
            reader.buffer_capacity() <= MAX_CAPACITY,
            "the reader holds {} bytes",
            reader.buffer_capacity()
        );
        match (got, want) {
            (Ok(Some(body)), Expected::Message(want)) => {
                assert!(body.len() <= LIMIT);
                assert_eq!(body, want, "body of the message at offset {pos}");
                pos += PREFIX_LEN + body.len();
            }
            (Ok(None), Expected::End) => {
                // The end stays the end.
                assert!(matches!(reader.read_message(), Ok(None)));
                return;
            }
            (
                Err(FramingError::Truncated { got, expected }),
                Expected::Truncated {
                    got: want_got,
                    expected: want_expected,
                },
            ) => {
                assert_eq!(
                    (got, expected),
                    (want_got, want_expected),
                    "at offset {pos}"
                );
                return;
            }
            (Err(FramingError::TooLarge { len, limit }), Expected::TooLarge { len: want }) => {
                assert_eq!((len, limit), (want, LIMIT), "at offset {pos}");
                return;
            }
            (got, _) => panic!(
                "at offset {pos} of {}: got {:?}",
                stream.len(),
                got.map(|b| b.map(|b| b.len()))
            ),
        }
    }
});
