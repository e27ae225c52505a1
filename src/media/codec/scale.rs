//! Pictures at half size, and back: what the H.264 encoder codes when its
//! target is too low for the whole picture (`h264`), and what the decoder
//! brings back to the announced size.
//!
//! Only the exact ratio 2:1 is ever needed, so each is a few lines with
//! fixed weights on the planes as they are, strides and all: down, the
//! mean of each 2x2 block; up, bilinear with the weights 3/4 and 1/4 that
//! put each new sample where it falls between the old ones (the centres
//! of the four samples a low one becomes sit a quarter of its width from
//! its own). A general resampler (`fast_image_resize`, `pic-scale`) would
//! need the planes copied out of their strides first and bring kernels
//! nothing here uses.

use super::yuv::{self, Yuv};

/// The half size of a `width` x `height` picture, when it has one this
/// stream may use: both halves even (so their chroma is exactly half too)
/// and the half no narrower than [`MIN_HALF_WIDTH`].
pub fn half_size(width: u32, height: u32) -> Option<(u32, u32)> {
    (width.is_multiple_of(4) && height.is_multiple_of(4) && width / 2 >= MIN_HALF_WIDTH)
        .then_some((width / 2, height / 2))
}

/// The narrowest half picture: smaller than this, fewer pixels would cost
/// more in detail than they save in bits.
pub const MIN_HALF_WIDTH: u32 = 320;

/// Writes `picture` at half its size (see [`half_size`]) into `out` as
/// tightly packed I420.
pub fn halve(picture: &Yuv<'_>, out: &mut Vec<u8>) {
    let (w, h) = (picture.width as usize, picture.height as usize);
    let (hw, hh) = (w / 2, h / 2);
    out.clear();
    out.resize(yuv::i420_len(hw as u32, hh as u32), 0);
    let (y, chroma) = out.split_at_mut(hw * hh);
    let (u, v) = chroma.split_at_mut(hw / 2 * (hh / 2));
    halve_plane(picture.y, picture.y_stride, hw, hh, y);
    halve_plane(picture.u, picture.uv_stride, hw / 2, hh / 2, u);
    halve_plane(picture.v, picture.uv_stride, hw / 2, hh / 2, v);
}

/// Each sample of `out` (`width` x `height`, packed) is the rounded mean
/// of the 2x2 block of `src` (rows `stride` apart) it covers.
fn halve_plane(src: &[u8], stride: usize, width: usize, height: usize, out: &mut [u8]) {
    for (r, row) in out.chunks_exact_mut(width).take(height).enumerate() {
        let top = &src[2 * r * stride..][..2 * width];
        let bottom = &src[(2 * r + 1) * stride..][..2 * width];
        for ((o, t), b) in row
            .iter_mut()
            .zip(top.chunks_exact(2))
            .zip(bottom.chunks_exact(2))
        {
            let sum = u16::from(t[0]) + u16::from(t[1]) + u16::from(b[0]) + u16::from(b[1]);
            *o = ((sum + 2) / 4) as u8;
        }
    }
}

/// Writes `picture` at twice its size into `out` as tightly packed I420.
pub fn double(picture: &Yuv<'_>, out: &mut Vec<u8>) {
    let (w, h) = (picture.width as usize, picture.height as usize);
    let (cw, ch) = yuv::chroma_size(picture.width, picture.height);
    out.clear();
    out.resize(yuv::i420_len(2 * w as u32, 2 * h as u32), 0);
    let (y, chroma) = out.split_at_mut(4 * w * h);
    let (u, v) = chroma.split_at_mut(4 * cw * ch);
    double_plane(picture.y, picture.y_stride, w, h, y);
    double_plane(picture.u, picture.uv_stride, cw, ch, u);
    double_plane(picture.v, picture.uv_stride, cw, ch, v);
}

/// Bilinear 1:2 of `src` (`width` x `height`, rows `stride` apart) into
/// `out` (twice each way, packed); edges repeat the last sample.
fn double_plane(src: &[u8], stride: usize, width: usize, height: usize, out: &mut [u8]) {
    if width == 0 || height == 0 {
        return;
    }
    let row = |r: usize| &src[r * stride..][..width];
    // A source row blended with its neighbour, 3 to 1, before the columns
    // are (the weights of both passes make 16).
    let mut column = vec![0u16; width];
    let mut blend = |near: &[u8], far: &[u8], out: &mut [u8]| {
        for ((c, &n), &f) in column.iter_mut().zip(near).zip(far) {
            *c = 3 * u16::from(n) + u16::from(f);
        }
        let (first, last) = (column[0], column[width - 1]);
        let left = std::iter::once(first).chain(column.iter().copied());
        let right = column.iter().copied().skip(1).chain(std::iter::once(last));
        for (((pair, &here), left), right) in out
            .chunks_exact_mut(2)
            .zip(column.iter())
            .zip(left)
            .zip(right)
        {
            pair[0] = ((3 * here + left + 8) >> 4) as u8;
            pair[1] = ((3 * here + right + 8) >> 4) as u8;
        }
    };
    for (r, pair) in out.chunks_exact_mut(4 * width).take(height).enumerate() {
        let (upper, lower) = pair.split_at_mut(2 * width);
        blend(row(r), row(r.saturating_sub(1)), upper);
        blend(row(r), row((r + 1).min(height - 1)), lower);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packed(width: u32, height: u32, f: impl Fn(usize, usize) -> u8) -> Vec<u8> {
        let mut data = Vec::new();
        let (cw, ch) = yuv::chroma_size(width, height);
        for (pw, ph) in [(width as usize, height as usize), (cw, ch), (cw, ch)] {
            for y in 0..ph {
                data.extend((0..pw).map(|x| f(x, y)));
            }
        }
        data
    }

    #[test]
    fn only_sizes_with_an_exact_even_half_of_some_width_have_one() {
        assert_eq!(half_size(1280, 720), Some((640, 360)));
        assert_eq!(half_size(640, 480), Some((320, 240)));
        assert_eq!(half_size(1280, 718), None, "359 rows is odd");
        assert_eq!(half_size(320, 240), None, "too narrow");
    }

    #[test]
    fn halving_takes_the_mean_of_each_block_through_strides() {
        // A 4x4 luma plane in rows of 6 bytes, the last two never read.
        let y = [
            0, 2, 10, 10, 99, 99, //
            4, 6, 10, 11, 99, 99, //
            100, 100, 0, 0, 99, 99, //
            100, 101, 0, 255, 99, 99,
        ];
        let (u, v) = ([8, 8, 8, 8], [200, 200, 200, 200]);
        let picture = Yuv {
            y: &y,
            u: &u,
            v: &v,
            y_stride: 6,
            uv_stride: 2,
            width: 4,
            height: 4,
        };
        let mut out = Vec::new();
        halve(&picture, &mut out);
        assert_eq!(out, [3, 10, 100, 64, 8, 200]);
    }

    #[test]
    fn doubling_a_flat_picture_keeps_it_flat_and_a_ramp_stays_a_ramp() {
        let flat = packed(8, 4, |_, _| 77);
        let mut out = Vec::new();
        double(&Yuv::packed(&flat, 8, 4).unwrap(), &mut out);
        assert_eq!(out.len(), yuv::i420_len(16, 8));
        assert!(out.iter().all(|&s| s == 77));

        let ramp = packed(8, 4, |x, _| (x * 16) as u8);
        double(&Yuv::packed(&ramp, 8, 4).unwrap(), &mut out);
        let first_row = &out[..16];
        assert!(first_row.windows(2).all(|p| p[0] <= p[1]), "{first_row:?}");
        // Source samples 16 and 32 each become two, a quarter of the way
        // towards their neighbours: 12 and 20, 28 and 36.
        assert_eq!(&first_row[2..6], &[12, 20, 28, 36]);
    }

    #[test]
    fn down_and_up_again_is_close_to_a_smooth_picture() {
        let (w, h) = (64, 48);
        let smooth = packed(w, h, |x, y| (x * 2 + y) as u8);
        let mut half = Vec::new();
        halve(&Yuv::packed(&smooth, w, h).unwrap(), &mut half);
        let mut back = Vec::new();
        double(&Yuv::packed(&half, w / 2, h / 2).unwrap(), &mut back);
        assert_eq!(back.len(), smooth.len());
        let worst = smooth
            .iter()
            .zip(&back)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        assert!(worst <= 3, "worst difference {worst}");
    }
}
