//! Hard cuts: a picture that shares next to nothing with the one before.
//!
//! Predicted across a cut, a frame costs more than a keyframe would (Big
//! Buck Bunny's loop point at 2 Mbit/s: 95 KB as a predicted frame, 33 KB
//! as a keyframe), and on a narrow link such a frame holds the ones
//! behind it for half a second. The H.264 encoder therefore makes a
//! keyframe at a cut. OpenH264 can find cuts itself, but it also finds
//! them where a band moves across a still picture (the test pattern),
//! and a keyframe there only costs; this test asks more of a cut.
//!
//! The test is cheap and coarse: the picture's luma is cut into blocks,
//! each block's mean is taken from a sparse grid of its pixels, and a cut
//! is where half the blocks' means moved. Motion moves few block means
//! far; a new scene moves most of them. In Big Buck Bunny at 1280x720,
//! the loop point moves 63% of the blocks by [`MOVED`] or more and no
//! other frame more than 8%; the test pattern's band moves about a fifth.

/// Pixels on a side of a block whose mean is compared.
const BLOCK: usize = 16;

/// Within a block, every `SAMPLE`th pixel of every `SAMPLE`th row is read.
const SAMPLE: usize = 4;

/// How far (in luma levels, of 255) a block's mean must move to count.
const MOVED: u16 = 12;

/// The share of blocks, in percent, that must move for a cut.
const SHARE_PERCENT: usize = 50;

/// The fewest frames from one cut to the next, so that a flickering or
/// flashing picture cannot turn every frame into a keyframe.
const SPACING: u32 = 15;

/// Watches a stream's pictures for hard cuts.
#[derive(Debug, Default)]
pub struct Cuts {
    /// The last picture's block means, empty before the first.
    last: Vec<u8>,
    /// This picture's, kept to save an allocation a frame.
    now: Vec<u8>,
    /// Frames since the last cut (or the first picture).
    since: u32,
}

impl Cuts {
    /// Whether the luma plane `y` (`width` x `height`, rows `stride`
    /// apart) begins a new scene. The first picture does not.
    pub fn is_cut(&mut self, y: &[u8], width: usize, height: usize, stride: usize) -> bool {
        block_means(y, width, height, stride, &mut self.now);
        self.since = self.since.saturating_add(1);
        let cut = self.last.len() == self.now.len()
            && !self.now.is_empty()
            && self.since >= SPACING
            && moved_share(&self.last, &self.now) >= SHARE_PERCENT;
        std::mem::swap(&mut self.last, &mut self.now);
        if cut {
            self.since = 0;
        }
        cut
    }
}

/// The mean of each whole block of the plane, row by row, into `means`.
/// Pixels right of or below the last whole block are left out; a plane
/// smaller than one block, or shorter than its size says, has none.
fn block_means(y: &[u8], width: usize, height: usize, stride: usize, means: &mut Vec<u8>) {
    means.clear();
    let per_block = (BLOCK / SAMPLE) * (BLOCK / SAMPLE);
    for top in (0..height / BLOCK).map(|b| b * BLOCK) {
        for left in (0..width / BLOCK).map(|b| b * BLOCK) {
            let mut sum = 0usize;
            for row in (top..top + BLOCK).step_by(SAMPLE) {
                let start = row * stride + left;
                let Some(line) = y.get(start..start + BLOCK) else {
                    // Shorter than its size says: no means at all.
                    means.clear();
                    return;
                };
                sum += line
                    .iter()
                    .step_by(SAMPLE)
                    .map(|&p| usize::from(p))
                    .sum::<usize>();
            }
            means.push((sum / per_block) as u8);
        }
    }
}

/// The percentage of blocks whose mean moved at least [`MOVED`].
fn moved_share(before: &[u8], after: &[u8]) -> usize {
    let moved = before
        .iter()
        .zip(after)
        .filter(|&(&a, &b)| u16::from(a.abs_diff(b)) >= MOVED)
        .count();
    moved * 100 / before.len().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::codec::yuv;
    use crate::media::source::{PATTERN_FRAMES, pattern_rgb};

    const W: usize = 320;
    const H: usize = 240;

    fn luma(rgb: &[u8]) -> Vec<u8> {
        let mut i420 = Vec::new();
        yuv::rgb_to_i420(rgb, W as u32, H as u32, &mut i420);
        i420.truncate(W * H);
        i420
    }

    fn cuts_through(pictures: &[Vec<u8>]) -> Vec<bool> {
        let mut cuts = Cuts::default();
        pictures.iter().map(|y| cuts.is_cut(y, W, H, W)).collect()
    }

    #[test]
    fn the_moving_band_of_the_test_pattern_is_no_cut() {
        // Twice round, so the band's jump from the bottom to the top is in.
        let pictures: Vec<_> = (0..2 * PATTERN_FRAMES + 1)
            .map(|i| luma(&pattern_rgb(W as u32, H as u32, i)))
            .collect();
        assert!(cuts_through(&pictures).iter().all(|&cut| !cut));
    }

    #[test]
    fn a_new_scene_is_a_cut_and_the_next_one_soon_after_is_not() {
        let still = luma(&pattern_rgb(W as u32, H as u32, 0));
        // The bars turned upside down: most blocks' brightness changes.
        let mut flipped: Vec<u8> = still.chunks(W).rev().flatten().copied().collect();
        flipped.iter_mut().for_each(|p| *p = 255 - *p);
        let mut pictures = vec![still.clone(); SPACING as usize + 1];
        pictures.push(flipped.clone());
        pictures.push(still.clone());
        let found = cuts_through(&pictures);
        assert_eq!(found.iter().filter(|&&c| c).count(), 1, "{found:?}");
        assert!(found[SPACING as usize + 1], "the new scene: {found:?}");
    }

    #[test]
    fn a_cut_is_found_again_once_the_spacing_has_passed() {
        let still = luma(&pattern_rgb(W as u32, H as u32, 0));
        let dark: Vec<u8> = still.iter().map(|p| p / 4).collect();
        let mut pictures = vec![still.clone(); SPACING as usize + 1];
        pictures.extend(vec![dark; SPACING as usize]);
        pictures.push(still);
        let found = cuts_through(&pictures);
        let at: Vec<_> = (0..found.len()).filter(|&i| found[i]).collect();
        assert_eq!(at, [SPACING as usize + 1, 2 * SPACING as usize + 1]);
    }

    #[test]
    fn a_short_or_tiny_plane_is_never_a_cut_and_never_panics() {
        let mut cuts = Cuts::default();
        for _ in 0..=SPACING {
            assert!(!cuts.is_cut(&[0; 8], 4, 2, 4));
        }
        // A plane shorter than its size says: no means, no cut.
        for _ in 0..=SPACING {
            assert!(!cuts.is_cut(&[0; 100], 64, 64, 64));
        }
    }
}
