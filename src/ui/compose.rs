//! Drawing a call's two pictures into one canvas: the other person full
//! size, oneself small in a corner.

use crate::flow::slot::Picture;

/// Draws `main` full size with `corner` scaled to a quarter of its width in
/// the bottom-right corner (or `corner` full size when there is no `main`);
/// returns the canvas size.
pub fn compose(
    canvas: &mut Vec<u32>,
    main: Option<&Picture>,
    corner: Option<&Picture>,
) -> (usize, usize) {
    let (main, corner) = match (main, corner) {
        (Some(main), corner) => (main, corner),
        (None, Some(only)) => (only, None),
        (None, None) => return (0, 0),
    };
    canvas.clear();
    canvas.extend_from_slice(&main.pixels);
    if let Some(small) = corner {
        let w = (main.width / 4).max(1);
        let h = (small.height * w / small.width.max(1)).clamp(1, main.height);
        let margin = main.width / CORNER_MARGIN_PARTS;
        let x0 = main.width - w - margin;
        let y0 = main.height - h - margin.min(main.height - h);
        for y in 0..h {
            let src_row = y * small.height / h * small.width;
            let dst_row = (y0 + y) * main.width + x0;
            for x in 0..w {
                canvas[dst_row + x] = small.pixels[src_row + x * small.width / w];
            }
        }
    }
    (main.width, main.height)
}

/// One's own picture keeps 1/32 of the window's width from the edges.
const CORNER_MARGIN_PARTS: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_puts_the_small_picture_in_the_corner() {
        let main = Picture {
            pixels: vec![1; 16 * 8],
            width: 16,
            height: 8,
        };
        let corner = Picture {
            pixels: vec![2; 8 * 4],
            width: 8,
            height: 4,
        };
        let mut canvas = Vec::new();
        assert_eq!(compose(&mut canvas, Some(&main), Some(&corner)), (16, 8));
        let twos = canvas.iter().filter(|&&p| p == 2).count();
        assert_eq!(twos, 4 * 2, "a quarter of the width, aspect kept");
        assert_eq!(
            canvas[7 * 16 + 11],
            1,
            "left of the corner is the main picture"
        );
        assert_eq!(canvas[7 * 16 + 12], 2);
        assert_eq!(compose(&mut canvas, None, Some(&corner)), (8, 4));
        assert_eq!(compose(&mut canvas, None, None), (0, 0));
    }
}
