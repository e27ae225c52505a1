//! The capture thread: it opens the frame source whenever someone watches
//! and publishes each frame to the hub, serialized once for every viewer.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::console;
use crate::flow::hub::{End, Hub, Packet};
use crate::limits;
use crate::media::codec::{self, EncoderConfig, FrameEncoder, Image, Yuv};
use crate::media::source::{Captured, FrameSource, SourceFactory};
use crate::wire::{self, FrameKind, StreamInfo};

/// What the capture thread needs to know.
#[derive(Debug, Clone, Copy)]
pub struct CaptureConfig {
    /// The encoder for the stream as announced; the source must keep to
    /// the stream's size.
    pub encoder: EncoderConfig,
    /// End the stream after this many frames; 0 never.
    pub max_frames: u64,
}

/// Starts the capture thread: it opens the source whenever `hub` counts a
/// viewer and publishes its frames; when the stream ends it calls `on_end`.
pub fn spawn_capture(
    hub: Arc<Hub>,
    config: CaptureConfig,
    open_source: SourceFactory,
    on_end: impl FnOnce(&Hub, End) + Send + 'static,
) -> JoinHandle<()> {
    thread::spawn(move || {
        // A camera's decoder may panic on a broken frame: end the stream
        // with a reason instead of leaving every viewer waiting.
        let end = panic::catch_unwind(AssertUnwindSafe(|| {
            capture_loop(&hub, &config, &*open_source)
        }))
        .unwrap_or_else(|panic| {
            End::Failed(format!("the capture failed: {}", panic_text(&*panic)))
        });
        // The newest frame stays: viewers still take it before the end.
        on_end(&hub, end);
    })
}

/// Opens the source whenever someone watches and publishes its frames.
fn capture_loop(
    hub: &Hub,
    config: &CaptureConfig,
    open_source: &dyn Fn() -> Result<Box<dyn FrameSource>>,
) -> End {
    let mut seq = 0u64;
    // Frames made while someone over the network watched: a preview alone
    // does not use up `--frames`.
    let mut counted = 0u64;
    while hub.wait_for_viewers() {
        let mut source = match open_source() {
            Ok(source) => source,
            Err(e) => return End::Failed(format!("{e:#}")),
        };
        let info = config.encoder.info;
        if source.info() != info {
            return End::Failed(format!(
                "the source changed its format to {:?} after the stream was announced as {info:?}",
                source.info(),
            ));
        }
        // A session's encoder starts afresh, so its first frame is a keyframe.
        let mut encoder = match codec::encoder(&config.encoder) {
            Ok(encoder) => encoder,
            Err(e) => return End::Failed(format!("{e:#}")),
        };
        let mut first = true;
        let mut coded = encoder.coded_size();
        let mut keyframes = KeyframeLimit::new(limits::KEYFRAME_GAP);
        let mut last_keyframe = Instant::now();
        while hub.viewers() > 0 && hub.ended().is_none() {
            // A session's first frame waits for a viewer ready to take it;
            // unpaced, each later one waits until the last was taken.
            let ready = if first {
                hub.wait_ready()
            } else {
                !source.unpaced() || hub.wait_taken()
            };
            if !ready {
                break;
            }
            first = false;
            let frame = match source.next_frame() {
                Ok(frame) => frame,
                Err(e) => return End::Failed(format!("{e:#}")),
            };
            if let Some(kbit) = hub.update_rate() {
                if let Err(e) = encoder.set_bitrate(kbit) {
                    return End::Failed(format!("{e:#}"));
                }
                console::info(&format!("bitrate now {kbit} kbit/s"));
            }
            encoder.set_narrow(hub.link_narrow());
            let now = Instant::now();
            let safety = now.duration_since(last_keyframe) >= limits::ROOMY_KEYFRAME_PERIOD
                && hub.links_have_room();
            let keyframe = keyframes.due(hub.keyframe_requested() || safety, now);
            if keyframe {
                hub.take_keyframe_request();
            }
            let (data, kind) = match encode(&mut *encoder, info, frame.content, keyframe) {
                Ok(encoded) => encoded,
                Err(e) => return End::Failed(format!("{e:#}")),
            };
            if encoder.coded_size() != coded {
                coded = encoder.coded_size();
                if let Some((w, h)) = coded {
                    console::info(&format!("pictures now coded at {w}x{h}"));
                }
            }
            if data.is_empty() {
                // The encoder skipped the picture: nothing to send.
                source.unsent();
                continue;
            }
            if kind.key {
                last_keyframe = now;
            }
            let header = wire::frame_header(seq, frame.captured_us, kind, &data);
            let watched = hub.publish(Packet {
                seq,
                captured_us: frame.captured_us,
                kind,
                header,
                data,
            });
            seq += 1;
            if watched > 0 {
                counted += 1;
            }
            if config.max_frames > 0 && counted >= config.max_frames {
                return End::Clean;
            }
        }
        drop(source);
        hub.clear();
    }
    End::Clean
}

/// What goes on the wire for `content`: a coded frame as it is, a picture
/// through the encoder (as a keyframe when `keyframe`).
fn encode(
    encoder: &mut dyn FrameEncoder,
    info: StreamInfo,
    content: Captured,
    keyframe: bool,
) -> Result<(Arc<[u8]>, FrameKind)> {
    match content {
        Captured::Coded(data) => Ok((data, FrameKind::KEY)),
        Captured::Rgb(rgb) => {
            let encoded = encoder.encode(&Image::Rgb(&rgb), keyframe)?;
            Ok((Arc::from(encoded.data), encoded.kind))
        }
        Captured::I420(i420) => {
            let (w, h) = (info.width, info.height);
            let picture = Yuv::packed(&i420, w, h)
                .with_context(|| format!("the source gave an I420 picture not of {w}x{h}"))?;
            let encoded = encoder.encode(&Image::I420(picture), keyframe)?;
            Ok((Arc::from(encoded.data), encoded.kind))
        }
    }
}

/// Keyframes made on request at most once every `gap`, so that viewers
/// joining (or falling behind) cannot flood the stream with them: a
/// request inside the gap waits until it has passed, and requests that
/// come meanwhile are served by the same keyframe.
#[derive(Debug, Clone)]
pub struct KeyframeLimit {
    gap: Duration,
    last: Option<Instant>,
}

impl KeyframeLimit {
    /// A limit of one keyframe every `gap`; the first request is served
    /// at once.
    pub fn new(gap: Duration) -> Self {
        KeyframeLimit { gap, last: None }
    }

    /// Whether to make a keyframe now, with one `requested`.
    pub fn due(&mut self, requested: bool, now: Instant) -> bool {
        let allowed = self.last.is_none_or(|last| now >= last + self.gap);
        if requested && allowed {
            self.last = Some(now);
        }
        requested && allowed
    }
}

/// The message a panic carried, if it was text.
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "an unexpected error".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::hub::{Cursor, Next};
    use crate::media::camera::{self, SourceChoice};
    use crate::media::source::SourceConfig;
    use crate::wire::Codec;

    /// Takes `count` frames from `hub` (all of them when `None`) with
    /// `cursor`; returns how many came before the end.
    fn take(hub: &Hub, mut cursor: Cursor, count: Option<usize>) -> usize {
        let mut taken = 0;
        while count.is_none_or(|count| taken < count) {
            if let Next::End(_) = hub.next_for(&mut cursor) {
                break;
            }
            taken += 1;
        }
        taken
    }

    #[test]
    fn keyframe_requests_are_served_at_most_once_a_gap() {
        let start = Instant::now();
        let gap = Duration::from_secs(1);
        let mut limit = KeyframeLimit::new(gap);
        let at = |ms: u64| start + Duration::from_millis(ms);
        assert!(!limit.due(false, at(0)), "nothing asked, nothing made");
        assert!(
            limit.due(true, at(0)),
            "the first request is served at once"
        );
        // A flood of requests inside the gap gets nothing more...
        assert!((1..1000).step_by(33).all(|ms| !limit.due(true, at(ms))));
        // ...and is served by one keyframe as soon as the gap has passed.
        assert!(limit.due(true, at(1000)));
        assert!(!limit.due(true, at(1033)));
    }

    #[test]
    fn frames_made_for_a_preview_alone_do_not_count_towards_the_limit() {
        let source = SourceConfig {
            width: 32,
            height: 24,
            fps: 0,
            codec: Codec::Raw,
            quality: 80,
            bitrate_kbit: None,
        };
        let (info, open) = camera::prepare(SourceChoice::Test(0), source).unwrap();
        let hub = Arc::new(Hub::new());
        let _preview = hub.watch_here();
        let config = CaptureConfig {
            encoder: source.encoder(info),
            max_frames: 3,
        };
        let capture = spawn_capture(Arc::clone(&hub), config, open, |hub, end| hub.end(end));
        let previewed = take(&hub, Cursor::new(), Some(10));
        assert_eq!(previewed, 10, "a preview alone ended the stream");
        let (viewer, _) = hub.watch();
        let watched = take(&hub, viewer.cursor(), None);
        // Exactly the three counted frames: not the newest the preview had
        // when the viewer came.
        assert_eq!(watched, 3, "the viewer got {watched} frames");
        capture.join().unwrap();
    }
}
