//! The window: shows the newest decoded frame, never a backlog.
//!
//! The network thread decodes into buffers from a [`Slot`] and puts each
//! finished frame there, replacing one the window has not shown yet. The
//! window thread (the main thread: some platforms insist) takes the newest
//! frame, shows it and gives the buffer back. Three buffers at most exist.
//!
//! Windows can be resized, the picture keeping its aspect ratio (minifb's
//! `AspectRatioStretch`), and open scaled down to fit the screen
//! (`screen`). minifb 0.29 has no full-screen mode and cannot resize a
//! window it opened, so there is no full-screen key.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use minifb::{InputCallback, Key, ScaleMode, Window, WindowOptions};

use crate::flow::slot::{Picture, Slot};
use crate::session::window::{View, WindowEnd};
use crate::ui::compose::compose;
use crate::ui::labels::{self, Labels};
use crate::ui::screen;

/// How often the window handles its events while no frame arrives.
const EVENT_POLL: Duration = Duration::from_millis(10);

/// How often the window title's figures are refreshed.
const TITLE_REFRESH: Duration = Duration::from_secs(1);

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

/// Opens a window that q, Q or Esc asks to close, through the returned
/// flag: resizable, the picture keeping its aspect ratio, and scaled down
/// to fit the screen when the picture is larger.
fn open_window(title: &str, width: usize, height: usize) -> Result<(Window, Arc<AtomicBool>)> {
    let options = WindowOptions {
        resize: true,
        scale_mode: ScaleMode::AspectRatioStretch,
        ..WindowOptions::default()
    };
    let opened = screen::with_size(|size| {
        let (width, height) = screen::fit((width, height), size);
        Window::new(title, width, height, options)
    });
    let mut window = opened.map_err(|e| {
        anyhow!(
            "could not open a window: {e} (no display? set DISPLAY; a receiver can also run with --headless)"
        )
    })?;
    window.set_target_fps(0);
    let quit = Arc::new(AtomicBool::new(false));
    window.set_input_callback(Box::new(QuitKeys(Arc::clone(&quit))));
    Ok((window, quit))
}

/// Shows what a session asks for in a minifb window titled as [`labels`]
/// says, until the user quits or the pictures stop: the real window
/// behind the session's window seam.
pub fn show_view(view: View<'_>) -> Result<WindowEnd> {
    match view {
        View::Stream {
            slot,
            info,
            peer,
            stats,
        } => {
            let (width, height) = (info.width as usize, info.height as usize);
            show(slot, width, height, labels::receiver(info, peer, stats))
        }
        View::Preview { slot, info, hub } => {
            let (width, height) = (info.width as usize, info.height as usize);
            show(slot, width, height, labels::preview(info, Arc::clone(hub)))
        }
        View::Call {
            call,
            own,
            place,
            size: (width, height),
        } => show_call(
            &call.slot,
            own,
            width,
            height,
            labels::call(place, call.clone()),
        ),
    }
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
