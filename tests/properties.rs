//! Properties over arbitrary input: any byte stream, cut anywhere, gives
//! messages or an error, never a panic or an allocation over the limit.

use std::io::{self, Read};

use camwire::framing::{self, FrameReader, FramingError, PREFIX_LEN, READ_CHUNK};
use camwire::media::codec::Decoder;
use camwire::wire::{self, Codec, FrameKind, StreamInfo};
use proptest::prelude::*;

/// Serves `data` in reads whose sizes cycle through `steps`.
struct Chopped {
    data: Vec<u8>,
    pos: usize,
    steps: Vec<usize>,
    turn: usize,
}

impl Read for Chopped {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let step = self.steps[self.turn % self.steps.len()];
        self.turn += 1;
        let n = step.min(buf.len()).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn chopped(data: Vec<u8>, steps: Vec<usize>) -> Chopped {
    Chopped {
        data,
        pos: 0,
        steps,
        turn: 0,
    }
}

fn framed(bodies: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for body in bodies {
        framing::write_message(&mut out, &[body]).unwrap();
    }
    out
}

proptest! {
    #[test]
    fn any_split_of_valid_messages_reads_back(
        bodies in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..3000), 0..6),
        steps in prop::collection::vec(1usize..6000, 1..8),
    ) {
        let mut reader = FrameReader::new(chopped(framed(&bodies), steps), 3000);
        for body in &bodies {
            prop_assert_eq!(reader.read_message().unwrap().unwrap(), &body[..]);
        }
        prop_assert!(reader.read_message().unwrap().is_none());
    }

    #[test]
    fn a_stream_cut_anywhere_ends_in_truncated_or_clean(
        bodies in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..500), 1..5),
        cut_fraction in 0.0f64..1.0,
    ) {
        let whole = framed(&bodies);
        let cut = (whole.len() as f64 * cut_fraction) as usize;
        let boundaries: Vec<usize> = bodies
            .iter()
            .scan(0, |end, b| { *end += PREFIX_LEN + b.len(); Some(*end) })
            .collect();
        let mut reader = FrameReader::new(&whole[..cut], 500);
        let mut read = 0;
        let last = loop {
            match reader.read_message() {
                Ok(Some(_)) => read += 1,
                other => break other.map(|o| o.is_some()),
            }
        };
        let at_boundary = cut == 0 || boundaries.contains(&cut);
        prop_assert_eq!(read, boundaries.iter().filter(|&&b| b <= cut).count());
        let clean = matches!(last, Ok(false));
        let truncated = matches!(last, Err(FramingError::Truncated { .. }));
        let expected = if at_boundary { clean } else { truncated };
        prop_assert!(expected, "cut at {} of {}: {:?}", cut, whole.len(), last);
    }

    #[test]
    fn garbage_never_panics_nor_allocates_past_the_limit(
        data in prop::collection::vec(any::<u8>(), 0..20_000),
        steps in prop::collection::vec(1usize..5000, 1..4),
        limit in 0usize..10_000,
    ) {
        let mut reader = FrameReader::new(chopped(data, steps), limit);
        while let Ok(Some(body)) = reader.read_message() {
            prop_assert!(body.len() <= limit);
            if let Ok(msg) = wire::decode(body) {
                let _ = format!("{msg:?}");
            }
            let _ = wire::decode_opening(body);
        }
        prop_assert!(reader.buffer_capacity() <= limit + PREFIX_LEN + READ_CHUNK);
    }

    #[test]
    fn garbage_jpeg_is_an_error_not_a_panic(
        data in prop::collection::vec(any::<u8>(), 0..4000),
        width in 1u32..64,
        height in 1u32..64,
    ) {
        let info = StreamInfo { width, height, codec: Codec::Jpeg };
        let mut out = vec![0u32; (width * height) as usize];
        // With and without a JPEG start marker, so the decoder gets past it.
        let mut marked = vec![0xFF, 0xD8];
        marked.extend_from_slice(&data);
        for input in [&data, &marked] {
            let _ = Decoder::new(info).unwrap().decode_into(input, FrameKind::KEY, &mut out);
        }
    }
}
