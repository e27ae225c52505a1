//! The webcam, through nokhwa, as a [`FrameSource`].
//!
//! When the camera delivers MJPEG and the stream is JPEG, its frames go on
//! the wire as they are, but for the standard Huffman tables put in when
//! the camera leaves them out (`mjpeg`). For H.264, YUYV and NV12 become
//! I420 directly, with no detour through RGB. Anything else is decoded to
//! RGB once and handed to the encoder.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use nokhwa::Camera;
use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
};

use crate::media::clip;
use crate::media::codec::yuv;
use crate::media::mjpeg;
use crate::media::source::{
    Captured, Frame, FrameSource, SourceConfig, SourceFactory, TestPattern, now_us,
};
use crate::wire::{Codec, StreamInfo};

/// A webcam that is open and streaming.
pub struct CameraSource {
    camera: Camera,
    index: u32,
    info: StreamInfo,
    /// `--fps 0`: the fastest rate the camera has, each frame taken only
    /// once a viewer has taken the last.
    unpaced: bool,
}

impl CameraSource {
    /// Opens camera `index` in the format closest to `config`.
    pub fn open(index: u32, config: &SourceConfig) -> Result<Self> {
        let mut camera = open_camera(index, config)?;
        camera
            .open_stream()
            .map_err(|e| anyhow!("camera {index} would not start streaming: {e}"))?;
        let info = stream_info(&camera, config.codec);
        Ok(CameraSource {
            camera,
            index,
            info,
            unpaced: config.fps == 0,
        })
    }

    /// Opens camera `index` only to learn the frame size it would give,
    /// without streaming (so its light stays off).
    pub fn probe(index: u32, config: &SourceConfig) -> Result<StreamInfo> {
        let camera = open_camera(index, config)?;
        Ok(stream_info(&camera, config.codec))
    }
}

impl FrameSource for CameraSource {
    fn info(&self) -> StreamInfo {
        self.info
    }

    fn unpaced(&self) -> bool {
        self.unpaced
    }

    fn next_frame(&mut self) -> Result<Frame> {
        let index = self.index;
        let buffer = self
            .camera
            .frame()
            .map_err(|e| anyhow!("camera {index} stopped delivering frames: {e}"))?;
        let captured_us = now_us();
        // The camera's MJPEG is copied once, straight into the shared frame,
        // with the standard Huffman tables when the camera leaves them out.
        if self.info.codec == Codec::Jpeg && buffer.source_frame_format() == FrameFormat::MJPEG {
            let data = mjpeg::shared_with_standard_tables(buffer.buffer());
            return Ok(Frame {
                captured_us,
                content: Captured::Coded(data),
            });
        }
        if self.info.codec == Codec::H264 {
            let (w, h) = (self.info.width, self.info.height);
            let mut i420 = Vec::new();
            let converted = match buffer.source_frame_format() {
                FrameFormat::YUYV => yuv::yuyv_to_i420(buffer.buffer(), w, h, &mut i420),
                FrameFormat::NV12 => yuv::nv12_to_i420(buffer.buffer(), w, h, &mut i420),
                _ => None,
            };
            if converted.is_some() {
                return Ok(Frame {
                    captured_us,
                    content: Captured::I420(Arc::new(i420)),
                });
            }
        }
        let rgb = buffer
            .decode_image::<RgbFormat>()
            .map_err(|e| anyhow!("camera {index} sent a frame that could not be decoded: {e}"))?
            .into_raw();
        // Raw RGB is what goes on the wire: copied once into the shared
        // frame. Anything else goes to the encoder as decoded.
        let content = match self.info.codec {
            Codec::Raw => Captured::Coded(Arc::from(rgb)),
            Codec::Jpeg | Codec::H264 => Captured::Rgb(Arc::new(rgb)),
        };
        Ok(Frame {
            captured_us,
            content,
        })
    }
}

fn open_camera(index: u32, config: &SourceConfig) -> Result<Camera> {
    ask_for_access()?;
    let found = nokhwa::query(ApiBackend::Auto).unwrap_or_default();
    let indexes: Vec<u32> = found
        .iter()
        .filter_map(|info| info.index().as_index().ok())
        .collect();
    if let Some(missing) = not_found(index, &indexes) {
        return Err(missing);
    }
    let busy = |e: nokhwa::NokhwaError| {
        anyhow!(
            "no camera at index {index} could be opened ({}): is it busy in another program? check with --list-cameras, or use --source test",
            e.to_string().replace('\n', " ")
        )
    };
    let any = RequestedFormat::new::<RgbFormat>(RequestedFormatType::None);
    let mut camera = Camera::new(CameraIndex::Index(index), any).map_err(busy)?;
    let formats = camera.compatible_camera_formats().map_err(busy)?;
    let best = choose_format(&formats, config).ok_or_else(|| {
        anyhow!("camera {index} offers no format camwire can read (see --list-cameras)")
    })?;
    let exact = RequestedFormat::new::<RgbFormat>(RequestedFormatType::Exact(best));
    camera.set_camera_requset(exact).map_err(busy)?;
    Ok(camera)
}

/// Why camera `index` cannot be opened when the cameras found have
/// `indexes`, if it is not among them.
fn not_found(index: u32, indexes: &[u32]) -> Option<anyhow::Error> {
    if indexes.is_empty() {
        return Some(anyhow!(
            "no camera at index {index} (none found): plug one in, check with --list-cameras, or stream the test pattern with --source test"
        ));
    }
    if indexes.contains(&index) {
        return None;
    }
    let listed: Vec<String> = indexes.iter().map(u32::to_string).collect();
    Some(anyhow!(
        "no camera at index {index} (cameras found: {}): pick one with --camera, see --list-cameras, or use --source test",
        listed.join(", ")
    ))
}

/// Camera pixel formats camwire reads, best first: with MJPEG a JPEG
/// stream passes the camera's frames through.
const PREFERRED_FORMATS: [FrameFormat; 5] = [
    FrameFormat::MJPEG,
    FrameFormat::YUYV,
    FrameFormat::NV12,
    FrameFormat::RAWRGB,
    FrameFormat::GRAY,
];

/// Picks the format closest to what `config` asks: the nearest size, then
/// the frame rate (the highest for `--fps 0`, else the lowest at or above
/// the one asked, else the highest), then the preferred pixel format.
pub fn choose_format(formats: &[CameraFormat], config: &SourceConfig) -> Option<CameraFormat> {
    let usable = formats
        .iter()
        .filter(|f| PREFERRED_FORMATS.contains(&f.format()));
    let size_gap = |f: &CameraFormat| {
        let gap = |have: u32, want: u32| u64::from(have.abs_diff(want));
        (
            gap(f.width(), config.width) + gap(f.height(), config.height),
            u64::MAX - u64::from(f.width()),
        )
    };
    let best_size = usable.clone().map(size_gap).min()?;
    let same_size: Vec<&CameraFormat> = usable.filter(|f| size_gap(f) == best_size).collect();
    let rate_rank = |f: &CameraFormat| -> (u32, u32) {
        let fps = f.frame_rate();
        match config.fps {
            0 => (0, u32::MAX - fps),
            want if fps >= want => (0, fps - want),
            want => (1, want - fps),
        }
    };
    let format_rank = |f: &CameraFormat| PREFERRED_FORMATS.iter().position(|p| *p == f.format());
    same_size
        .into_iter()
        .min_by_key(|f| (rate_rank(f), format_rank(f)))
        .copied()
}

fn stream_info(camera: &Camera, codec: Codec) -> StreamInfo {
    let resolution = camera.resolution();
    StreamInfo {
        width: resolution.width(),
        height: resolution.height(),
        codec,
    }
}

/// Where a sender's frames come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceChoice {
    /// The webcam with this index.
    Camera(u32),
    /// The test pattern in this colouring.
    Test(u8),
    /// A YUV4MPEG2 clip, played in a loop.
    Clip(PathBuf),
}

/// Checks the source works now and returns the stream it makes and how to
/// open it on the capture thread (where a camera must be created).
pub fn prepare(choice: SourceChoice, config: SourceConfig) -> Result<(StreamInfo, SourceFactory)> {
    match choice {
        SourceChoice::Test(colours) => {
            // Made and encoded once; each capture session shares the pictures.
            let pattern = TestPattern::coloured(&config, colours)?;
            let info = pattern.info();
            let open: SourceFactory =
                Box::new(move || Ok(Box::new(pattern.clone()) as Box<dyn FrameSource>));
            Ok((info, open))
        }
        SourceChoice::Clip(path) => clip::prepare(&path, &config),
        SourceChoice::Camera(index) => {
            let info = CameraSource::probe(index, &config)?;
            let open: SourceFactory = Box::new(move || {
                Ok(Box::new(CameraSource::open(index, &config)?) as Box<dyn FrameSource>)
            });
            Ok((info, open))
        }
    }
}

/// Describes every camera found: index, name and formats, one per line.
pub fn describe_cameras() -> Result<String> {
    ask_for_access()?;
    let found = nokhwa::query(ApiBackend::Auto).context("could not look for cameras")?;
    if found.is_empty() {
        return Ok("no cameras found (use --source test to stream a test pattern)\n".into());
    }
    let mut out = String::new();
    for info in found {
        let index = info.index().as_index().unwrap_or(u32::MAX);
        out += &format!("{index}: {}\n", info.human_name());
        let any = RequestedFormat::new::<RgbFormat>(RequestedFormatType::None);
        match Camera::new(info.index().clone(), any).and_then(|mut c| c.compatible_camera_formats())
        {
            Ok(formats) => {
                for f in formats {
                    out += &format!(
                        "   {}x{} {} at {} fps\n",
                        f.width(),
                        f.height(),
                        f.format(),
                        f.frame_rate()
                    );
                }
            }
            Err(e) => out += &format!("   (formats unknown: {e})\n"),
        }
    }
    Ok(out)
}

/// Asks for camera access where the system wants it before nokhwa's
/// first call: on macOS; elsewhere this does nothing.
fn ask_for_access() -> Result<()> {
    #[cfg(target_os = "macos")]
    access::ask()?;
    Ok(())
}

/// macOS lets a program use a camera only once the person has allowed it,
/// and nokhwa must ask for that (`nokhwa_initialize`) before any other
/// call. Built in tests elsewhere too, where nokhwa answers yes at once.
#[cfg(any(target_os = "macos", test))]
mod access {
    use std::sync::{OnceLock, mpsc};
    use std::time::Duration;

    use anyhow::{Result, bail};

    use crate::limits;

    /// What the person said.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Answer {
        /// Access is allowed, now or before.
        Allowed,
        /// The person refused, now or before.
        Denied,
        /// No answer came in time.
        Unanswered,
    }

    /// Asks once per process and says where to allow access if refused.
    pub fn ask() -> Result<()> {
        static ANSWER: OnceLock<Answer> = OnceLock::new();
        let request = |tx: mpsc::Sender<bool>| {
            nokhwa::nokhwa_initialize(move |allowed| {
                let _ = tx.send(allowed);
            });
        };
        let limit = limits::CAMERA_ACCESS_TIMEOUT;
        match ANSWER.get_or_init(|| answer_within(request, limit)) {
            Answer::Allowed => Ok(()),
            Answer::Denied => bail!(
                "camwire may not use the camera: allow it for this terminal in System Settings, Privacy & Security, Camera, then start again"
            ),
            Answer::Unanswered => bail!(
                "no answer within {} s to whether camwire may use the camera: allow it in System Settings, Privacy & Security, Camera",
                limit.as_secs()
            ),
        }
    }

    /// Makes `request`, which answers on the channel it is given, and
    /// waits for the answer at most `limit`.
    pub fn answer_within(request: impl FnOnce(mpsc::Sender<bool>), limit: Duration) -> Answer {
        let (tx, rx) = mpsc::channel();
        request(tx);
        match rx.recv_timeout(limit) {
            Ok(true) => Answer::Allowed,
            Ok(false) => Answer::Denied,
            Err(_) => Answer::Unanswered,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nokhwa::utils::Resolution;

    fn format(width: u32, height: u32, format: FrameFormat, fps: u32) -> CameraFormat {
        CameraFormat::new(Resolution::new(width, height), format, fps)
    }

    fn config(width: u32, height: u32, fps: u32) -> SourceConfig {
        SourceConfig {
            width,
            height,
            fps,
            codec: Codec::Jpeg,
            bitrate_kbit: None,
            quality: 80,
        }
    }

    const OFFERED: [(u32, u32, FrameFormat, u32); 6] = [
        (640, 480, FrameFormat::YUYV, 30),
        (640, 480, FrameFormat::MJPEG, 30),
        (640, 480, FrameFormat::MJPEG, 60),
        (1280, 720, FrameFormat::YUYV, 10),
        (1280, 720, FrameFormat::MJPEG, 30),
        (1920, 1080, FrameFormat::GRAY, 30),
    ];

    fn offered() -> Vec<CameraFormat> {
        OFFERED
            .iter()
            .map(|&(w, h, f, r)| format(w, h, f, r))
            .collect()
    }

    #[test]
    fn a_camera_index_not_found_names_the_ones_there_are() {
        assert!(not_found(2, &[0, 2]).is_none());
        let none = not_found(0, &[]).unwrap().to_string();
        assert!(
            none.starts_with("no camera at index 0 (none found)"),
            "{none}"
        );
        let other = not_found(4000, &[0, 2]).unwrap().to_string();
        assert!(
            other.starts_with("no camera at index 4000 (cameras found: 0, 2)"),
            "{other}"
        );
    }

    #[test]
    fn exact_size_and_rate_prefers_mjpeg() {
        let best = choose_format(&offered(), &config(640, 480, 30)).unwrap();
        assert_eq!(best, format(640, 480, FrameFormat::MJPEG, 30));
    }

    #[test]
    fn unpaced_takes_the_highest_rate() {
        let best = choose_format(&offered(), &config(640, 480, 0)).unwrap();
        assert_eq!(best.frame_rate(), 60);
    }

    #[test]
    fn an_unlisted_size_gets_the_nearest() {
        let best = choose_format(&offered(), &config(1280, 800, 30)).unwrap();
        assert_eq!(best, format(1280, 720, FrameFormat::MJPEG, 30));
    }

    #[test]
    fn camera_access_waits_for_an_answer_from_any_thread_but_not_forever() {
        use access::{Answer, answer_within};
        use std::time::Duration;
        let long = Duration::from_secs(30);
        let from_thread = |allowed| {
            move |tx: std::sync::mpsc::Sender<bool>| {
                std::thread::spawn(move || tx.send(allowed).unwrap());
            }
        };
        assert_eq!(answer_within(from_thread(true), long), Answer::Allowed);
        assert_eq!(answer_within(from_thread(false), long), Answer::Denied);
        assert_eq!(answer_within(drop, long), Answer::Unanswered);
        let kept = std::sync::Mutex::new(Vec::new());
        let silent = |tx| kept.lock().unwrap().push(tx);
        assert_eq!(
            answer_within(silent, Duration::from_millis(10)),
            Answer::Unanswered
        );
        // Off macOS nokhwa needs no permission and says so at once.
        access::ask().unwrap();
    }

    #[test]
    fn a_slow_camera_gives_its_best_rate_and_nothing_is_none() {
        let best = choose_format(&offered(), &config(1280, 720, 60)).unwrap();
        assert_eq!(best, format(1280, 720, FrameFormat::MJPEG, 30));
        assert!(choose_format(&[], &config(640, 480, 30)).is_none());
    }
}
