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
//! - `h264`: H.264 with temporal layers (OpenH264 both ways).
//! - `raw`: packed RGB as it is.
//! - `jpeg`: one JPEG image a frame (mozjpeg out, zune-jpeg in).
//! - `cut`: finds hard cuts, where the H.264 encoder makes a keyframe.
//! - `scale`: halves pictures for a narrow link, and doubles them back.
//! - `convert`, `yuv`: colour conversions, for encoders and the window.

pub mod convert;
mod cut;
pub mod h264;
mod jpeg;
mod raw;
mod scale;
pub mod yuv;

use anyhow::Result;

pub use jpeg::encode_jpeg;
pub use yuv::Yuv;

use crate::limits;
use crate::wire::{Codec, FrameKind, StreamInfo};

/// A picture as a source made it, of the stream's size.
#[derive(Debug, Clone, Copy)]
pub enum Image<'a> {
    /// Packed RGB, 3 bytes a pixel, rows top to bottom.
    Rgb(&'a [u8]),
    /// Planar YUV 4:2:0, as cameras, clips and H.264 have it.
    I420(Yuv<'a>),
}

impl Image<'_> {
    /// The picture as packed RGB: itself, or converted into `scratch`.
    pub fn rgb<'s>(&'s self, scratch: &'s mut Vec<u8>) -> &'s [u8] {
        match *self {
            Image::Rgb(rgb) => rgb,
            Image::I420(yuv) => {
                yuv.to_rgb(scratch);
                scratch
            }
        }
    }
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

    /// Aims at `kbit` kbit/s from the next frame on (codecs without a
    /// target bitrate ignore it).
    fn set_bitrate(&mut self, _kbit: u32) -> Result<()> {
        Ok(())
    }

    /// Whether the link the target follows is narrower than the stream
    /// (it holds the target below its ceiling, or is being probed past its
    /// limit): a keyframe within the stream (a cut, or one asked for) then
    /// holds up the frames behind it on that link, and is best made as
    /// small as the codec can make it (codecs without a target bitrate
    /// ignore it).
    fn set_narrow(&mut self, _narrow: bool) {}

    /// The size the pictures are coded at, when it can differ from the
    /// stream's (H.264 codes them at half size on a narrow link).
    fn coded_size(&self) -> Option<(u32, u32)> {
        None
    }
}

/// What an encoder is made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderConfig {
    /// The stream's size and codec.
    pub info: StreamInfo,
    /// JPEG quality, 1 to 100.
    pub quality: u8,
    /// H.264 target bitrate in kbit/s.
    pub bitrate_kbit: u32,
    /// Frames a second the source makes; 0 when unpaced.
    pub fps: u32,
}

impl EncoderConfig {
    /// Unsent bytes the kernel may queue on a viewer's socket at the
    /// start (see [`unsent_limit`]).
    pub fn unsent_limit(&self) -> usize {
        unsent_limit(self.info.codec, self.bitrate_kbit)
    }
}

/// Unsent bytes the kernel may queue on a viewer's socket
/// (`link::net::limit_unsent`) for a stream of `codec` at `kbit`:
/// [`limits::UNSENT_LIMIT`] for raw and JPEG, for H.264 what the bitrate
/// carries in [`limits::UNSENT_TIME`].
pub fn unsent_limit(codec: Codec, kbit: u32) -> usize {
    match codec {
        Codec::Raw | Codec::Jpeg => limits::UNSENT_LIMIT,
        Codec::H264 => {
            let per_second = kbit as usize * 1000 / 8;
            let limit = per_second * limits::UNSENT_TIME.as_millis() as usize / 1000;
            limit.clamp(limits::MIN_UNSENT_LIMIT, limits::UNSENT_LIMIT)
        }
    }
}

/// The encoder for `config`'s codec.
pub fn encoder(config: &EncoderConfig) -> Result<Box<dyn FrameEncoder>> {
    Ok(match config.info.codec {
        Codec::Raw => Box::new(raw::RawEncoder::default()),
        Codec::Jpeg => Box::new(jpeg::JpegEncoder::new(config.info, config.quality)),
        Codec::H264 => Box::new(h264::H264Encoder::new(config)?),
    })
}

/// Whether every frame of `codec` is a keyframe, so that a frame encoded
/// once can be sent again at any time (the test pattern's are).
pub fn all_keyframes(codec: Codec) -> bool {
    match codec {
        Codec::Raw | Codec::Jpeg => true,
        Codec::H264 => false,
    }
}

/// Pixels a decoder made, in a buffer of its own (or the frame's).
#[derive(Debug, Clone, Copy)]
pub enum Decoded<'a> {
    /// Packed RGB, 3 bytes a pixel.
    Rgb(&'a [u8]),
    /// Planar YUV 4:2:0.
    I420(Yuv<'a>),
}

impl Decoded<'_> {
    /// Writes the pixels as `0x..RRGGBB` values, one a pixel (the top
    /// byte is not always 0; windows ignore it).
    pub fn to_0rgb(&self, out: &mut [u32]) {
        match self {
            Decoded::Rgb(rgb) => convert::rgb_to_0rgb(rgb, out),
            Decoded::I420(yuv) => yuv.to_0rgb(out),
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

    /// The size the last frame decoded was coded at, when it can differ
    /// from the stream's (H.264 at half size on a narrow link).
    fn coded_size(&self) -> Option<(u32, u32)> {
        None
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
    pub fn new(info: StreamInfo) -> Result<Self> {
        let inner: Box<dyn FrameDecoder> = match info.codec {
            Codec::Raw => Box::new(raw::RawDecoder::new(info)),
            Codec::Jpeg => Box::new(jpeg::JpegDecoder::new(info)),
            Codec::H264 => Box::new(h264::H264Decoder::new(info)?),
        };
        let pixels = info.width as usize * info.height as usize;
        Ok(Decoder { inner, pixels })
    }

    /// Whether only a keyframe can be decoded next.
    pub fn needs_keyframe(&self) -> bool {
        self.inner.needs_keyframe()
    }

    /// The size the last frame decoded was coded at, where the codec can
    /// code smaller than the stream (see [`FrameDecoder::coded_size`]).
    pub fn coded_size(&self) -> Option<(u32, u32)> {
        self.inner.coded_size()
    }

    /// Decodes `data`, a frame of `kind`. A frame that needs one the
    /// decoder lacks is [`DecodeError::Corrupt`], never shown.
    pub fn decode<'a>(
        &'a mut self,
        data: &'a [u8],
        kind: FrameKind,
    ) -> Result<Decoded<'a>, DecodeError> {
        if !kind.key && self.inner.needs_keyframe() {
            return Err(DecodeError::Corrupt(
                "a frame whose reference was missed".into(),
            ));
        }
        self.inner.decode(data)
    }

    /// Decodes `data`, a frame of `kind`, into `out`, one `0x..RRGGBB`
    /// value a pixel (see [`Decoder::decode`]).
    pub fn decode_into(
        &mut self,
        data: &[u8],
        kind: FrameKind,
        out: &mut [u32],
    ) -> Result<(), DecodeError> {
        assert_eq!(out.len(), self.pixels, "display buffer size");
        self.decode(data, kind)?.to_0rgb(out);
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
            bitrate_kbit: 500,
            fps: 30,
        };
        let encoded = encoder(&config)
            .unwrap()
            .encode(&Image::Rgb(&rgb), false)
            .unwrap();
        assert_eq!(encoded.kind, FrameKind::KEY);
        let mut out = vec![0; 64 * 48];
        Decoder::new(info(Codec::Raw))
            .unwrap()
            .decode_into(&encoded.data, encoded.kind, &mut out)
            .unwrap();
        let mut want = vec![0; 64 * 48];
        convert::rgb_to_0rgb(&rgb, &mut want);
        assert_eq!(out, want);
    }

    #[test]
    fn the_registry_gives_each_codec_its_own() {
        let rgb = pattern_rgb(64, 48, 0);
        for codec in [Codec::Raw, Codec::Jpeg, Codec::H264] {
            let config = EncoderConfig {
                info: info(codec),
                quality: 80,
                bitrate_kbit: 500,
                fps: 30,
            };
            let encoded = encoder(&config)
                .unwrap()
                .encode(&Image::Rgb(&rgb), true)
                .unwrap();
            let mut decoder = Decoder::new(info(codec)).unwrap();
            let inter = codec == Codec::H264;
            assert_eq!(decoder.needs_keyframe(), inter);
            assert_eq!(all_keyframes(codec), !inter);
            assert!(encoded.kind.key);
            let mut out = vec![0; 64 * 48];
            decoder
                .decode_into(&encoded.data, encoded.kind, &mut out)
                .unwrap();
        }
    }

    #[test]
    fn a_raw_frame_of_the_wrong_size_is_a_protocol_error() {
        let mut out = vec![0; 64 * 48];
        let raw =
            Decoder::new(info(Codec::Raw))
                .unwrap()
                .decode_into(&[0; 5], FrameKind::KEY, &mut out);
        assert!(matches!(raw, Err(DecodeError::Protocol(_))), "{raw:?}");
    }
}
