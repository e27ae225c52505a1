//! `codec::Decoder` on arbitrary JPEG data for a small announced size.
//!
//! Input layout: bytes 0..2 and 2..4 are the width and height (little-endian,
//! mapped into 1..=256), the rest is the frame's data. The result is ignored;
//! the decoder must not panic.
#![no_main]

use camwire::codec::Decoder;
use camwire::wire::{Codec, StreamInfo};
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
    let mut decoder = Decoder::new(info);
    let _ = decoder.decode(&input[4..], &mut out);
});
