//! The real binaries, run the way a person or a script runs them.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

use camwire::framing::{self, FrameReader};
use camwire::limits;
use camwire::wire::{self, Codec, FrameKind, Message, RefusalKind, StreamInfo};
use common::*;

#[test]
fn headless_receiver_gets_exactly_n_frames_and_prints_json() {
    let (_sender, addr) =
        start_sender(&["--open", "--source", "test", "--codec", "raw", "--fps", "0"]);
    let mut receiver = receiver_bin();
    receiver.args(["--connect", &addr, "--headless", "--frames", "40", "--json"]);
    let output = run(receiver);
    assert!(output.status.success(), "{output:?}");
    let json = summary(&output);
    assert_eq!(json["frames"], 40);
    assert_eq!(json["dropped"], 0);
    assert_eq!(
        (json["width"].as_u64(), json["height"].as_u64()),
        (Some(640), Some(480))
    );
    assert_eq!(json["codec"], "raw");
    assert_eq!(json["bytes"].as_u64().unwrap(), 40 * (640 * 480 * 3 + 30));
    assert!(json["fps"].as_f64().unwrap() > 0.0);
    assert!(json["latency_ms_p99"].as_f64().unwrap() >= json["latency_ms_p50"].as_f64().unwrap());
}

#[test]
fn sender_frames_n_ends_the_stream_cleanly_for_the_receiver() {
    let (mut sender, addr) =
        start_sender(&["--open", "--source", "test", "--frames", "20", "--fps", "0"]);
    let mut receiver = receiver_bin();
    receiver.args(["--connect", &addr, "--headless", "--json"]);
    let output = run(receiver);
    assert!(output.status.success(), "{output:?}");
    let json = summary(&output);
    assert_eq!(json["frames"], 20);
    assert_eq!(json["codec"], "h264", "H.264 is the default codec");
    assert!(sender.wait_exit().success());
}

#[test]
fn paced_frames_n_also_gives_exactly_n() {
    let args = [
        "--open", "--source", "test", "--frames", "15", "--fps", "30",
    ];
    let (mut sender, addr) = start_sender(&args);
    let mut receiver = receiver_bin();
    receiver.args(["--connect", &addr, "--headless", "--json"]);
    let output = run(receiver);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(summary(&output)["frames"], 15);
    assert!(sender.wait_exit().success());
}

#[test]
fn ctrl_c_on_the_sender_ends_every_receiver_cleanly() {
    let (sender, addr) = start_sender(&["--open", "--source", "test", "--fps", "30"]);
    let receivers: Vec<Running> = (0..2)
        .map(|_| start_receiver(&["--connect", &addr, "--headless", "--json"], &[]))
        .collect();
    for r in &receivers {
        r.wait_line("camwire: first frame decoded");
    }
    sender.wait_line("(2 watching)");
    sender.interrupt();
    for mut r in receivers {
        assert!(r.wait_exit().success());
        let json = r.stdout_json();
        assert!(json["frames"].as_u64().unwrap() >= 1, "{json}");
    }
}

#[test]
fn ctrl_c_twice_quits_the_sender_at_once_with_success() {
    let (mut sender, addr) = start_sender(&[
        "--open", "--source", "test", "--codec", "raw", "--width", "1920", "--height", "1080",
        "--fps", "0",
    ]);
    // A viewer that reads the start of a frame and then nothing: the frame
    // cannot be finished, so the first Ctrl-C alone would wait for the
    // viewer's write timeout.
    let mut stuck = TcpStream::connect(&addr).unwrap();
    stuck.write_all(&hello()).unwrap();
    stuck.read_exact(&mut [0u8; 64 * 1024]).unwrap();
    sender.interrupt();
    sender.wait_line("stopping: ");
    sender.interrupt();
    let status = sender.wait_exit_within(limits::VIEWER_WRITE_TIMEOUT / 2);
    assert_eq!(status.code(), Some(0), "{status}");
}

/// A camera index no machine has: the error is the same with a webcam
/// plugged in or none at all.
const NO_SUCH_CAMERA: &str = "4000";

#[test]
fn missing_camera_is_one_line_naming_the_index() {
    let mut sender = sender_bin();
    sender.args([
        "--bind",
        "127.0.0.1:0",
        "--source",
        "camera",
        "--camera",
        NO_SUCH_CAMERA,
    ]);
    let line = one_error_line(&run(sender));
    assert!(
        line.starts_with(&format!("no camera at index {NO_SUCH_CAMERA}")),
        "{line}"
    );
    assert!(
        line.contains("--list-cameras") && line.contains("--source test"),
        "{line}"
    );
}

#[test]
fn list_cameras_names_each_camera_or_says_there_is_none() {
    let mut sender = sender_bin();
    sender.arg("--list-cameras");
    let output = run(sender);
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    // A camera's line is `INDEX: NAME`, its formats are indented below it.
    let names_cameras = text
        .lines()
        .next()
        .is_some_and(|first| !first.starts_with(' '))
        && text.lines().all(|line| {
            line.starts_with("   ")
                || line
                    .split_once(": ")
                    .is_some_and(|(index, _)| index.parse::<u32>().is_ok())
        });
    let none = text == "no cameras found (use --source test to stream a test pattern)\n";
    assert!(none || names_cameras, "{text}");
}

#[test]
fn list_cameras_into_a_closed_pipe_ends_quietly_with_success() {
    let mut sender = sender_bin();
    sender.arg("--list-cameras");
    let (status, said) = run_into_closed_pipe(sender);
    assert!(status.success(), "{status}: {said:?}");
    assert!(said.is_empty(), "{said:?}");
}

#[test]
fn a_receiver_whose_summary_goes_into_a_closed_pipe_ends_quietly_with_success() {
    let (_sender, addr) = start_sender(&["--open", "--source", "test", "--fps", "0"]);
    let mut receiver = receiver_bin();
    receiver.args([
        "--connect",
        &addr,
        "--headless",
        "--frames",
        "3",
        "--json",
        "--verbose",
    ]);
    let (status, said) = run_into_closed_pipe(receiver);
    assert!(status.success(), "{status}: {said:?}");
    // With --verbose a panic would show; progress lines aside, nothing.
    assert!(
        said.iter()
            .all(|line| line.starts_with("camwire: ") && !line.contains("panicked")),
        "{said:?}"
    );
}

#[test]
fn connection_refused_says_what_to_check() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut receiver = receiver_bin();
    receiver.args(["--connect", &format!("127.0.0.1:{port}"), "--headless"]);
    let line = one_error_line(&run(receiver));
    assert_eq!(
        line,
        format!(
            "could not connect to 127.0.0.1:{port}: connection refused (is the sender running, and on that port?)"
        )
    );
}

#[test]
fn an_http_server_is_not_a_camwire_sender() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut request = [0u8; 512];
        let _ = conn.read(&mut request);
        let _ = conn.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    });
    let mut receiver = receiver_bin();
    receiver.args(["--connect", &addr, "--headless"]);
    let line = one_error_line(&run(receiver));
    assert_eq!(line, format!("{addr} is not a camwire sender"));
}

#[test]
fn a_wrong_address_is_one_line() {
    let mut receiver = receiver_bin();
    // An empty port: a bare word would be looked up as a sender's name on
    // the LAN, by multicast, which tests do only inside namespaces of
    // their own (tests/discovery.rs).
    receiver.args(["--connect", "no-port-here:", "--headless"]);
    let line = one_error_line(&run(receiver));
    assert!(
        line.starts_with("could not connect to no-port-here"),
        "{line}"
    );
}

#[test]
fn busy_port_is_one_line() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut sender = sender_bin();
    sender.args(["--bind", &addr, "--open", "--source", "test"]);
    let line = one_error_line(&run(sender));
    assert!(
        line.starts_with(&format!("could not listen on {addr}")),
        "{line}"
    );
}

#[test]
fn a_refusal_full_of_invisible_characters_is_one_plain_line() {
    let hidden = ['\u{202e}', '\u{2028}', '\u{2029}', '\u{200b}'];
    let reason = "busy\u{202e}won\u{2028}second line\u{2029}third\u{200b}end";
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let fake_sender = thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let mut reader = FrameReader::new(&conn, limits::HANDSHAKE_MESSAGE_LIMIT);
        let hello = reader.read_message().unwrap().unwrap();
        assert!(matches!(
            wire::decode_opening(hello),
            Ok(Message::Hello { .. })
        ));
        let refusal = Message::Error {
            reason: reason.into(),
        };
        framing::write_message(&mut &conn, &[&wire::encode(&refusal)]).unwrap();
    });
    let mut receiver = receiver_bin();
    receiver.args(["--connect", &addr, "--headless"]);
    let output = run(receiver);
    fake_sender.join().unwrap();
    let line = one_error_line(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains(hidden), "{line:?}");
    assert_eq!(
        line,
        format!(
            "{addr} refused: busy\\u{{202e}}won\\u{{2028}}second line\\u{{2029}}third\\u{{200b}}end"
        )
    );
}

/// A fake sender on a free port that answers the first `refusals`
/// connections with a refusal of `kind`, and the next with a stream of
/// one frame.
fn refusing_sender(kind: RefusalKind, refusals: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    thread::spawn(move || {
        for n in 0.. {
            let Ok((mut conn, _)) = listener.accept() else {
                return;
            };
            let mut reader = FrameReader::new(conn.try_clone().unwrap(), 1024);
            let _ = reader.read_message();
            let info = StreamInfo {
                width: 2,
                height: 1,
                codec: Codec::Raw,
            };
            let answer = if n < refusals {
                vec![Message::refused(kind, "no room: try later")]
            } else {
                let frame = Message::Frame {
                    seq: 0,
                    captured_us: 0,
                    kind: FrameKind::KEY,
                    data: &[0; 6],
                };
                vec![Message::stream(info), frame]
            };
            for msg in answer {
                let _ = framing::write_message(&mut conn, &[&wire::encode(&msg)]);
            }
        }
    });
    addr
}

#[test]
fn a_refusal_says_by_its_kind_whether_retry_tries_again() {
    let addr = refusing_sender(RefusalKind::Busy, 2);
    let mut receiver = receiver_bin();
    receiver.args(["--connect", &addr, "--headless", "--retry", "--frames", "1"]);
    let output = run(receiver);
    assert!(output.status.success(), "busy twice, then in: {output:?}");
    let addr = refusing_sender(RefusalKind::WrongMode, usize::MAX);
    let mut receiver = receiver_bin();
    receiver.args(["--connect", &addr, "--headless", "--retry"]);
    let line = one_error_line(&run(receiver));
    assert_eq!(line, format!("{addr} refused: no room: try later"));
}

#[test]
fn a_bad_size_or_rate_names_its_flag() {
    for (flag, value) in [("--width", "0"), ("--height", "0"), ("--fps", "4294967295")] {
        let mut sender = sender_bin();
        sender.args(["--bind", "127.0.0.1:0", "--source", "test", flag, value]);
        let output = run(sender);
        assert_eq!(output.status.code(), Some(2));
        let text = String::from_utf8_lossy(&output.stderr);
        assert!(text.contains(&format!("for '{flag} <")), "{text}");
        assert!(!text.contains("panicked"), "{text}");
    }
}

#[test]
fn a_hint_belongs_to_the_binary_and_the_error() {
    let mut sender = sender_bin();
    sender.args(["--bind", "nonsense", "--source", "test"]);
    let line = one_error_line(&run(sender));
    assert!(line.starts_with("could not listen on nonsense: "), "{line}");
    assert!(!line.contains("another sender"), "{line}");
    let mut caller = receiver_bin();
    caller.args(["--connect", "127.0.0.1:1", "--chat", "--camera", "4000"]);
    let line = one_error_line(&run(caller));
    assert!(line.starts_with("no camera at index 4000"), "{line}");
    assert!(
        !line.contains(" --list-cameras") || line.contains("sender --list-cameras"),
        "{line}"
    );
}

#[test]
fn a_short_code_is_warned_of_how_soon_it_falls() {
    let mut sender = sender_bin();
    sender.args([
        "--bind",
        "127.0.0.1:0",
        "--source",
        "test",
        "--code",
        "1234",
    ]);
    sender.args(["--frames", "1", "--no-announce"]);
    let running = start_following_stderr(sender);
    let line = running.wait_line("code is weak");
    assert!(
        line.contains("about 2.8 hours from many machines at once"),
        "{line}"
    );
}
