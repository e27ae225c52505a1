//! Peers that try to keep the right viewer out or to hold a receiver:
//! idle connections from a few machines, a sender that trickles its frames,
//! sequence numbers no sender makes. Each meets the real binaries.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use camwire::framing::{self, FrameReader};
use camwire::limits;
use camwire::wire::{self, Codec, FrameKind, Message, StreamInfo};
use common::*;
use socket2::{Domain, Socket, Type};

/// A connection to `target` from `ip`: all of 127.0.0.0/8 is this
/// machine, so each loopback address plays another computer.
fn connect_from(ip: [u8; 4], target: SocketAddr) -> TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::from((ip, 0)).into()).unwrap();
    socket.connect(&target.into()).unwrap();
    socket.into()
}

fn send(stream: &mut TcpStream, msg: &Message<'_>) {
    framing::write_message(stream, &[&wire::encode(msg)]).unwrap();
}

/// Says hello on `stream` and returns the reason of the `Error` that comes
/// back.
fn refusal(mut stream: TcpStream) -> String {
    send(&mut stream, &Message::hello(&[]));
    stream.set_read_timeout(Some(STEP)).unwrap();
    let mut reader = FrameReader::new(stream, limits::HANDSHAKE_MESSAGE_LIMIT);
    let body = reader.read_message().unwrap().expect("an answer");
    match wire::decode(body).unwrap() {
        Message::Refused { reason, .. } => reason.into_owned(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn small_sender() -> (Running, SocketAddr) {
    let (sender, addr) = start_sender(&[
        "--open", "--source", "test", "--width", "160", "--height", "120",
    ]);
    (sender, addr.parse().unwrap())
}

fn watch(addr: SocketAddr, frames: &str) -> std::process::Output {
    let mut receiver = receiver_bin();
    let addr = addr.to_string();
    receiver.args([
        "--connect",
        &addr,
        "--headless",
        "--json",
        "--frames",
        frames,
    ]);
    run(receiver)
}

#[test]
fn a_few_machines_holding_idle_connections_cannot_lock_out_a_newcomer() {
    let (_sender, addr) = small_sender();
    let per = limits::MAX_OPENING_PER_ADDRESS;
    let machines = (limits::MAX_OPENING / per) as u8;
    let _idle: Vec<TcpStream> = (0..machines)
        .flat_map(|m| (0..per).map(move |_| [127, 0, 0, 2 + m]))
        .map(|ip| connect_from(ip, addr))
        .collect();
    // One more from each machine is refused for its address and told so;
    // its answer also shows that the sender has counted all the others.
    for m in 0..machines {
        let reason = refusal(connect_from([127, 0, 0, 2 + m], addr));
        assert!(reason.contains("from this address"), "{reason}");
    }
    // Every place is taken, and still someone new gets in, well within the
    // idle connections' opening deadline.
    let started = Instant::now();
    let output = watch(addr, "3");
    assert!(started.elapsed() < limits::HANDSHAKE_TIMEOUT);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(summary(&output)["frames"], 3);
}

#[test]
fn a_viewer_turned_away_for_want_of_a_place_is_told_why() {
    let (_sender, addr) = small_sender();
    // Every place taken by a different machine: nobody holds more than a
    // newcomer would, so no place is taken from anyone.
    let _idle: Vec<TcpStream> = (0..limits::MAX_OPENING as u8)
        .map(|i| connect_from([127, 0, 1, 10 + i], addr))
        .collect();
    let reason = refusal(connect_from([127, 0, 1, 200], addr));
    assert_eq!(reason, "too many connections opening at once");
    let line = one_error_line(&watch(addr, "1"));
    assert!(
        line.contains("refused: too many connections opening at once"),
        "{line}"
    );
}

/// A fake open sender of raw `width`x1 video (see `common::fake_sender`).
fn raw_sender(width: u32, script: impl FnOnce(&mut TcpStream) + Send + 'static) -> String {
    let info = StreamInfo {
        width,
        height: 1,
        codec: Codec::Raw,
    };
    fake_sender(info, script)
}

#[test]
fn a_sender_trickling_a_frame_is_cut_off() {
    let (done_tx, done_rx) = mpsc::channel::<()>();
    // A frame of 3,000 pixels, sent one byte a second: each read succeeds
    // well within the silence limit, and the whole would take an hour.
    let addr = raw_sender(3000, move |conn| {
        let pixels = vec![0u8; 9000];
        let mut body = wire::frame_header(0, 0, FrameKind::KEY, &pixels);
        body.extend_from_slice(&pixels);
        let mut message = framing::prefix(body.len()).to_vec();
        message.extend_from_slice(&body);
        for byte in message {
            if conn.write_all(&[byte]).is_err() {
                return;
            }
            if done_rx.recv_timeout(Duration::from_secs(1)).is_ok() {
                return;
            }
        }
    });
    let mut receiver = receiver_bin();
    receiver.args(["--connect", &addr, "--headless"]);
    let limit = limits::MESSAGE_GRACE + limits::SENDER_SILENCE_TIMEOUT * 2;
    let output = run_for(receiver, limit);
    let _ = done_tx.send(());
    let line = one_error_line(&output);
    assert!(line.contains("stalling"), "{line}");
}

#[test]
fn a_sequence_number_no_sender_makes_is_a_protocol_error() {
    let addr = raw_sender(2, |conn| {
        let pixels = [1u8; 6];
        for seq in [0, u64::MAX] {
            let frame = Message::Frame {
                seq,
                captured_us: 0,
                kind: FrameKind::KEY,
                data: &pixels,
            };
            send(conn, &frame);
        }
        send(conn, &Message::End);
    });
    let mut receiver = receiver_bin();
    receiver.args(["--connect", &addr, "--headless", "--json"]);
    let output = run(receiver);
    let line = one_error_line(&output);
    assert!(
        line.contains("broke the protocol: frame 18446744073709551615 came straight after frame 0"),
        "{line}"
    );
    let json = summary(&output);
    assert_eq!(json["frames"], 1);
    assert_eq!(json["dropped"], 0);
}
