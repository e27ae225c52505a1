//! Writes the seed corpora of the fuzz targets into `fuzz/corpus/<target>/`.
//!
//! Run once from `fuzz/` (a normal build, no nightly features needed):
//!
//! ```text
//! cargo run --example seeds
//! ```
//!
//! The corpus directories are gitignored; this regenerates them.

use std::fs;
use std::path::{Path, PathBuf};

use camwire::media::codec::{self, EncoderConfig, Image, encode_jpeg};
use camwire::framing::write_message;
use camwire::media::source::pattern_rgb;
use camwire::wire::{self, Codec, FrameKind, Message, StreamInfo};

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    fs::write(dir.join(name), bytes).unwrap();
}

fn dir(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// `jpeg` without its DHT segments, as many webcams send frames.
fn strip_huffman_tables(jpeg: &[u8]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    let mut at = 2;
    while jpeg[at + 1] != 0xDA {
        let end = at + 2 + usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        if jpeg[at + 1] != 0xC4 {
            out.extend_from_slice(&jpeg[at..end]);
        }
        at = end;
    }
    out.extend_from_slice(&jpeg[at..]);
    out
}

fn main() {
    let jpeg_sizes = [
        (1, 1),
        (8, 8),
        (16, 16),
        (17, 9),
        (64, 48),
        (100, 75),
        (256, 256),
    ];

    // jpeg: 2 bytes width - 1, 2 bytes height - 1 (little-endian), then a JPEG.
    let jpeg_dir = dir("jpeg");
    for &(w, h) in &jpeg_sizes {
        for quality in [10, 80, 100] {
            let jpeg = encode_jpeg(w, h, &pattern_rgb(w, h, 0), quality).unwrap();
            let mut input = ((w - 1) as u16).to_le_bytes().to_vec();
            input.extend_from_slice(&((h - 1) as u16).to_le_bytes());
            input.extend_from_slice(&jpeg);
            write(&jpeg_dir, &format!("{w}x{h}-q{quality}.jpg.in"), &input);
            input.truncate(4);
            input.extend_from_slice(&strip_huffman_tables(&jpeg));
            write(
                &jpeg_dir,
                &format!("{w}x{h}-q{quality}-no-dht.jpg.in"),
                &input,
            );
        }
    }

    // message: one body of every variant, and frames carrying a real JPEG.
    let small_jpeg = encode_jpeg(16, 16, &pattern_rgb(16, 16, 0), 80).unwrap();
    let raw = pattern_rgb(4, 3, 1);
    let messages = [
        ("hello", Message::hello(&[])),
        ("hello-code", Message::hello(&[0x42; 33])),
        (
            "auth",
            Message::Auth {
                exchange: &[0x43; 33],
                confirmation: &[0x44; 32],
            },
        ),
        (
            "confirm",
            Message::Confirm {
                confirmation: &[0x45; 32],
            },
        ),
        ("code-required", Message::CodeRequired),
        (
            "stream-raw",
            Message::stream(StreamInfo {
                width: 640,
                height: 480,
                codec: Codec::Raw,
            }),
        ),
        (
            "stream-jpeg",
            Message::stream(StreamInfo {
                width: 16,
                height: 16,
                codec: Codec::Jpeg,
            }),
        ),
        (
            "frame-empty",
            Message::Frame {
                seq: 0,
                captured_us: 0,
                kind: FrameKind::KEY,
                data: &[],
            },
        ),
        (
            "frame-raw",
            Message::Frame {
                seq: 7,
                captured_us: 1_700_000_000_000_000,
                kind: FrameKind::KEY,
                data: &raw,
            },
        ),
        (
            "frame-jpeg",
            Message::Frame {
                seq: 1,
                captured_us: 2,
                kind: FrameKind::KEY,
                data: &small_jpeg,
            },
        ),
        ("end", Message::End),
        (
            "error",
            Message::Error {
                reason: "the camera is busy".into(),
            },
        ),
        ("error-empty", Message::Error { reason: "".into() }),
    ];
    let message_dir = dir("message");
    for (name, msg) in &messages {
        write(&message_dir, name, &wire::encode(msg));
    }

    // framing: 1 mode byte (how the stream is served, see framing.rs), then
    // framed messages: each body alone, a whole session, and a cut session.
    let framing_dir = dir("framing");
    let mut session = Vec::new();
    for (_, msg) in &messages {
        write_message(&mut session, &[&wire::encode(msg)]).unwrap();
    }
    for mode in [0u8, 1, 7, 64, 127, 0x80 | 3] {
        let mut input = vec![mode];
        input.extend_from_slice(&session);
        write(&framing_dir, &format!("session-mode{mode}"), &input);
    }
    for (name, msg) in &messages {
        let mut input = vec![5u8];
        write_message(&mut input, &[&wire::encode(msg)]).unwrap();
        write(&framing_dir, name, &input);
    }
    let mut cut = vec![2u8];
    cut.extend_from_slice(&session[..session.len() - 3]);
    write(&framing_dir, "session-cut", &cut);
    let mut empty = vec![0u8];
    write_message(&mut empty, &[]).unwrap();
    write(&framing_dir, "empty-body", &empty);

    // h264: width / 2 - 1, height / 2 - 1, then frames (flags, u16 length,
    // bytes) as one encoder made them: a keyframe and its three layers.
    let h264_dir = dir("h264");
    for (w, h) in [(16, 16), (64, 48), (160, 96), (320, 240)] {
        let config = EncoderConfig {
            info: StreamInfo { width: w, height: h, codec: Codec::H264 },
            quality: 80,
            bitrate_kbit: 300,
            fps: 30,
        };
        let mut encoder = codec::encoder(&config).unwrap();
        let mut input = vec![(w / 2 - 1) as u8, (h / 2 - 1) as u8];
        for i in 0..8 {
            let frame = encoder.encode(&Image::Rgb(&pattern_rgb(w, h, i)), false).unwrap();
            let flags = u8::from(frame.kind.key) | frame.kind.layer << 1;
            input.push(flags);
            input.extend_from_slice(&(frame.data.len() as u16).to_le_bytes());
            input.extend_from_slice(&frame.data);
        }
        write(&h264_dir, &format!("{w}x{h}.h264.in"), &input);
    }

    for target in ["framing", "message", "jpeg", "h264"] {
        let n = fs::read_dir(dir(target)).unwrap().count();
        println!("corpus/{target}: {n} files");
    }
}
