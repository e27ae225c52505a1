//! The codec seam: pictures to frames on the wire, and frames back to
//! pixels to show.
//!
//! An encoder ([`FrameEncoder`]) is a stateful value that the capture
//! thread owns, one for every viewer, and tells when a keyframe is needed;
//! each frame it makes says whether it is one and at which layer it may be
//! dropped ([`FrameKind`]). A decoder ([`FrameDecoder`]) turns one
//! stream's frames into pixels in buffers of its own, and says when it
//! cannot go on until a keyframe. Both are chosen here, in [`encoder`] and
//! [`Decoder::new`], from the stream's codec: adding a codec is one file
//! beside these and one line in each.
//!
//! - `raw`: packed RGB as it is.
//! - `jpeg`: one JPEG image a frame (mozjpeg out, zune-jpeg in).
//! - `convert`: colour conversion for the window.

pub mod convert;
mod jpeg;
mod raw;

use anyhow::Result;

pub use jpeg::encode_jpeg;

use crate::wire::{Codec, FrameKind, StreamInfo};

/// A picture as a source made it, of the stream's size.
#[derive(Debug, Clone, Copy)]
pub enum Image<'a> {
    /// Packed RGB, 3 bytes a pixel, rows top to bottom.
    Rgb(&'a [u8]),
}

/// One encoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// What goes on the wire.
    pub data: Vec<u8>,
    /// Whether it is a keyframe, and its layer.
    pub kind: FrameKind,
}

/// Turns pictures into frames, keeping whatever state its codec needs.
pub trait FrameEncoder: Send {
    /// Encodes `image`; as a keyframe when `keyframe` is set (a codec whose
    /// every frame is one can ignore it).
    fn encode(&mut self, image: &Image<'_>, keyframe: bool) -> Result<Encoded>;
}

/// What an encoder is made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderConfig {
    /// The stream's size and codec.
    pub info: StreamInfo,
    /// JPEG quality, 1 to 100.
    pub quality: u8,
}

/// The encoder for `config`'s codec.
pub fn encoder(config: &EncoderConfig) -> Box<dyn FrameEncoder> {
    match config.info.codec {
        Codec::Raw => Box::new(raw::RawEncoder),
        Codec::Jpeg => Box::new(jpeg::JpegEncoder::new(config.info, config.quality)),
    }
}

/// Whether every frame of `codec` is a keyframe, so that a frame encoded
/// once can be sent again at any time (the test pattern's are).
pub fn all_keyframes(codec: Codec) -> bool {
    match codec {
        Codec::Raw | Codec::Jpeg => true,
    }
}

/// Pixels a decoder made, in a buffer of its own (or the frame's).
#[derive(Debug, Clone, Copy)]
pub enum Decoded<'a> {
    /// Packed RGB, 3 bytes a pixel.
    Rgb(&'a [u8]),
}

impl Decoded<'_> {
    /// Writes the pixels as `0x00RRGGBB` values, one a pixel.
    pub fn to_0rgb(&self, out: &mut [u32]) {
        match self {
            Decoded::Rgb(rgb) => convert::rgb_to_0rgb(rgb, out),
        }
    }
}

/// Why a frame could not be turned into pixels.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The frame's pixels are damaged; skip it and carry on.
    #[error("undecodable frame: {0}")]
    Corrupt(String),
    /// The frame contradicts the stream's announcement; the peer is broken.
    #[error("{0}")]
    Protocol(String),
}

/// Turns one stream's frames into pixels.
pub trait FrameDecoder: Send {
    /// Decodes one frame.
    fn decode<'a>(&'a mut self, data: &'a [u8]) -> Result<Decoded<'a>, DecodeError>;

    /// Whether only a keyframe can be decoded next (at the start of an
    /// inter-frame stream, or after a damaged frame).
    fn needs_keyframe(&self) -> bool {
        false
    }
}

/// Decodes a stream's frames to display pixels, with the decoder its
/// codec needs.
pub struct Decoder {
    inner: Box<dyn FrameDecoder>,
    pixels: usize,
}

impl Decoder {
    /// A decoder for frames of `info`.
    pub fn new(info: StreamInfo) -> Self {
        let inner: Box<dyn FrameDecoder> = match info.codec {
            Codec::Raw => Box::new(raw::RawDecoder::new(info)),
            Codec::Jpeg => Box::new(jpeg::JpegDecoder::new(info)),
        };
        let pixels = info.width as usize * info.height as usize;
        Decoder { inner, pixels }
    }

    /// Whether only a keyframe can be decoded next.
    pub fn needs_keyframe(&self) -> bool {
        self.inner.needs_keyframe()
    }

    /// Decodes `data`, a frame of `kind`, into `out`, one `0x00RRGGBB`
    /// value a pixel. A frame that needs one the decoder lacks is
    /// [`DecodeError::Corrupt`], never shown.
    pub fn decode(
        &mut self,
        data: &[u8],
        kind: FrameKind,
        out: &mut [u32],
    ) -> Result<(), DecodeError> {
        assert_eq!(out.len(), self.pixels, "display buffer size");
        if !kind.key && self.inner.needs_keyframe() {
            return Err(DecodeError::Corrupt(
                "a frame whose reference was missed".into(),
            ));
        }
        self.inner.decode(data)?.to_0rgb(out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::source::pattern_rgb;

    fn info(codec: Codec) -> StreamInfo {
        StreamInfo {
            width: 64,
            height: 48,
            codec,
        }
    }

    #[test]
    fn raw_round_trip_is_exact_and_every_frame_is_a_keyframe() {
        let rgb = pattern_rgb(64, 48, 3);
        let config = EncoderConfig {
            info: info(Codec::Raw),
            quality: 80,
        };
        let encoded = encoder(&config).encode(&Image::Rgb(&rgb), false).unwrap();
        assert_eq!(encoded.kind, FrameKind::KEY);
        let mut out = vec![0; 64 * 48];
        Decoder::new(info(Codec::Raw))
            .decode(&encoded.data, encoded.kind, &mut out)
            .unwrap();
        let mut want = vec![0; 64 * 48];
        convert::rgb_to_0rgb(&rgb, &mut want);
        assert_eq!(out, want);
    }

    #[test]
    fn the_registry_gives_each_codec_its_own() {
        let rgb = pattern_rgb(64, 48, 0);
        for codec in [Codec::Raw, Codec::Jpeg] {
            let config = EncoderConfig {
                info: info(codec),
                quality: 80,
            };
            let encoded = encoder(&config).encode(&Image::Rgb(&rgb), true).unwrap();
            let mut decoder = Decoder::new(info(codec));
            assert!(!decoder.needs_keyframe() && all_keyframes(codec));
            let mut out = vec![0; 64 * 48];
            decoder
                .decode(&encoded.data, encoded.kind, &mut out)
                .unwrap();
        }
    }

    #[test]
    fn a_raw_frame_of_the_wrong_size_is_a_protocol_error() {
        let mut out = vec![0; 64 * 48];
        let raw = Decoder::new(info(Codec::Raw)).decode(&[0; 5], FrameKind::KEY, &mut out);
        assert!(matches!(raw, Err(DecodeError::Protocol(_))), "{raw:?}");
    }
}
