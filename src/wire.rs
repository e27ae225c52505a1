//! The messages camwire peers exchange, and the one place that encodes them.
//!
//! Each [`Message`] is a compatibility promise: a body is the message encoded
//! with bincode 2 (serde) using `CONFIG`: little-endian, fixed-width
//! integers, enum variants as a `u32` index, byte strings as a `u64` length
//! followed by the bytes. Nothing outside this module names bincode, so the
//! encoding can be swapped without touching the rest.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::limits;

/// First bytes of every opening message: `CAMWIRE` and a NUL.
pub const MAGIC: [u8; 8] = *b"CAMWIRE\0";

/// The protocol version this build speaks.
/// Version 2 seals with AEGIS-128X2 where version 1 used AES-256-GCM;
/// version 3 says of each frame whether it is a keyframe and its layer;
/// version 4 adds H.264; in version 5 an H.264 stream may code its
/// pictures at half the announced size (on a narrow link).
pub const PROTOCOL_VERSION: u16 = 5;

/// The bincode configuration of every body.
const CONFIG: bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Fixint,
> = bincode::config::standard().with_fixed_int_encoding();

/// How the pixels of a frame are encoded.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Packed RGB, 3 bytes a pixel, rows top to bottom, no padding.
    Raw,
    /// One baseline or progressive JPEG image.
    Jpeg,
    /// One H.264 access unit (constrained baseline, Annex B byte stream
    /// with start codes); keyframes are IDR pictures and carry their SPS
    /// and PPS.
    H264,
}

impl Codec {
    /// The lowercase name used on the command line and in summaries.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Raw => "raw",
            Codec::Jpeg => "jpeg",
            Codec::H264 => "h264",
        }
    }
}

/// The shape of a stream, as the sender announces it.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamInfo {
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Encoding of every frame's pixels.
    pub codec: Codec,
}

impl StreamInfo {
    /// Bytes of one frame as packed RGB.
    pub fn raw_len(&self) -> usize {
        self.width as usize * self.height as usize * 3
    }

    /// The largest message body a frame of this stream can need.
    pub fn max_body_len(&self) -> usize {
        let slack = match self.codec {
            Codec::Raw => 0,
            // An H.264 picture is at most its samples (4:2:0, half of
            // RGB) plus headers; RGB's size leaves room for any encoder.
            Codec::Jpeg | Codec::H264 => limits::JPEG_SLACK,
        };
        self.raw_len() + slack + limits::FRAME_OVERHEAD
    }

    /// Checks the size against [`limits::MAX_WIDTH`] and [`limits::MAX_HEIGHT`],
    /// and for H.264 against what OpenH264 handles: even sides, at most
    /// [`limits::MAX_H264_SIDES`] either way round.
    pub fn validate(&self) -> Result<(), WireError> {
        let ok = (1..=limits::MAX_WIDTH).contains(&self.width)
            && (1..=limits::MAX_HEIGHT).contains(&self.height);
        if self.codec == Codec::H264 {
            let (long, short) = limits::MAX_H264_SIDES;
            let fits = self.width.max(self.height) <= long && self.width.min(self.height) <= short;
            if !(fits && self.width.is_multiple_of(2) && self.height.is_multiple_of(2)) {
                return Err(WireError::BadH264Size {
                    width: self.width,
                    height: self.height,
                });
            }
        }
        if ok {
            Ok(())
        } else {
            Err(WireError::BadSize {
                width: self.width,
                height: self.height,
            })
        }
    }
}

/// What a viewer needs to know to skip a frame safely.
///
/// A keyframe needs no earlier frame. Any other frame of layer `L` needs
/// the newest frame among the layers below `L` (as temporal scalability
/// predicts), and a layer-0 frame the newest layer-0 frame: so the frames
/// of the top layers can be dropped without breaking the rest. Raw and
/// JPEG frames are all keyframes.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameKind {
    /// Whether the frame needs no earlier frame.
    pub key: bool,
    /// Its temporal layer: 0 the base, higher ones droppable in turn.
    pub layer: u8,
}

impl FrameKind {
    /// A frame that stands alone.
    pub const KEY: FrameKind = FrameKind {
        key: true,
        layer: 0,
    };

    /// A frame that needs earlier ones, in `layer`.
    pub fn delta(layer: u8) -> Self {
        FrameKind { key: false, layer }
    }
}

/// Why a sender turned a viewer away: whether trying again can help.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// No room now: too many viewers, too many connections opening at
    /// once, or the line is busy with another call. Later may do.
    Busy,
    /// Too many wrong codes lately, from this address or from everyone.
    /// Wait a few seconds.
    Guessing,
    /// The code is wrong.
    WrongCode,
    /// The viewer asked for what this sender does not do: a call to a
    /// one-way sender, or watching a sender that waits for a call.
    WrongMode,
}

impl RefusalKind {
    /// Whether trying again, unchanged, cannot help.
    pub fn is_final(self) -> bool {
        matches!(self, RefusalKind::WrongCode | RefusalKind::WrongMode)
    }
}

/// One message on a camwire connection.
///
/// Variable-length fields borrow from the body they were decoded from, so
/// decoding never allocates: a length field cannot make it reserve memory.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum Message<'a> {
    /// A viewer's first message (variant 0).
    Hello {
        /// Always [`MAGIC`].
        magic: [u8; 8],
        /// The viewer's [`PROTOCOL_VERSION`].
        version: u16,
        /// The viewer's SPAKE2 message when it has a code; empty when not.
        #[serde(borrow, with = "serde_bytes")]
        exchange: &'a [u8],
        /// Whether the viewer calls for a two-way chat: it will send its own
        /// `Stream` and `Frame`s on this connection.
        chat: bool,
    },
    /// A sender's first message, announcing the stream (variant 1).
    Stream {
        /// Always [`MAGIC`].
        magic: [u8; 8],
        /// The sender's [`PROTOCOL_VERSION`].
        version: u16,
        /// What the frames will look like.
        info: StreamInfo,
    },
    /// One video frame (variant 2).
    Frame {
        /// Counts every frame the sender made, from 0; gaps are frames this
        /// viewer missed.
        seq: u64,
        /// Capture time in microseconds since the Unix epoch.
        captured_us: u64,
        /// Whether it is a keyframe, and its layer.
        kind: FrameKind,
        /// The pixels, encoded as the stream's codec says.
        #[serde(borrow, with = "serde_bytes")]
        data: &'a [u8],
    },
    /// The sender ends the stream cleanly (variant 3).
    End,
    /// The sender refuses or stops the stream, saying why (variant 4).
    Error {
        /// A sentence for the viewer's user.
        #[serde(borrow)]
        reason: Cow<'a, str>,
    },
    /// A private sender's answer to a `Hello` with a code (variant 5).
    Auth {
        /// The sender's SPAKE2 message.
        #[serde(borrow, with = "serde_bytes")]
        exchange: &'a [u8],
        /// The sender's key confirmation (see `private`).
        #[serde(borrow, with = "serde_bytes")]
        confirmation: &'a [u8],
    },
    /// The viewer's key confirmation, after `Auth` (variant 6).
    Confirm {
        /// The viewer's key confirmation.
        #[serde(borrow, with = "serde_bytes")]
        confirmation: &'a [u8],
    },
    /// A private sender's answer to a `Hello` without a code (variant 7).
    CodeRequired,
    /// A sender turns the viewer away, saying why (variant 8).
    Refused {
        /// What kind of refusal, so the viewer knows whether to try again.
        kind: RefusalKind,
        /// A sentence for the viewer's user.
        #[serde(borrow)]
        reason: Cow<'a, str>,
    },
}

impl<'a> Message<'a> {
    /// A viewer's opening message, with its SPAKE2 message if it has a code.
    pub fn hello(exchange: &'a [u8]) -> Self {
        Message::Hello {
            magic: MAGIC,
            version: PROTOCOL_VERSION,
            exchange,
            chat: false,
        }
    }

    /// A caller's opening message for a two-way chat.
    pub fn call(exchange: &'a [u8]) -> Self {
        Message::Hello {
            magic: MAGIC,
            version: PROTOCOL_VERSION,
            exchange,
            chat: true,
        }
    }

    /// A sender's opening message for `info`.
    pub fn stream(info: StreamInfo) -> Self {
        Message::Stream {
            magic: MAGIC,
            version: PROTOCOL_VERSION,
            info,
        }
    }

    /// A sender's answer to a viewer of another protocol version: an
    /// announcement of no stream, whose magic and version come first as
    /// in every version, so that any viewer reads which version this
    /// sender speaks (see [`decode_opening`]).
    pub fn version_refusal() -> Self {
        Message::stream(StreamInfo {
            width: 0,
            height: 0,
            codec: Codec::Raw,
        })
    }

    /// A refusal of `kind`, saying why.
    pub fn refused(kind: RefusalKind, reason: &'a str) -> Self {
        Message::Refused {
            kind,
            reason: reason.into(),
        }
    }
}

/// Why a body could not be understood.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    /// The peer's opening bytes are not camwire's.
    #[error("the peer does not speak camwire")]
    NotCamwire,
    /// The peer speaks another protocol version.
    #[error("the peer speaks camwire protocol version {theirs}, this build speaks {ours}")]
    Version {
        /// The peer's version.
        theirs: u16,
        /// Ours.
        ours: u16,
    },
    /// A stream announced a frame size camwire does not accept.
    #[error(
        "the announced frame size {width}x{height} is outside 1x1..={}x{}",
        limits::MAX_WIDTH,
        limits::MAX_HEIGHT
    )]
    BadSize {
        /// Announced width.
        width: u32,
        /// Announced height.
        height: u32,
    },
    /// An H.264 stream of a size it cannot have.
    #[error(
        "H.264 needs an even width and height of at most {}x{}, not {width}x{height}",
        limits::MAX_H264_SIDES.0,
        limits::MAX_H264_SIDES.1
    )]
    BadH264Size {
        /// Announced width.
        width: u32,
        /// Announced height.
        height: u32,
    },
    /// The body is not a valid message.
    #[error("malformed message: {0}")]
    Malformed(String),
}

/// Encodes a whole message into a new body.
pub fn encode(msg: &Message<'_>) -> Vec<u8> {
    bincode::serde::encode_to_vec(msg, CONFIG).expect("encoding into a Vec cannot fail")
}

/// Decodes a body, borrowing frame pixels from it.
pub fn decode(body: &[u8]) -> Result<Message<'_>, WireError> {
    let (msg, used) = bincode::serde::borrow_decode_from_slice(body, CONFIG)
        .map_err(|e| WireError::Malformed(e.to_string()))?;
    if used != body.len() {
        return Err(WireError::Malformed(format!(
            "{} bytes after the end of the message",
            body.len() - used
        )));
    }
    Ok(msg)
}

/// The first fields of both opening messages: variant, magic, version.
type OpeningPrefix = (u32, [u8; 8], u16);

/// Variant indexes of the two opening messages.
const OPENING_VARIANTS: [u32; 2] = [0, 1];

/// Decodes a peer's opening body after checking its magic and version, so that
/// a stranger and a newer camwire get their own clear errors.
pub fn decode_opening(body: &[u8]) -> Result<Message<'_>, WireError> {
    let prefix: Result<(OpeningPrefix, usize), _> = bincode::serde::decode_from_slice(body, CONFIG);
    match prefix {
        Ok(((variant, _, _), _)) if !OPENING_VARIANTS.contains(&variant) => {
            decode(body).map_err(|_| WireError::NotCamwire)
        }
        Ok(((_, magic, _), _)) if magic != MAGIC => Err(WireError::NotCamwire),
        Ok(((_, _, version), _)) if version != PROTOCOL_VERSION => Err(WireError::Version {
            theirs: version,
            ours: PROTOCOL_VERSION,
        }),
        Ok(_) => decode(body),
        Err(_) => decode(body).map_err(|_| WireError::NotCamwire),
    }
}

/// The body of a [`Message::Frame`] without its trailing pixels.
///
/// The full body is this header followed by `data`, so a sender can write the
/// pixels straight from where they lie, shared by every viewer.
pub fn frame_header(seq: u64, captured_us: u64, kind: FrameKind, data: &[u8]) -> Vec<u8> {
    let msg = Message::Frame {
        seq,
        captured_us,
        kind,
        data,
    };
    let mut writer = SkipPayload {
        out: Vec::with_capacity(limits::FRAME_OVERHEAD),
        payload: data,
        skipped: data.is_empty(),
    };
    bincode::serde::encode_into_writer(&msg, &mut writer, CONFIG)
        .expect("encoding into a Vec cannot fail");
    assert!(writer.skipped, "bincode wrote the pixels in pieces");
    writer.out
}

/// A bincode writer that keeps everything but the one write of `payload`.
struct SkipPayload<'a> {
    out: Vec<u8>,
    payload: &'a [u8],
    skipped: bool,
}

impl bincode::enc::write::Writer for SkipPayload<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
        if !self.skipped && std::ptr::eq(bytes, self.payload) {
            self.skipped = true;
        } else {
            self.out.extend_from_slice(bytes);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: StreamInfo = StreamInfo {
        width: 640,
        height: 480,
        codec: Codec::Raw,
    };

    #[test]
    fn every_message_round_trips() {
        let pixels = [1u8, 2, 3, 4, 5, 6];
        let messages = [
            Message::hello(&[]),
            Message::hello(&[1; 33]),
            Message::call(&[]),
            Message::Auth {
                exchange: &[2; 33],
                confirmation: &[3; 16],
            },
            Message::Confirm {
                confirmation: &[4; 16],
            },
            Message::CodeRequired,
            Message::stream(INFO),
            Message::Frame {
                seq: 7,
                captured_us: 1_700_000_000_000_000,
                kind: FrameKind::KEY,
                data: &pixels,
            },
            Message::Frame {
                seq: 8,
                captured_us: 1_700_000_000_000_000,
                kind: FrameKind::delta(2),
                data: &pixels,
            },
            Message::End,
            Message::Error {
                reason: "busy".into(),
            },
            Message::Error {
                reason: String::from("owned").into(),
            },
            Message::refused(RefusalKind::Busy, "the line is busy"),
            Message::version_refusal(),
        ];
        for msg in messages {
            assert_eq!(decode(&encode(&msg)).unwrap(), msg);
        }
    }

    #[test]
    fn layout_is_the_documented_one() {
        let body = encode(&Message::stream(INFO));
        let mut want = 1u32.to_le_bytes().to_vec();
        want.extend_from_slice(b"CAMWIRE\0");
        want.extend_from_slice(&5u16.to_le_bytes());
        want.extend_from_slice(&640u32.to_le_bytes());
        want.extend_from_slice(&480u32.to_le_bytes());
        want.extend_from_slice(&0u32.to_le_bytes());
        assert_eq!(body, want);

        let frame = encode(&Message::Frame {
            seq: 2,
            captured_us: 3,
            kind: FrameKind::delta(1),
            data: b"xyz",
        });
        let mut want = 2u32.to_le_bytes().to_vec();
        want.extend_from_slice(&2u64.to_le_bytes());
        want.extend_from_slice(&3u64.to_le_bytes());
        want.extend_from_slice(&[0, 1]);
        want.extend_from_slice(&3u64.to_le_bytes());
        want.extend_from_slice(b"xyz");
        assert_eq!(frame, want);
    }

    #[test]
    fn frame_header_plus_pixels_is_the_whole_body() {
        for len in [0, 1, 1000, 640 * 480 * 3] {
            let pixels: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut body = frame_header(9, 10, FrameKind::KEY, &pixels);
            assert_eq!(body.len(), 30);
            body.extend_from_slice(&pixels);
            let whole = Message::Frame {
                seq: 9,
                captured_us: 10,
                kind: FrameKind::KEY,
                data: &pixels,
            };
            assert_eq!(body, encode(&whole));
        }
    }

    #[test]
    fn strangers_and_other_versions_are_told_apart() {
        assert_eq!(
            decode_opening(b"GET / HTTP/1.1\r\n"),
            Err(WireError::NotCamwire)
        );
        assert_eq!(decode_opening(b"ab"), Err(WireError::NotCamwire));
        let mut body = encode(&Message::hello(&[]));
        body[12] = 9;
        assert_eq!(
            decode_opening(&body),
            Err(WireError::Version { theirs: 9, ours: 5 })
        );
        // A sender of version 9 turning us away says so the same way.
        let mut refusal = encode(&Message::version_refusal());
        refusal[12] = 9;
        assert_eq!(
            decode_opening(&refusal),
            Err(WireError::Version { theirs: 9, ours: 5 })
        );
    }

    #[test]
    fn a_refusal_is_its_kind_then_its_reason() {
        let body = encode(&Message::refused(RefusalKind::WrongMode, "no"));
        let mut want = 8u32.to_le_bytes().to_vec();
        want.extend_from_slice(&3u32.to_le_bytes());
        want.extend_from_slice(&2u64.to_le_bytes());
        want.extend_from_slice(b"no");
        assert_eq!(body, want);
        assert!(RefusalKind::WrongCode.is_final() && !RefusalKind::Busy.is_final());
    }

    #[test]
    fn trailing_bytes_and_bad_tags_are_malformed() {
        let mut body = encode(&Message::End);
        body.push(0);
        assert!(matches!(decode(&body), Err(WireError::Malformed(_))));
        assert!(matches!(
            decode(&[99, 0, 0, 0]),
            Err(WireError::Malformed(_))
        ));
    }

    #[test]
    fn a_frame_cannot_claim_more_pixels_than_its_body_has() {
        let mut body = frame_header(0, 0, FrameKind::KEY, &[0u8; 16]);
        body.extend_from_slice(&[0u8; 4]);
        assert!(matches!(decode(&body), Err(WireError::Malformed(_))));
    }

    #[test]
    fn a_huge_length_inside_a_message_allocates_nothing() {
        // Each variable-length field in turn claims 2^46 and then u64::MAX
        // bytes in a tiny body; found by the `message` fuzz target.
        for claimed in [1u64 << 46, u64::MAX] {
            let mut hello = encode(&Message::hello(&[]));
            hello.truncate(14);
            hello.extend_from_slice(&claimed.to_le_bytes());
            let mut error = 4u32.to_le_bytes().to_vec();
            error.extend_from_slice(&claimed.to_le_bytes());
            let mut confirm = 6u32.to_le_bytes().to_vec();
            confirm.extend_from_slice(&claimed.to_le_bytes());
            let mut auth = 5u32.to_le_bytes().to_vec();
            auth.extend_from_slice(&claimed.to_le_bytes());
            for body in [hello, error, confirm, auth] {
                assert!(decode(&body).is_err());
                assert!(decode_opening(&body).is_err());
            }
        }
    }

    #[test]
    fn sizes_are_checked() {
        assert!(INFO.validate().is_ok());
        let huge = StreamInfo {
            width: 100_000,
            ..INFO
        };
        assert!(huge.validate().is_err());
        assert!(StreamInfo { height: 0, ..INFO }.validate().is_err());
    }
}
