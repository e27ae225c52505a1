//! The window: shows the newest decoded frame, never a backlog.
//!
//! The network thread decodes into buffers from a [`Slot`] and puts each
//! finished frame there, replacing one the window has not shown yet. The
//! window thread (the main thread: some platforms insist) takes the newest
//! frame, shows it and gives the buffer back. Three buffers at most exist.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use minifb::{InputCallback, Key, Window, WindowOptions};

use crate::receiver::{Picture, Screen, SharedStats, lock};
use crate::wire::StreamInfo;

/// How often the window handles its events while no frame arrives.
const EVENT_POLL: Duration = Duration::from_millis(10);

/// How often the window title's figures are refreshed.
const TITLE_REFRESH: Duration = Duration::from_secs(1);

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
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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

/// Why the window loop stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowEnd {
    /// The user pressed q or Esc, or closed the window.
    UserQuit,
    /// The network thread closed the slot.
    StreamOver,
}

/// Sets a flag when q, Q or Esc is pressed; a callback sees a quick tap that
/// polling the key state between frames can miss.
struct QuitKeys(Arc<AtomicBool>);

impl InputCallback for QuitKeys {
    fn add_char(&mut self, c: u32) {
        if c == u32::from('q') || c == u32::from('Q') {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn set_key_state(&mut self, key: Key, down: bool) {
        if down && matches!(key, Key::Q | Key::Escape) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

/// What a window says about itself.
pub struct Labels<'a> {
    /// The title before the first refresh.
    pub title: String,
    /// An informational line once the first frame is on screen.
    pub first_frame: String,
    /// Makes the title anew, once a `TITLE_REFRESH`.
    pub refresh: Box<dyn FnMut(&Slot) -> String + 'a>,
}

/// Opens a window that q, Q or Esc asks to close, through the returned flag.
fn open_window(title: &str, width: usize, height: usize) -> Result<(Window, Arc<AtomicBool>)> {
    let mut window = Window::new(title, width, height, WindowOptions::default())
        .map_err(|e| {
            anyhow!(
                "could not open a window: {e} (no display? set DISPLAY; a receiver can also run with --headless)"
            )
        })?;
    window.set_target_fps(0);
    let quit = Arc::new(AtomicBool::new(false));
    window.set_input_callback(Box::new(QuitKeys(Arc::clone(&quit))));
    Ok((window, quit))
}

/// Opens a window of `width` x `height` and shows frames from `slot` until
/// the user quits or the slot closes.
pub fn show(slot: &Slot, width: usize, height: usize, mut labels: Labels<'_>) -> Result<WindowEnd> {
    let (mut window, quit) = open_window(&labels.title, width, height)?;
    let mut shown_any = false;
    let mut title_due = Instant::now() + TITLE_REFRESH;
    loop {
        if quit.load(Ordering::SeqCst) || !window.is_open() {
            return Ok(WindowEnd::UserQuit);
        }
        match slot.take(EVENT_POLL) {
            Some(picture) => {
                let shown =
                    window.update_with_buffer(&picture.pixels, picture.width, picture.height);
                slot.give_back(picture.pixels);
                shown.map_err(|e| anyhow!("could not draw the frame: {e}"))?;
                if !shown_any {
                    shown_any = true;
                    crate::console::info(&labels.first_frame);
                }
            }
            None if slot.is_drained() => return Ok(WindowEnd::StreamOver),
            None => window.update(),
        }
        if Instant::now() >= title_due {
            title_due = Instant::now() + TITLE_REFRESH;
            window.set_title(&(labels.refresh)(slot));
        }
    }
}

/// Opens a call window: the other person's video from `remote` fills it,
/// one's own from `local` sits small in the bottom-right corner. Before the
/// other person's first frame, one's own video fills the window.
pub fn show_call(
    remote: &Slot,
    local: &Slot,
    width: usize,
    height: usize,
    mut labels: Labels<'_>,
) -> Result<WindowEnd> {
    let (mut window, quit) = open_window(&labels.title, width, height)?;
    let (mut other, mut own, mut canvas) = (None::<Picture>, None::<Picture>, Vec::new());
    let mut title_due = Instant::now() + TITLE_REFRESH;
    loop {
        if quit.load(Ordering::SeqCst) || !window.is_open() {
            return Ok(WindowEnd::UserQuit);
        }
        let new_other = keep_newest(remote, &mut other, EVENT_POLL);
        let new_own = keep_newest(local, &mut own, Duration::ZERO);
        if new_other && !labels.first_frame.is_empty() {
            crate::console::info(&std::mem::take(&mut labels.first_frame));
        }
        if remote.is_drained() {
            return Ok(WindowEnd::StreamOver);
        }
        if new_other || new_own {
            let (w, h) = compose(&mut canvas, other.as_ref(), own.as_ref());
            if w > 0 {
                window
                    .update_with_buffer(&canvas, w, h)
                    .map_err(|e| anyhow!("could not draw the frame: {e}"))?;
            }
        } else {
            window.update();
        }
        if Instant::now() >= title_due {
            title_due = Instant::now() + TITLE_REFRESH;
            window.set_title(&(labels.refresh)(remote));
        }
    }
}

/// Takes the newest picture from `slot` into `kept`, returning the old one's
/// buffer; `true` if there was a new one.
fn keep_newest(slot: &Slot, kept: &mut Option<Picture>, wait: Duration) -> bool {
    match slot.take(wait) {
        Some(picture) => {
            if let Some(old) = kept.replace(picture) {
                slot.give_back(old.pixels);
            }
            true
        }
        None => false,
    }
}

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

/// The labels of a receiver's window: the sender, and figures from `stats`.
pub fn receiver_labels<'a>(info: StreamInfo, peer: &'a str, stats: &'a SharedStats) -> Labels<'a> {
    let codec = info.codec.name();
    let mut figures = TitleFigures::new();
    Labels {
        title: title(peer, None),
        first_frame: format!("showing {}x{} {codec} from {peer}", info.width, info.height),
        refresh: Box::new(move |slot| match slot.notice_text() {
            Some(notice) => format!("camwire: {peer}  {notice}"),
            None => title(peer, Some(&figures.next(stats))),
        }),
    }
}

/// Frame rate, latency and bitrate since the last title.
pub struct TitleFigures {
    since: Instant,
    frames: u64,
    bytes: u64,
}

impl Default for TitleFigures {
    fn default() -> Self {
        Self::new()
    }
}

impl TitleFigures {
    /// Counting from now.
    pub fn new() -> Self {
        TitleFigures {
            since: Instant::now(),
            frames: 0,
            bytes: 0,
        }
    }

    /// The figures since the last call, as a title shows them.
    pub fn next(&mut self, stats: &SharedStats) -> String {
        let now = Instant::now();
        let stats = lock(stats);
        let secs = now.duration_since(self.since).as_secs_f64().max(1e-3);
        let fps = stats.frames().saturating_sub(self.frames) as f64 / secs;
        let mbit = stats.bytes().saturating_sub(self.bytes) as f64 * 8.0 / 1e6 / secs;
        (self.since, self.frames, self.bytes) = (now, stats.frames(), stats.bytes());
        let latency_ms = stats.last_latency_ms();
        format!("{fps:.1} fps  {latency_ms:.0} ms  {mbit:.1} Mbit/s")
    }
}

fn title(peer: &str, figures: Option<&str>) -> String {
    match figures {
        None => format!("camwire: {peer} (q quits)"),
        Some(figures) => format!("camwire: {peer}  {figures}  (q quits)"),
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

    #[test]
    fn closing_wakes_the_window() {
        let slot = Arc::new(Slot::default());
        let closer = Arc::clone(&slot);
        let handle = std::thread::spawn(move || closer.close());
        assert!(slot.take(Duration::from_secs(60)).is_none());
        handle.join().unwrap();
    }
}
