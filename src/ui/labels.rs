//! What windows say about themselves: titles with the frame rate, the
//! frame age and the bitrate, notices about the connection, and a
//! receiver's status line on the picture (see `status`).

use std::sync::Arc;
use std::time::Instant;

use crate::flow::hub::Hub;
use crate::flow::slot::Slot;
use crate::session::call::Call;
use crate::session::receiver::{SharedStats, lock};
use crate::ui::status::{LINGER, Said, State};
use crate::wire::StreamInfo;

/// What a window says about itself.
pub struct Labels<'a> {
    /// The title before the first refresh.
    pub title: String,
    /// An informational line once the first frame is on screen.
    pub first_frame: String,
    /// The status line when the window opens (none for a window without).
    pub status: Option<Said>,
    /// Makes the title and the status line anew, once a `TITLE_REFRESH`
    /// and whenever the connection's notice changes.
    pub refresh: Box<dyn FnMut(&Slot) -> Caption + 'a>,
}

/// A window's title and what its status line says, if it has one.
pub struct Caption {
    /// The window's title.
    pub title: String,
    /// The status line's state and text.
    pub status: Option<Said>,
}

impl From<String> for Caption {
    fn from(title: String) -> Self {
        Caption {
            title,
            status: None,
        }
    }
}

/// The labels of a receiver's window: the sender (`peer`, until the
/// network thread says who sends the stream now: `stats`' `from`), and
/// figures from `stats`, in the title and on the status line.
pub fn receiver<'a>(info: StreamInfo, peer: &'a str, stats: &'a SharedStats) -> Labels<'a> {
    let codec = info.codec.name();
    let stream = format!("{}x{} {codec}", info.width, info.height);
    let watching = move |who: &str, figures: Option<&str>| Said {
        state: State::Watching,
        lines: vec![
            format!("watching {who}"),
            match figures {
                Some(figures) => format!("{stream}  {figures}"),
                None => stream.clone(),
            },
        ],
    };
    let mut figures = TitleFigures::new();
    Labels {
        title: title(peer, None),
        first_frame: format!("showing {}x{} {codec} from {peer}", info.width, info.height),
        status: Some(watching(peer, None)),
        refresh: Box::new(move |slot| {
            let who = lock(stats).from().unwrap_or(peer).to_string();
            match slot.notice_text() {
                Some(notice) => {
                    // Figures after the trouble count from its end.
                    figures.skip(stats);
                    Caption {
                        title: format!("camwire: {who}  {notice}"),
                        status: Some(trouble(&notice, slot.is_drained())),
                    }
                }
                None => {
                    let now = figures.next(stats);
                    Caption {
                        title: title(&who, Some(&now)),
                        status: Some(watching(&who, Some(&now))),
                    }
                }
            }
        }),
    }
}

/// The status line for a notice about the connection: its headline
/// (`reconnecting`) above its reason; once the stream is over, what ended
/// it and when the window closes.
fn trouble(notice: &str, over: bool) -> Said {
    if over {
        let closing = format!("closing in {} s (q closes now)", LINGER.as_secs());
        return Said {
            state: State::Over,
            lines: vec![notice.to_string(), closing],
        };
    }
    let lines = match notice.split_once(": ") {
        Some((headline, why)) => vec![format!("{headline}..."), why.to_string()],
        None => vec![notice.to_string()],
    };
    Said {
        state: State::Trouble,
        lines,
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
        let coded = match stats.coded_smaller() {
            Some((w, h)) => format!("  coded at {w}x{h}"),
            None => String::new(),
        };
        format!("{fps:.1} fps  {latency_ms:.0} ms  {mbit:.1} Mbit/s{coded}")
    }

    /// Counts from now on, leaving out what came before.
    pub fn skip(&mut self, stats: &SharedStats) {
        let stats = lock(stats);
        (self.since, self.frames, self.bytes) = (Instant::now(), stats.frames(), stats.bytes());
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
        status: None,
        refresh: Box::new(move |_| {
            Caption::from(match call.slot.notice_text() {
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
            })
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
        status: None,
        refresh: Box::new(move |_| title(hub.remote_viewers()).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Codec;

    #[test]
    fn the_status_line_names_whoever_sends_the_stream_now() {
        let info = StreamInfo {
            width: 320,
            height: 240,
            codec: Codec::Jpeg,
        };
        let stats = SharedStats::default();
        let mut labels = receiver(info, "studio (10.0.0.2:9999)", &stats);
        let first = labels.status.clone().unwrap();
        assert_eq!(first.lines[0], "watching studio (10.0.0.2:9999)");
        // Found again elsewhere after a retry: the network thread says so.
        lock(&stats).set_stream(info, "studio (10.0.0.2:4242)");
        let caption = (labels.refresh)(&Slot::default());
        assert_eq!(
            caption.status.unwrap().lines[0],
            "watching studio (10.0.0.2:4242)"
        );
        assert!(
            caption
                .title
                .starts_with("camwire: studio (10.0.0.2:4242)  "),
            "{}",
            caption.title
        );
    }
}
