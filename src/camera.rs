//! The webcam, through nokhwa, as a [`FrameSource`].
//!
//! When the camera delivers MJPEG and the stream is JPEG, its frames go on
//! the wire untouched. Otherwise they are decoded to RGB and, for a JPEG
//! stream, encoded once.

use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use nokhwa::Camera;
use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
    Resolution,
};

use crate::codec;
use crate::source::{Frame, FrameSource, SourceConfig, now_us};
use crate::wire::{Codec, StreamInfo};

/// A webcam that is open and streaming.
pub struct CameraSource {
    camera: Camera,
    index: u32,
    info: StreamInfo,
    quality: u8,
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
            quality: config.quality,
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

    fn next_frame(&mut self) -> Result<Frame> {
        let index = self.index;
        let buffer = self
            .camera
            .frame()
            .map_err(|e| anyhow!("camera {index} stopped delivering frames: {e}"))?;
        let captured_us = now_us();
        let data: Vec<u8> = if self.info.codec == Codec::Jpeg
            && buffer.source_frame_format() == FrameFormat::MJPEG
        {
            buffer.buffer().to_vec()
        } else {
            let rgb = buffer.decode_image::<RgbFormat>().map_err(|e| {
                anyhow!("camera {index} sent a frame that could not be decoded: {e}")
            })?;
            codec::encode(&self.info, rgb.as_raw(), self.quality)?
        };
        Ok(Frame {
            captured_us,
            data: Arc::from(data),
        })
    }
}

fn open_camera(index: u32, config: &SourceConfig) -> Result<Camera> {
    let found = nokhwa::query(ApiBackend::Auto).unwrap_or_default();
    if found.is_empty() {
        return Err(anyhow!(
            "no camera at index {index} (none found): plug one in, check with --list-cameras, or stream the test pattern with --source test"
        ));
    }
    // MJPEG first: a JPEG stream then passes the camera's frames through.
    let mut first_error = None;
    for format in PREFERRED_FORMATS {
        let wanted = CameraFormat::new(
            Resolution::new(config.width, config.height),
            format,
            config.fps.max(1),
        );
        let request = RequestedFormat::new::<RgbFormat>(RequestedFormatType::Closest(wanted));
        match Camera::new(CameraIndex::Index(index), request) {
            Ok(camera) => return Ok(camera),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let e = first_error.map_or_else(String::new, |e| e.to_string());
    Err(anyhow!(
        "no camera at index {index} could be opened ({}): is it busy in another program? check with --list-cameras, or use --source test",
        e.replace('\n', " ")
    ))
}

/// Camera pixel formats to ask for, best first.
const PREFERRED_FORMATS: [FrameFormat; 5] = [
    FrameFormat::MJPEG,
    FrameFormat::YUYV,
    FrameFormat::NV12,
    FrameFormat::RAWRGB,
    FrameFormat::GRAY,
];

fn stream_info(camera: &Camera, codec: Codec) -> StreamInfo {
    let resolution = camera.resolution();
    StreamInfo {
        width: resolution.width(),
        height: resolution.height(),
        codec,
    }
}

/// Describes every camera found: index, name and formats, one per line.
pub fn describe_cameras() -> Result<String> {
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
