//! Raw video: packed RGB, every frame a keyframe.

use anyhow::Result;

use super::{DecodeError, Decoded, Encoded, FrameDecoder, FrameEncoder, Image};
use crate::wire::{FrameKind, StreamInfo};

/// Copies each picture onto the wire as it is (as RGB).
#[derive(Default)]
pub struct RawEncoder {
    scratch: Vec<u8>,
}

impl FrameEncoder for RawEncoder {
    fn encode(&mut self, image: &Image<'_>, _keyframe: bool) -> Result<Encoded> {
        Ok(Encoded {
            data: image.rgb(&mut self.scratch).to_vec(),
            kind: FrameKind::KEY,
        })
    }
}

/// Checks each frame's size and lends its pixels out as they are.
pub struct RawDecoder {
    info: StreamInfo,
}

impl RawDecoder {
    /// A decoder for frames of `info`.
    pub fn new(info: StreamInfo) -> Self {
        RawDecoder { info }
    }
}

impl FrameDecoder for RawDecoder {
    fn decode<'a>(&'a mut self, data: &'a [u8]) -> Result<Decoded<'a>, DecodeError> {
        if data.len() != self.info.raw_len() {
            return Err(DecodeError::Protocol(format!(
                "a raw frame of {} bytes does not match the announced {}x{}",
                data.len(),
                self.info.width,
                self.info.height
            )));
        }
        Ok(Decoded::Rgb(data))
    }
}
