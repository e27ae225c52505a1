//! Where decoded pictures wait to be shown: a [`Screen`] takes each one
//! from the thread that decodes, and a [`Slot`] keeps only the newest for
//! the window's thread, so that no backlog of pictures can build up.
//!
//! The decoding thread takes buffers from the slot and puts each finished
//! picture there, replacing one the window has not shown yet; the window
//! takes the newest, shows it and gives the buffer back. Three buffers at
//! most exist.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Decoded pixels, ready to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    /// One `0x00RRGGBB` value a pixel, rows top to bottom.
    pub pixels: Vec<u32>,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
}

/// Where decoded frames go.
pub trait Screen {
    /// A buffer of `len` pixels to decode the next frame into.
    fn buffer(&mut self, len: usize) -> Vec<u32>;
    /// Shows a decoded frame; the screen keeps its buffer.
    fn present(&mut self, picture: Picture);
    /// Takes back a buffer that holds nothing worth showing.
    fn recycle(&mut self, buf: Vec<u32>);
    /// Shows (or, with `None`, clears) a line about the connection, such as
    /// "reconnecting".
    fn notice(&mut self, text: Option<String>);
}

#[derive(Debug, Default)]
struct SlotState {
    newest: Option<Picture>,
    spare: Vec<Vec<u32>>,
    notice: Option<String>,
    closed: bool,
}

/// Hands the newest frame from the network thread to the window.
#[derive(Debug, Default)]
pub struct Slot {
    state: Mutex<SlotState>,
    changed: Condvar,
}

impl Slot {
    /// Waits up to `timeout` for a frame; `None` if none came or the slot
    /// is closed.
    pub fn take(&self, timeout: Duration) -> Option<Picture> {
        let state = self.lock();
        let (mut state, _) = self
            .changed
            .wait_timeout_while(state, timeout, |s| s.newest.is_none() && !s.closed)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.newest.take()
    }

    /// Returns a shown frame's buffer for reuse.
    pub fn give_back(&self, buf: Vec<u32>) {
        self.lock().spare.push(buf);
    }

    /// The current notice about the connection, if any.
    pub fn notice_text(&self) -> Option<String> {
        self.lock().notice.clone()
    }

    /// Whether the slot is closed and its last frame taken.
    pub fn is_drained(&self) -> bool {
        let state = self.lock();
        state.closed && state.newest.is_none()
    }

    /// Says no more frames will come.
    pub fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    fn lock(&self) -> MutexGuard<'_, SlotState> {
        crate::sync::lock(&self.state)
    }
}

impl Screen for Arc<Slot> {
    fn buffer(&mut self, len: usize) -> Vec<u32> {
        let mut buf = self.lock().spare.pop().unwrap_or_default();
        buf.resize(len, 0);
        buf
    }

    fn present(&mut self, picture: Picture) {
        let mut state = self.lock();
        if let Some(unshown) = state.newest.replace(picture) {
            state.spare.push(unshown.pixels);
        }
        self.changed.notify_all();
    }

    fn recycle(&mut self, buf: Vec<u32>) {
        self.lock().spare.push(buf);
    }

    fn notice(&mut self, text: Option<String>) {
        self.lock().notice = text;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_keeps_only_the_newest_frame_and_recycles_buffers() {
        let mut slot = Arc::new(Slot::default());
        for value in 0..5u32 {
            let mut buf = slot.buffer(4);
            buf.fill(value);
            slot.present(Picture {
                pixels: buf,
                width: 2,
                height: 2,
            });
        }
        let newest = slot.take(Duration::ZERO).unwrap();
        assert_eq!(newest.pixels, vec![4; 4]);
        assert!(slot.take(Duration::ZERO).is_none());
        slot.give_back(newest.pixels);
        assert!(
            slot.lock().spare.len() <= 2,
            "buffers are reused, not piled up"
        );
    }

    #[test]
    fn closing_wakes_the_window() {
        let slot = Arc::new(Slot::default());
        let closer = Arc::clone(&slot);
        let handle = std::thread::spawn(move || closer.close());
        assert!(slot.take(Duration::from_secs(60)).is_none());
        handle.join().unwrap();
    }
}
