//! Pixels in and out: encoding frames for the wire and decoding them to
//! display pixels.
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
use zune_jpeg::JpegDecoder;

use crate::mjpeg;
use crate::wire::{Codec, StreamInfo};

/// Encodes packed RGB pixels in the stream's codec.
pub fn encode(info: &StreamInfo, rgb: &[u8], quality: u8) -> Result<Vec<u8>> {
    if rgb.len() != info.raw_len() {
        bail!(
            "a {}x{} frame needs {} RGB bytes, got {}",
            info.width,
            info.height,
            info.raw_len(),
            rgb.len()
        );
    }
    match info.codec {
        Codec::Raw => Ok(rgb.to_vec()),
        Codec::Jpeg => encode_jpeg(info.width, info.height, rgb, quality),
    }
}

/// Compresses packed RGB pixels to a JPEG image.
pub fn encode_jpeg(width: u32, height: u32, rgb: &[u8], quality: u8) -> Result<Vec<u8>> {
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

/// Why a frame could not be turned into display pixels.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The frame's pixels are damaged; skip it and carry on.
    #[error("undecodable frame: {0}")]
    Corrupt(String),
    /// The frame contradicts the stream's announcement; the peer is broken.
    #[error("{0}")]
    Protocol(String),
}

/// Turns frames of one stream into `0RGB` display pixels, reusing its buffers.
#[derive(Debug)]
pub struct Decoder {
    info: StreamInfo,
    rgb: Vec<u8>,
    /// A frame that came without Huffman tables, with them put in: at
    /// most its length plus [`mjpeg::STANDARD_TABLES_LEN`].
    fixed: Vec<u8>,
}

impl Decoder {
    /// A decoder for frames of `info`.
    pub fn new(info: StreamInfo) -> Self {
        Decoder {
            info,
            rgb: Vec::new(),
            fixed: Vec::new(),
        }
    }

    /// Decodes `data` into `out`, one `u32` (`0x00RRGGBB`) a pixel.
    pub fn decode(&mut self, data: &[u8], out: &mut [u32]) -> Result<(), DecodeError> {
        let (width, height) = (self.info.width as usize, self.info.height as usize);
        assert_eq!(out.len(), width * height, "display buffer size");
        match self.info.codec {
            Codec::Raw => {
                if data.len() != self.info.raw_len() {
                    return Err(DecodeError::Protocol(format!(
                        "a raw frame of {} bytes does not match the announced {width}x{height}",
                        data.len()
                    )));
                }
                rgb_to_0rgb(data, out);
            }
            Codec::Jpeg => {
                self.decode_jpeg(data)?;
                rgb_to_0rgb(&self.rgb, out);
            }
        }
        Ok(())
    }

    fn decode_jpeg(&mut self, data: &[u8]) -> Result<(), DecodeError> {
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
        let mut decoder = JpegDecoder::new_with_options(ZCursor::new(data), options);
        let corrupt = |e: zune_jpeg::errors::DecodeErrors| DecodeError::Corrupt(e.to_string());
        decoder.decode_headers().map_err(corrupt)?;
        if decoder.dimensions() != Some((width, height)) {
            return Err(DecodeError::Corrupt(format!(
                "a JPEG of {:?} in a {width}x{height} stream",
                decoder.dimensions()
            )));
        }
        self.rgb.resize(width * height * 3, 0);
        decoder.decode_into(&mut self.rgb).map_err(corrupt)
    }
}

/// Converts packed RGB to `0x00RRGGBB` pixels.
///
/// This runs once per displayed frame on every pixel, so it uses SSSE3's
/// byte shuffle where the processor has it (nearly every x86-64 made since
/// 2008), four pixels per instruction.
pub fn rgb_to_0rgb(rgb: &[u8], out: &mut [u32]) {
    let pixels = (rgb.len() / 3).min(out.len());
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("ssse3") {
        // SAFETY: the processor supports SSSE3, checked just above.
        let done = unsafe { rgb_to_0rgb_ssse3(&rgb[..pixels * 3], &mut out[..pixels]) };
        return rgb_to_0rgb_scalar(&rgb[done * 3..pixels * 3], &mut out[done..pixels]);
    }
    rgb_to_0rgb_scalar(&rgb[..pixels * 3], &mut out[..pixels]);
}

fn rgb_to_0rgb_scalar(rgb: &[u8], out: &mut [u32]) {
    for (src, dst) in rgb.chunks_exact(3).zip(out) {
        *dst = u32::from_be_bytes([0, src[0], src[1], src[2]]);
    }
}

/// Converts as many whole groups of four pixels as can be loaded 16 bytes
/// at a time without reading past `rgb`; returns how many pixels it did.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "ssse3")]
fn rgb_to_0rgb_ssse3(rgb: &[u8], out: &mut [u32]) -> usize {
    use std::arch::x86_64::{
        __m128i, _mm_loadu_si128, _mm_setr_epi8, _mm_shuffle_epi8, _mm_storeu_si128,
    };
    // Output byte k of each pixel (B, G, R, 0) comes from input byte mask[k].
    let mask = _mm_setr_epi8(2, 1, 0, -128, 5, 4, 3, -128, 8, 7, 6, -128, 11, 10, 9, -128);
    let groups = rgb.len().saturating_sub(4) / 12;
    for g in 0..groups {
        let src: &[u8; 16] = rgb[g * 12..g * 12 + 16].try_into().expect("16 bytes");
        let dst: &mut [u32; 4] = (&mut out[g * 4..g * 4 + 4]).try_into().expect("4 pixels");
        // SAFETY: `src` holds 16 readable bytes and `dst` 16 writable ones;
        // both loads and stores are unaligned.
        unsafe {
            let v = _mm_loadu_si128(src.as_ptr().cast::<__m128i>());
            _mm_storeu_si128(
                dst.as_mut_ptr().cast::<__m128i>(),
                _mm_shuffle_epi8(v, mask),
            );
        }
    }
    groups * 4
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::pattern_rgb;

    fn info(codec: Codec) -> StreamInfo {
        StreamInfo {
            width: 64,
            height: 48,
            codec,
        }
    }

    #[test]
    fn conversion_handles_every_remainder() {
        for n in 0..40 {
            let rgb: Vec<u8> = (0..n * 3).map(|i| i as u8).collect();
            let mut out = vec![0; n];
            rgb_to_0rgb(&rgb, &mut out);
            for (i, px) in out.iter().enumerate() {
                let want = (rgb[3 * i] as u32) << 16
                    | (rgb[3 * i + 1] as u32) << 8
                    | rgb[3 * i + 2] as u32;
                assert_eq!(*px, want);
            }
        }
    }

    #[test]
    fn raw_round_trip_is_exact() {
        let rgb = pattern_rgb(64, 48, 3);
        let data = encode(&info(Codec::Raw), &rgb, 80).unwrap();
        let mut out = vec![0; 64 * 48];
        Decoder::new(info(Codec::Raw))
            .decode(&data, &mut out)
            .unwrap();
        let mut want = vec![0; 64 * 48];
        rgb_to_0rgb(&rgb, &mut want);
        assert_eq!(out, want);
    }

    #[test]
    fn jpeg_round_trip_is_close() {
        let big = StreamInfo {
            width: 320,
            height: 240,
            codec: Codec::Jpeg,
        };
        let rgb = pattern_rgb(320, 240, 3);
        let data = encode(&big, &rgb, 80).unwrap();
        assert!(data.len() < rgb.len() / 10, "{} bytes", data.len());
        let mut out = vec![0; 320 * 240];
        Decoder::new(big).decode(&data, &mut out).unwrap();
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
        let jpeg = encode(&info(Codec::Jpeg), &pattern_rgb(64, 48, 1), 80).unwrap();
        let stripped = mjpeg::strip_huffman_tables(&jpeg);
        let mut decoder = Decoder::new(info(Codec::Jpeg));
        let (mut want, mut got) = (vec![0; 64 * 48], vec![0; 64 * 48]);
        decoder.decode(&jpeg, &mut want).unwrap();
        assert_eq!(
            decoder.fixed.capacity(),
            0,
            "a frame with tables is not copied"
        );
        decoder.decode(&stripped, &mut got).unwrap();
        assert_eq!(got, want);
        let warm = (decoder.fixed.as_ptr(), decoder.fixed.capacity());
        assert!(warm.1 >= stripped.len() + mjpeg::STANDARD_TABLES_LEN);
        got.fill(0);
        decoder.decode(&stripped, &mut got).unwrap();
        assert_eq!(got, want);
        assert_eq!((decoder.fixed.as_ptr(), decoder.fixed.capacity()), warm);
    }

    #[test]
    fn corrupt_jpeg_is_corrupt_and_wrong_raw_size_is_protocol() {
        let mut out = vec![0; 64 * 48];
        let garbage = [0xFFu8, 0xD8, 0xFF, 0x00, 1, 2, 3];
        let jpeg = Decoder::new(info(Codec::Jpeg)).decode(&garbage, &mut out);
        assert!(matches!(jpeg, Err(DecodeError::Corrupt(_))), "{jpeg:?}");
        let raw = Decoder::new(info(Codec::Raw)).decode(&[0; 5], &mut out);
        assert!(matches!(raw, Err(DecodeError::Protocol(_))), "{raw:?}");
    }

    #[test]
    fn jpeg_of_another_size_is_rejected() {
        let other = StreamInfo {
            width: 32,
            ..info(Codec::Jpeg)
        };
        let data = encode(&other, &pattern_rgb(32, 48, 0), 80).unwrap();
        let mut out = vec![0; 64 * 48];
        let result = Decoder::new(info(Codec::Jpeg)).decode(&data, &mut out);
        assert!(matches!(result, Err(DecodeError::Corrupt(_))));
    }
}
