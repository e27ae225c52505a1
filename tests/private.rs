//! Private mode through the real binaries, with a TCP proxy in the middle
//! that records, and sometimes alters, what crosses the wire.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use camwire::framing::{self, FrameReader};
use camwire::limits;
use camwire::link::private::{Code, Exchange};
use camwire::media::source::pattern_rgb;
use camwire::wire::{self, Message};
use common::*;
use socket2::{Domain, Socket, Type};

const CODE: &str = "314-1592-653";

/// A one-connection proxy to `target` that records what the sender sends and
/// can flip one byte of it.
struct Proxy {
    addr: String,
    from_sender: Arc<Mutex<Vec<u8>>>,
    from_viewer: Arc<Mutex<Vec<u8>>>,
    done: JoinHandle<()>,
}

impl Proxy {
    fn start(target: &str, flip_at: Option<usize>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (from_sender, from_viewer) = (Arc::default(), Arc::default());
        let target = target.to_string();
        let (to_viewer_log, to_sender_log) = (Arc::clone(&from_sender), Arc::clone(&from_viewer));
        let done = thread::spawn(move || {
            let (viewer, _) = listener.accept().unwrap();
            let sender = TcpStream::connect(target).unwrap();
            let up = pump(
                viewer.try_clone().unwrap(),
                sender.try_clone().unwrap(),
                to_sender_log,
                None,
            );
            let down = pump(sender, viewer, to_viewer_log, flip_at);
            let _ = (up.join(), down.join());
        });
        Proxy {
            addr,
            from_sender,
            from_viewer,
            done,
        }
    }

    fn sender_bytes(self) -> (Vec<u8>, Vec<u8>) {
        let _ = self.done.join();
        let a = self.from_sender.lock().unwrap().clone();
        let b = self.from_viewer.lock().unwrap().clone();
        (a, b)
    }
}

/// Copies `from` to `to` on a thread, logging every byte, flipping one.
fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    log: Arc<Mutex<Vec<u8>>>,
    flip_at: Option<usize>,
) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut log = log.lock().unwrap();
            let start = log.len();
            if let Some(at) = flip_at.filter(|at| (start..start + n).contains(at)) {
                buf[at - start] ^= 0x40;
            }
            log.extend_from_slice(&buf[..n]);
            drop(log);
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// 64 bytes from the middle of the raw test pattern's first row.
fn pattern_sample() -> Vec<u8> {
    pattern_rgb(160, 120, 0)[600..664].to_vec()
}

fn raw_sender(extra: &[&str]) -> (Running, String) {
    let mut args = vec![
        "--source", "test", "--codec", "raw", "--width", "160", "--height", "120",
    ];
    args.extend_from_slice(extra);
    start_sender(&args)
}

fn headless(addr: &str, extra: &[&str]) -> std::process::Output {
    let mut receiver = receiver_bin();
    receiver.args(["--connect", addr, "--headless"]).args(extra);
    receiver.env_remove("CAMWIRE_CODE");
    run(receiver)
}

#[test]
fn the_right_code_shows_frames_and_the_wire_never_carries_pixels() {
    let (_sender, addr) = raw_sender(&["--code", CODE, "--fps", "0"]);
    let proxy = Proxy::start(&addr, None);
    let output = headless(
        &proxy.addr,
        &["--code", "3141592653", "--frames", "20", "--json"],
    );
    assert!(output.status.success(), "{output:?}");
    assert_eq!(summary(&output)["frames"], 20);
    let (wire, _) = proxy.sender_bytes();
    assert!(
        wire.len() > 20 * 160 * 120 * 3,
        "the frames crossed the proxy"
    );
    assert!(
        !contains(&wire, &pattern_sample()),
        "pixels visible on the wire"
    );
}

#[test]
fn an_open_sender_does_show_pixels_on_the_wire() {
    // The check above means something only if it catches an open stream.
    let (_sender, addr) = raw_sender(&["--open", "--fps", "0"]);
    let proxy = Proxy::start(&addr, None);
    let output = headless(&proxy.addr, &["--frames", "3"]);
    assert!(output.status.success(), "{output:?}");
    let (wire, _) = proxy.sender_bytes();
    assert!(contains(&wire, &pattern_sample()));
}

#[test]
fn a_wrong_code_is_wrong_on_both_sides_and_no_frame_leaves() {
    let (sender, addr) = raw_sender(&["--code", CODE]);
    let proxy = Proxy::start(&addr, None);
    let output = headless(&proxy.addr, &["--code", "271-8281-828"]);
    let line = one_error_line(&output);
    assert!(line.starts_with("wrong code"), "{line}");
    assert!(
        sender
            .wait_line("gave a wrong code")
            .contains("(1 wrong so far)")
    );
    let (wire, _) = proxy.sender_bytes();
    // An Auth message and an Error: a few dozen bytes, no frame.
    assert!(wire.len() < 200, "{} bytes left the sender", wire.len());
}

#[test]
fn a_flipped_byte_ends_the_stream_with_a_clear_line() {
    let (_sender, addr) = raw_sender(&["--code", CODE, "--fps", "0"]);
    let proxy = Proxy::start(&addr, Some(100_000));
    let output = headless(&proxy.addr, &["--code", CODE]);
    let line = one_error_line(&output);
    assert!(line.contains("altered in transit"), "{line}");
    drop(proxy);
}

#[test]
fn a_recorded_session_replayed_is_refused() {
    let (sender, addr) = raw_sender(&["--code", CODE, "--fps", "0"]);
    let proxy = Proxy::start(&addr, None);
    let output = headless(&proxy.addr, &["--code", CODE, "--frames", "2"]);
    assert!(output.status.success(), "{output:?}");
    let (_, recorded) = proxy.sender_bytes();
    sender.wait_line("left");
    // Replay the viewer's side byte for byte against a new connection.
    let mut replay = TcpStream::connect(&addr).unwrap();
    replay.write_all(&recorded).unwrap();
    replay.shutdown(Shutdown::Write).unwrap();
    let mut answer = Vec::new();
    let _ = replay.read_to_end(&mut answer);
    assert!(
        sender
            .wait_line("gave a wrong code")
            .contains("wrong so far")
    );
    assert!(answer.len() < 200, "{} bytes came back", answer.len());
}

#[test]
fn a_private_sender_asks_for_its_code() {
    let (_sender, addr) = raw_sender(&["--code", CODE]);
    let line = one_error_line(&headless(&addr, &[]));
    assert_eq!(
        line,
        format!("{addr} is private: give its code with --code CODE or the CAMWIRE_CODE variable")
    );
    let mut receiver = receiver_bin();
    receiver.args(["--connect", &addr, "--headless", "--frames", "2"]);
    receiver.env("CAMWIRE_CODE", CODE);
    assert!(run(receiver).status.success());
}

#[test]
fn a_code_for_an_open_sender_is_refused() {
    let (_sender, addr) = raw_sender(&["--open"]);
    let line = one_error_line(&headless(&addr, &["--code", CODE]));
    assert!(line.contains("is an open sender"), "{line}");
}

/// A connection from `ip`, another computer as far as the sender knows.
fn connect_from(ip: [u8; 4], target: &str) -> TcpStream {
    let target: std::net::SocketAddr = target.parse().unwrap();
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&std::net::SocketAddr::from((ip, 0)).into())
        .unwrap();
    socket.connect(&target.into()).unwrap();
    socket.into()
}

/// Sends `hello` from `ip` and returns the sender's first answer.
fn answer_to(hello: &[u8], ip: [u8; 4], addr: &str) -> Vec<u8> {
    let mut stream = connect_from(ip, addr);
    framing::write_message(&mut stream, &[hello]).unwrap();
    stream.set_read_timeout(Some(STEP)).unwrap();
    let mut reader = FrameReader::new(stream, limits::HANDSHAKE_MESSAGE_LIMIT);
    match reader.read_message() {
        Ok(Some(body)) => body.to_vec(),
        _ => Vec::new(),
    }
}

/// A `Hello` carrying a real SPAKE2 message, for a code that is not the
/// sender's: what a guesser replays.
fn guessing_hello() -> Vec<u8> {
    let guess = Exchange::start(&Code::new("271-8281-828").unwrap());
    wire::encode(&Message::hello(guess.message()))
}

#[test]
fn someone_guessing_the_code_does_not_keep_out_the_person_who_has_it() {
    let (_sender, addr) = raw_sender(&["--code", CODE]);
    let hello = guessing_hello();
    let stop = Arc::new(AtomicBool::new(false));
    let guesser = thread::spawn({
        let (stop, addr) = (Arc::clone(&stop), addr.clone());
        move || {
            let (mut tried, mut limited) = (0u32, 0u32);
            while !stop.load(Ordering::SeqCst) {
                let answer = answer_to(&hello, [127, 0, 0, 2], &addr);
                match wire::decode(&answer) {
                    Ok(Message::Auth { .. }) => tried += 1,
                    Ok(Message::Refused { reason, .. }) if reason.contains("your address") => {
                        limited += 1
                    }
                    other => panic!("unexpected answer {other:?}"),
                }
            }
            (tried, limited)
        }
    });
    let started = Instant::now();
    for _ in 0..5 {
        let output = headless(&addr, &["--code", CODE, "--frames", "2"]);
        assert!(output.status.success(), "{output:?}");
    }
    stop.store(true, Ordering::SeqCst);
    let (tried, limited) = guesser.join().unwrap();
    let allowed = limits::GUESS_BURST
        + (started.elapsed().as_secs() / limits::GUESS_INTERVAL.as_secs()) as u32
        + 1;
    assert!(limited > 0, "the guesser was never held back");
    assert!(
        tried <= allowed,
        "{tried} guesses, at most {allowed} allowed"
    );
}

/// CPU time a process has used, in clock ticks (user and system).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn a_flood_of_key_exchanges_from_one_address_costs_no_curve_arithmetic() {
    let (sender, addr) = raw_sender(&["--code", CODE]);
    let pid = sender.child.id();
    let (plain, exchange) = (wire::encode(&Message::hello(&[])), guessing_hello());
    // Connections that carry no key exchange at all measure what accepting
    // and answering costs; the two kinds take turns, so that anything else
    // the machine does weighs on both alike.
    let (mut plain_ticks, mut exchange_ticks) = (0, 0);
    for _ in 0..10 {
        for (hello, ticks) in [(&plain, &mut plain_ticks), (&exchange, &mut exchange_ticks)] {
            let before = cpu_ticks(pid);
            for _ in 0..200 {
                answer_to(hello, [127, 0, 0, 3], &addr);
            }
            *ticks += cpu_ticks(pid) - before;
        }
    }
    eprintln!(
        "sender CPU: {plain_ticks} ticks for plain hellos, {exchange_ticks} for key exchanges"
    );
    // Two scalar multiplications for each of the 2,000 would be about
    // 0.2 ms of CPU apiece here: 40 ticks of 10 ms.
    assert!(
        exchange_ticks < plain_ticks + 20,
        "{exchange_ticks} ticks for key exchanges against {plain_ticks} for plain hellos"
    );
}

#[test]
fn a_misshapen_key_exchange_is_refused_without_spending_a_guess() {
    let (_sender, addr) = raw_sender(&["--code", CODE]);
    let mut misshapen = Exchange::start(&Code::new("1").unwrap()).message().to_vec();
    misshapen[0] = b'A';
    let hello = wire::encode(&Message::hello(&misshapen));
    for _ in 0..3 * limits::GUESS_BURST {
        assert!(
            answer_to(&hello, [127, 0, 0, 4], &addr).is_empty(),
            "closed without a word"
        );
    }
    let answer = answer_to(&guessing_hello(), [127, 0, 0, 4], &addr);
    assert!(matches!(wire::decode(&answer), Ok(Message::Auth { .. })));
}
