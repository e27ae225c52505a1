//! H.264 through OpenH264 (the `openh264` crate, which builds Cisco's BSD
//! source with its assembly when `nasm` is present).
//!
//! The encoder runs in OpenH264's real-time camera mode at a target
//! bitrate, with [`TEMPORAL_LAYERS`] temporal layers, so that a viewer
//! that cannot take every frame can leave out whole layers and still
//! decode the rest (`flow::hub`). A keyframe (IDR) is made at start, when
//! asked, and every [`KEYFRAME_PERIOD_SECONDS`] at the latest as a safety
//! net (the sender asks for one sooner where every link has room for it:
//! see `limits::ROOMY_KEYFRAME_PERIOD`).
//!
//! A peer's H.264 reaches OpenH264's decoder (C) only after its sequence
//! parameter sets have been read in Rust (`h264-reader`) and found to
//! describe the stream that was announced, so no stream can make the
//! decoder allocate for a picture larger than the one agreed.

use std::collections::VecDeque;
use std::ffi::c_void;

use anyhow::{Context, Result, bail};
use h264_reader::nal::sps::SeqParameterSet;
use h264_reader::rbsp::{BitReader, decode_nal};
use openh264::OpenH264API;
use openh264::decoder::{Decoder as OhDecoder, DecoderConfig};
use openh264::encoder::{
    BitRate, Complexity, Encoder as OhEncoder, EncoderConfig as OhConfig, FrameRate, FrameType,
    IntraFramePeriod, RateControlMode, UsageType,
};
use openh264::formats::{YUVSlices, YUVSource};
use openh264_sys2::{
    ENCODER_OPTION_BITRATE, ENCODER_OPTION_MAX_BITRATE, ENCODER_OPTION_SVC_ENCODE_PARAM_EXT,
    ENCODER_OPTION_TRACE_LEVEL, SBitrateInfo, SEncParamExt, SPATIAL_LAYER_0, WELS_LOG_QUIET,
};

use super::cut::Cuts;
use super::scale;
use super::yuv::{self, Yuv};
use super::{DecodeError, Decoded, Encoded, EncoderConfig, FrameDecoder, FrameEncoder, Image};
use crate::wire::{FrameKind, StreamInfo};

/// Temporal layers the encoder makes: T0 T2 T1 T2, repeated. A viewer
/// that drops T2 gets half the frames, one that drops T1 too a quarter,
/// and both still decode cleanly.
pub const TEMPORAL_LAYERS: u8 = 3;

/// Seconds between keyframes the encoder makes on its own, so that a
/// decoder that lost its footing for any reason finds it again. Long,
/// because a keyframe stalls a narrow link: at 0.5 Mbit/s one of 30 KB
/// holds the frames behind it for half a second.
pub const KEYFRAME_PERIOD_SECONDS: u32 = 60;

/// The frame rate the encoder plans for when frames come unpaced.
const UNPACED_FPS: u32 = 30;

/// Bits a pixel a frame below which the encoder codes the picture at half
/// size ([`scale::half_size`]): 600 kbit/s for 1280x720 at 30 fps, the
/// least WebRTC gives 720p. Fewer bits than that spread over every pixel
/// make a mush of blocks, and a keyframe (OpenH264 holds its quality up)
/// costs half a second of such a link; at half size a keyframe is a
/// third as large and the picture, scaled back up, is sharper.
const HALVE_BELOW_BITS_PER_PIXEL: f64 = 0.022;

/// Bits a pixel a frame above which the encoder goes back to the whole
/// picture: half as much again as [`HALVE_BELOW_BITS_PER_PIXEL`], so that
/// a target wavering around one threshold does not switch to and fro.
const WHOLE_ABOVE_BITS_PER_PIXEL: f64 = 0.033;

/// The share of the target a sequence's first keyframe is made at.
/// OpenH264 picks that keyframe's quantiser from a table by bits a pixel,
/// whose coarsest row is for about a third of what camwire aims at: at
/// the full target, Big Buck Bunny's first keyframe at 640x360 and 450
/// kbit/s is 22 KB (0.4 s of a 0.5 Mbit/s link), at a third 12 KB. The
/// frames after it make up the difference.
const OPENING_SHARE: u32 = 3;

/// The target a sequence's first keyframe is made at, for `kbit`.
fn opening_kbit(kbit: u32) -> u32 {
    (kbit / OPENING_SHARE).max(1)
}

/// Bits a pixel a frame at or below which OpenH264 gives a keyframe of
/// `pixels` its coarsest range of quantisers (28 to 40; its table has a
/// row for each of four sizes): a keyframe within a sequence made at that
/// target is the smallest it makes. In Big Buck Bunny at 1280x720 and 1.3
/// Mbit/s a hard cut's keyframe is then 21 KB (0.11 s of a 1.5 Mbit/s
/// link), against 31 KB at [`OPENING_SHARE`] of the target and 34 KB at
/// the target; at 640x360 and 400 kbit/s, 7.2 KB against 12 KB. Its price
/// is OpenH264's debt (see `H264Encoder::keyframe_kbit`): at 1.75 Mbit/s
/// with a cut every 5 s, 90% of the target made, against 93% at a third
/// and 97% at the target; at 400 kbit/s, 93% against 98%
/// (`examples/h264_rate`). Worth paying only where the link is what holds
/// the target down.
fn coarsest_keyframe_bits_per_pixel(pixels: u32) -> f64 {
    match pixels {
        0..=28_800 => 0.25,
        28_801..=115_200 => 0.1,
        115_201..=460_800 => 0.03,
        _ => 0.01,
    }
}

/// How far the target must have risen within the last second for a
/// keyframe to be made at [`OPENING_SHARE`] of it (see
/// `H264Encoder::keyframe_kbit`): less than the rate law's probe past
/// a link's limit (from 95% to 140% of it, +47%), more than a spare for a
/// slower viewer given back (+18%) or the law's first probe up (+15%).
const RISEN: f64 = 1.25;

/// Seconds of frames the coded size keeps at least, once changed: each
/// change is a keyframe.
const RESIZE_HOLD_SECONDS: u32 = 3;

/// The share of a second of frames for which the target must call for
/// half the size before the size changes: the target falls when a link
/// narrows, and a keyframe then would wait behind what the link still
/// holds; half a second later that has drained. (Back to the whole size
/// at once: the target rises on a link found clear.)
const HALVE_AFTER_SHARE: u32 = 2;

/// Makes one H.264 access unit (Annex B, start codes included) a picture.
///
/// When the target bitrate is too low for the whole picture, it codes the
/// picture at half size instead (a new sequence, beginning with a
/// keyframe), and the whole picture again once the target has risen well
/// past it; the decoder brings a half picture back to the stream's size.
pub struct H264Encoder {
    info: StreamInfo,
    fps: u32,
    encoder: OhEncoder,
    /// The size OpenH264 codes: the stream's, or its half.
    coded: (u32, u32),
    /// The target bitrate, as last asked for.
    bitrate_kbit: u32,
    /// The target OpenH264 has: a sequence's first keyframe is made at
    /// [`OPENING_SHARE`] of the target, some keyframes within it lower
    /// too (see `H264Encoder::keyframe_kbit`), the rest at the target.
    applied_kbit: u32,
    /// The rate control's ceiling, which the target may not pass.
    max_kbit: u32,
    /// Whether the next picture opens a sequence (and is a keyframe).
    opening: bool,
    /// RGB pictures converted to I420 for the encoder.
    scratch: Vec<u8>,
    /// Pictures at half size, for the encoder.
    half: Vec<u8>,
    /// Frames since the coded size last changed.
    since_resize: u32,
    /// Frames for which the target has called for another size.
    wanted_for: u32,
    /// Where the pictures cut to a new scene, made keyframes.
    cuts: Cuts,
    /// The target at each of the last second's frames, oldest first.
    recent_kbit: VecDeque<u32>,
    /// Whether the link the target follows is narrower than the ceiling
    /// (see [`FrameEncoder::set_narrow`]).
    narrow: bool,
}

impl H264Encoder {
    /// An encoder of `config`'s pictures at its bitrate.
    pub fn new(config: &EncoderConfig) -> Result<Self> {
        let fps = if config.fps == 0 {
            UNPACED_FPS
        } else {
            config.fps
        };
        let full = (config.info.width, config.info.height);
        let coded = size_for(full, fps, config.bitrate_kbit, full);
        let opening = opening_kbit(config.bitrate_kbit);
        Ok(H264Encoder {
            info: config.info,
            fps,
            encoder: start(coded, opening, fps)?,
            coded,
            bitrate_kbit: config.bitrate_kbit,
            applied_kbit: opening,
            max_kbit: opening,
            opening: true,
            scratch: Vec::new(),
            half: Vec::new(),
            since_resize: u32::MAX,
            wanted_for: 0,
            cuts: Cuts::default(),
            recent_kbit: VecDeque::new(),
            narrow: false,
        })
    }

    /// The size the target bitrate calls for (see [`size_for`]).
    fn wanted_size(&self) -> (u32, u32) {
        let full = (self.info.width, self.info.height);
        size_for(full, self.fps, self.bitrate_kbit, self.coded)
    }

    /// Starts a new encoder at the size the target calls for, if that is
    /// not the size coded, the target has called for it for long enough
    /// ([`HALVE_AFTER_SHARE`]) and the last change is old enough.
    fn resize_if_due(&mut self) -> Result<()> {
        let wanted = self.wanted_size();
        if wanted == self.coded {
            self.wanted_for = 0;
            return Ok(());
        }
        self.wanted_for = self.wanted_for.saturating_add(1);
        let hold = self.fps.saturating_mul(RESIZE_HOLD_SECONDS);
        let after = match wanted < self.coded {
            true => (self.fps / HALVE_AFTER_SHARE).max(1),
            false => 1,
        };
        if self.since_resize < hold || self.wanted_for < after {
            return Ok(());
        }
        self.wanted_for = 0;
        let opening = opening_kbit(self.bitrate_kbit);
        self.encoder = start(wanted, opening, self.fps)?;
        self.coded = wanted;
        self.applied_kbit = opening;
        self.max_kbit = opening;
        self.opening = true;
        self.since_resize = 0;
        Ok(())
    }
}

/// The size `kbit` calls for in a stream of `full` pictures at `fps`,
/// coded at `coded` now: half when it is below
/// [`HALVE_BELOW_BITS_PER_PIXEL`], whole when above
/// [`WHOLE_ABOVE_BITS_PER_PIXEL`], otherwise `coded`.
fn size_for(full: (u32, u32), fps: u32, kbit: u32, coded: (u32, u32)) -> (u32, u32) {
    let Some(half) = scale::half_size(full.0, full.1) else {
        return full;
    };
    let bits = bits_per_pixel(full, fps, kbit);
    if bits < HALVE_BELOW_BITS_PER_PIXEL {
        half
    } else if bits > WHOLE_ABOVE_BITS_PER_PIXEL {
        full
    } else {
        coded
    }
}

/// Bits a pixel a frame at `kbit` for `full` pictures at `fps`.
fn bits_per_pixel(full: (u32, u32), fps: u32, kbit: u32) -> f64 {
    f64::from(kbit) * 1000.0 / pixel_rate(full, fps)
}

/// The target, in kbit/s, of `bits` a pixel a frame for `size` pictures
/// at `fps`.
fn kbit_at(bits: f64, size: (u32, u32), fps: u32) -> u32 {
    (bits * pixel_rate(size, fps) / 1000.0) as u32
}

/// Pixels a second of `size` pictures at `fps`.
fn pixel_rate(size: (u32, u32), fps: u32) -> f64 {
    f64::from(size.0) * f64::from(size.1) * f64::from(fps)
}

/// A started OpenH264 encoder of `size` pictures at `kbit`, whose next
/// picture is a keyframe.
fn start(size: (u32, u32), kbit: u32, fps: u32) -> Result<OhEncoder> {
    let oh = OhConfig::new()
        .usage_type(UsageType::CameraVideoRealTime)
        .rate_control_mode(RateControlMode::Bitrate)
        .bitrate(BitRate::from_bps(kbit.saturating_mul(1000)))
        // OpenH264 takes 0 for 1 fps and then misses its target.
        .max_frame_rate(FrameRate::from_hz(fps as f32))
        .skip_frames(false)
        .complexity(Complexity::Low)
        // Off: OpenH264 also finds cuts in the test pattern, and their
        // keyframes made tests/slow_link.rs's chat test flaky (about 1
        // run in 3). Cuts are found in `cut` instead.
        .scene_change_detect(false)
        .intra_frame_period(IntraFramePeriod::from_num_frames(
            fps * KEYFRAME_PERIOD_SECONDS,
        ))
        .num_threads(1);
    let mut encoder = OhEncoder::with_api_config(OpenH264API::from_source(), oh)
        .context("could not start the H.264 encoder")?;
    // Quiet from the start: OpenH264 otherwise writes its warnings
    // (that frame skipping is off, which is meant) to standard error.
    let mut quiet = WELS_LOG_QUIET;
    // SAFETY: the trace level is the one option OpenH264 takes before
    // initialisation; it reads one int from the pointer during the call.
    unsafe {
        encoder.raw_api().set_option(
            ENCODER_OPTION_TRACE_LEVEL,
            (&raw mut quiet).cast::<c_void>(),
        );
    }
    prime(&mut encoder, size)?;
    Ok(encoder)
}

/// Initialises `encoder` with a grey picture nobody sees, then turns on
/// temporal layers: the safe wrapper initialises OpenH264 (with one
/// layer) only on a first picture, and changing the layers afterwards
/// makes the next picture a keyframe, which is then the sequence's first.
fn prime(encoder: &mut OhEncoder, (w, h): (u32, u32)) -> Result<()> {
    let mut grey = vec![128; yuv::i420_len(w, h)];
    grey[..(w * h) as usize].fill(16);
    let picture = Yuv::packed(&grey, w, h).context("grey picture")?;
    let source = YUVSlices::new(
        (picture.y, picture.u, picture.v),
        (w as usize, h as usize),
        (picture.y_stride, picture.uv_stride, picture.uv_stride),
    );
    encoder
        .encode(&source)
        .context("could not start the H.264 encoder")?;
    if TEMPORAL_LAYERS > 1 {
        add_layers(encoder)?;
    }
    encoder.force_intra_frame();
    Ok(())
}

/// Turns on temporal layers, once the encoder has been initialised.
fn add_layers(encoder: &mut OhEncoder) -> Result<()> {
    // SAFETY: the encoder is initialised (it has encoded a frame); the
    // parameter block is the type the option names, read back first so
    // that only the layer count changes.
    unsafe {
        let api = encoder.raw_api();
        let mut params = SEncParamExt::default();
        api.get_option(
            ENCODER_OPTION_SVC_ENCODE_PARAM_EXT,
            (&raw mut params).cast::<c_void>(),
        )
        .ok()
        .context("could not read the H.264 encoder's parameters")?;
        params.iTemporalLayerNum = i32::from(TEMPORAL_LAYERS);
        api.set_option(
            ENCODER_OPTION_SVC_ENCODE_PARAM_EXT,
            (&raw mut params).cast::<c_void>(),
        )
        .ok()
        .context("could not give the H.264 encoder temporal layers")?;
    }
    Ok(())
}

/// OpenH264's return codes: 0 is success.
trait Status {
    fn ok(self) -> Option<()>;
}

impl Status for i32 {
    fn ok(self) -> Option<()> {
        (self == 0).then_some(())
    }
}

impl FrameEncoder for H264Encoder {
    fn encode(&mut self, image: &Image<'_>, keyframe: bool) -> Result<Encoded> {
        self.since_resize = self.since_resize.saturating_add(1);
        // (This frame's target and those of the second before it.)
        if self.recent_kbit.len() > self.fps as usize {
            self.recent_kbit.pop_front();
        }
        self.recent_kbit.push_back(self.bitrate_kbit);
        self.resize_if_due()?;
        let (w, h) = (self.info.width, self.info.height);
        let picture = match *image {
            Image::I420(picture) => picture,
            Image::Rgb(rgb) => {
                yuv::rgb_to_i420(rgb, w, h, &mut self.scratch);
                Yuv::packed(&self.scratch, w, h).context("converted picture")?
            }
        };
        if (picture.width, picture.height) != (w, h) {
            bail!(
                "a {}x{} picture for a {w}x{h} stream",
                picture.width,
                picture.height
            );
        }
        if !picture.fits() {
            bail!("a {w}x{h} picture whose planes are shorter than its size");
        }
        let cut = self
            .cuts
            .is_cut(picture.y, w as usize, h as usize, picture.y_stride);
        let picture = if self.coded == (w, h) {
            picture
        } else {
            scale::halve(&picture, &mut self.half);
            let (hw, hh) = self.coded;
            Yuv::packed(&self.half, hw, hh).context("halved picture")?
        };
        let source = YUVSlices::new(
            (picture.y, picture.u, picture.v),
            (picture.width as usize, picture.height as usize),
            (picture.y_stride, picture.uv_stride, picture.uv_stride),
        );
        // A keyframe within a sequence (asked for, or at a cut) is made at
        // a lower target where that pays (see `keyframe_kbit`).
        let within = if (keyframe || cut) && !self.opening {
            self.keyframe_kbit()
        } else {
            None
        };
        if keyframe || cut {
            self.encoder.force_intra_frame();
        }
        if let Some(kbit) = within {
            // (The picture borrows this encoder's buffers: its other
            // fields only.)
            give_target(
                &mut self.encoder,
                &mut self.applied_kbit,
                &mut self.max_kbit,
                kbit,
            )?;
        }
        let stream = self
            .encoder
            .encode(&source)
            .context("H.264 encoding failed")?;
        let key = stream.frame_type() == FrameType::IDR;
        let layer = (0..stream.num_layers())
            .filter_map(|i| stream.layer(i))
            .find(|l| l.is_video())
            .map_or(0, |l| l.raw_info().uiTemporalId);
        let mut data = Vec::new();
        if stream.frame_type() != FrameType::Skip {
            stream.write_vec(&mut data);
        }
        // (The first picture of a sequence is always its keyframe: frame
        // skipping is off. Were it not, the target still applies now.)
        if self.opening || within.is_some() {
            self.opening = false;
            self.apply(self.bitrate_kbit)?;
        }
        let kind = if key {
            FrameKind::KEY
        } else {
            FrameKind::delta(layer)
        };
        Ok(Encoded { data, kind })
    }

    fn coded_size(&self) -> Option<(u32, u32)> {
        Some(self.coded)
    }

    fn set_bitrate(&mut self, kbit: u32) -> Result<()> {
        self.bitrate_kbit = kbit;
        if self.opening {
            // Applied once the opening keyframe is made.
            return Ok(());
        }
        self.apply(kbit)
    }

    fn set_narrow(&mut self, narrow: bool) {
        self.narrow = narrow;
    }
}

impl H264Encoder {
    /// The target a keyframe within a sequence is made at, when lower than
    /// the target; only where that pays:
    /// - on a narrow link ([`FrameEncoder::set_narrow`]), at any size: at
    ///   [`coarsest_keyframe_bits_per_pixel`] (or a third, if less), the
    ///   smallest keyframe OpenH264 makes, so that a hard cut holds the
    ///   frames behind it for as short a time as can be (34 KB at 1.3
    ///   Mbit/s, 0.18 s of a 1.5 Mbit/s link; 21 KB so);
    ///
    /// and elsewhere at [`OPENING_SHARE`] of the target, with the whole
    /// picture coded:
    /// - below [`WHOLE_ABOVE_BITS_PER_PIXEL`]: in Big Buck Bunny at 700
    ///   kbit/s a hard cut's keyframe is then 21 KB, against 31 KB at the
    ///   whole target;
    /// - at a target that rose by [`RISEN`] within the last second: a
    ///   probe up that may yet fail, so that the keyframe meets a link the
    ///   probe has filled (on a 1.5 Mbit/s link, 38 KB held the frames
    ///   behind it for a quarter of a second; 31 KB at a third).
    ///
    /// Elsewhere it saved a sixth at most (31 KB against 38 KB at 2
    /// Mbit/s, nothing at half size), and OpenH264 then starved the second
    /// after it, at 60-75% of the target: 4% of all the bits at 1.75
    /// Mbit/s, lost after every cut (`examples/h264_rate` measures it). A
    /// new target scales what OpenH264 has left to spend by new over old,
    /// so a keyframe's overspend, made at a third, is owed three times
    /// over once the target is back.
    fn keyframe_kbit(&self) -> Option<u32> {
        let opening = opening_kbit(self.bitrate_kbit);
        if self.narrow {
            // (At half size that is always a third: for 640x360, 207
            // kbit/s, and the picture is halved below 600.)
            let (w, h) = self.coded;
            let bits = coarsest_keyframe_bits_per_pixel(w.saturating_mul(h));
            let smallest = kbit_at(bits, self.coded, self.fps);
            return Some(smallest.clamp(1, opening));
        }
        let full = (self.info.width, self.info.height);
        if self.coded != full {
            return None;
        }
        let low = bits_per_pixel(full, self.fps, self.bitrate_kbit) < WHOLE_ABOVE_BITS_PER_PIXEL;
        let lowest = self.recent_kbit.iter().copied().min();
        let risen =
            lowest.is_some_and(|lowest| f64::from(self.bitrate_kbit) >= f64::from(lowest) * RISEN);
        (low || risen).then_some(opening)
    }

    /// Gives OpenH264 the target `kbit`.
    fn apply(&mut self, kbit: u32) -> Result<()> {
        give_target(
            &mut self.encoder,
            &mut self.applied_kbit,
            &mut self.max_kbit,
            kbit,
        )
    }
}

/// Gives OpenH264 `encoder` the target `kbit`; `applied_kbit` and
/// `max_kbit` follow what it was given.
fn give_target(
    encoder: &mut OhEncoder,
    applied_kbit: &mut u32,
    max_kbit: &mut u32,
    kbit: u32,
) -> Result<()> {
    if kbit == *applied_kbit {
        return Ok(());
    }
    let bps = i32::try_from(kbit.saturating_mul(1000)).unwrap_or(i32::MAX);
    // The ceiling first when the target would pass it (OpenH264
    // refuses a target above its ceiling, and then skips every
    // frame); both on layer 0, which an option for all layers does
    // not reach.
    let options: &[_] = if kbit > *max_kbit {
        &[ENCODER_OPTION_MAX_BITRATE, ENCODER_OPTION_BITRATE]
    } else {
        &[ENCODER_OPTION_BITRATE]
    };
    for &option in options {
        let mut info = SBitrateInfo {
            iLayer: SPATIAL_LAYER_0,
            iBitrate: bps,
        };
        // SAFETY: the option takes an SBitrateInfo, which lives for the call.
        let status = unsafe {
            encoder
                .raw_api()
                .set_option(option, (&raw mut info).cast::<c_void>())
        };
        status
            .ok()
            .with_context(|| format!("the H.264 encoder refused {kbit} kbit/s"))?;
    }
    *applied_kbit = kbit;
    *max_kbit = (*max_kbit).max(kbit);
    Ok(())
}

/// Decodes a stream's H.264 into pictures OpenH264 keeps.
pub struct H264Decoder {
    info: StreamInfo,
    decoder: OhDecoder,
    /// Until a keyframe decodes, only a keyframe can.
    lost: bool,
    /// Whether the last frame failed, so that the decoder must be renewed.
    damaged: bool,
    /// A picture coded at half size, brought back to the stream's.
    whole: Vec<u8>,
    /// The size the last picture decoded was coded at.
    coded: Option<(u32, u32)>,
}

/// `plane` for a lifetime the caller vouches for.
///
/// # Safety
/// The bytes must stay valid and unchanged for `'a`.
unsafe fn lend<'a>(plane: &[u8]) -> &'a [u8] {
    // SAFETY: the caller's promise.
    unsafe { std::slice::from_raw_parts(plane.as_ptr(), plane.len()) }
}

impl H264Decoder {
    /// A decoder for frames of `info`.
    pub fn new(info: StreamInfo) -> Result<Self> {
        Ok(H264Decoder {
            info,
            decoder: new_decoder()?,
            lost: true,
            damaged: false,
            whole: Vec::new(),
            coded: None,
        })
    }
}

impl FrameDecoder for H264Decoder {
    fn decode<'a>(&'a mut self, data: &'a [u8]) -> Result<Decoded<'a>, DecodeError> {
        check_parameter_sets(data, self.info)?;
        if self.damaged {
            self.decoder = new_decoder().map_err(|e| DecodeError::Corrupt(format!("{e:#}")))?;
            self.damaged = false;
        }
        self.lost = true;
        let picture = match self.decoder.decode(data) {
            Ok(Some(picture)) => picture,
            failed => {
                // OpenH264 keeps the remains of a damaged frame and can
                // fail on the keyframe after it: the next frame goes to a
                // fresh decoder.
                self.damaged = true;
                let why = match failed {
                    Err(e) => format!("H.264: {e}"),
                    _ => "no picture in the frame".to_string(),
                };
                return Err(DecodeError::Corrupt(why));
            }
        };
        let (w, h) = picture.dimensions();
        let size = (w as u32, h as u32);
        let full = (self.info.width, self.info.height);
        let (y_stride, uv_stride, _) = picture.strides();
        if size != full && Some(size) == scale::half_size(full.0, full.1) {
            let half = Yuv {
                y: picture.y(),
                u: picture.u(),
                v: picture.v(),
                y_stride,
                uv_stride,
                width: size.0,
                height: size.1,
            };
            if !half.fits() {
                return Err(DecodeError::Corrupt(
                    "a picture smaller than its size".into(),
                ));
            }
            scale::double(&half, &mut self.whole);
            let whole = Yuv::packed(&self.whole, full.0, full.1)
                .ok_or_else(|| DecodeError::Corrupt("a picture that would not scale".into()))?;
            self.lost = false;
            self.coded = Some(size);
            return Ok(Decoded::I420(whole));
        }
        if size != full {
            return Err(DecodeError::Protocol(format!(
                "a {w}x{h} picture in a stream announced as {}x{}",
                self.info.width, self.info.height
            )));
        }
        // SAFETY: OpenH264 keeps the picture in the decoder's own buffers
        // until it decodes again or is dropped, which is what the crate's
        // `DecodedYUV<'a>` (a borrow of `self.decoder`) says; only its
        // accessors tie the planes to the shorter borrow of `picture`.
        // Lending them for 'a claims no more: nothing can decode again or
        // replace the decoder while the returned `Decoded<'a>` holds
        // `&'a mut self`.
        let (y, u, v) = unsafe { (lend(picture.y()), lend(picture.u()), lend(picture.v())) };
        let lent = Yuv {
            y,
            u,
            v,
            y_stride,
            uv_stride,
            width: self.info.width,
            height: self.info.height,
        };
        if !lent.fits() {
            return Err(DecodeError::Corrupt(
                "a picture smaller than its size".into(),
            ));
        }
        self.lost = false;
        self.coded = Some(size);
        Ok(Decoded::I420(lent))
    }

    fn needs_keyframe(&self) -> bool {
        self.lost
    }

    fn coded_size(&self) -> Option<(u32, u32)> {
        self.coded
    }
}

/// An OpenH264 decoder on one thread: its threaded decoding is not safe.
fn new_decoder() -> Result<OhDecoder> {
    OhDecoder::with_api_config(OpenH264API::from_source(), DecoderConfig::new())
        .context("could not start the H.264 decoder")
}

/// NAL unit type of a sequence parameter set.
const NAL_SPS: u8 = 7;
/// NAL unit types of the subset SPS of SVC and MVC, whose pictures this
/// stream does not use.
const NAL_SUBSET_SPS: [u8; 2] = [15, 24];

/// Checks every sequence parameter set in `data` against `info`: the
/// pictures it describes must be the announced size or its half
/// ([`scale::half_size`]), or the stream is not the one agreed.
pub fn check_parameter_sets(data: &[u8], info: StreamInfo) -> Result<(), DecodeError> {
    for nal in nal_units(data) {
        let Some(&header) = nal.first() else { continue };
        let kind = header & 0x1f;
        if NAL_SUBSET_SPS.contains(&kind) {
            return Err(DecodeError::Protocol(
                "an SVC or MVC parameter set in a plain H.264 stream".into(),
            ));
        }
        if kind != NAL_SPS {
            continue;
        }
        let size = decode_nal(nal)
            .map_err(|e| e.to_string())
            .and_then(|rbsp| {
                SeqParameterSet::from_bits(BitReader::new(&rbsp[..])).map_err(|e| format!("{e:?}"))
            })
            .and_then(|sps| sps.pixel_dimensions().map_err(|e| format!("{e:?}")));
        match size {
            Ok(size)
                if size == (info.width, info.height)
                    || Some(size) == scale::half_size(info.width, info.height) => {}
            Ok((w, h)) => {
                return Err(DecodeError::Protocol(format!(
                    "H.264 parameters for {w}x{h} pictures in a stream announced as {}x{}",
                    info.width, info.height
                )));
            }
            Err(why) => {
                return Err(DecodeError::Protocol(format!(
                    "unreadable H.264 parameters: {why}"
                )));
            }
        }
    }
    Ok(())
}

/// The NAL units of an Annex B byte stream, start codes removed.
fn nal_units(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    // openh264's splitter gives each unit with its `00 00 01` in front and
    // the leading zero of a four-byte start code at the end of the one
    // before.
    openh264::nal_units(data)
        .map(|unit| trim_trailing_zeros(&unit[3..]))
        .filter(|nal| !nal.is_empty())
}

fn trim_trailing_zeros(nal: &[u8]) -> &[u8] {
    let end = nal.iter().rposition(|&b| b != 0).map_or(0, |at| at + 1);
    &nal[..end]
}

#[cfg(test)]
mod tests {
    use super::super::{Decoder, encoder};
    use super::*;
    use crate::media::source::pattern_rgb;
    use crate::wire::Codec;

    fn info(width: u32, height: u32) -> StreamInfo {
        StreamInfo {
            width,
            height,
            codec: Codec::H264,
        }
    }

    fn config(width: u32, height: u32) -> EncoderConfig {
        EncoderConfig {
            info: info(width, height),
            quality: 80,
            bitrate_kbit: 1000,
            fps: 30,
        }
    }

    fn frames(width: u32, height: u32, n: usize) -> Vec<Encoded> {
        let mut enc = encoder(&config(width, height)).unwrap();
        (0..n)
            .map(|i| {
                let rgb = pattern_rgb(width, height, i);
                enc.encode(&Image::Rgb(&rgb), false).unwrap()
            })
            .collect()
    }

    #[test]
    fn a_stream_starts_with_one_keyframe_and_has_three_layers_after() {
        let frames = frames(160, 96, 9);
        assert!(frames[0].kind.key);
        assert!(frames[1..].iter().all(|f| !f.kind.key), "one keyframe");
        let layers: Vec<u8> = frames[1..].iter().map(|f| f.kind.layer).collect();
        assert!(layers.contains(&2) && layers.contains(&1), "{layers:?}");
        assert!(frames[1..].iter().all(|f| !f.data.is_empty()));
    }

    #[test]
    fn a_hard_cut_is_made_a_keyframe_and_the_moving_pattern_never_is() {
        let (w, h) = (320, 192);
        let mut enc = encoder(&config(w, h)).unwrap();
        let mut keys = Vec::new();
        for i in 0..40 {
            let rgb = pattern_rgb(w, h, i);
            keys.push(enc.encode(&Image::Rgb(&rgb), false).unwrap().kind.key);
        }
        assert_eq!(keys.iter().filter(|&&k| k).count(), 1, "only the first");
        // The same bars, dimmed to a quarter: a new scene.
        let dim: Vec<u8> = pattern_rgb(w, h, 40).iter().map(|c| c / 4).collect();
        assert!(enc.encode(&Image::Rgb(&dim), false).unwrap().kind.key);
        let next: Vec<u8> = pattern_rgb(w, h, 41).iter().map(|c| c / 4).collect();
        assert!(!enc.encode(&Image::Rgb(&next), false).unwrap().kind.key);
    }

    #[test]
    fn keyframes_within_a_sequence_are_made_small_only_where_that_pays() {
        let (w, h) = (320, 192);
        // 200 kbit/s is 0.11 bits a pixel a frame here, 50 kbit/s 0.027.
        let mut enc = H264Encoder::new(&EncoderConfig {
            bitrate_kbit: 200,
            ..config(w, h)
        })
        .unwrap();
        let encode = |enc: &mut H264Encoder, frames: u32| {
            for i in 0..frames {
                let rgb = pattern_rgb(w, h, i as usize);
                enc.encode(&Image::Rgb(&rgb), false).unwrap();
            }
        };
        encode(&mut enc, 30);
        assert_eq!(
            enc.keyframe_kbit(),
            None,
            "a steady target well above the picture's"
        );
        enc.set_narrow(true);
        // 0.1 bits a pixel a frame, OpenH264's coarsest for 320x192, at
        // 30 fps: 184 kbit/s, more than a third.
        assert_eq!(enc.keyframe_kbit(), Some(200 / 3), "a narrow link's");
        enc.set_bitrate(1000).unwrap();
        assert_eq!(enc.keyframe_kbit(), Some(184), "a narrow link's");
        enc.set_bitrate(200).unwrap();
        enc.set_narrow(false);
        enc.set_bitrate(280).unwrap();
        encode(&mut enc, 1);
        let third_of_280 = Some(280 / 3);
        assert_eq!(
            enc.keyframe_kbit(),
            third_of_280,
            "a probe past a limit, two fifths"
        );
        encode(&mut enc, 29);
        assert_eq!(enc.keyframe_kbit(), third_of_280, "still within the second");
        encode(&mut enc, 1);
        assert_eq!(enc.keyframe_kbit(), None, "the probe held for a second");
        enc.set_bitrate(330).unwrap();
        encode(&mut enc, 1);
        assert_eq!(
            enc.keyframe_kbit(),
            None,
            "a spare given back, a sixth, is no probe"
        );
        enc.set_bitrate(50).unwrap();
        encode(&mut enc, 30);
        assert_eq!(enc.coded_size(), Some((w, h)));
        assert_eq!(
            enc.keyframe_kbit(),
            Some(50 / 3),
            "a target low for the whole picture"
        );
        enc.set_narrow(true);
        assert_eq!(enc.keyframe_kbit(), Some(50 / 3), "never above a third");
    }

    #[test]
    fn a_narrow_link_gets_smaller_keyframes_at_cuts() {
        let (w, h) = (320, 192);
        let cut_keyframe = |narrow: bool| {
            // (184 kbit/s on a narrow link, not a third.)
            let mut enc = encoder(&EncoderConfig {
                bitrate_kbit: 1200,
                ..config(w, h)
            })
            .unwrap();
            enc.set_narrow(narrow);
            for i in 0..40 {
                let rgb = pattern_rgb(w, h, i);
                enc.encode(&Image::Rgb(&rgb), false).unwrap();
            }
            // The same bars, dimmed to a quarter: a new scene.
            let dim: Vec<u8> = pattern_rgb(w, h, 40).iter().map(|c| c / 4).collect();
            let frame = enc.encode(&Image::Rgb(&dim), false).unwrap();
            assert!(frame.kind.key);
            frame.data.len()
        };
        let (narrow, wide) = (cut_keyframe(true), cut_keyframe(false));
        assert!(
            narrow * 10 < wide * 9,
            "{narrow} bytes on a narrow link, {wide} on a wide one"
        );
    }

    #[test]
    fn the_smallest_keyframes_follow_openh264s_rows_by_size() {
        let coarsest = coarsest_keyframe_bits_per_pixel;
        assert_eq!(kbit_at(coarsest(1280 * 720), (1280, 720), 30), 276);
        assert_eq!(kbit_at(coarsest(640 * 360), (640, 360), 30), 207);
        let rows = [(28_800, 0.25), (28_801, 0.1), (115_200, 0.1)];
        let rows = rows
            .into_iter()
            .chain([(115_201, 0.03), (460_800, 0.03), (460_801, 0.01)]);
        for (pixels, bits) in rows {
            assert_eq!(coarsest(pixels), bits, "{pixels} pixels");
        }
    }

    #[test]
    fn round_trip_looks_like_the_source() {
        let (w, h) = (160, 96);
        let frames = frames(w, h, 5);
        let mut decoder = Decoder::new(info(w, h)).unwrap();
        let mut out = vec![0; (w * h) as usize];
        for f in &frames {
            decoder.decode_into(&f.data, f.kind, &mut out).unwrap();
        }
        let rgb = pattern_rgb(w, h, 4);
        let mut err = 0u64;
        for (px, src) in out.iter().zip(rgb.chunks_exact(3)) {
            let [b, g, r, _] = px.to_le_bytes();
            err += u64::from(r.abs_diff(src[0])) + u64::from(g.abs_diff(src[1]));
            err += u64::from(b.abs_diff(src[2]));
        }
        let mean = err as f64 / (w * h * 3) as f64;
        assert!(mean < 12.0, "mean error {mean}");
    }

    #[test]
    fn a_decoder_that_joins_late_waits_for_a_keyframe() {
        let (w, h) = (160, 96);
        let frames = frames(w, h, 4);
        let mut decoder = Decoder::new(info(w, h)).unwrap();
        assert!(decoder.needs_keyframe());
        let mut out = vec![0; (w * h) as usize];
        let late = decoder.decode_into(&frames[2].data, frames[2].kind, &mut out);
        assert!(matches!(late, Err(DecodeError::Corrupt(_))), "{late:?}");
    }

    #[test]
    fn a_keyframe_for_another_size_is_refused_before_decoding() {
        let big = frames(320, 192, 1);
        let result = check_parameter_sets(&big[0].data, info(160, 96));
        assert!(
            matches!(result, Err(DecodeError::Protocol(_))),
            "{result:?}"
        );
        assert!(check_parameter_sets(&big[0].data, info(320, 192)).is_ok());
        let mut decoder = Decoder::new(info(160, 96)).unwrap();
        let mut out = vec![0; 160 * 96];
        let shown = decoder.decode_into(&big[0].data, big[0].kind, &mut out);
        assert!(matches!(shown, Err(DecodeError::Protocol(_))), "{shown:?}");
    }

    /// The size in the first SPS of `data`.
    fn sps_size(data: &[u8]) -> (u32, u32) {
        let sps = nal_units(data)
            .find(|nal| nal[0] & 0x1f == NAL_SPS)
            .expect("an SPS");
        let rbsp = decode_nal(sps).unwrap();
        let sps = SeqParameterSet::from_bits(BitReader::new(&rbsp[..])).unwrap();
        sps.pixel_dimensions().unwrap()
    }

    /// Mean absolute difference per channel between shown pixels and RGB.
    fn mean_error(shown: &[u32], rgb: &[u8]) -> f64 {
        let mut err = 0u64;
        for (px, src) in shown.iter().zip(rgb.chunks_exact(3)) {
            let [b, g, r, _] = px.to_le_bytes();
            err += u64::from(r.abs_diff(src[0])) + u64::from(g.abs_diff(src[1]));
            err += u64::from(b.abs_diff(src[2]));
        }
        err as f64 / rgb.len() as f64
    }

    #[test]
    fn a_low_target_codes_half_pictures_that_show_at_the_whole_size() {
        let (w, h) = (640, 368);
        let mut enc = H264Encoder::new(&config(w, h)).unwrap();
        let mut decoder = Decoder::new(info(w, h)).unwrap();
        let mut shown = vec![0; (w * h) as usize];
        let mut sizes = Vec::new();
        let mut keys = Vec::new();
        for i in 0..120 {
            match i {
                // 0.014 bits a pixel: half, once it has been so for half a
                // second (15 frames).
                3 => enc.set_bitrate(100).unwrap(),
                // 0.042: whole again, once three seconds have passed.
                20 => enc.set_bitrate(300).unwrap(),
                _ => {}
            }
            let rgb = pattern_rgb(w, h, i);
            let frame = enc.encode(&Image::Rgb(&rgb), false).unwrap();
            if frame.kind.key {
                keys.push(i);
                sizes.push(sps_size(&frame.data));
            }
            decoder
                .decode_into(&frame.data, frame.kind, &mut shown)
                .unwrap();
            let error = mean_error(&shown, &rgb);
            assert!(error < 16.0, "frame {i}: mean error {error}");
        }
        assert_eq!(keys, [0, 17, 107], "a keyframe at each change of size");
        // (Half a second after the target called for half, three seconds
        // after that for the whole.)
        assert_eq!(sizes, [(640, 368), (320, 184), (640, 368)]);
        assert_eq!(enc.coded_size(), Some((640, 368)));
    }

    #[test]
    fn a_stream_too_small_to_halve_keeps_its_size_at_any_target() {
        let (w, h) = (320, 192);
        let mut enc = H264Encoder::new(&config(w, h)).unwrap();
        enc.set_bitrate(20).unwrap();
        for i in 0..3 {
            let rgb = pattern_rgb(w, h, i);
            enc.encode(&Image::Rgb(&rgb), false).unwrap();
        }
        assert_eq!(enc.coded_size(), Some((w, h)));
    }

    #[test]
    fn only_the_whole_size_and_its_half_pass_the_parameter_check() {
        let half = frames(320, 192, 1);
        assert!(check_parameter_sets(&half[0].data, info(640, 384)).is_ok());
        for announced in [info(1280, 768), info(640, 382), info(320, 96)] {
            let result = check_parameter_sets(&half[0].data, announced);
            assert!(
                matches!(result, Err(DecodeError::Protocol(_))),
                "{announced:?}: {result:?}"
            );
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_crash() {
        let mut decoder = H264Decoder::new(info(64, 48)).unwrap();
        for junk in [
            &[][..],
            &[0, 0, 1],
            &[0, 0, 1, 0x67, 0xff, 0xff],
            &[0x55; 300],
        ] {
            assert!(decoder.decode(junk).is_err());
        }
    }

    #[test]
    fn start_codes_split_nal_units() {
        let data = [0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65];
        let units: Vec<&[u8]> = nal_units(&data).collect();
        assert_eq!(units, vec![&[0x67, 1, 2][..], &[0x68, 3], &[0x65]]);
    }

    #[test]
    fn the_bitrate_can_rise_and_fall() {
        let mut enc = H264Encoder::new(&config(160, 96)).unwrap();
        let rgb = pattern_rgb(160, 96, 0);
        enc.encode(&Image::Rgb(&rgb), false).unwrap();
        for kbit in [3000, 200, 1000, 4000] {
            enc.set_bitrate(kbit).unwrap();
            let next = enc.encode(&Image::Rgb(&rgb), false).unwrap();
            assert!(!next.data.is_empty(), "nothing at {kbit} kbit/s");
        }
    }
}
