//! Where frames come from: the [`FrameSource`] trait and the test pattern.
//!
//! A source hands out pictures for the capture thread's encoder, or frames
//! already in the stream's codec when every frame of it is a keyframe. The
//! webcam lives in `camera`; everything here runs on any machine.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;

use crate::media::codec::{self, EncoderConfig, Image, yuv};
use crate::wire::{Codec, StreamInfo};

/// How many distinct pictures the test pattern cycles through.
pub const PATTERN_FRAMES: usize = 12;

/// One captured frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Capture time in microseconds since the Unix epoch.
    pub captured_us: u64,
    /// Its pixels, encoded already or not.
    pub content: Captured,
}

/// What a source hands out: a picture for the encoder, or a frame already
/// in the stream's codec.
#[derive(Debug, Clone)]
pub enum Captured {
    /// A keyframe already in the stream's codec (a camera's MJPEG for a
    /// JPEG stream, the test pattern's frames encoded once), which goes on
    /// the wire as it is. Only for codecs whose every frame is a keyframe.
    Coded(Arc<[u8]>),
    /// Packed RGB of the stream's size, for the encoder; shared as the
    /// buffer it was decoded into, so that handing it over copies nothing.
    Rgb(Arc<Vec<u8>>),
    /// Tightly packed I420 of the stream's size (a clip, or a camera's
    /// YUYV or NV12 converted), for the encoder.
    I420(Arc<Vec<u8>>),
}

/// Something that makes frames: a webcam or the test pattern.
///
/// A source is created and used on the capture thread only, so it need not be
/// `Send` (a nokhwa camera is not).
pub trait FrameSource {
    /// The shape of the frames this source makes.
    fn info(&self) -> StreamInfo;

    /// Blocks until the next frame is ready and returns it.
    fn next_frame(&mut self) -> Result<Frame>;

    /// Whether the source makes a frame as soon as it is asked (`--fps 0`):
    /// the capture thread then asks only once a viewer has taken the last,
    /// so that no frame is made only to be dropped.
    fn unpaced(&self) -> bool;

    /// The last frame got no sequence number (the encoder skipped it): a
    /// source whose frame k must be sent as sequence number k (a clip)
    /// hands that one out again.
    fn unsent(&mut self) {}
}

/// Opens the frame source; called on the capture thread each time capture
/// starts, because a camera must live on the thread that uses it.
pub type SourceFactory = Box<dyn Fn() -> Result<Box<dyn FrameSource>> + Send>;

/// What a sender asks of its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceConfig {
    /// Requested frame width.
    pub width: u32,
    /// Requested frame height.
    pub height: u32,
    /// Frames per second; 0 makes frames as fast as they are taken.
    pub fps: u32,
    /// The codec on the wire.
    pub codec: Codec,
    /// JPEG quality, 1 to 100.
    pub quality: u8,
    /// H.264 target in kbit/s; `None` for [`default_bitrate`].
    pub bitrate_kbit: Option<u32>,
}

impl SourceConfig {
    /// What the encoder of a stream of `info` made from this is told.
    pub fn encoder(&self, info: StreamInfo) -> EncoderConfig {
        EncoderConfig {
            info,
            quality: self.quality,
            bitrate_kbit: self
                .bitrate_kbit
                .unwrap_or_else(|| default_bitrate(info.width, info.height)),
            fps: self.fps,
        }
    }
}

/// The H.264 bitrate a picture of `width` x `height` gets unless told
/// otherwise, in kbit/s: 1200 up to 640x480, 2500 up to 1280x720, 4500
/// above.
pub fn default_bitrate(width: u32, height: u32) -> u32 {
    match u64::from(width) * u64::from(height) {
        p if p <= 640 * 480 => 1200,
        p if p <= 1280 * 720 => 2500,
        _ => 4500,
    }
}

/// Microseconds since the Unix epoch, now.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A moving test pattern: shaded, speckled colour bars with an inverted band
/// that walks down the picture, one step per frame.
///
/// Its [`PATTERN_FRAMES`] pictures are made once, at start, and for a codec
/// whose every frame is a keyframe also encoded once, so a frame costs
/// nothing and benchmarks measure the transport alone; for H.264 they are
/// kept as I420, what the encoder takes.
///
/// Cloning shares the pictures, so each capture session starts at once.
#[derive(Clone)]
pub struct TestPattern {
    info: StreamInfo,
    frames: Arc<[Captured]>,
    next: usize,
    pacer: Pacer,
}

impl TestPattern {
    /// Makes the pattern's pictures in colouring `colours` (0, 1 or 2), so
    /// that two ends of a chat on one machine can be told apart.
    pub fn coloured(config: &SourceConfig, colours: u8) -> Result<Self> {
        let info = StreamInfo {
            width: config.width,
            height: config.height,
            codec: config.codec,
        };
        info.validate()?;
        let mut encoder = match codec::all_keyframes(info.codec) {
            true => Some(codec::encoder(&config.encoder(info))?),
            false => None,
        };
        let frames = (0..PATTERN_FRAMES)
            .map(|i| {
                let rgb = pattern_rgb_coloured(config.width, config.height, i, colours);
                Ok(match &mut encoder {
                    Some(encoder) => {
                        let encoded = encoder.encode(&Image::Rgb(&rgb), true)?;
                        Captured::Coded(Arc::from(encoded.data))
                    }
                    // Converted once here, not once a frame by the encoder.
                    None => {
                        let mut i420 = Vec::new();
                        yuv::rgb_to_i420(&rgb, config.width, config.height, &mut i420);
                        Captured::I420(Arc::new(i420))
                    }
                })
            })
            .collect::<Result<_>>()?;
        Ok(TestPattern {
            info,
            frames,
            next: 0,
            pacer: Pacer::new(config.fps),
        })
    }
}

impl FrameSource for TestPattern {
    fn info(&self) -> StreamInfo {
        self.info
    }

    fn unpaced(&self) -> bool {
        self.pacer.period.is_none()
    }

    fn next_frame(&mut self) -> Result<Frame> {
        self.pacer.wait();
        let content = self.frames[self.next % PATTERN_FRAMES].clone();
        self.next += 1;
        Ok(Frame {
            captured_us: now_us(),
            content,
        })
    }
}

/// The RGB pixels of test pattern picture `index`.
pub fn pattern_rgb(width: u32, height: u32, index: usize) -> Vec<u8> {
    pattern_rgb_coloured(width, height, index, 0)
}

/// The RGB pixels of test pattern picture `index`, with its colour channels
/// rotated `colours` times (0: the usual bars).
pub fn pattern_rgb_coloured(width: u32, height: u32, index: usize, colours: u8) -> Vec<u8> {
    const BARS: [[u8; 3]; 8] = [
        [235, 235, 235],
        [235, 235, 16],
        [16, 235, 235],
        [16, 235, 16],
        [235, 16, 235],
        [235, 16, 16],
        [16, 16, 235],
        [16, 16, 16],
    ];
    let (w, h) = (width as usize, height as usize);
    let band = (h / PATTERN_FRAMES).max(1);
    let band_top = (index % PATTERN_FRAMES) * h / PATTERN_FRAMES;
    let mut rgb = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        let in_band = (band_top..band_top + band).contains(&y);
        // Darker towards the top, like a lit scene.
        let shade = 192 + 64 * y / h.max(1);
        for x in 0..w {
            let mut bar = BARS[x * BARS.len() / w];
            bar.rotate_right(usize::from(colours % 3));
            let colour = if in_band { bar.map(|c| 255 - c) } else { bar };
            let grain = grain(x, y);
            rgb.extend(colour.map(|c| {
                (c as usize * shade / 256)
                    .saturating_add_signed(grain)
                    .min(255) as u8
            }));
        }
    }
    rgb
}

/// A fixed speckle of -8..=8 per pixel, so that the pattern compresses about
/// as JPEG compresses a camera picture rather than like flat colour.
fn grain(x: usize, y: usize) -> isize {
    let mut h = (x as u32).wrapping_mul(0x9E37_79B1) ^ (y as u32).wrapping_mul(0x85EB_CA77);
    h ^= h >> 15;
    h = h.wrapping_mul(0x2C1B_3C6D);
    h ^= h >> 12;
    (h % 17) as isize - 8
}

/// Paces a loop to a fixed rate without drifting.
#[derive(Debug, Clone)]
pub struct Pacer {
    period: Option<Duration>,
    next: Option<Instant>,
}

impl Pacer {
    /// A pacer for `fps` ticks a second; 0 never waits.
    pub fn new(fps: u32) -> Self {
        Pacer {
            period: (fps > 0).then(|| Duration::from_secs(1) / fps),
            next: None,
        }
    }

    /// Sleeps until the next tick. After a stall longer than one period the
    /// schedule restarts from now instead of bursting to catch up.
    pub fn wait(&mut self) {
        let Some(period) = self.period else { return };
        let now = Instant::now();
        let due = match self.next {
            Some(due) if due + period > now => due,
            _ => now,
        };
        if due > now {
            thread::sleep(due - now);
        }
        self.next = Some(due + period);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(codec: Codec) -> SourceConfig {
        SourceConfig {
            width: 64,
            height: 48,
            fps: 0,
            codec,
            quality: 80,
            bitrate_kbit: None,
        }
    }

    #[test]
    fn pattern_moves_and_repeats() {
        let a = pattern_rgb(64, 48, 0);
        assert_eq!(a.len(), 64 * 48 * 3);
        assert_ne!(a, pattern_rgb(64, 48, 1));
        assert_eq!(a, pattern_rgb(64, 48, PATTERN_FRAMES));
    }

    #[test]
    fn raw_test_pattern_hands_out_its_pictures_in_turn() {
        let mut source = TestPattern::coloured(&config(Codec::Raw), 0).unwrap();
        for i in 0..PATTERN_FRAMES + 2 {
            let Captured::Coded(data) = source.next_frame().unwrap().content else {
                panic!("raw frames are encoded once");
            };
            assert_eq!(&data[..], &pattern_rgb(64, 48, i)[..]);
        }
    }

    #[test]
    fn tiny_odd_sizes_work() {
        let cfg = SourceConfig {
            width: 1,
            height: 1,
            ..config(Codec::Jpeg)
        };
        let mut source = TestPattern::coloured(&cfg, 0).unwrap();
        let Captured::Coded(data) = source.next_frame().unwrap().content else {
            panic!("JPEG frames are encoded once");
        };
        assert!(!data.is_empty());
    }
}
