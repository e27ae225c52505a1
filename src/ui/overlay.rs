//! Drawing a few lines of text on a picture: white 8x8 bitmap glyphs
//! (`font8x8`, public domain, no system fonts) on a band across the top
//! that darkens the picture under it to a quarter, so the text reads on
//! any picture.
//!
//! The text is drawn into the picture's own pixels before the window
//! scales them, so [`glyph_scale`] picks a size for the window the
//! picture is shown in: one font pixel is about one window pixel per 640
//! window pixels of width, whatever the stream's size.

use font8x8::legacy::BASIC_LEGACY;

/// Width and height of a glyph, in font pixels.
pub const GLYPH: usize = 8;

/// Font pixels between the band's edge and the text.
pub const PADDING: usize = 3;

/// Font pixels between two lines.
const LINE_GAP: usize = 2;

/// The colour of the text.
pub const TEXT: u32 = 0x00FF_FFFF;

/// Window pixels of width for each window pixel a font pixel covers.
const WIDTH_PER_FONT_PIXEL: f64 = 640.0;

/// Where a band of text was drawn, in picture pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Band {
    /// Rows from the top of the picture the band covers.
    pub height: usize,
    /// Picture pixels to a font pixel.
    pub scale: usize,
}

/// Picture pixels to a font pixel, for a picture of `picture` (width,
/// height) shown in a window of `window` keeping its aspect ratio.
pub fn glyph_scale(picture: (usize, usize), window: (usize, usize)) -> usize {
    let (pw, ph) = (picture.0.max(1) as f64, picture.1.max(1) as f64);
    let shown = (window.0 as f64 / pw).min(window.1 as f64 / ph);
    if shown <= 0.0 {
        return 1;
    }
    let wanted = (pw * shown / WIDTH_PER_FONT_PIXEL).round().max(1.0);
    (wanted / shown).round().max(1.0) as usize
}

/// Darkens a band across the top of `pixels` (`width` a row) and writes
/// `lines` on it at `scale`, each cut to the width with `...`; returns
/// where it went. Characters outside ASCII show as `?`.
pub fn draw(pixels: &mut [u32], width: usize, lines: &[String], scale: usize) -> Band {
    let scale = scale.max(1);
    let rows = pixels.len() / width.max(1);
    let height = band_height(lines.len(), scale).min(rows);
    for pixel in &mut pixels[..height * width] {
        *pixel = (*pixel >> 2) & 0x003F_3F3F;
    }
    let fits = width.saturating_sub(2 * PADDING * scale) / (GLYPH * scale);
    for (i, line) in lines.iter().enumerate() {
        let top = line_top(i, scale);
        for (column, c) in fitted(line, fits).chars().enumerate() {
            let left = (PADDING + column * GLYPH) * scale;
            draw_glyph(pixels, width, height, (left, top), c, scale);
        }
    }
    Band { height, scale }
}

/// The first row of line `index` (from 0) at `scale`.
pub fn line_top(index: usize, scale: usize) -> usize {
    (PADDING + index * (GLYPH + LINE_GAP)) * scale
}

/// Rows a band of `lines` lines takes at `scale`.
pub fn band_height(lines: usize, scale: usize) -> usize {
    let text = lines * GLYPH + lines.saturating_sub(1) * LINE_GAP;
    (text + 2 * PADDING) * scale
}

/// `line` cut to `fits` characters, ending in `...` when it was longer.
fn fitted(line: &str, fits: usize) -> String {
    if line.chars().count() <= fits {
        return line.to_string();
    }
    let kept: String = line.chars().take(fits.saturating_sub(3)).collect();
    format!("{kept}...")
}

/// Writes glyph `c` with its top-left corner at `at`, clipped to `width`
/// and to the band's `height`.
fn draw_glyph(
    pixels: &mut [u32],
    width: usize,
    height: usize,
    at: (usize, usize),
    c: char,
    scale: usize,
) {
    let index = if c.is_ascii() {
        c as usize
    } else {
        '?' as usize
    };
    for (row, bits) in BASIC_LEGACY[index].iter().enumerate() {
        for column in (0..GLYPH).filter(|column| bits & (1 << column) != 0) {
            let (x0, y0) = (at.0 + column * scale, at.1 + row * scale);
            for y in (y0..y0 + scale).filter(|&y| y < height) {
                for x in (x0..x0 + scale).filter(|&x| x < width) {
                    pixels[y * width + x] = TEXT;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_white_on_a_darkened_band_and_below_is_untouched() {
        let (width, rows) = (200, 40);
        let mut pixels = vec![0x0080_8080; width * rows];
        let band = draw(&mut pixels, width, &["Hi".to_string()], 1);
        assert_eq!(
            band,
            Band {
                height: 14,
                scale: 1
            }
        );
        let (band_px, below) = pixels.split_at(band.height * width);
        let white = band_px.iter().filter(|&&p| p == TEXT).count();
        let lit = |c: char| -> u32 {
            BASIC_LEGACY[c as usize]
                .iter()
                .map(|b| b.count_ones())
                .sum()
        };
        assert_eq!(white as u32, lit('H') + lit('i'));
        assert!(band_px.iter().all(|&p| p == TEXT || p == 0x0020_2020));
        assert!(below.iter().all(|&p| p == 0x0080_8080));
    }

    #[test]
    fn a_long_line_is_cut_to_the_width_with_dots() {
        assert_eq!(fitted("abcdefgh", 8), "abcdefgh");
        assert_eq!(fitted("abcdefghi", 8), "abcde...");
        assert_eq!(fitted("abc", 2), "...");
        let mut pixels = vec![0; 40 * 20];
        // Nothing is written past the row it belongs to.
        draw(&mut pixels, 40, &["W".repeat(50)], 1);
        for row in pixels.chunks(40) {
            assert!(row[40 - PADDING..].iter().all(|&p| p != TEXT));
        }
    }

    #[test]
    fn scale_follows_the_window_not_the_stream() {
        assert_eq!(glyph_scale((320, 240), (320, 240)), 1);
        assert_eq!(glyph_scale((1280, 720), (1280, 720)), 2);
        // 1080p shown at 1152x648: 2 window pixels a font pixel, 3 of its own.
        assert_eq!(glyph_scale((1920, 1080), (1152, 648)), 3);
        // A small stream in a large window is scaled up by the window.
        assert_eq!(glyph_scale((320, 240), (1280, 960)), 1);
        assert_eq!(glyph_scale((320, 240), (0, 0)), 1);
    }

    #[test]
    fn a_band_taller_than_the_picture_is_clipped() {
        let mut pixels = vec![0; 16 * 4];
        let band = draw(&mut pixels, 16, &["x".into(), "y".into()], 4);
        assert_eq!(band.height, 4);
        assert_eq!(band_height(2, 1), 24);
    }
}
