//! In-process tests over real loopback sockets: a library sender on port 0
//! and library or hand-made viewers.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Mutex;
use std::thread;

use camwire::flow::slot::{Picture, Screen};
use camwire::framing::{self, FrameReader};
use camwire::media::source::SourceConfig;
use camwire::session::receiver::{Headless, Incoming, Outcome};
use camwire::session::sender::Event;
use camwire::session::stats::Stats;
use camwire::wire::{self, Codec, FrameKind, Message, StreamInfo};
use common::LibrarySender;

const SOURCE: SourceConfig = SourceConfig {
    width: 160,
    height: 120,
    fps: 30,
    codec: Codec::Raw,
    quality: 80,
    bitrate_kbit: None,
};

/// A library sender that drops a stuck viewer only after the usual time.
fn start_sender(source: SourceConfig, max_frames: u64, max_viewers: usize) -> LibrarySender {
    let timeout = camwire::limits::VIEWER_WRITE_TIMEOUT;
    LibrarySender::start(source, max_frames, max_viewers, timeout)
}

/// A viewer speaking the protocol by hand, frame by frame.
struct RawViewer {
    reader: FrameReader<TcpStream>,
}

impl RawViewer {
    fn connect(addr: SocketAddr) -> (Self, StreamInfo) {
        let mut stream = TcpStream::connect(addr).unwrap();
        framing::write_message(&mut stream, &[&wire::encode(&Message::hello(&[]))]).unwrap();
        let mut reader = FrameReader::new(stream, 1 << 24);
        let body = reader.read_message().unwrap().unwrap();
        let Ok(Message::Stream { info, .. }) = wire::decode(body) else {
            panic!("no stream announcement");
        };
        (RawViewer { reader }, info)
    }

    /// The next frame's sequence number, or `None` at the end of the stream.
    fn next_seq(&mut self) -> Option<u64> {
        let body = self.reader.read_message().unwrap()?;
        match wire::decode(body).unwrap() {
            Message::Frame { seq, .. } => Some(seq),
            Message::End => None,
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn three_viewers_one_stalled_the_others_keep_up() {
    let sender = start_sender(SOURCE, 0, 16);
    let (mut stalled, _) = RawViewer::connect(sender.addr);
    let first = stalled.next_seq().unwrap();
    let (mut a, _) = RawViewer::connect(sender.addr);
    let (mut b, _) = RawViewer::connect(sender.addr);
    // Three seconds of frames at 30 fps while `stalled` reads nothing.
    let (start_a, start_b) = (a.next_seq().unwrap(), b.next_seq().unwrap());
    for _ in 0..90 {
        let (sa, sb) = (a.next_seq().unwrap(), b.next_seq().unwrap());
        assert!(sa > start_a && sb > start_b);
    }
    let (end_a, end_b) = (a.next_seq().unwrap(), b.next_seq().unwrap());
    // 92 frames read: at most a couple missed to scheduling on a busy
    // 2-core machine, never the stalled viewer's seconds.
    assert!(
        end_a - start_a <= 93,
        "viewer a missed {} frames",
        end_a - start_a - 91
    );
    assert!(
        end_b - start_b <= 93,
        "viewer b missed {} frames",
        end_b - start_b - 91
    );
    // The stalled viewer catches up to the newest frame instead of
    // replaying three seconds of backlog.
    let mut caught_up_after = 0;
    loop {
        caught_up_after += 1;
        let seq = stalled.next_seq().unwrap();
        if seq >= end_a {
            break;
        }
        assert!(caught_up_after < 8, "still {} frames behind", end_a - seq);
    }
    assert!(end_a - first > 80);
    sender.stop();
}

#[test]
fn a_viewer_leaving_mid_frame_does_not_disturb_the_others() {
    let sender = start_sender(SOURCE, 0, 16);
    let (mut steady, _) = RawViewer::connect(sender.addr);
    let mut leaver = TcpStream::connect(sender.addr).unwrap();
    framing::write_message(&mut leaver, &[&wire::encode(&Message::hello(&[]))]).unwrap();
    let mut half = vec![0u8; 160 * 120 * 3 / 2];
    leaver.read_exact(&mut half).unwrap();
    let before = steady.next_seq().unwrap();
    drop(leaver);
    sender.wait_for(|e| matches!(e, Event::Left { .. }));
    let mut last = before;
    for _ in 0..30 {
        let seq = steady.next_seq().unwrap();
        assert!(seq > last, "frames out of order");
        last = seq;
    }
    assert!(
        last - before <= 32,
        "the steady viewer missed {} frames",
        last - before - 30
    );
    sender.stop();
}

#[test]
fn frames_n_gives_exactly_n_frames_then_a_clean_end() {
    let unpaced = SourceConfig { fps: 0, ..SOURCE };
    let sender = start_sender(unpaced, 25, 16);
    let (mut viewer, _) = RawViewer::connect(sender.addr);
    let seqs: Vec<u64> = std::iter::from_fn(|| viewer.next_seq()).collect();
    assert_eq!(seqs, (0..25).collect::<Vec<_>>());
    sender.handle.join().unwrap().unwrap();
}

#[test]
fn library_receiver_counts_frames_and_reports_the_stream() {
    let jpeg = SourceConfig {
        codec: Codec::Jpeg,
        fps: 0,
        ..SOURCE
    };
    let sender = start_sender(jpeg, 10, 16);
    let addr = sender.addr.to_string();
    let incoming = Incoming::dial(&addr, None, false).unwrap();
    assert_eq!(incoming.info().codec, Codec::Jpeg);
    let stats = Mutex::new(Stats::default());
    let outcome = incoming.run(0, &mut Headless::default(), &stats).unwrap();
    assert_eq!(outcome, Outcome::SenderEnded);
    let summary = stats.lock().unwrap().summary();
    assert_eq!((summary.frames, summary.dropped), (10, 0));
    assert_eq!(
        (summary.width, summary.height, summary.codec),
        (160, 120, "jpeg")
    );
    sender.handle.join().unwrap().unwrap();
}

#[test]
fn the_viewer_over_the_limit_is_told_why() {
    let sender = start_sender(SOURCE, 0, 1);
    let (mut first, _) = RawViewer::connect(sender.addr);
    first.next_seq().unwrap();
    let err = Incoming::dial(&sender.addr.to_string(), None, false)
        .err()
        .unwrap();
    assert!(
        format!("{err:#}").contains("limit of one viewer"),
        "{err:#}"
    );
    first.next_seq().unwrap();
    sender.stop();
}

#[test]
fn strangers_are_turned_away_and_the_sender_keeps_serving() {
    let sender = start_sender(SOURCE, 0, 16);
    let mut browser = TcpStream::connect(sender.addr).unwrap();
    browser
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut reply = Vec::new();
    browser.read_to_end(&mut reply).unwrap();
    assert!(reply.is_empty(), "a stranger gets no video");
    let refused = sender.wait_for(|e| matches!(e, Event::Refused { .. }));
    assert!(format!("{refused:?}").contains("not a camwire receiver"));
    let (mut viewer, _) = RawViewer::connect(sender.addr);
    viewer.next_seq().unwrap();
    sender.stop();
}

/// A fake sender that writes `bytes` to whoever connects, then closes.
fn fake_sender(bytes: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let _ = stream.write_all(&bytes);
        let mut hello = [0u8; 64];
        let _ = stream.read(&mut hello);
    });
    addr
}

fn receive_error(bytes: Vec<u8>) -> String {
    let addr = fake_sender(bytes);
    let result = Incoming::dial(&addr, None, false).and_then(|incoming| {
        incoming.run(0, &mut Headless::default(), &Mutex::new(Stats::default()))
    });
    format!("{:#}", result.expect_err("an error"))
}

fn framed(msg: &Message<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    framing::write_message(&mut out, &[&wire::encode(msg)]).unwrap();
    out
}

const INFO: StreamInfo = StreamInfo {
    width: 4,
    height: 2,
    codec: Codec::Raw,
};

#[test]
fn receiver_names_each_bad_sender() {
    let http = b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec();
    assert!(receive_error(http).ends_with("is not a camwire sender"));
    let noise: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
    assert!(receive_error(noise).ends_with("is not a camwire sender"));

    let mut future = framed(&Message::stream(INFO));
    future[8 + 12] = 9;
    let err = receive_error(future);
    assert!(err.contains("protocol version 9"), "{err}");

    let mut cut = framed(&Message::stream(INFO));
    let frame = framed(&Message::Frame {
        seq: 0,
        captured_us: 0,
        kind: FrameKind::KEY,
        data: &[1; 24],
    });
    cut.extend_from_slice(&frame[..frame.len() - 5]);
    assert_eq!(
        receive_error(cut),
        "sender closed the connection in the middle of a frame"
    );

    let mut huge = framed(&Message::stream(INFO));
    huge.extend_from_slice(&(1u64 << 63).to_be_bytes());
    let err = receive_error(huge);
    assert!(err.contains("over the 88 this stream allows"), "{err}");

    let mut wrong_size = framed(&Message::stream(INFO));
    wrong_size.extend(framed(&Message::Frame {
        seq: 0,
        captured_us: 0,
        kind: FrameKind::KEY,
        data: &[1; 30],
    }));
    let err = receive_error(wrong_size);
    assert!(err.contains("does not match the announced 4x2"), "{err}");
}

/// A screen that keeps a copy of every frame shown.
#[derive(Default)]
struct Recorder(Vec<Vec<u32>>);

impl Screen for Recorder {
    fn buffer(&mut self, len: usize) -> Vec<u32> {
        vec![0; len]
    }
    fn present(&mut self, picture: Picture) {
        self.0.push(picture.pixels);
    }
    fn recycle(&mut self, _: Vec<u32>) {}
    fn notice(&mut self, _: Option<String>) {}
}

#[test]
fn a_corrupt_jpeg_is_skipped_and_later_frames_still_show() {
    let info = StreamInfo {
        width: 32,
        height: 16,
        codec: Codec::Jpeg,
    };
    let rgb = camwire::media::source::pattern_rgb(32, 16, 0);
    let good = camwire::media::codec::encode_jpeg(32, 16, &rgb, 80).unwrap();
    let mut bytes = framed(&Message::stream(info));
    for (seq, data) in [(0, &good[..]), (1, &good[..good.len() / 2]), (2, &good[..])] {
        bytes.extend(framed(&Message::Frame {
            seq,
            captured_us: 0,
            kind: FrameKind::KEY,
            data,
        }));
    }
    bytes.extend(framed(&Message::End));
    let addr = fake_sender(bytes);
    let stats = Mutex::new(Stats::default());
    let mut screen = Recorder::default();
    let outcome = Incoming::dial(&addr, None, false)
        .unwrap()
        .run(0, &mut screen, &stats)
        .unwrap();
    assert_eq!(outcome, Outcome::SenderEnded);
    let summary = stats.lock().unwrap().summary();
    assert_eq!((summary.frames, summary.decode_errors), (2, 1));
    assert_eq!(screen.0.len(), 2, "the broken frame is not shown");
    assert_eq!(screen.0[0], screen.0[1]);
}
