//! What the binaries say when someone leaves or the stream ends: one
//! sentence naming who, never an operating system's error text, and a
//! clean end said once.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use camwire::framing::{self, FrameReader};
use camwire::wire::{self, Codec, FrameKind, Message, StreamInfo};
use common::*;
use socket2::SockRef;

/// Closes `stream` with a reset instead of a goodbye, as a process killed
/// with unread data in its socket does.
fn reset(stream: TcpStream) {
    SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
}

/// No line carries what only an operating system says.
fn no_os_words(lines: &[String]) {
    for line in lines {
        for words in ["os error", "Broken pipe", "Connection reset", "by peer"] {
            assert!(!line.contains(words), "{line:?} in {lines:?}");
        }
    }
}

/// A viewer speaking the protocol by hand to an open sender: it has read
/// the announcement and the first frame.
fn watching_viewer(addr: &str) -> (TcpStream, SocketAddr) {
    let mut stream = TcpStream::connect(addr).unwrap();
    framing::write_message(&mut stream, &[&wire::encode(&Message::hello(&[]))]).unwrap();
    stream.set_read_timeout(Some(STEP)).unwrap();
    let mut reader = FrameReader::new(stream.try_clone().unwrap(), 64 << 20);
    for _ in 0..2 {
        reader.read_message().unwrap().expect("a message");
    }
    let local = stream.local_addr().unwrap();
    (stream, local)
}

#[test]
fn a_viewer_gone_when_the_stream_ends_is_said_to_have_left() {
    // One frame a second: the viewer thread waits for the next one when
    // the viewer resets, and the end message is what finds it gone.
    let (sender, addr) = start_sender(&["--open", "--source", "test", "--fps", "1"]);
    let (viewer, local) = watching_viewer(&addr);
    sender.wait_line(&format!("{local} is watching (1 watching)"));
    reset(viewer);
    sender.interrupt();
    let lines = rest_of(&sender);
    no_os_words(&lines);
    let left: Vec<&String> = lines.iter().filter(|l| l.contains(" left")).collect();
    assert_eq!(left, [&format!("{local} left (0 watching)")], "{lines:?}");
}

#[test]
fn a_connection_that_leaves_during_the_opening_exchange_is_not_turned_away() {
    let (sender, addr) = start_sender(&["--open", "--source", "test"]);
    // Half a hello, then a reset; and a connection closed at once.
    let mut half = TcpStream::connect(&addr).unwrap();
    let hello = hello();
    half.write_all(&hello[..hello.len() / 2]).unwrap();
    let half_from = half.local_addr().unwrap();
    reset(half);
    sender.wait_line(&format!("{half_from} left during the opening exchange"));
    let closed = TcpStream::connect(&addr).unwrap();
    let closed_from = closed.local_addr().unwrap();
    drop(closed);
    sender.wait_line(&format!("{closed_from} left during the opening exchange"));
    sender.interrupt();
    let lines = rest_of(&sender);
    no_os_words(&lines);
    assert!(
        !lines.iter().any(|l| l.contains("turned away")),
        "{lines:?}"
    );
}

#[test]
fn a_sender_that_resets_the_stream_is_said_to_have_left() {
    let info = StreamInfo {
        width: 2,
        height: 1,
        codec: Codec::Raw,
    };
    // Its viewer's hello read, the sender resets the connection.
    let addr = fake_sender(info, |conn| reset(conn.try_clone().unwrap()));
    let mut receiver = receiver_bin();
    receiver.args(["--connect", &addr, "--headless"]);
    let line = one_error_line(&run(receiver));
    assert_eq!(
        line,
        format!("{addr} closed the connection without ending the stream")
    );
}

/// A headless receiver's lines on standard error (`--verbose`), from its
/// first frame to its exit, and its exit status.
fn after_the_first_frame(receiver: &mut Running) -> (Vec<String>, bool) {
    receiver.wait_line("camwire: first frame decoded");
    let rest = rest_of(receiver);
    (rest, receiver.wait_exit().success())
}

#[test]
fn a_clean_end_is_one_line_on_the_receiver() {
    let ended = ["camwire: the sender ended the stream".to_string()];
    // The sender's --frames reached.
    let (_sender, addr) = start_sender(&["--open", "--source", "test", "--frames", "20"]);
    let mut receiver = start_receiver(&["--connect", &addr, "--headless"], &[]);
    assert_eq!(after_the_first_frame(&mut receiver), (ended.to_vec(), true));
    // Ctrl-C on the sender.
    let (sender, addr) = start_sender(&["--open", "--source", "test"]);
    let mut receiver = start_receiver(&["--connect", &addr, "--headless"], &[]);
    receiver.wait_line("camwire: first frame decoded");
    sender.interrupt();
    assert_eq!(
        (rest_of(&receiver), receiver.wait_exit().success()),
        (ended.to_vec(), true)
    );
    // Without a terminal or --verbose, nothing at all.
    let (_sender, addr) = start_sender(&["--open", "--source", "test", "--frames", "5"]);
    let mut quiet = receiver_bin();
    quiet.args(["--connect", &addr, "--headless"]);
    let output = run(quiet);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

/// A chat sender of the test pattern on `x`, its standard output followed.
fn chat_sender(x: &Xvfb) -> (Running, String) {
    let mut sender = sender_bin();
    sender.args(["--bind", "127.0.0.1:0", "--chat", "--open"]);
    sender.args(["--source", "test", "--codec", "jpeg", "--fps", "5"]);
    sender.env("DISPLAY", &x.display);
    start_piped(sender)
}

/// Calls `sender` by hand on `caller`: hello, the sender's announcement,
/// its own (a 2x1 raw stream); returns the reader of what the sender
/// sends and the caller's address, once the sender says the call is on.
fn call_by_hand(sender: &Running, caller: &mut TcpStream) -> (FrameReader<TcpStream>, SocketAddr) {
    framing::write_message(caller, &[&wire::encode(&Message::call(&[]))]).unwrap();
    caller.set_read_timeout(Some(STEP)).unwrap();
    let mut reader = FrameReader::new(caller.try_clone().unwrap(), 64 << 20);
    reader.read_message().unwrap().expect("the announcement");
    let own = StreamInfo {
        width: 2,
        height: 1,
        codec: Codec::Raw,
    };
    send_message(caller, &Message::stream(own));
    let from = caller.local_addr().unwrap();
    sender.wait_line(&format!("{from} called: the call is on"));
    (reader, from)
}

#[test]
fn a_caller_that_vanishes_is_said_to_have_left() {
    let x = Xvfb::start();
    let (sender, addr) = chat_sender(&x);
    // A caller by hand: hello, the sender's announcement, its own, and
    // then a reset with the sender's frames unread.
    let mut caller = TcpStream::connect(&addr).unwrap();
    let (mut reader, from) = call_by_hand(&sender, &mut caller);
    reader.read_message().unwrap().expect("a frame");
    drop(reader);
    reset(caller);
    let line = sender.wait_line("the other person left");
    assert_eq!(
        line,
        format!(
            "the other person left ({from} closed the connection without ending the stream); waiting for the next call"
        )
    );
    sender.interrupt();
    no_os_words(&rest_of(&sender));
}

#[test]
fn a_caller_hears_once_that_the_other_person_left() {
    let x = Xvfb::start();
    let (sender, addr) = chat_sender(&x);
    let mut caller = start_receiver(
        &[
            "--connect",
            &addr,
            "--chat",
            "--headless",
            "--source",
            "test",
        ],
        &[],
    );
    caller.wait_line("camwire: first frame decoded");
    sender.wait_line("called: the call is on");
    sender.interrupt();
    let (rest, ok) = (rest_of(&caller), caller.wait_exit().success());
    assert_eq!(
        (rest, ok),
        (vec!["camwire: the other person left".to_string()], true)
    );
}

#[test]
fn a_caller_cut_off_for_not_reading_gets_one_line_that_says_so() {
    let x = Xvfb::start();
    let (sender, addr) = chat_sender(&x);
    // A caller by hand with a small receive buffer, so that the sender's
    // writes soon wait; it sends its video, then reads nothing more.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let to: SocketAddr = addr.parse().unwrap();
    socket.connect(&to.into()).unwrap();
    let mut caller: TcpStream = socket.into();
    let (reader, _) = call_by_hand(&sender, &mut caller);
    // Its video goes on, five frames a second, until the sender hangs up.
    let mut video = caller.try_clone().unwrap();
    let sending = std::thread::spawn(move || {
        let pixels = [9u8; 6];
        for seq in 0.. {
            let frame = Message::Frame {
                seq,
                captured_us: 0,
                kind: FrameKind::KEY,
                data: &pixels,
            };
            if !send_message(&mut video, &frame) {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let line = sender.wait_line("the other person left");
    assert!(line.contains("stopped reading"), "{line}");
    assert!(line.ends_with("; waiting for the next call"), "{line}");
    drop(reader);
    drop(caller);
    sending.join().unwrap();
    sender.interrupt();
    let rest = rest_of(&sender);
    assert!(
        !rest
            .iter()
            .any(|l| l.contains("left") || l.contains("ended")),
        "one line for the call's end: {line:?}, then {rest:?}"
    );
    no_os_words(&rest);
}
