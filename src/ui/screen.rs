//! How large a window may open: the screen's size, and a picture's size
//! scaled down to fit it.
//!
//! minifb can scale a window up to fit the screen but not down, and does
//! not say how large the screen is, so the size is asked of the X server
//! directly through `x11-dl` (which minifb itself loads libX11 with): one
//! short connection of its own before the window opens. Without an
//! answer (no X server, another platform) a window fits
//! [`FALLBACK_SCREEN`].

/// The part of the screen's width and height a new window may take,
/// leaving room for a title bar and panels.
const SCREEN_SHARE: f64 = 0.9;

/// The screen assumed when the X server cannot be asked: 1280x720 fits
/// nearly every screen in use.
pub const FALLBACK_SCREEN: (usize, usize) = (1280, 720);

/// The size a window for a `picture` (width, height) opens at on a screen
/// of `screen`: the picture's own size when it fits [`SCREEN_SHARE`] of
/// the screen, else scaled down to fit, keeping its aspect ratio.
pub fn fit(picture: (usize, usize), screen: (usize, usize)) -> (usize, usize) {
    let (width, height) = (picture.0.max(1), picture.1.max(1));
    let room_w = (screen.0 as f64 * SCREEN_SHARE).floor();
    let room_h = (screen.1 as f64 * SCREEN_SHARE).floor();
    let shrink = (room_w / width as f64).min(room_h / height as f64);
    if shrink >= 1.0 || shrink <= 0.0 {
        return (width, height);
    }
    // The side that limits lands exactly on the room, not a hair under it.
    let scaled = |side: usize| ((side as f64 * shrink + 1e-6).floor() as usize).max(1);
    (scaled(width), scaled(height))
}

/// Runs `open` with the size of the default screen of the X server in
/// `DISPLAY` (or [`FALLBACK_SCREEN`]) and returns what it returns. The
/// connection that asked stays open while `open` runs: an X server with no
/// client left resets itself (Xvfb does), and a window opening during the
/// reset would fail.
pub fn with_size<T>(open: impl FnOnce((usize, usize)) -> T) -> T {
    match X11::connect() {
        Some(x11) => open(x11.size().unwrap_or(FALLBACK_SCREEN)),
        None => open(FALLBACK_SCREEN),
    }
}

/// A connection of its own to the X server, closed when dropped.
#[cfg(target_os = "linux")]
struct X11 {
    xlib: x11_dl::xlib::Xlib,
    display: *mut x11_dl::xlib::Display,
}

#[cfg(target_os = "linux")]
impl X11 {
    fn connect() -> Option<Self> {
        let xlib = x11_dl::xlib::Xlib::open().ok()?;
        // SAFETY: a null name opens DISPLAY; null comes back on failure.
        let display = unsafe { (xlib.XOpenDisplay)(std::ptr::null()) };
        (!display.is_null()).then_some(X11 { xlib, display })
    }

    fn size(&self) -> Option<(usize, usize)> {
        // SAFETY: the display is open (checked in `connect`) until drop,
        // and used on this thread only.
        let (width, height) = unsafe {
            let screen = (self.xlib.XDefaultScreen)(self.display);
            (
                (self.xlib.XDisplayWidth)(self.display, screen),
                (self.xlib.XDisplayHeight)(self.display, screen),
            )
        };
        Some((usize::try_from(width).ok()?, usize::try_from(height).ok()?))
    }
}

#[cfg(target_os = "linux")]
impl Drop for X11 {
    fn drop(&mut self) {
        // SAFETY: opened in `connect`, closed once, here.
        unsafe { (self.xlib.XCloseDisplay)(self.display) };
    }
}

/// Elsewhere the screen is not asked.
#[cfg(not(target_os = "linux"))]
struct X11;

#[cfg(not(target_os = "linux"))]
impl X11 {
    fn connect() -> Option<Self> {
        None
    }

    fn size(&self) -> Option<(usize, usize)> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_picture_that_fits_keeps_its_size() {
        assert_eq!(fit((640, 480), (1280, 1024)), (640, 480));
        assert_eq!(fit((1152, 921), (1280, 1024)), (1152, 921));
    }

    #[test]
    fn a_larger_picture_is_scaled_down_keeping_its_aspect() {
        assert_eq!(fit((1920, 1080), (1280, 1024)), (1152, 648));
        assert_eq!(fit((1080, 1920), (1280, 1024)), (518, 921));
        assert_eq!(fit((3840, 2160), FALLBACK_SCREEN), (1152, 648));
        assert_eq!(fit((1, 1), (0, 0)), (1, 1));
    }
}
