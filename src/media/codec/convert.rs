//! Colour conversions between what codecs give and what a window shows.

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
}
