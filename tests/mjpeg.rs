//! A webcam's MJPEG frames without Huffman tables, shown by the real
//! receiver.

mod common;

use std::net::{TcpListener, TcpStream};
use std::thread::{self, JoinHandle};

use camwire::framing::{FrameReader, write_message};
use camwire::limits;
use camwire::media::codec::encode_jpeg;
use camwire::media::source::{now_us, pattern_rgb};
use camwire::wire::{self, Codec, FrameKind, Message, StreamInfo};

use common::*;

const WIDTH: u32 = 320;
const HEIGHT: u32 = 240;

/// `jpeg` without its DHT segments, as many UVC webcams send frames.
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

/// An open sender, faked: answers one viewer's hello with a JPEG stream of
/// `frames` copies of `jpeg`, then ends it.
fn fake_sender(jpeg: Vec<u8>, frames: u64) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handle = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = FrameReader::new(&stream, limits::HANDSHAKE_MESSAGE_LIMIT);
        let hello = reader.read_message().unwrap().expect("a hello");
        assert!(matches!(
            wire::decode_opening(hello),
            Ok(Message::Hello { chat: false, .. })
        ));
        let info = StreamInfo {
            width: WIDTH,
            height: HEIGHT,
            codec: Codec::Jpeg,
        };
        send(&stream, &wire::encode(&Message::stream(info)));
        for seq in 0..frames {
            let header = wire::frame_header(seq, now_us(), FrameKind::KEY, &jpeg);
            write_message(&mut &stream, &[&header, &jpeg]).unwrap();
        }
        // The receiver may already have gone after its last frame.
        let _ = write_message(&mut &stream, &[&wire::encode(&Message::End)]);
    });
    (addr, handle)
}

fn send(mut stream: &TcpStream, body: &[u8]) {
    write_message(&mut stream, &[body]).unwrap();
}

#[test]
fn receiver_shows_frames_that_have_no_huffman_tables() {
    let jpeg = encode_jpeg(WIDTH, HEIGHT, &pattern_rgb(WIDTH, HEIGHT, 0), 80).unwrap();
    let stripped = strip_huffman_tables(&jpeg);
    assert!(stripped.len() < jpeg.len(), "the test image had no DHT");
    let (addr, sender) = fake_sender(stripped, 12);
    let mut receiver = receiver_bin();
    receiver.args(["--connect", &addr, "--headless", "--frames", "12", "--json"]);
    let output = run(receiver);
    sender.join().unwrap();
    assert!(output.status.success(), "{output:?}");
    let json = summary(&output);
    assert_eq!(json["decode_errors"], 0, "{json}");
    assert_eq!(json["frames"], 12, "{json}");
}
