//! I420 (planar YUV 4:2:0) pictures and the colour conversions to and
//! from them, all BT.601 limited range: what webcams, H.264 and YUV4MPEG2
//! clips use unless they say otherwise.
//!
//! The arithmetic is `yuvutils-rs`: SIMD on x86-64 (SSE4.1, AVX2) and
//! ARM (NEON) chosen at run time, maintained, and no C.

use yuvutils_rs::{
    BufferStoreMut, YuvConversionMode, YuvPackedImage, YuvPlanarImage, YuvPlanarImageMut, YuvRange,
    YuvStandardMatrix,
};

const RANGE: YuvRange = YuvRange::Limited;
const MATRIX: YuvStandardMatrix = YuvStandardMatrix::Bt601;

/// Width and height of the chroma planes of a `width` x `height` picture.
pub fn chroma_size(width: u32, height: u32) -> (usize, usize) {
    (width.div_ceil(2) as usize, height.div_ceil(2) as usize)
}

/// Bytes of a tightly packed I420 picture: Y, then U, then V.
pub fn i420_len(width: u32, height: u32) -> usize {
    let (cw, ch) = chroma_size(width, height);
    width as usize * height as usize + 2 * cw * ch
}

/// A borrowed I420 picture: three planes and their strides.
#[derive(Debug, Clone, Copy)]
pub struct Yuv<'a> {
    /// Luma, `height` rows of `y_stride` bytes.
    pub y: &'a [u8],
    /// Blue-difference chroma, half size rounded up.
    pub u: &'a [u8],
    /// Red-difference chroma.
    pub v: &'a [u8],
    /// Bytes from one luma row to the next.
    pub y_stride: usize,
    /// Bytes from one chroma row to the next (both chroma planes).
    pub uv_stride: usize,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl<'a> Yuv<'a> {
    /// A view of a tightly packed I420 buffer, or `None` if it is not
    /// exactly [`i420_len`] bytes.
    pub fn packed(data: &'a [u8], width: u32, height: u32) -> Option<Self> {
        if data.len() != i420_len(width, height) {
            return None;
        }
        let (cw, ch) = chroma_size(width, height);
        let (y, chroma) = data.split_at(width as usize * height as usize);
        let (u, v) = chroma.split_at(cw * ch);
        Some(Yuv {
            y,
            u,
            v,
            y_stride: width as usize,
            uv_stride: cw,
            width,
            height,
        })
    }

    /// Whether the planes hold what the size and strides say (the
    /// conversions panic on planes that do not).
    pub fn fits(&self) -> bool {
        let (cw, ch) = chroma_size(self.width, self.height);
        let need = |stride: usize, width: usize, height: usize| match height {
            0 => 0,
            h => (h - 1) * stride + width,
        };
        let (w, h) = (self.width as usize, self.height as usize);
        self.y_stride >= w
            && self.uv_stride >= cw
            && self.y.len() >= need(self.y_stride, w, h)
            && self.u.len() >= need(self.uv_stride, cw, ch)
            && self.v.len() >= need(self.uv_stride, cw, ch)
    }

    fn planar(&self) -> YuvPlanarImage<'a, u8> {
        YuvPlanarImage {
            y_plane: self.y,
            y_stride: self.y_stride as u32,
            u_plane: self.u,
            u_stride: self.uv_stride as u32,
            v_plane: self.v,
            v_stride: self.uv_stride as u32,
            width: self.width,
            height: self.height,
        }
    }

    /// Copies the picture into `out` as tightly packed I420.
    pub fn write_packed(&self, out: &mut Vec<u8>) {
        let (cw, ch) = chroma_size(self.width, self.height);
        let w = self.width as usize;
        out.clear();
        out.reserve(i420_len(self.width, self.height));
        for row in self.y.chunks(self.y_stride).take(self.height as usize) {
            out.extend_from_slice(&row[..w]);
        }
        for plane in [self.u, self.v] {
            for row in plane.chunks(self.uv_stride).take(ch) {
                out.extend_from_slice(&row[..cw]);
            }
        }
    }

    /// Converts to `0x..RRGGBB` pixels, one `u32` a pixel (the top byte is
    /// left at 0xFF; windows ignore it). `out` holds width x height.
    pub fn to_0rgb(&self, out: &mut [u32]) {
        assert!(self.fits(), "I420 planes smaller than their size");
        let pixels = self.width as usize * self.height as usize;
        let bytes = bytemuck_u32(&mut out[..pixels]);
        // Little-endian B, G, R, A bytes are the u32 0xAARRGGBB.
        #[cfg(target_endian = "little")]
        yuvutils_rs::yuv420_to_bgra(&self.planar(), bytes, self.width * 4, RANGE, MATRIX)
            .expect("sizes checked");
        #[cfg(target_endian = "big")]
        yuvutils_rs::yuv420_to_rgba(&self.planar(), bytes, self.width * 4, RANGE, MATRIX)
            .expect("sizes checked");
    }

    /// Converts to packed RGB, 3 bytes a pixel, into `out` (resized).
    pub fn to_rgb(&self, out: &mut Vec<u8>) {
        assert!(self.fits(), "I420 planes smaller than their size");
        out.resize(self.width as usize * self.height as usize * 3, 0);
        yuvutils_rs::yuv420_to_rgb(&self.planar(), out, self.width * 3, RANGE, MATRIX)
            .expect("sizes checked");
    }
}

/// The bytes of a `u32` slice, to write pixels into in place.
fn bytemuck_u32(pixels: &mut [u32]) -> &mut [u8] {
    let len = std::mem::size_of_val(pixels);
    // SAFETY: u32 has no padding and every byte pattern is a valid u32;
    // u8 has alignment 1; the length covers exactly the same memory.
    unsafe { std::slice::from_raw_parts_mut(pixels.as_mut_ptr().cast::<u8>(), len) }
}

/// Splits a tightly packed I420 buffer into its three planes, mutably.
fn planes_mut(data: &mut [u8], width: u32, height: u32) -> YuvPlanarImageMut<'_, u8> {
    let (cw, ch) = chroma_size(width, height);
    let (y, chroma) = data.split_at_mut(width as usize * height as usize);
    let (u, v) = chroma.split_at_mut(cw * ch);
    YuvPlanarImageMut {
        y_plane: BufferStoreMut::Borrowed(y),
        y_stride: width,
        u_plane: BufferStoreMut::Borrowed(u),
        u_stride: cw as u32,
        v_plane: BufferStoreMut::Borrowed(v),
        v_stride: cw as u32,
        width,
        height,
    }
}

/// Converts packed RGB of `width` x `height` to tightly packed I420 in
/// `out` (resized).
pub fn rgb_to_i420(rgb: &[u8], width: u32, height: u32, out: &mut Vec<u8>) {
    assert_eq!(rgb.len(), width as usize * height as usize * 3, "RGB size");
    out.resize(i420_len(width, height), 0);
    let mut planes = planes_mut(out, width, height);
    yuvutils_rs::rgb_to_yuv420(
        &mut planes,
        rgb,
        width * 3,
        RANGE,
        MATRIX,
        YuvConversionMode::Balanced,
    )
    .expect("sizes checked");
}

/// Converts packed YUYV (4:2:2, as most webcams give) of `width` x
/// `height` to tightly packed I420 in `out`, averaging chroma rows; `None`
/// when `yuyv` is not the size the picture needs.
pub fn yuyv_to_i420(yuyv: &[u8], width: u32, height: u32, out: &mut Vec<u8>) -> Option<()> {
    let stride = width.div_ceil(2) as usize * 4;
    if width == 0 || height == 0 || yuyv.len() != stride * height as usize {
        return None;
    }
    out.resize(i420_len(width, height), 0);
    let mut planes = planes_mut(out, width, height);
    let packed = YuvPackedImage {
        yuy: yuyv,
        yuy_stride: stride as u32,
        width,
        height,
    };
    yuvutils_rs::yuyv422_to_yuv420(&mut planes, &packed).ok()
}

/// Converts NV12 (a luma plane, then one plane of interleaved U and V) of
/// `width` x `height` to tightly packed I420 in `out`: the luma is copied
/// and the chroma pulled apart; `None` when `nv12` is the wrong size.
pub fn nv12_to_i420(nv12: &[u8], width: u32, height: u32, out: &mut Vec<u8>) -> Option<()> {
    let (cw, ch) = chroma_size(width, height);
    let luma = width as usize * height as usize;
    if nv12.len() != luma + 2 * cw * ch {
        return None;
    }
    out.resize(i420_len(width, height), 0);
    let (y, chroma) = out.split_at_mut(luma);
    let (u, v) = chroma.split_at_mut(cw * ch);
    y.copy_from_slice(&nv12[..luma]);
    for ((pair, u), v) in nv12[luma..].chunks_exact(2).zip(u).zip(v) {
        *u = pair[0];
        *v = pair[1];
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_views_need_the_exact_size() {
        assert_eq!(i420_len(5, 3), 15 + 2 * 3 * 2);
        assert!(Yuv::packed(&[0; 27], 5, 3).is_some());
        assert!(Yuv::packed(&[0; 26], 5, 3).is_none());
    }

    #[test]
    fn grey_survives_both_ways_and_colours_come_back_close() {
        let (w, h) = (16, 8);
        // A smooth picture: 4:2:0 shares chroma between 2x2 pixels.
        let mut rgb = Vec::new();
        for i in 0..w * h {
            let (x, y) = (i % w, i / w);
            rgb.extend_from_slice(&[(40 + x * 8) as u8, (60 + y * 10) as u8, 150]);
        }
        let mut yuv = Vec::new();
        rgb_to_i420(&rgb, w, h, &mut yuv);
        let mut back = Vec::new();
        Yuv::packed(&yuv, w, h).unwrap().to_rgb(&mut back);
        // Chroma is shared by 2x2 pixels, so colours are near, not exact.
        let worst = rgb.iter().zip(&back).map(|(a, b)| a.abs_diff(*b)).max();
        assert!(worst.unwrap() <= 12, "{worst:?}");
        let grey = vec![128; (w * h * 3) as usize];
        rgb_to_i420(&grey, w, h, &mut yuv);
        let mut px = vec![0; (w * h) as usize];
        Yuv::packed(&yuv, w, h).unwrap().to_0rgb(&mut px);
        for p in px {
            let [b, g, r, _] = p.to_le_bytes();
            assert!([r, g, b].iter().all(|c| c.abs_diff(128) <= 2), "{p:08x}");
        }
    }

    #[test]
    fn yuyv_and_nv12_become_the_same_i420() {
        let (w, h) = (4, 2);
        // Two rows of YUYV: Y0 U Y1 V ...
        let yuyv = [
            10, 100, 20, 200, 30, 110, 40, 210, //
            50, 100, 60, 200, 70, 110, 80, 210,
        ];
        let mut out = Vec::new();
        yuyv_to_i420(&yuyv, w, h, &mut out).unwrap();
        assert_eq!(&out[..8], &[10, 20, 30, 40, 50, 60, 70, 80]);
        assert_eq!(&out[8..], &[100, 110, 200, 210]);
        let nv12 = [10, 20, 30, 40, 50, 60, 70, 80, 100, 200, 110, 210];
        let mut from_nv12 = Vec::new();
        nv12_to_i420(&nv12, w, h, &mut from_nv12).unwrap();
        assert_eq!(out, from_nv12);
        assert!(yuyv_to_i420(&yuyv[..15], w, h, &mut out).is_none());
        assert!(nv12_to_i420(&nv12[..11], w, h, &mut out).is_none());
    }

    #[test]
    fn strided_planes_pack_tightly() {
        // A 2x2 picture with rows padded to 4 bytes.
        let y = [1, 2, 0, 0, 3, 4, 0, 0];
        let yuv = Yuv {
            y: &y,
            u: &[5, 0],
            v: &[6, 0],
            y_stride: 4,
            uv_stride: 2,
            width: 2,
            height: 2,
        };
        let mut out = Vec::new();
        yuv.write_packed(&mut out);
        assert_eq!(out, [1, 2, 3, 4, 5, 6]);
    }
}
