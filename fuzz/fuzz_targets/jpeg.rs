//! `codec::Decoder` on arbitrary JPEG data for a small announced size.
//!
//! Input layout: bytes 0..2 and 2..4 are the width and height (little-endian,
//! mapped into 1..=256), the rest is the frame's data. The result is ignored;
//! the decoder must not panic. The same data also goes through
//! `mjpeg::with_standard_tables`, which must borrow it unchanged or add
//! exactly one table segment, after which the image has tables.
#![no_main]

use std::borrow::Cow;

use camwire::media::codec::Decoder;
use camwire::media::mjpeg;
use camwire::wire::{Codec, FrameKind, StreamInfo};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    if input.len() < 4 {
        return;
    }
    let side = |b: [u8; 2]| u32::from(u16::from_le_bytes(b) % 256) + 1;
    let width = side([input[0], input[1]]);
    let height = side([input[2], input[3]]);
    let info = StreamInfo {
        width,
        height,
        codec: Codec::Jpeg,
    };
    let mut out = vec![0u32; width as usize * height as usize];
    let Ok(mut decoder) = Decoder::new(info) else { return };
    let data = &input[4..];
    let _ = decoder.decode_into(data, FrameKind::KEY, &mut out);
    match mjpeg::with_standard_tables(data) {
        Cow::Borrowed(same) => assert!(std::ptr::eq(same, data)),
        Cow::Owned(fixed) => {
            assert!(!mjpeg::has_huffman_tables(data));
            assert_eq!(fixed.len(), data.len() + mjpeg::STANDARD_TABLES_LEN);
            assert!(mjpeg::has_huffman_tables(&fixed));
            assert_eq!(*mjpeg::shared_with_standard_tables(data), fixed[..]);
        }
    }
});
