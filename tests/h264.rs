//! H.264 through the real binaries: round trips, a viewer that joins
//! mid-stream, a viewer stopped for three seconds beside one that is not,
//! and hostile streams from a fake sender.

mod common;

use std::fs;

use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use camwire::media::codec::{self, EncoderConfig, Image};
use camwire::media::source::pattern_rgb;
use camwire::wire::{Codec, FrameKind, Message, StreamInfo};
use common::*;

/// One line of a receiver's `--frame-log`.
#[derive(Debug, Clone, Copy)]
struct Shown {
    seq: u64,
    decoded_us: u64,
    latency_ms: f64,
}

fn frame_log(path: &Path) -> Vec<Shown> {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            // A line being written may be incomplete.
            if f.len() != 5 {
                return None;
            }
            Some(Shown {
                seq: f[0].parse().ok()?,
                decoded_us: f[2].parse().ok()?,
                latency_ms: f[3].parse().ok()?,
            })
        })
        .collect()
}

/// Waits until the frame log at `path` has at least `n` lines.
fn wait_for_frames(path: &Path, n: usize) {
    let deadline = Instant::now() + STEP;
    while frame_log(path).len() < n {
        assert!(Instant::now() < deadline, "fewer than {n} frames shown");
        // The log has no notification to wait on; look again shortly.
        thread::sleep(Duration::from_millis(20));
    }
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

fn signal(process: &Running, name: &str) {
    let status = Command::new("kill")
        .args([name, &process.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// A headless receiver of `addr` logging its frames to `log`.
fn viewer(addr: &str, log: &Path, extra: &[&str]) -> Running {
    let log = log.to_str().unwrap();
    let mut args = vec![
        "--connect",
        addr,
        "--headless",
        "--json",
        "--frame-log",
        log,
    ];
    args.extend_from_slice(extra);
    start_receiver(&args, &[])
}

#[test]
fn h264_is_the_default_and_a_fraction_of_raw() {
    let (mut sender, addr) =
        start_sender(&["--open", "--source", "test", "--fps", "0", "--frames", "60"]);
    let mut receiver = receiver_bin();
    receiver.args(["--connect", &addr, "--headless", "--json"]);
    let output = run(receiver);
    assert!(output.status.success(), "{output:?}");
    let json = summary(&output);
    assert_eq!(json["codec"], "h264");
    assert_eq!(json["frames"], 60);
    assert_eq!(json["decode_errors"], 0);
    assert_eq!(json["dropped"], 0);
    assert_eq!(
        json["half_size_frames"], 0,
        "1200 kbit/s is plenty for 640x480"
    );
    // 640x480 at the default 1200 kbit/s, planned for 30 fps: about 5 KB
    // a frame against raw's 921,600.
    let per_frame = json["bytes"].as_u64().unwrap() / 60;
    assert!(per_frame < 20_000, "{per_frame} bytes a frame");
    assert!(sender.wait_exit().success());
}

#[test]
fn a_stream_too_thin_for_its_size_is_coded_at_half_and_shown_whole() {
    // 300 kbit/s for 1280x720: 0.011 bits a pixel, so the encoder codes
    // 640x360 pictures and the receiver scales them back up.
    let (mut sender, addr) = start_sender(&[
        "--open",
        "--source",
        "test",
        "--width",
        "1280",
        "--height",
        "720",
        "--bitrate",
        "300",
        "--fps",
        "0",
        "--frames",
        "20",
    ]);
    let y4m = tempdir().join("shown.y4m");
    let mut receiver = receiver_bin();
    receiver.args(["--connect", &addr, "--headless", "--json", "--y4m"]);
    receiver.arg(&y4m);
    let output = run(receiver);
    assert!(output.status.success(), "{output:?}");
    let json = summary(&output);
    assert_eq!(
        (json["width"].as_u64(), json["height"].as_u64()),
        (Some(1280), Some(720))
    );
    assert_eq!(json["frames"], 20);
    assert_eq!(json["half_size_frames"], 20, "{json}");
    assert_eq!(json["decode_errors"], 0);
    // Each picture whole, at the stream's size.
    let frames = read_recording(fs::File::open(&y4m).unwrap(), 1280, 720);
    let seqs: Vec<u64> = frames.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, (0..20).collect::<Vec<u64>>());
    assert!(sender.wait_exit().success());
}

#[test]
fn a_viewer_joining_mid_stream_starts_at_a_keyframe_within_a_second() {
    let dir = tempdir();
    let (first_log, late_log) = (dir.join("first.csv"), dir.join("late.csv"));
    let (_sender, addr) = start_sender(&[
        "--open", "--source", "test", "--width", "320", "--height", "240", "--fps", "30",
    ]);
    let mut first = viewer(&addr, &first_log, &["--frames", "150"]);
    // Well into the stream: the encoder's only keyframe so far was the first.
    wait_for_frames(&first_log, 45);
    let joined_us = now_us();
    let mut late = viewer(&addr, &late_log, &["--frames", "15"]);
    assert!(late.wait_exit().success());
    let json = late.stdout_json();
    assert_eq!(json["frames"], 15);
    assert_eq!(json["decode_errors"], 0, "{json}");
    let shown = frame_log(&late_log);
    let waited_ms = (shown[0].decoded_us - joined_us) / 1000;
    // Starting the process and connecting, then at most one keyframe gap.
    assert!(waited_ms < 1500, "first picture after {waited_ms} ms");
    assert!(first.wait_exit().success());
    assert_eq!(first.stdout_json()["decode_errors"], 0);
}

#[test]
fn a_stopped_viewer_recovers_cleanly_and_the_other_never_notices() {
    let dir = tempdir();
    let (stalled_log, steady_log) = (dir.join("stalled.csv"), dir.join("steady.csv"));
    let (mut sender, addr) = start_sender(&[
        "--open", "--source", "test", "--width", "320", "--height", "240", "--fps", "30",
        "--frames", "300",
    ]);
    let mut stalled = viewer(&addr, &stalled_log, &[]);
    let mut steady = viewer(&addr, &steady_log, &[]);
    wait_for_frames(&stalled_log, 30);
    wait_for_frames(&steady_log, 30);
    signal(&stalled, "-STOP");
    let stopped_us = now_us();
    // The stall itself is what is tested: three seconds of it.
    thread::sleep(Duration::from_secs(3));
    signal(&stalled, "-CONT");
    let resumed_us = now_us();
    assert!(stalled.wait_exit().success());
    assert!(steady.wait_exit().success());
    assert!(sender.wait_exit().success());

    let json = stalled.stdout_json();
    assert_eq!(json["decode_errors"], 0, "stalled viewer: {json}");
    let shown = frame_log(&stalled_log);
    let recovered: Vec<&Shown> = shown
        .iter()
        .filter(|s| s.decoded_us > resumed_us + 2_000_000)
        .collect();
    assert!(
        recovered.len() > 30,
        "{} frames after recovery",
        recovered.len()
    );
    let worst = recovered.iter().map(|s| s.latency_ms).fold(0.0, f64::max);
    assert!(
        worst < 200.0,
        "frame age {worst} ms two seconds after resuming"
    );

    let json = steady.stdout_json();
    assert_eq!(json["decode_errors"], 0, "steady viewer: {json}");
    let shown = frame_log(&steady_log);
    let during = shown
        .iter()
        .filter(|s| (stopped_us..resumed_us).contains(&s.decoded_us))
        .count();
    assert!(
        during >= 72,
        "the steady viewer showed {during} frames of 90"
    );
    let mut ages: Vec<f64> = shown.iter().map(|s| s.latency_ms).collect();
    ages.sort_by(f64::total_cmp);
    let p99 = ages[ages.len() * 99 / 100];
    assert!(
        p99 < 200.0,
        "the steady viewer's frame age p99 was {p99} ms"
    );
    let seqs: Vec<u64> = shown.iter().map(|s| s.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "frames out of order");
}

/// A fake open sender announcing `info` that sends `frames`, then ends
/// the stream.
fn sender_of(info: StreamInfo, frames: Vec<(FrameKind, Vec<u8>)>) -> String {
    fake_sender(info, move |conn| {
        for (seq, (kind, data)) in frames.iter().enumerate() {
            let frame = Message::Frame {
                seq: seq as u64,
                captured_us: 0,
                kind: *kind,
                data,
            };
            if !send_message(conn, &frame) {
                return;
            }
        }
        send_message(conn, &Message::End);
    })
}

fn h264(width: u32, height: u32) -> StreamInfo {
    StreamInfo {
        width,
        height,
        codec: Codec::H264,
    }
}

/// `n` frames of the test pattern encoded as H.264 of `width` x `height`.
fn encoded(width: u32, height: u32, n: usize) -> Vec<(FrameKind, Vec<u8>)> {
    let config = EncoderConfig {
        info: h264(width, height),
        quality: 80,
        bitrate_kbit: 500,
        fps: 30,
    };
    let mut encoder = codec::encoder(&config).unwrap();
    (0..n)
        .map(|i| {
            let rgb = pattern_rgb(width, height, i);
            let frame = encoder.encode(&Image::Rgb(&rgb), false).unwrap();
            (frame.kind, frame.data)
        })
        .collect()
}

#[test]
fn a_keyframe_bigger_than_the_announced_stream_is_refused_before_decoding() {
    let addr = sender_of(h264(160, 96), encoded(1280, 720, 1));
    let mut receiver = receiver_bin();
    receiver.args(["--connect", &addr, "--headless", "--json"]);
    let output = run(receiver);
    let line = one_error_line(&output);
    // (The encoder may code the 1280x720 pictures at half size: either
    // is far beyond 160x96.)
    assert!(
        line.contains("broke the protocol: H.264 parameters for ")
            && line.contains(" pictures in a stream announced as 160x96"),
        "{line}"
    );
    assert_eq!(summary(&output)["frames"], 0);
}

#[test]
fn damaged_h264_is_never_shown_and_the_stream_recovers_at_the_next_keyframe() {
    let mut frames = encoded(160, 96, 8);
    // Frame 2 arrives damaged; frames 3 to 5 depend on it or on each other.
    let damaged = &mut frames[2].1;
    let middle = damaged.len() / 2;
    damaged.truncate(middle);
    damaged.extend_from_slice(&[0x55; 40]);
    // Plain garbage, announced as a keyframe.
    frames.insert(6, (FrameKind::KEY, vec![0xAB; 500]));
    // Then a clean keyframe and what follows it.
    frames.extend(encoded(160, 96, 3));
    let addr = sender_of(h264(160, 96), frames);
    let log = tempdir().join("frames.csv");
    let mut receiver = receiver_bin();
    receiver.args(["--connect", &addr, "--headless", "--json", "--frame-log"]);
    receiver.arg(&log);
    let output = run(receiver);
    assert!(output.status.success(), "{output:?}");
    let json = summary(&output);
    let shown: Vec<u64> = frame_log(&log).iter().map(|s| s.seq).collect();
    let frames = json["frames"].as_u64().unwrap();
    let errors = json["decode_errors"].as_u64().unwrap();
    assert_eq!(frames + errors, 12, "{json}");
    // Nothing after the damage until the clean keyframe (9): the damaged
    // frame's dependants and the garbage are counted, never shown.
    assert_eq!(shown, vec![0, 1, 9, 10, 11], "{json}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A fresh directory for one test's files.
fn tempdir() -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("camwire-h264-{}-{}", std::process::id(), now_us()));
    fs::create_dir_all(&dir).unwrap();
    dir
}
