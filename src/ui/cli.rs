//! Command-line pieces both binaries share: where frames come from.

use clap::{Args, ValueEnum};

use crate::media::camera::SourceChoice;
use crate::media::source::SourceConfig;
use crate::wire::Codec;

/// Flags that choose and shape the video this end sends.
#[derive(Args, Debug, Clone)]
pub struct SourceArgs {
    /// What to stream.
    #[arg(long, value_enum, default_value_t = SourceKind::Camera)]
    pub source: SourceKind,
    /// Which webcam, by index (see `sender --list-cameras`).
    #[arg(long, default_value_t = 0)]
    pub camera: u32,
    /// Colouring of the test pattern (0, 1 or 2), to tell two apart.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub colours: u8,
    /// Frame width; a camera gives the closest size it supports.
    #[arg(long, default_value_t = 640)]
    pub width: u32,
    /// Frame height; a camera gives the closest size it supports.
    #[arg(long, default_value_t = 480)]
    pub height: u32,
    /// Frames per second; 0 makes each frame as soon as the fastest viewer
    /// has taken the last one.
    #[arg(long, default_value_t = 30)]
    pub fps: u32,
    /// What goes on the wire: JPEG (about 20x smaller) or raw RGB.
    #[arg(long, value_enum, default_value_t = CodecArg::Jpeg)]
    pub codec: CodecArg,
    /// JPEG quality, 1 (smallest) to 100 (best).
    #[arg(long, default_value_t = 80, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub quality: u8,
}

/// `--source`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SourceKind {
    /// The webcam, through nokhwa.
    Camera,
    /// A built-in moving test pattern.
    Test,
}

/// `--codec`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CodecArg {
    /// JPEG, quality set by --quality.
    Jpeg,
    /// Uncompressed RGB.
    Raw,
}

impl SourceArgs {
    /// The source these flags choose.
    pub fn choice(&self) -> SourceChoice {
        match self.source {
            SourceKind::Camera => SourceChoice::Camera(self.camera),
            SourceKind::Test => SourceChoice::Test(self.colours),
        }
    }

    /// What the source is asked for.
    pub fn config(&self) -> SourceConfig {
        SourceConfig {
            width: self.width,
            height: self.height,
            fps: self.fps,
            codec: match self.codec {
                CodecArg::Jpeg => Codec::Jpeg,
                CodecArg::Raw => Codec::Raw,
            },
            quality: self.quality,
        }
    }

    /// How the source is named to the user.
    pub fn describe(&self) -> String {
        match self.source {
            SourceKind::Camera => format!("camera {}", self.camera),
            SourceKind::Test => "the test pattern".to_string(),
        }
    }
}
