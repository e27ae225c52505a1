//! Bad peers, vanishing processes and churn: each gets a clear outcome
//! within seconds, and nobody else's video suffers.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use camwire::framing::{self, FrameReader};
use camwire::limits;
use camwire::media::source::SourceConfig;
use camwire::session::receiver::{Headless, Incoming};
use camwire::session::sender::Event;
use camwire::session::stats::Stats;
use camwire::wire::{self, Codec, Message};
use common::*;
use socket2::{Domain, Socket, Type};

/// A library sender of raw 320x240 at 30 fps that drops a stuck viewer
/// after one second; returns its address and events.
fn library_sender() -> (SocketAddr, mpsc::Receiver<Event>) {
    let source = SourceConfig {
        width: 320,
        height: 240,
        fps: 30,
        codec: Codec::Raw,
        quality: 80,
        bitrate_kbit: None,
    };
    let sender = LibrarySender::start(source, 0, 16, Duration::from_secs(1));
    (sender.addr, sender.events)
}

fn next_event(events: &mpsc::Receiver<Event>) -> Event {
    events.recv_timeout(STEP).expect("an event from the sender")
}

#[test]
fn a_viewer_that_never_reads_is_dropped_and_the_others_carry_on() {
    let (addr, events) = library_sender();
    let mut lazy = TcpStream::connect(addr).unwrap();
    lazy.write_all(&hello()).unwrap();
    assert!(matches!(next_event(&events), Event::Joined { .. }));
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream.write_all(&hello()).unwrap();
            let mut reader = FrameReader::new(stream, 1 << 24);
            reader.read_message().unwrap().unwrap();
            let (mut frames, mut missed, mut last) = (0u64, 0u64, None);
            while !stop.load(Ordering::SeqCst) {
                let body = reader.read_message().unwrap().unwrap();
                let Message::Frame { seq, .. } = wire::decode(body).unwrap() else {
                    panic!("not a frame");
                };
                missed += last.map_or(0, |l: u64| seq - l - 1);
                (frames, last) = (frames + 1, Some(seq));
            }
            (frames, missed)
        })
    };
    let left = loop {
        match next_event(&events) {
            e @ Event::Left { .. } => break e,
            _ => continue,
        }
    };
    assert!(
        format!("{left:?}").contains("stopped reading; dropped"),
        "{left:?}"
    );
    stop.store(true, Ordering::SeqCst);
    let (frames, dropped) = reader.join().unwrap();
    assert!(frames > 10, "the good viewer got {frames} frames");
    assert!(dropped <= 2, "the good viewer missed {dropped} frames");
}

#[test]
fn strangers_get_a_clear_refusal_and_the_sender_carries_on() {
    let (addr, events) = library_sender();
    let noise: Vec<u8> = (0..3000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let huge = (1u64 << 63).to_be_bytes().to_vec();
    let mut future = hello();
    future[8 + 12] = 9;
    for (what, bytes) in [("noise", noise), ("2^63", huge), ("version 9", future)] {
        let mut peer = TcpStream::connect(addr).unwrap();
        peer.write_all(&bytes).unwrap();
        let mut reply = Vec::new();
        let _ = peer.read_to_end(&mut reply);
        let Event::Refused { reason, .. } = next_event(&events) else {
            panic!("{what}: not refused");
        };
        if what == "version 9" {
            assert!(reason.contains("protocol version 9"), "{reason}");
            let mut reader = FrameReader::new(&reply[..], 1024);
            // The sender's own version, where a viewer of any version reads it.
            let body = reader.read_message().unwrap().unwrap();
            assert_eq!(wire::decode_opening(body), Ok(Message::version_refusal()));
        } else {
            assert!(
                reason.contains("not a camwire receiver"),
                "{what}: {reason}"
            );
            assert!(reply.is_empty(), "{what}: got {} bytes", reply.len());
        }
    }
    let incoming = Incoming::dial(&addr.to_string(), None, false).unwrap();
    assert_eq!(incoming.info().width, 320);
}

#[test]
fn idle_connections_from_one_address_cannot_lock_out_another() {
    let (addr, events) = library_sender();
    // All of 127.0.0.0/8 is this machine: 127.0.0.2 plays another computer.
    let idle_from = |ip: [u8; 4]| -> TcpStream {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        socket.bind(&SocketAddr::from((ip, 0)).into()).unwrap();
        socket.connect(&addr.into()).unwrap();
        socket.into()
    };
    let _held: Vec<TcpStream> = (0..limits::MAX_OPENING_PER_ADDRESS)
        .map(|_| idle_from([127, 0, 0, 2]))
        .collect();
    let mut one_more = idle_from([127, 0, 0, 2]);
    let Event::Refused { peer, reason } = next_event(&events) else {
        panic!("the connection over the limit was not refused");
    };
    assert_eq!(peer.ip(), one_more.local_addr().unwrap().ip());
    assert!(reason.contains("from this address"), "{reason}");
    // Told why, long before the opening exchange's deadline.
    one_more.write_all(&hello()).unwrap();
    one_more
        .set_read_timeout(Some(limits::HANDSHAKE_TIMEOUT / 2))
        .unwrap();
    let mut answer = FrameReader::new(one_more, limits::HANDSHAKE_MESSAGE_LIMIT);
    let body = answer.read_message().unwrap().expect("an answer");
    assert!(
        matches!(wire::decode(body), Ok(Message::Refused { reason, .. }) if reason.contains("from this address")),
        "{:?}",
        wire::decode(body)
    );
    let incoming = Incoming::dial(&addr.to_string(), None, false).unwrap();
    assert_eq!(incoming.info().width, 320, "another address still gets in");
}

#[test]
fn a_silent_sender_is_reported_within_seconds() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut announce = Vec::new();
        let info = wire::StreamInfo {
            width: 8,
            height: 8,
            codec: Codec::Raw,
        };
        framing::write_message(&mut announce, &[&wire::encode(&Message::stream(info))]).unwrap();
        conn.write_all(&announce).unwrap();
        // Say nothing more, keeping the connection open.
        let mut rest = Vec::new();
        let _ = conn.read_to_end(&mut rest);
    });
    let incoming = Incoming::dial(&addr, None, false).unwrap();
    let err = incoming
        .run(0, &mut Headless::default(), &Mutex::new(Stats::default()))
        .expect_err("a silent sender is an error");
    assert!(
        format!("{err:#}").contains("sent nothing for 5s"),
        "{err:#}"
    );
}

#[test]
fn a_sender_trickling_its_announcement_is_cut_off_at_the_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.write_all(&30u64.to_be_bytes()).unwrap();
        // One byte every half second: each read succeeds, the whole never
        // arrives. Stops when the test is done.
        while done_rx.recv_timeout(Duration::from_millis(500)).is_err() {
            if conn.write_all(&[0]).is_err() {
                break;
            }
        }
    });
    let started = std::time::Instant::now();
    let err = Incoming::dial(&addr, None, false).err().expect("an error");
    let _ = done_tx.send(());
    assert!(
        format!("{err:#}").contains("did not complete the opening exchange"),
        "{err:#}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

/// Threads, open files and resident memory (KiB) of a process.
fn footprint(pid: u32) -> (usize, usize, usize) {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> usize {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let fds = fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count();
    (field("Threads:"), fds, field("VmRSS:"))
}

fn watch_once(addr: &str) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(&hello()).unwrap();
    let mut reader = FrameReader::new(stream, 1 << 20);
    reader.read_message().unwrap().unwrap();
    reader.read_message().unwrap().unwrap();
}

#[test]
fn a_thousand_viewers_come_and_go_without_growth() {
    let (sender, addr) = start_sender(&[
        "--open", "--source", "test", "--codec", "raw", "--width", "160", "--height", "120",
        "--fps", "0",
    ]);
    let pid = sender.child.id();
    let settle = |sender: &Running| sender.wait_line("left (0 watching)");
    for _ in 0..50 {
        watch_once(&addr);
        settle(&sender);
    }
    let before = footprint(pid);
    for _ in 0..1000 {
        watch_once(&addr);
        settle(&sender);
    }
    let after = footprint(pid);
    assert!(after.0 <= before.0 + 1, "threads {before:?} -> {after:?}");
    assert!(
        after.1 <= before.1 + 1,
        "file descriptors {before:?} -> {after:?}"
    );
    assert!(
        after.2 <= before.2 + 4096,
        "memory (KiB) {before:?} -> {after:?}"
    );
}

#[test]
fn a_killed_sender_is_one_clear_line() {
    let (mut sender, addr) = start_sender(&[
        "--open", "--source", "test", "--codec", "raw", "--width", "1920", "--height", "1080",
        "--fps", "0",
    ]);
    let mut receiver = start_receiver(&["--connect", &addr, "--headless"], &[]);
    receiver.wait_line("camwire: receiving");
    sender.wait_line("watching");
    sender.child.kill().unwrap();
    assert!(!receiver.wait_exit().success());
    // Progress lines (`--verbose`) aside, exactly one line says why.
    let rest: Vec<String> = receiver
        .lines
        .iter()
        .filter(|line| !line.starts_with("camwire: "))
        .collect();
    assert_eq!(rest.len(), 1, "{rest:?}");
    let line = &rest[0];
    assert!(
        line == "sender closed the connection in the middle of a frame"
            || line.ends_with("closed the connection without ending the stream"),
        "{line}"
    );
}

#[test]
fn retry_rides_out_a_sender_restart() {
    let (mut sender, addr) = start_sender(&["--open", "--source", "test", "--fps", "30"]);
    let mut receiver = start_receiver(
        &[
            "--connect",
            &addr,
            "--headless",
            "--retry",
            "--frames",
            "60",
            "--json",
        ],
        &[],
    );
    receiver.wait_line("camwire: receiving");
    sender.wait_line("watching");
    sender.child.kill().unwrap();
    sender.child.wait().unwrap();
    receiver.wait_line("camwire: reconnecting");
    let _restarted = open_sender_at(&addr);
    assert!(receiver.wait_exit().success());
    assert_eq!(receiver.stdout_json()["frames"], 60);
}

/// A listener that answers each of `answers` connections with the bytes
/// given (none: it closes at once) and then stops listening.
fn cut_short_listener(answers: Vec<&'static [u8]>) -> (String, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let serving = thread::spawn(move || {
        for answer in answers {
            let (mut conn, _) = listener.accept().unwrap();
            if !answer.is_empty() {
                // The hello is read first, so that closing ends the
                // connection with the answer rather than resetting it.
                let _ = conn.read(&mut [0u8; 1024]);
                let _ = conn.write_all(answer);
            }
        }
    });
    (addr, serving)
}

#[test]
fn a_peer_that_hangs_up_during_the_opening_exchange_is_one_clear_line() {
    // Closing at once, and closing after half a length prefix.
    for answer in [&b""[..], &[0, 0, 0]] {
        let (addr, _serving) = cut_short_listener(vec![answer]);
        let mut receiver = receiver_bin();
        receiver.args(["--connect", &addr, "--headless"]);
        let line = one_error_line(&run(receiver));
        assert_eq!(
            line,
            format!("{addr} closed the connection during the opening exchange"),
            "answer {answer:?}"
        );
    }
}

#[test]
fn retry_rides_out_a_sender_that_hangs_up_during_the_opening_exchange() {
    let (addr, serving) = cut_short_listener(vec![&[0, 0, 0]]);
    let mut receiver = start_receiver(
        &[
            "--connect",
            &addr,
            "--headless",
            "--retry",
            "--frames",
            "10",
            "--json",
        ],
        &[],
    );
    receiver.wait_line("closed the connection during the opening exchange");
    serving.join().unwrap();
    let _sender = open_sender_at(&addr);
    assert!(receiver.wait_exit().success());
    assert_eq!(receiver.stdout_json()["frames"], 10);
}

/// An open sender of the test pattern at 30 fps on `addr`, its output
/// dropped, killed when the test lets go of it.
fn open_sender_at(addr: &str) -> Running {
    let mut sender = sender_bin();
    sender.args(["--bind", addr, "--open", "--source", "test", "--fps", "30"]);
    Running {
        lines: mpsc::channel().1,
        child: sender.stdout(std::process::Stdio::null()).spawn().unwrap(),
    }
}
