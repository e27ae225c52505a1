//! `wire::decode` and `wire::decode_opening` on an arbitrary message body.
//!
//! Besides "no panic", checks that the encoding is canonical (whatever
//! decodes re-encodes to the same bytes), that a frame body is its
//! `frame_header` plus its pixels, that the two decoders agree, and that a
//! valid stream announcement has a sane body limit.
#![no_main]

use camwire::limits;
use camwire::wire::{self, MAGIC, Message, PROTOCOL_VERSION, WireError};
use libfuzzer_sys::fuzz_target;

fn check(body: &[u8], msg: &Message<'_>) {
    assert_eq!(
        wire::encode(msg),
        body,
        "decoding is not canonical: {msg:?}"
    );
    match *msg {
        Message::Hello { magic, version, .. } => {
            let _ = (magic == MAGIC, version == PROTOCOL_VERSION);
        }
        Message::Stream { info, .. } => {
            let _ = info.codec.name();
            match info.validate() {
                Ok(()) => {
                    let raw = info.raw_len();
                    assert_eq!(raw, info.width as usize * info.height as usize * 3);
                    assert!(info.max_body_len() >= raw + limits::FRAME_OVERHEAD);
                }
                Err(e) => {
                    assert!(matches!(e, WireError::BadSize { .. }), "{e:?}");
                    let _ = e.to_string();
                }
            }
        }
        Message::Frame {
            seq,
            captured_us,
            kind,
            data,
        } => {
            let mut whole = wire::frame_header(seq, captured_us, kind, data);
            assert!(whole.len() <= limits::FRAME_OVERHEAD);
            whole.extend_from_slice(data);
            assert_eq!(whole, body, "frame_header + data is not the body");
            // The pixels are borrowed from the body, not copied.
            let range = body.as_ptr_range();
            assert!(data.is_empty() || range.contains(&data.as_ptr()));
        }
        Message::Error { ref reason } => {
            let _ = reason.chars().take(limits::MAX_REASON_CHARS).count();
        }
        // End, and any variant added later: the round trip above covers them.
        _ => {}
    }
}

fuzz_target!(|body: &[u8]| {
    let decoded = wire::decode(body);
    match &decoded {
        Ok(msg) => check(body, msg),
        Err(e) => {
            assert!(matches!(e, WireError::Malformed(_)), "decode said {e:?}");
            let _ = e.to_string();
        }
    }

    match wire::decode_opening(body) {
        Ok(msg) => {
            assert_eq!(decoded.as_ref().ok(), Some(&msg), "decoders disagree");
            if let Message::Hello { magic, version, .. } | Message::Stream { magic, version, .. } =
                msg
            {
                assert_eq!(magic, MAGIC);
                assert_eq!(version, PROTOCOL_VERSION);
            }
        }
        Err(WireError::Version { theirs, ours }) => {
            assert_ne!(theirs, ours);
            assert_eq!(ours, PROTOCOL_VERSION);
        }
        Err(e) => {
            // A well-formed Hello or Stream of this version must be accepted.
            if let Ok(
                Message::Hello { magic, version, .. } | Message::Stream { magic, version, .. },
            ) = decoded
            {
                assert!(
                    magic != MAGIC || version != PROTOCOL_VERSION,
                    "decode_opening refused a valid opening: {e:?}"
                );
            }
            let _ = e.to_string();
        }
    }
});
