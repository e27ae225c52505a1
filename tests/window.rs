//! The real window under Xvfb: what it shows, its status line, resizing
//! it, and quitting it with a key.
//!
//! Needs Xvfb, xdotool and ImageMagick's `import` (the README's test
//! command installs them).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use camwire::flow::slot::Picture;
use camwire::media::codec::convert::rgb_to_0rgb;
use camwire::media::source::{PATTERN_FRAMES, pattern_rgb, pattern_rgb_coloured};
use camwire::session::preview::mirror;
use camwire::ui::compose::compose;
use camwire::ui::{overlay, screen, status};
use common::*;

impl Xvfb {
    fn command(&self, program: &str, args: &[&str]) -> String {
        let mut command = Command::new(program);
        command.args(args).env("DISPLAY", &self.display);
        let output = run(command);
        assert!(output.status.success(), "{program} {args:?}: {output:?}");
        String::from_utf8(output.stdout).unwrap()
    }

    /// The id of the window whose title starts with `camwire`, waiting for it.
    fn camwire_window(&self) -> String {
        self.window_named("^camwire")
    }

    /// The id of the window whose title matches `pattern`, waiting for it.
    fn window_named(&self, pattern: &str) -> String {
        let ids = self.command("xdotool", &["search", "--sync", "--name", pattern]);
        ids.lines().next().expect("a window").to_string()
    }

    /// The window's width and height.
    fn size(&self, window: &str) -> (usize, usize) {
        let shell = self.command("xdotool", &["getwindowgeometry", "--shell", window]);
        let value = |key: &str| -> usize {
            let line = shell.lines().find(|l| l.starts_with(key)).expect(key);
            line[key.len()..].parse().expect("a number")
        };
        (value("WIDTH="), value("HEIGHT="))
    }

    /// Takes screenshots of `window` until `wanted` finds what it looks for
    /// in one, at most [`STEP`]; `what` names it should it never come.
    fn poll<T>(&self, window: &str, what: &str, mut wanted: impl FnMut(Shot) -> Option<T>) -> T {
        let deadline = Instant::now() + STEP;
        loop {
            let size = self.size(window);
            let rgb = self.screenshot(window);
            // The window may change size between the two questions.
            if rgb.len() == size.0 * size.1 * 3
                && let Some(found) = wanted(Shot { rgb, size })
            {
                return found;
            }
            assert!(Instant::now() < deadline, "the window never showed {what}");
            // Between screenshots, so as not to take the machine from the window.
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The window's pixels as packed RGB.
    fn screenshot(&self, window: &str) -> Vec<u8> {
        let mut command = Command::new("import");
        command
            .args(["-window", window, "-depth", "8", "rgb:-"])
            .env("DISPLAY", &self.display);
        let output = run(command);
        assert!(output.status.success(), "import: {output:?}");
        output.stdout
    }
}

/// A screenshot and the window's size.
struct Shot {
    rgb: Vec<u8>,
    size: (usize, usize),
}

impl Shot {
    fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let at = (y * self.size.0 + x) * 3;
        [self.rgb[at], self.rgb[at + 1], self.rgb[at + 2]]
    }

    /// Whether line `index` of the status line begins with `text`, drawn
    /// at `scale` by the window onto a picture as large as the window:
    /// white where the font lights a pixel, darkened elsewhere.
    fn says(&self, index: usize, text: &str, scale: usize) -> bool {
        let width = self.size.0;
        let mut lines = vec![String::new(); index];
        lines.push(text.to_string());
        let mut drawn = vec![0; width * self.size.1];
        overlay::draw(&mut drawn, width, &lines, scale);
        let top = overlay::line_top(index, scale);
        let left = overlay::PADDING * scale;
        let right = left + text.len() * overlay::GLYPH * scale;
        (top..top + overlay::GLYPH * scale).all(|y| {
            (left..right.min(width)).all(|x| {
                let pixel = self.pixel(x, y);
                if drawn[y * width + x] == overlay::TEXT {
                    pixel == [255, 255, 255]
                } else {
                    pixel.iter().all(|&c| c <= 0x3F)
                }
            })
        })
    }
}

/// Mean absolute difference per channel between a screenshot and the
/// closest picture of the test pattern.
fn distance_to_pattern(shot: &[u8], width: u32, height: u32) -> f64 {
    distance_to(shot, |i| pattern_rgb(width, height, i))
}

/// The same, against the pattern mirrored left to right.
fn distance_to_mirrored_pattern(shot: &[u8], width: u32, height: u32) -> f64 {
    distance_to(shot, |i| {
        let rgb = pattern_rgb(width, height, i);
        rgb.chunks_exact(width as usize * 3)
            .flat_map(|row| {
                row.chunks_exact(3)
                    .rev()
                    .flatten()
                    .copied()
                    .collect::<Vec<u8>>()
            })
            .collect()
    })
}

fn distance_to(shot: &[u8], picture: impl Fn(usize) -> Vec<u8>) -> f64 {
    (0..PATTERN_FRAMES)
        .map(|i| {
            let want = picture(i);
            assert_eq!(shot.len(), want.len(), "screenshot size");
            let sum: u64 = shot
                .iter()
                .zip(&want)
                .map(|(a, b)| u64::from(a.abs_diff(*b)))
                .sum();
            sum as f64 / want.len() as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn window_shows_the_pattern_and_q_quits(codec: &str, tolerance: f64) {
    let x = Xvfb::start();
    let (_sender, addr) = start_sender(&[
        "--open", "--source", "test", "--codec", codec, "--width", "320", "--height", "240",
        "--fps", "5",
    ]);
    let mut receiver = start_receiver(&["--connect", &addr], &[("DISPLAY", &x.display)]);
    receiver.wait_line("camwire: showing 320x240");
    let window = x.camwire_window();
    // Once the status line has gone, the picture is the pattern's.
    let what = format!("the {codec} pattern within {tolerance}");
    x.poll(&window, &what, |shot| {
        (distance_to_pattern(&shot.rgb, 320, 240) <= tolerance).then_some(())
    });
    // A quick tap, as xdotool types it: press and release at once.
    x.command("xdotool", &["windowfocus", "--sync", &window]);
    x.command("xdotool", &["key", "q"]);
    let status = receiver.wait_exit();
    assert!(status.success(), "receiver exit: {status}");
}

#[test]
fn raw_window_shows_the_exact_pattern() {
    window_shows_the_pattern_and_q_quits("raw", 0.0);
}

#[test]
fn jpeg_window_shows_the_pattern_closely() {
    window_shows_the_pattern_and_q_quits("jpeg", 6.0);
}

#[test]
fn h264_window_shows_the_pattern_closely() {
    window_shows_the_pattern_and_q_quits("h264", 8.0);
}

#[test]
fn escape_quits_too() {
    let x = Xvfb::start();
    let (_sender, addr) = start_sender(&[
        "--open", "--source", "test", "--width", "160", "--height", "120",
    ]);
    let mut receiver = start_receiver(&["--connect", &addr], &[("DISPLAY", &x.display)]);
    receiver.wait_line("camwire: showing");
    let window = x.camwire_window();
    x.command("xdotool", &["windowfocus", "--sync", &window]);
    x.command("xdotool", &["key", "Escape"]);
    assert!(receiver.wait_exit().success());
}

#[test]
fn sender_preview_shows_the_pattern_mirrored_and_q_stops_the_sender() {
    let x = Xvfb::start();
    let mut sender = sender_bin();
    sender.args([
        "--bind",
        "127.0.0.1:0",
        "--open",
        "--source",
        "test",
        "--codec",
        "raw",
    ]);
    sender.args([
        "--width",
        "320",
        "--height",
        "240",
        "--fps",
        "5",
        "--preview",
        "--verbose",
    ]);
    sender.env("DISPLAY", &x.display);
    let mut sender = start_following_stderr(sender);
    sender.wait_line("camwire: preview showing 320x240");
    let window = x.window_named("^camwire preview");
    let shot = x.screenshot(&window);
    let mirrored = distance_to_mirrored_pattern(&shot, 320, 240);
    assert_eq!(
        mirrored, 0.0,
        "the preview differs from the mirrored pattern"
    );
    assert!(
        distance_to_pattern(&shot, 320, 240) > 10.0,
        "the preview is not mirrored"
    );
    x.command("xdotool", &["windowfocus", "--sync", &window]);
    x.command("xdotool", &["key", "q"]);
    assert!(sender.wait_exit().success());
}

/// Picture `index` of the pattern in `colours`, as display pixels.
fn pattern_picture(colours: u8, index: usize, mirrored: bool) -> Picture {
    let rgb = pattern_rgb_coloured(320, 240, index, colours);
    let mut pixels = vec![0; 320 * 240];
    rgb_to_0rgb(&rgb, &mut pixels);
    if mirrored {
        mirror(&mut pixels, 320);
    }
    Picture {
        pixels,
        width: 320,
        height: 240,
    }
}

/// Whether a chat window shows `other`'s pattern large and `own`'s small,
/// mirrored, in its corner: exactly, for some pair of their pictures.
fn shows_call(shot: &[u8], other: u8, own: u8) -> bool {
    let mut pixels = vec![0; 320 * 240];
    rgb_to_0rgb(shot, &mut pixels);
    let mut canvas = Vec::new();
    let large: Vec<Picture> = (0..PATTERN_FRAMES)
        .map(|i| pattern_picture(other, i, false))
        .collect();
    let small: Vec<Picture> = (0..PATTERN_FRAMES)
        .map(|j| pattern_picture(own, j, true))
        .collect();
    large.iter().any(|main| {
        small.iter().any(|corner| {
            compose(&mut canvas, Some(main), Some(corner));
            canvas == pixels
        })
    })
}

#[test]
fn chat_shows_the_other_large_and_oneself_small_and_q_ends_both() {
    let x = Xvfb::start();
    let video = [
        "--source", "test", "--codec", "raw", "--width", "320", "--height", "240",
    ];
    let mut sender = sender_bin();
    sender.args([
        "--bind",
        "127.0.0.1:0",
        "--open",
        "--chat",
        "--fps",
        "5",
        "--verbose",
    ]);
    sender
        .args(video)
        .args(["--colours", "0"])
        .env("DISPLAY", &x.display);
    let (mut sender, addr) = start_piped(sender);
    let mut caller = receiver_bin();
    caller.args(["--connect", &addr, "--chat", "--fps", "5", "--verbose"]);
    caller
        .args(video)
        .args(["--colours", "1"])
        .env("DISPLAY", &x.display);
    let mut caller = start_following_stderr(caller);
    caller.wait_line("camwire: call started");
    let caller_window = x.window_named(&format!("chat on {addr} "));
    let sender_window = x.window_named("chat on 127.0.0.1:0 ");
    // Side by side, so neither hides the other; the next frames redraw them.
    x.command(
        "xdotool",
        &["windowmove", "--sync", &sender_window, "0", "0"],
    );
    x.command(
        "xdotool",
        &["windowmove", "--sync", &caller_window, "400", "0"],
    );
    // Each window must show the other person's colours large and its own
    // small, mirrored.
    let settled = |window: &str, other: u8, own: u8| {
        (0..50).any(|_| shows_call(&x.screenshot(window), other, own))
    };
    assert!(settled(&sender_window, 1, 0), "the sender's window");
    assert!(settled(&caller_window, 0, 1), "the caller's window");
    // Each title comes to show the other person's frame rate and latency
    // (xdotool waits for a title that matches).
    let figures = "  [0-9]+\\.[0-9] fps  [0-9]+ ms  [0-9.]+ Mbit/s  \\(q hangs up\\)";
    assert_eq!(
        x.window_named(&format!("chat on {addr}{figures}")),
        caller_window
    );
    assert_eq!(
        x.window_named(&format!("chat on 127.0.0.1:0{figures}")),
        sender_window
    );
    x.command("xdotool", &["windowfocus", "--sync", &caller_window]);
    x.command("xdotool", &["key", "q"]);
    assert!(caller.wait_exit().success());
    // The sender stays for the next call, until Ctrl-C.
    sender.wait_line("the other person left; waiting for the next call");
    sender.interrupt();
    assert!(sender.wait_exit().success());
}

#[test]
fn a_chat_takes_one_caller_and_tells_the_next_the_line_is_busy() {
    let x = Xvfb::start();
    let mut sender = sender_bin();
    sender.args(["--bind", "127.0.0.1:0", "--chat", "--source", "test"]);
    sender
        .args(["--code", "2718281828"])
        .env("DISPLAY", &x.display);
    let (mut sender, addr) = start_piped(sender);
    let call = |extra: &[&str]| {
        let mut caller = receiver_bin();
        caller.args(["--connect", &addr, "--headless", "--code", "2718281828"]);
        caller
            .args(["--source", "test", "--colours", "2"])
            .args(extra);
        caller
    };
    let first = start_following_stderr(call(&["--chat", "--verbose"]));
    first.wait_line("camwire: first frame decoded");
    let busy = one_error_line(&run(call(&["--chat"])));
    assert!(
        busy.ends_with("refused: the line is busy: someone else is on the call"),
        "{busy}"
    );
    let one_way = one_error_line(&run(call(&[])));
    assert!(
        one_way.contains("waiting for a call: connect with --chat"),
        "{one_way}"
    );
    drop(first);
    sender.wait_line("waiting for the next call");
    // The sender stays, with the same code, for the next caller.
    assert!(run(call(&["--chat", "--frames", "3"])).status.success());
    sender.wait_line("waiting for the next call");
    sender.interrupt();
    assert!(sender.wait_exit().success());
}

#[test]
fn a_chat_caller_to_a_one_way_sender_is_told_so() {
    let (_sender, addr) = start_sender(&["--open", "--source", "test"]);
    let mut caller = receiver_bin();
    caller.args([
        "--connect",
        &addr,
        "--headless",
        "--chat",
        "--source",
        "test",
    ]);
    let line = one_error_line(&run(caller));
    assert!(
        line.contains("streams one way: connect without --chat"),
        "{line}"
    );
}

#[test]
fn a_caller_that_never_sends_its_video_is_cut_off_and_frees_the_line() {
    use camwire::framing::{self, FrameReader};
    use camwire::wire::{self, Message};
    let x = Xvfb::start();
    let mut sender = sender_bin();
    sender.args([
        "--bind",
        "127.0.0.1:0",
        "--chat",
        "--open",
        "--source",
        "test",
    ]);
    sender.env("DISPLAY", &x.display);
    let (_sender, addr) = start_piped(sender);
    // A caller that says hello, watches, and never announces its own video.
    let mut silent = std::net::TcpStream::connect(&addr).unwrap();
    framing::write_message(&mut silent, &[&wire::encode(&Message::call(&[]))]).unwrap();
    silent.set_read_timeout(Some(STEP)).unwrap();
    let mut reader = FrameReader::new(silent, 64 << 20);
    let mut frames = 0;
    // Its frames stop, and the connection ends, once the sender gives up
    // waiting for its video; watching on is not allowed.
    let started = std::time::Instant::now();
    while let Ok(Some(body)) = reader.read_message() {
        frames += u32::from(matches!(wire::decode(body), Ok(Message::Frame { .. })));
        assert!(
            started.elapsed() < camwire::limits::SENDER_SILENCE_TIMEOUT * 3,
            "a caller that sent nothing still watches"
        );
    }
    assert!(frames > 0, "the silent caller saw the call start");
    // The line is free again: a real caller gets through.
    let mut caller = receiver_bin();
    caller.args(["--connect", &addr, "--headless", "--chat", "--frames", "3"]);
    caller.args(["--source", "test", "--colours", "2"]);
    assert!(run(caller).status.success());
}

/// A receiver's window on `x`, watching `addr` with `extra` flags.
fn watch_in_window(x: &Xvfb, addr: &str, extra: &[&str]) -> (Running, String) {
    let mut args = vec!["--connect", addr];
    args.extend_from_slice(extra);
    let receiver = start_receiver(&args, &[("DISPLAY", &x.display)]);
    receiver.wait_line("camwire: showing");
    let window = x.camwire_window();
    (receiver, window)
}

/// The test pattern at 320x240 in raw, 5 frames a second, `extra` added.
fn pattern_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--open", "--source", "test", "--codec", "raw", "--width", "320", "--height", "240",
        "--fps", "5",
    ];
    args.extend_from_slice(extra);
    args
}

fn start_pattern_sender(bind: &str, extra: &[&str]) -> Running {
    let mut sender = sender_bin();
    sender.args(["--bind", bind]).args(pattern_args(extra));
    start_piped(sender).0
}

#[test]
fn the_status_line_says_who_is_watched_then_reconnecting_then_back() {
    let x = Xvfb::start();
    let (mut sender, addr) = start_sender(&pattern_args(&[]));
    let (_receiver, window) = watch_in_window(&x, &addr, &["--retry"]);
    let scale = overlay::glyph_scale((320, 240), (320, 240));
    let watching = format!("watching {addr}");
    x.poll(&window, &watching, |shot| {
        let says = shot.says(0, &watching, scale) && shot.says(1, "320x240 raw", scale);
        assert!(
            !shot.says(0, "reconnecting...", scale),
            "it says two things"
        );
        says.then_some(())
    });
    // It goes after a while, leaving the picture alone.
    x.poll(&window, "the pattern without a status line", |shot| {
        let clean = distance_to_pattern(&shot.rgb, 320, 240) == 0.0;
        assert!(
            !clean || !shot.says(0, &watching, scale),
            "text read off the pattern"
        );
        clean.then_some(())
    });
    // The sender goes: the picture stays, and says so.
    sender.interrupt();
    assert!(sender.wait_exit().success());
    x.poll(&window, "reconnecting", |shot| {
        shot.says(0, "reconnecting...", scale).then_some(())
    });
    // Still saying so while no sender answers.
    x.window_named("reconnecting: could not connect");
    assert!(x.poll(&window, "reconnecting", |shot| Some(shot.says(
        0,
        "reconnecting...",
        scale
    ))));
    // The sender is back on the same port: so is the picture, saying whom.
    let _back = start_pattern_sender(&addr, &[]);
    x.poll(&window, "watching again", |shot| {
        shot.says(0, &watching, scale).then_some(())
    });
    x.poll(&window, "the pattern again", |shot| {
        (distance_to_pattern(&shot.rgb, 320, 240) == 0.0).then_some(())
    });
}

#[test]
fn the_window_says_the_sender_ended_the_stream_and_closes_by_itself() {
    let x = Xvfb::start();
    let (_sender, addr) = start_sender(&pattern_args(&["--frames", "10"]));
    let (mut receiver, window) = watch_in_window(&x, &addr, &[]);
    let scale = overlay::glyph_scale((320, 240), (320, 240));
    x.poll(&window, "the end of the stream", |shot| {
        shot.says(0, "the sender ended the stream", scale)
            .then_some(())
    });
    let seen = Instant::now();
    let status = receiver.wait_exit();
    assert!(status.success(), "receiver exit: {status}");
    let lingered = seen.elapsed();
    assert!(
        lingered <= status::LINGER + Duration::from_secs(2),
        "the window stayed {lingered:?}"
    );
}

#[test]
fn q_closes_the_window_at_once_after_the_end() {
    let x = Xvfb::start();
    let (_sender, addr) = start_sender(&pattern_args(&["--frames", "5"]));
    let (mut receiver, window) = watch_in_window(&x, &addr, &[]);
    let scale = overlay::glyph_scale((320, 240), (320, 240));
    x.poll(&window, "the end of the stream", |shot| {
        shot.says(1, "closing in 3 s (q closes now)", scale)
            .then_some(())
    });
    x.command("xdotool", &["windowfocus", "--sync", &window]);
    x.command("xdotool", &["key", "q"]);
    let status = receiver.wait_exit_within(status::LINGER);
    assert!(status.success(), "receiver exit: {status}");
}

#[test]
fn a_failed_stream_is_shown_too_and_the_receiver_exits_1() {
    let x = Xvfb::start();
    let (sender, addr) = start_sender(&pattern_args(&[]));
    let (mut receiver, window) = watch_in_window(&x, &addr, &[]);
    // Killed, not stopped: the stream fails.
    drop(sender);
    let scale = overlay::glyph_scale((320, 240), (320, 240));
    x.poll(&window, "the failure", |shot| {
        let closing = shot.says(1, "closing in 3 s (q closes now)", scale);
        assert!(
            !shot.says(0, "the sender ended", scale),
            "a failure told as an end"
        );
        closing.then_some(())
    });
    let status = receiver.wait_exit();
    assert!(!status.success(), "receiver exit: {status}");
}

#[test]
fn a_resized_window_keeps_the_pictures_aspect_ratio() {
    let x = Xvfb::start();
    let (_sender, addr) = start_sender(&pattern_args(&[]));
    let (_receiver, window) = watch_in_window(&x, &addr, &[]);
    x.command("xdotool", &["windowsize", "--sync", &window, "800", "480"]);
    // 4:3 at 480 rows is 640 wide: black bars of 80 each side, and the
    // pattern doubled in between.
    x.poll(&window, "the pattern pillarboxed at 800x480", |shot| {
        if shot.size != (800, 480) {
            return None;
        }
        let bars = (0..480).all(|y| {
            (0..80)
                .chain(720..800)
                .all(|x| shot.pixel(x, y) == [0, 0, 0])
        });
        let shot = &shot;
        let halved: Vec<u8> = (0..240)
            .flat_map(|y| (0..320).flat_map(move |x| shot.pixel(80 + 2 * x, 2 * y)))
            .collect();
        (bars && distance_to_pattern(&halved, 320, 240) == 0.0).then_some(())
    });
}

#[test]
fn a_stream_larger_than_the_screen_opens_scaled_to_fit() {
    let x = Xvfb::start();
    let (_sender, addr) = start_sender(&[
        "--open", "--source", "test", "--codec", "jpeg", "--width", "1920", "--height", "1080",
        "--fps", "2",
    ]);
    let (_receiver, window) = watch_in_window(&x, &addr, &[]);
    let fitted = screen::fit((1920, 1080), (1280, 1024));
    assert_eq!(fitted, (1152, 648), "90% of the screen's width, 16:9");
    assert_eq!(x.size(&window), fitted);
}
