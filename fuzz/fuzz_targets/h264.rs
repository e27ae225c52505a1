//! `codec::Decoder` on a sequence of arbitrary H.264 frames for a small
//! announced size: the SPS check in Rust, then OpenH264's decoder (C).
//!
//! Input layout: bytes 0 and 1 give the width and height (each mapped to
//! an even 2..=512); then frames, each a flags byte (bit 0: announced as a
//! keyframe; bits 1-2: its layer), a little-endian u16 length and that
//! many bytes (cut short at the end of the input). Each frame is decoded
//! in turn into display pixels; results are ignored.
//!
//! Checks: no panic, no crash, no allocation over the malloc limit; a
//! frame whose SPS describes another size is refused before OpenH264
//! sees it, as a protocol error.
#![no_main]

use camwire::media::codec::{DecodeError, Decoder, h264};
use camwire::wire::{Codec, FrameKind, StreamInfo};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let [w, h, rest @ ..] = input else { return };
    let side = |b: u8| (u32::from(b) + 1) * 2;
    let info = StreamInfo {
        width: side(*w),
        height: side(*h),
        codec: Codec::H264,
    };
    let Ok(mut decoder) = Decoder::new(info) else { return };
    let mut out = vec![0u32; info.width as usize * info.height as usize];
    let mut rest = rest;
    while let [flags, lo, hi, tail @ ..] = rest {
        let len = usize::from(u16::from_le_bytes([*lo, *hi])).min(tail.len());
        let (data, after) = tail.split_at(len);
        rest = after;
        let kind = FrameKind {
            key: flags & 1 == 1,
            layer: (flags >> 1) & 3,
        };
        let checked = kind.key || !decoder.needs_keyframe();
        let result = decoder.decode_into(data, kind, &mut out);
        if checked && h264::check_parameter_sets(data, info).is_err() {
            assert!(matches!(result, Err(DecodeError::Protocol(_))), "{result:?}");
        }
    }
});
