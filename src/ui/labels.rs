//! What windows say about themselves: titles with the frame rate, the
//! frame age and the bitrate, and notices about the connection.

use std::sync::Arc;
use std::time::Instant;

use crate::flow::hub::Hub;
use crate::flow::slot::Slot;
use crate::session::call::Call;
use crate::session::receiver::{SharedStats, lock};
use crate::wire::StreamInfo;

/// What a window says about itself.
pub struct Labels<'a> {
    /// The title before the first refresh.
    pub title: String,
    /// An informational line once the first frame is on screen.
    pub first_frame: String,
    /// Makes the title anew, once a `TITLE_REFRESH`.
    pub refresh: Box<dyn FnMut(&Slot) -> String + 'a>,
}

/// The labels of a receiver's window: the sender, and figures from `stats`.
pub fn receiver<'a>(info: StreamInfo, peer: &'a str, stats: &'a SharedStats) -> Labels<'a> {
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

/// The labels of a chat window on `place`: waiting, then the other
/// person's frame rate, latency and bitrate once their video shows.
pub fn call(place: &str, call: Call) -> Labels<'static> {
    let place = place.to_string();
    let waiting = format!("camwire chat on {place}: waiting for a call (q quits)");
    let mut figures = TitleFigures::new();
    Labels {
        title: waiting.clone(),
        first_frame: "call started: showing the other person".into(),
        refresh: Box::new(move |_| match call.slot.notice_text() {
            Some(notice) => format!("camwire chat on {place}: {notice}"),
            None if lock(&call.stats).frames() == 0 => {
                // Count from the call's start, not from the window's.
                figures = TitleFigures::new();
                waiting.clone()
            }
            None => format!(
                "camwire chat on {place}  {}  (q hangs up)",
                figures.next(&call.stats)
            ),
        }),
    }
}

/// The labels of the preview window: how many people watch.
pub fn preview(info: StreamInfo, hub: Arc<Hub>) -> Labels<'static> {
    let title =
        |watching: usize| format!("camwire preview: {watching} watching (q stops the sender)");
    Labels {
        title: title(0),
        first_frame: format!("preview showing {}x{}", info.width, info.height),
        refresh: Box::new(move |_| title(hub.remote_viewers())),
    }
}
