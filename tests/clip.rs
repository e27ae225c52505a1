//! YUV4MPEG2 both ways through the real binaries: `sender --source
//! clip.y4m` plays a clip the test writes, `receiver --y4m` records what
//! it decodes, and the recording is read back frame by frame against the
//! clip by sequence number.

mod common;

use std::fs::{self, File};
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::*;

const W: usize = 64;
const H: usize = 48;
/// Frames in the clip: the stream has more, so it must loop.
const CLIP_FRAMES: usize = 10;

/// A file path of this test's own, removed when dropped.
struct TempPath(PathBuf);

impl TempPath {
    fn new(name: &str) -> Self {
        // A folder each, so that removing one never races another test.
        let pid = std::process::id();
        let dir = std::env::temp_dir().join(format!("camwire-clip-{pid}-{name}"));
        fs::create_dir_all(&dir).unwrap();
        TempPath(dir.join(name))
    }

    fn arg(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
        let _ = fs::remove_dir(self.0.parent().unwrap());
    }
}

/// The planes of clip frame `i`: a diagonal luma ramp shifted 17 steps a
/// frame (so any two frames differ by 16 levels or more on average) and
/// a flat colour of its own.
fn clip_frame(i: usize) -> [Vec<u8>; 3] {
    let y = (0..W * H)
        .map(|p| (16 + (p % W + p / W + 17 * i) % 200) as u8)
        .collect();
    let chroma = (W / 2) * (H / 2);
    [
        y,
        vec![100 + 5 * i as u8; chroma],
        vec![150 - 5 * i as u8; chroma],
    ]
}

/// Writes the test clip as ffmpeg would, header and all.
fn write_clip(path: &Path) {
    let file = File::create(path).unwrap();
    let mut clip = y4m::encode(W, H, y4m::Ratio::new(30, 1))
        .with_colorspace(y4m::Colorspace::C420mpeg2)
        .append_vendor_extension(
            y4m::VendorExtensionString::new(b"YSCSS=420MPEG2".to_vec()).unwrap(),
        )
        .write_header(file)
        .unwrap();
    for i in 0..CLIP_FRAMES {
        let [y, u, v] = clip_frame(i);
        clip.write_frame(&y4m::Frame::new([&y, &u, &v], None))
            .unwrap();
    }
}

/// Mean absolute difference of two planes.
fn distance(a: &[u8], b: &[u8]) -> f64 {
    let sum: u64 = a
        .iter()
        .zip(b)
        .map(|(a, b)| u64::from(a.abs_diff(*b)))
        .sum();
    sum as f64 / a.len() as f64
}

/// Checks that the frame of sequence number k is clip frame k mod its
/// length: within `tolerance` of it, and nearer it than any other.
fn check_frames(frames: &[(u64, Vec<u8>)], tolerance: f64) {
    let clip: Vec<Vec<u8>> = (0..CLIP_FRAMES).map(|i| clip_frame(i)[0].clone()).collect();
    for (seq, luma) in frames {
        let gaps: Vec<f64> = clip.iter().map(|c| distance(luma, c)).collect();
        let want = *seq as usize % CLIP_FRAMES;
        let nearest = (0..CLIP_FRAMES)
            .min_by(|&a, &b| gaps[a].total_cmp(&gaps[b]))
            .unwrap();
        assert_eq!(
            nearest, want,
            "frame {seq} looks like clip frame {nearest}: {gaps:?}"
        );
        assert!(gaps[want] < tolerance, "frame {seq} is {} away", gaps[want]);
        let others = (0..CLIP_FRAMES).filter(|&i| i != want).map(|i| gaps[i]);
        assert!(
            others.fold(f64::MAX, f64::min) > 15.0,
            "frame {seq}: {gaps:?}"
        );
    }
}

/// Streams the clip in `codec` to a headless receiver recording 25
/// frames, and reads the recording back.
fn stream_and_record(codec: &str) -> Vec<(u64, Vec<u8>)> {
    let clip = TempPath::new(&format!("{codec}.y4m"));
    write_clip(&clip.0);
    let out = TempPath::new(&format!("{codec}-out.y4m"));
    let source = ["--open", "--source", clip.arg(), "--codec", codec];
    let (mut sender, addr) =
        start_sender(&[&source[..], &["--frames", "25", "--fps", "0"]].concat());
    let mut receiver = receiver_bin();
    receiver.args(["--connect", &addr, "--headless", "--frames", "25", "--json"]);
    receiver.args(["--y4m", out.arg()]);
    let output = run(receiver);
    assert!(output.status.success(), "{output:?}");
    let json = summary(&output);
    assert_eq!(
        (json["width"].as_u64(), json["height"].as_u64()),
        (Some(64), Some(48))
    );
    assert!(sender.wait_exit().success());
    read_recording(BufReader::new(File::open(&out.0).unwrap()), W, H)
}

fn seqs(frames: &[(u64, Vec<u8>)]) -> Vec<u64> {
    frames.iter().map(|(seq, _)| *seq).collect()
}

#[test]
fn a_raw_clip_loops_and_the_recording_holds_frame_k_mod_its_length() {
    let frames = stream_and_record("raw");
    assert_eq!(seqs(&frames), (0..25).collect::<Vec<_>>());
    // I420 to RGB and back rounds: near, not exact.
    check_frames(&frames, 3.0);
}

#[test]
fn an_h264_clip_arrives_in_order_and_close() {
    let frames = stream_and_record("h264");
    assert_eq!(seqs(&frames), (0..25).collect::<Vec<_>>());
    check_frames(&frames, 4.0);
}

#[test]
fn a_jpeg_clip_arrives_in_order_and_close() {
    let frames = stream_and_record("jpeg");
    assert_eq!(seqs(&frames), (0..25).collect::<Vec<_>>());
    check_frames(&frames, 4.0);
}

#[test]
fn viewers_coming_and_going_keep_frame_k_the_clip_frame_k_mod_its_length() {
    let clip = TempPath::new("again.y4m");
    write_clip(&clip.0);
    let args = [
        "--open",
        "--source",
        clip.arg(),
        "--codec",
        "raw",
        "--fps",
        "0",
    ];
    let (_sender, addr) = start_sender(&args);
    let mut all = Vec::new();
    // Each viewer alone: capture stops when it leaves and opens the clip
    // again for the next, while the sequence numbers go on.
    for round in 0..3 {
        let out = TempPath::new(&format!("again-{round}.y4m"));
        let mut receiver = receiver_bin();
        receiver.args(["--connect", &addr, "--headless", "--frames", "7"]);
        receiver.args(["--y4m", out.arg()]);
        let output = run(receiver);
        assert!(output.status.success(), "{output:?}");
        let frames = read_recording(File::open(&out.0).unwrap(), W, H);
        assert_eq!(frames.len(), 7);
        all.extend(frames);
    }
    let seqs = seqs(&all);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert!(*seqs.last().unwrap() >= 20, "{seqs:?}");
    check_frames(&all, 3.0);
}

#[test]
fn the_recording_can_go_to_standard_output() {
    let clip = TempPath::new("stdout.y4m");
    write_clip(&clip.0);
    let args = [
        "--open",
        "--source",
        clip.arg(),
        "--codec",
        "raw",
        "--fps",
        "0",
    ];
    let (_sender, addr) = start_sender(&args);
    let mut receiver = receiver_bin();
    receiver.args([
        "--connect",
        &addr,
        "--headless",
        "--frames",
        "12",
        "--y4m",
        "-",
    ]);
    let output = run(receiver);
    assert!(output.status.success(), "{output:?}");
    let frames = read_recording(&output.stdout[..], W, H);
    assert_eq!(frames.len(), 12);
    check_frames(&frames, 3.0);
}

#[test]
fn a_recording_into_a_closed_pipe_ends_quietly_with_success() {
    let clip = TempPath::new("closed.y4m");
    write_clip(&clip.0);
    let (_sender, addr) = start_sender(&["--open", "--source", clip.arg(), "--fps", "0"]);
    let mut receiver = receiver_bin();
    receiver.args(["--connect", &addr, "--headless", "--y4m", "-"]);
    let (status, said) = run_into_closed_pipe(receiver);
    assert!(status.success(), "{status}: {said:?}");
    assert!(said.is_empty(), "{said:?}");
}

#[test]
fn the_recording_on_standard_output_and_the_summary_are_refused_together() {
    let mut receiver = receiver_bin();
    receiver.args(["--connect", "127.0.0.1:9", "--y4m", "-", "--json"]);
    let output = run(receiver);
    let line = one_error_line(&output);
    assert!(
        line.contains("--y4m -") && line.contains("--json"),
        "{line}"
    );
    assert!(output.stdout.is_empty(), "{output:?}");
}

/// Runs `sender --source PATH` on a clip holding `bytes` and returns its
/// one error line, checking it never listened.
fn refused_clip(name: &str, bytes: &[u8], codec: &str) -> String {
    let clip = TempPath::new(name);
    fs::write(&clip.0, bytes).unwrap();
    let mut sender = sender_bin();
    sender.args(["--bind", "127.0.0.1:0", "--open", "--source", clip.arg()]);
    sender.args(["--codec", codec]).stdin(Stdio::null());
    let output = run(sender);
    let line = one_error_line(&output);
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(!said.contains("listening"), "{said}");
    assert!(line.starts_with(clip.arg()), "{line}");
    line
}

#[test]
fn a_bad_clip_is_one_line_at_start_naming_the_file_and_what_is_wrong() {
    let frame = [0u8; 6 * 4 * 3 / 2];
    let with = |header: &str, frames: usize, tail: &[u8]| {
        let mut bytes = header.as_bytes().to_vec();
        for _ in 0..frames {
            bytes.extend_from_slice(b"FRAME\n");
            bytes.extend_from_slice(&frame);
        }
        bytes.extend_from_slice(tail);
        bytes
    };
    let ok = "YUV4MPEG2 W6 H4 F30:1 C420\n";
    // A 5x3 clip of one frame: 15 bytes of luma, 2x2 of each chroma.
    let odd = [b"YUV4MPEG2 W5 H3\nFRAME\n".as_slice(), &[0; 27]].concat();
    let cases = [
        (
            "cut-header.y4m",
            b"YUV4MPEG2 W6 H4".to_vec(),
            "first line does not end",
        ),
        (
            "c444.y4m",
            with("YUV4MPEG2 W6 H4 C444\n", 1, b""),
            "is C444 (4:4:4), not I420",
        ),
        (
            "mono.y4m",
            with("YUV4MPEG2 W6 H4 Cmono\n", 1, b""),
            "is Cmono (greyscale)",
        ),
        (
            "deep.y4m",
            with("YUV4MPEG2 W6 H4 C420p10\n", 1, b""),
            "is C420p10",
        ),
        (
            "text.y4m",
            b"hello, world\n".to_vec(),
            "is not a YUV4MPEG2 clip",
        ),
        (
            "cut-frame.y4m",
            with(ok, 2, b"FRAME\n\0\0\0"),
            "ends inside frame 2: 3 of its 36 bytes",
        ),
        ("empty.y4m", with(ok, 0, b""), "has no frames"),
        (
            "huge.y4m",
            with("YUV4MPEG2 W8000 H2\n", 0, b""),
            "is 8000x2, larger than camwire streams",
        ),
        ("odd.y4m", odd.clone(), "is 5x3, which h264 cannot stream"),
    ];
    for (name, bytes, want) in cases {
        let line = refused_clip(name, &bytes, "h264");
        assert!(line.contains(want), "{name}: {line}");
    }
    // Odd sizes are fine for JPEG: only H.264 needs even sides.
    let clip = TempPath::new("odd-jpeg.y4m");
    fs::write(&clip.0, odd).unwrap();
    let args = [
        "--open",
        "--source",
        clip.arg(),
        "--codec",
        "jpeg",
        "--frames",
        "3",
    ];
    let (mut sender, addr) = start_sender(&args);
    let mut receiver = receiver_bin();
    receiver.args(["--connect", &addr, "--headless", "--json"]);
    let output = run(receiver);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(summary(&output)["frames"], 3);
    assert!(sender.wait_exit().success());
}

#[test]
fn a_missing_clip_or_a_source_that_is_none_of_the_three_is_refused() {
    let mut sender = sender_bin();
    sender.args(["--bind", "127.0.0.1:0", "--source", "/nonexistent/clip.y4m"]);
    let line = one_error_line(&run(sender));
    assert!(
        line.starts_with("could not open the clip /nonexistent/clip.y4m"),
        "{line}"
    );
    let mut sender = sender_bin();
    sender.args(["--bind", "127.0.0.1:0", "--source", "clip.mp4"]);
    let output = run(sender);
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(
        text.contains("--source") && text.contains("camera, test or") && text.contains(".y4m"),
        "{text}"
    );
}

#[test]
fn a_stream_of_another_size_after_a_reconnection_ends_the_recording_with_one_line() {
    let out = TempPath::new("resized.y4m");
    let small = [
        "--open", "--source", "test", "--width", "64", "--height", "48",
    ];
    let (mut first, addr) = start_sender(&[&small[..], &["--frames", "5", "--fps", "0"]].concat());
    let mut receiver = receiver_bin();
    receiver.args([
        "--connect",
        &addr,
        "--headless",
        "--retry",
        "--y4m",
        out.arg(),
    ]);
    let mut receiver = start_following_stderr(receiver);
    assert!(first.wait_exit().success());
    // The same address, now with a stream twice the size.
    let mut second = sender_bin();
    second.args(["--bind", &addr, "--open", "--source", "test", "--fps", "30"]);
    second.args(["--width", "128", "--height", "96"]);
    let _second = start_piped(second);
    assert!(!receiver.wait_exit().success());
    let said: Vec<String> = receiver.lines.iter().collect();
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].starts_with("the stream is now 128x96, but the YUV4MPEG2 recording in"),
        "{said:?}"
    );
    assert_eq!(read_recording(File::open(&out.0).unwrap(), W, H).len(), 5);
}
