//! `sender --preview`: the sender's own picture in a window, mirrored as
//! people expect of a self-view.
//!
//! The preview is one more viewer of the hub: it takes the newest frame when
//! it is ready for one, so it never slows the stream, and it keeps capture
//! running while its window is open.

use std::sync::Arc;
use std::thread::{self, JoinHandle};

use crate::console;
use crate::flow::hub::{Cursor, Hub, Next};
use crate::flow::slot::{Picture, Screen, Slot};
use crate::media::codec::{DecodeError, Decoder};
use crate::wire::StreamInfo;

/// Starts decoding the hub's frames into `slot`, mirrored; the thread ends
/// (and closes the slot) when the stream does.
pub fn spawn(hub: Arc<Hub>, info: StreamInfo, slot: Arc<Slot>) -> JoinHandle<()> {
    let watching = hub.watch_here();
    thread::spawn(move || {
        let _watching = watching;
        let _close = CloseOnDrop(Arc::clone(&slot));
        let mut screen = Arc::clone(&slot);
        let mut decoder = match Decoder::new(info) {
            Ok(decoder) => decoder,
            Err(e) => {
                console::warn(&format!("the preview shows nothing: {e:#}"));
                return;
            }
        };
        let (width, height) = (info.width as usize, info.height as usize);
        let mut cursor = Cursor::new();
        while let Next::Frame(packet) = hub.next_for(&mut cursor) {
            let mut pixels = screen.buffer(width * height);
            match decoder.decode_into(&packet.data, packet.kind, &mut pixels) {
                Ok(()) => {
                    mirror(&mut pixels, width);
                    screen.present(Picture {
                        pixels,
                        width,
                        height,
                    });
                }
                Err(DecodeError::Corrupt(_) | DecodeError::Protocol(_)) => screen.recycle(pixels),
            }
        }
    })
}

/// Closes the preview window's slot however the preview thread ends, so
/// that the window does not wait for pictures that will not come.
struct CloseOnDrop(Arc<Slot>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Flips each row of `pixels` left to right.
pub fn mirror(pixels: &mut [u32], width: usize) {
    for row in pixels.chunks_exact_mut(width.max(1)) {
        row.reverse();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_flips_rows() {
        let mut pixels = vec![1, 2, 3, 4, 5, 6];
        mirror(&mut pixels, 3);
        assert_eq!(pixels, vec![3, 2, 1, 6, 5, 4]);
    }
}
