//! What the H.264 examples share: a clip read as the sender reads it (one
//! frame at a time, unpaced) and an encoder set up as the sender sets it
//! up (real-time camera mode, 30 fps planned, three temporal layers).

use std::path::PathBuf;

use anyhow::Result;
use camwire::media::camera::{self, SourceChoice};
use camwire::media::codec::{self, EncoderConfig, FrameEncoder};
use camwire::media::source::{FrameSource, SourceConfig};
use camwire::wire::{Codec, StreamInfo};

/// The frame rate the encoder plans for.
pub const FPS: u32 = 30;

/// A clip, ready to encode.
pub struct Clip {
    /// Its stream: size and codec.
    pub info: StreamInfo,
    /// Its frames.
    pub source: Box<dyn FrameSource>,
    /// An H.264 encoder for them.
    pub encoder: Box<dyn FrameEncoder>,
}

/// The clip at `path`, with an H.264 encoder for it at `kbit`.
pub fn clip_encoder(path: &str, kbit: u32) -> Result<Clip> {
    let config = SourceConfig {
        width: 0,
        height: 0,
        fps: 0,
        codec: Codec::H264,
        quality: 80,
        bitrate_kbit: Some(kbit),
    };
    let (info, open) = camera::prepare(SourceChoice::Clip(PathBuf::from(path)), config)?;
    let source = open()?;
    let encoder = codec::encoder(&EncoderConfig {
        fps: FPS,
        ..config.encoder(info)
    })?;
    Ok(Clip {
        info,
        source,
        encoder,
    })
}
