//! The window: shows the newest decoded frame, never a backlog.
//!
//! The network thread decodes into buffers from a [`Slot`] and puts each
//! finished frame there, replacing one the window has not shown yet. The
//! window thread (the main thread: some platforms insist) takes the newest
//! frame, keeps it until a newer one comes (to draw it again with another
//! status line, or at another size) and gives the old one's buffer back.
//! Three buffers at most exist.
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
use crate::ui::status::{self, StatusLine};
use crate::ui::{overlay, screen};

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

/// Opens a window of `width` x `height` and shows frames from `slot`, with
/// the status line of `labels` drawn on them while it shows, until the
/// user quits or the slot closes. A slot closed with a notice (the sender
/// ended the stream, or it failed) keeps the window open saying so for
/// [`status::LINGER`], or until q.
pub fn show(slot: &Slot, width: usize, height: usize, mut labels: Labels<'_>) -> Result<WindowEnd> {
    let (window, quit) = open_window(&labels.title, width, height)?;
    let mut painter = Painter::new(window, (width, height));
    let mut status = StatusLine::default();
    if let Some(said) = labels.status.take() {
        status.update(said, Instant::now());
    }
    let (mut notice, mut over_since) = (None, None::<Instant>);
    let mut title_due = Instant::now() + TITLE_REFRESH;
    loop {
        if quit.load(Ordering::SeqCst) || !painter.window.is_open() {
            // Once the stream is over, q only closes the window sooner.
            let end = over_since.map_or(WindowEnd::UserQuit, |_| WindowEnd::StreamOver);
            return Ok(end);
        }
        if over_since.is_none() && painter.keep_newest(slot) && !labels.first_frame.is_empty() {
            crate::console::info(&std::mem::take(&mut labels.first_frame));
        }
        let now = Instant::now();
        if over_since.is_none() && slot.is_drained() {
            if slot.notice_text().is_none() {
                return Ok(WindowEnd::StreamOver);
            }
            over_since = Some(now);
            title_due = now;
        }
        match over_since {
            Some(since) if now >= since + status::LINGER => return Ok(WindowEnd::StreamOver),
            // A closed slot does not wait: this loop is paced here instead.
            Some(_) => std::thread::sleep(EVENT_POLL),
            None => {}
        }
        let current = slot.notice_text();
        if current != notice {
            notice = current;
            title_due = now;
        }
        if now >= title_due {
            title_due = now + TITLE_REFRESH;
            let caption = (labels.refresh)(slot);
            painter.window.set_title(&caption.title);
            if let Some(said) = caption.status {
                status.update(said, now);
            }
        }
        painter.paint(status.shown(now))?;
    }
}

/// A window and what it last drew: the newest picture, kept so that it can
/// be drawn again with another status line or at another window size.
struct Painter {
    window: Window,
    picture: Option<Picture>,
    /// The stream's size, for a status line before the first picture.
    size: (usize, usize),
    canvas: Vec<u32>,
    fresh: bool,
    drawn: Option<(Vec<String>, (usize, usize))>,
}

impl Painter {
    fn new(window: Window, size: (usize, usize)) -> Self {
        Painter {
            window,
            picture: None,
            size,
            canvas: Vec::new(),
            fresh: false,
            drawn: None,
        }
    }

    /// Waits up to [`EVENT_POLL`] for a newer picture; whether one came.
    fn keep_newest(&mut self, slot: &Slot) -> bool {
        let new = keep_newest(slot, &mut self.picture, EVENT_POLL);
        self.fresh |= new;
        new
    }

    /// Draws the picture with `lines` on it, when the picture, the lines or
    /// the window's size changed since the last time; otherwise only
    /// handles the window's events.
    fn paint(&mut self, lines: Option<&[String]>) -> Result<()> {
        let window_size = self.window.get_size();
        let same = self.drawn.as_ref().map(|(l, size)| (&l[..], *size));
        if !self.fresh && same == lines.map(|lines| (lines, window_size)) {
            self.window.update();
            return Ok(());
        }
        self.fresh = false;
        self.drawn = lines.map(|lines| (lines.to_vec(), window_size));
        let (pixels, (width, height)) = match &self.picture {
            Some(picture) => (&picture.pixels[..], (picture.width, picture.height)),
            None if lines.is_none() => {
                self.window.update();
                return Ok(());
            }
            None => (&[][..], self.size),
        };
        let shown = match lines {
            None => self.window.update_with_buffer(pixels, width, height),
            Some(lines) => {
                self.canvas.clear();
                self.canvas.extend_from_slice(pixels);
                // Black until the first picture.
                self.canvas.resize(width * height, 0);
                let scale = overlay::glyph_scale((width, height), window_size);
                overlay::draw(&mut self.canvas, width, lines, scale);
                self.window.update_with_buffer(&self.canvas, width, height)
            }
        };
        shown.map_err(|e| anyhow!("could not draw the frame: {e}"))
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
            window.set_title(&(labels.refresh)(remote).title);
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
