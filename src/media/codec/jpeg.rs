//! JPEG: every frame one image, so every frame a keyframe.
//!
//! Encoding uses mozjpeg (libjpeg-turbo's SIMD code, which nokhwa already
//! builds) at its fastest settings. Decoding a peer's JPEG uses zune-jpeg,
//! which is pure, memory-safe Rust: a hostile stream cannot reach C code.
//! A frame without Huffman tables, as many webcams send, is decoded with
//! the standard ones (`mjpeg`), whoever sent it.

use std::panic::{self, AssertUnwindSafe};

use anyhow::{Context, Result, bail};
use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder as ZuneDecoder;

use super::{DecodeError, Decoded, Encoded, FrameDecoder, FrameEncoder, Image};
use crate::media::mjpeg;
use crate::wire::{FrameKind, StreamInfo};

/// Compresses each picture to one JPEG image.
pub struct JpegEncoder {
    info: StreamInfo,
    quality: u8,
    /// Planar pictures converted to RGB for mozjpeg.
    scratch: Vec<u8>,
}

impl JpegEncoder {
    /// An encoder of `info`'s pictures at `quality` (1 to 100).
    pub fn new(info: StreamInfo, quality: u8) -> Self {
        JpegEncoder {
            info,
            quality,
            scratch: Vec::new(),
        }
    }
}

impl FrameEncoder for JpegEncoder {
    fn encode(&mut self, image: &Image<'_>, _keyframe: bool) -> Result<Encoded> {
        let rgb = image.rgb(&mut self.scratch);
        let data = encode_jpeg(self.info.width, self.info.height, rgb, self.quality)?;
        Ok(Encoded {
            data,
            kind: FrameKind::KEY,
        })
    }
}

/// Compresses packed RGB pixels to a JPEG image.
pub fn encode_jpeg(width: u32, height: u32, rgb: &[u8], quality: u8) -> Result<Vec<u8>> {
    let needed = width as usize * height as usize * 3;
    if rgb.len() != needed {
        bail!(
            "a {width}x{height} picture needs {needed} RGB bytes, got {}",
            rgb.len()
        );
    }
    // mozjpeg reports libjpeg errors by unwinding; turn that into an error.
    let encoded = panic::catch_unwind(AssertUnwindSafe(|| -> std::io::Result<Vec<u8>> {
        let mut comp = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
        comp.set_fastest_defaults();
        comp.set_size(width as usize, height as usize);
        comp.set_quality(f32::from(quality.clamp(1, 100)));
        let mut started = comp.start_compress(Vec::with_capacity(rgb.len() / 8))?;
        started.write_scanlines(rgb)?;
        started.finish()
    }));
    match encoded {
        Ok(result) => result.context("JPEG encoding failed"),
        Err(_) => bail!("JPEG encoding failed inside libjpeg"),
    }
}

/// Decodes a stream's JPEG frames into one reused RGB buffer.
pub struct JpegDecoder {
    info: StreamInfo,
    rgb: Vec<u8>,
    /// A frame that came without Huffman tables, with them put in: at
    /// most its length plus [`mjpeg::STANDARD_TABLES_LEN`].
    fixed: Vec<u8>,
}

impl JpegDecoder {
    /// A decoder for frames of `info`.
    pub fn new(info: StreamInfo) -> Self {
        JpegDecoder {
            info,
            rgb: Vec::new(),
            fixed: Vec::new(),
        }
    }
}

impl FrameDecoder for JpegDecoder {
    fn decode<'a>(&'a mut self, data: &'a [u8]) -> Result<Decoded<'a>, DecodeError> {
        let data = match mjpeg::spliced(data) {
            Some(pieces) => {
                self.fixed.clear();
                pieces.iter().for_each(|p| self.fixed.extend_from_slice(p));
                &self.fixed[..]
            }
            None => data,
        };
        let (width, height) = (self.info.width as usize, self.info.height as usize);
        let options = DecoderOptions::default()
            .jpeg_set_out_colorspace(ColorSpace::RGB)
            .set_max_width(width)
            .set_max_height(height);
        let mut decoder = ZuneDecoder::new_with_options(ZCursor::new(data), options);
        let corrupt = |e: zune_jpeg::errors::DecodeErrors| DecodeError::Corrupt(e.to_string());
        decoder.decode_headers().map_err(corrupt)?;
        if decoder.dimensions() != Some((width, height)) {
            return Err(DecodeError::Corrupt(format!(
                "a JPEG of {:?} in a {width}x{height} stream",
                decoder.dimensions()
            )));
        }
        self.rgb.resize(width * height * 3, 0);
        decoder.decode_into(&mut self.rgb).map_err(corrupt)?;
        Ok(Decoded::Rgb(&self.rgb))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::codec::Decoder;
    use crate::media::source::pattern_rgb;
    use crate::wire::Codec;

    fn info(width: u32, height: u32) -> StreamInfo {
        StreamInfo {
            width,
            height,
            codec: Codec::Jpeg,
        }
    }

    fn jpeg(width: u32, height: u32, picture: usize) -> Vec<u8> {
        let rgb = pattern_rgb(width, height, picture);
        encode_jpeg(width, height, &rgb, 80).unwrap()
    }

    #[test]
    fn jpeg_round_trip_is_close() {
        let rgb = pattern_rgb(320, 240, 3);
        let data = JpegEncoder::new(info(320, 240), 80)
            .encode(&Image::Rgb(&rgb), false)
            .unwrap();
        assert_eq!(data.kind, FrameKind::KEY);
        assert!(
            data.data.len() < rgb.len() / 10,
            "{} bytes",
            data.data.len()
        );
        let mut out = vec![0; 320 * 240];
        Decoder::new(info(320, 240))
            .unwrap()
            .decode_into(&data.data, FrameKind::KEY, &mut out)
            .unwrap();
        let mean_error = out
            .iter()
            .zip(rgb.chunks(3))
            .flat_map(|(px, want)| {
                let got = px.to_be_bytes();
                (0..3).map(move |c| (got[c + 1] as i32 - want[c] as i32).abs())
            })
            .sum::<i32>() as f64
            / rgb.len() as f64;
        assert!(mean_error < 6.0, "mean error {mean_error}");
    }

    #[test]
    fn jpeg_without_huffman_tables_decodes_like_the_original_into_one_buffer() {
        let jpeg = jpeg(64, 48, 1);
        let stripped = mjpeg::strip_huffman_tables(&jpeg);
        let mut decoder = JpegDecoder::new(info(64, 48));
        let (mut want, mut got) = (vec![0; 64 * 48], vec![0; 64 * 48]);
        let decode = |decoder: &mut JpegDecoder, data: &[u8], out: &mut [u32]| {
            decoder.decode(data).unwrap().to_0rgb(out);
        };
        decode(&mut decoder, &jpeg, &mut want);
        assert_eq!(
            decoder.fixed.capacity(),
            0,
            "a frame with tables is not copied"
        );
        decode(&mut decoder, &stripped, &mut got);
        assert_eq!(got, want);
        let warm = (decoder.fixed.as_ptr(), decoder.fixed.capacity());
        assert!(warm.1 >= stripped.len() + mjpeg::STANDARD_TABLES_LEN);
        got.fill(0);
        decode(&mut decoder, &stripped, &mut got);
        assert_eq!(got, want);
        assert_eq!((decoder.fixed.as_ptr(), decoder.fixed.capacity()), warm);
    }

    #[test]
    fn corrupt_jpeg_is_corrupt() {
        let garbage = [0xFFu8, 0xD8, 0xFF, 0x00, 1, 2, 3];
        let result = JpegDecoder::new(info(64, 48)).decode(&garbage).err();
        assert!(
            matches!(result, Some(DecodeError::Corrupt(_))),
            "{result:?}"
        );
    }

    #[test]
    fn jpeg_of_another_size_is_rejected() {
        let data = jpeg(32, 48, 0);
        let result = JpegDecoder::new(info(64, 48)).decode(&data).err();
        assert!(matches!(result, Some(DecodeError::Corrupt(_))));
    }

    #[test]
    fn a_picture_of_the_wrong_size_is_not_encoded() {
        assert!(encode_jpeg(4, 4, &[0; 5], 80).is_err());
    }
}
