//! The sender's console through the real binary: a terminal nobody reads
//! cannot stop the stream, and a storm of connections is folded into a few
//! lines without burying the ones that matter.

mod common;

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ChildStdout;
use std::thread;
use std::time::Duration;

use camwire::framing;
use camwire::wire::{self, Message};
use common::*;
use socket2::{Domain, Socket, Type};

/// Connections in a storm: more lines than a pipe holds.
const STORM: usize = 1500;

/// Where storms come from. All of 127.0.0.0/8 is this machine; coming from
/// another address than the receivers keeps the storm from taking their
/// places in the opening exchange.
const STORM_FROM: [u8; 4] = [127, 0, 0, 2];

/// How long one connection of a storm may take to be accepted by the
/// kernel; a sender that stopped accepting ends the storm early.
const STORM_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

const CODE: &str = "314-1592-653";

/// Connects from [`STORM_FROM`]; `None` once the sender's backlog is full.
fn connect_from_storm(addr: SocketAddr) -> Option<Socket> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::from((STORM_FROM, 0)).into())
        .unwrap();
    socket
        .connect_timeout(&addr.into(), STORM_CONNECT_TIMEOUT)
        .ok()?;
    Some(socket)
}

/// Connects and resets the connection at once; `false` if the sender no
/// longer accepts.
fn connect_and_reset(addr: SocketAddr) -> bool {
    let Some(socket) = connect_from_storm(addr) else {
        return false;
    };
    // Closing with a zero linger sends a reset instead of a goodbye.
    socket.set_linger(Some(Duration::ZERO)).unwrap();
    true
}

/// Says hello and leaves at once: a viewer that joins and goes.
fn hello_and_leave(addr: SocketAddr) -> bool {
    let Some(socket) = connect_from_storm(addr) else {
        return false;
    };
    let mut hello = Vec::new();
    framing::write_message(&mut hello, &[&wire::encode(&Message::hello(&[]))]).unwrap();
    let _ = TcpStream::from(socket).write_all(&hello);
    true
}

/// The number a summary line such as `... 4,950 similar lines left out`
/// gives.
fn count_in(line: &str) -> u64 {
    let number = line.trim_start_matches("... ").split(' ').next().unwrap();
    number.replace(',', "").parse().unwrap()
}

/// A storm of connections that reset and viewers that join and leave:
/// lines of different kinds, which no folding shortens, more than a pipe
/// holds. Returns how many connections the sender accepted.
fn fill_the_console(addr: &str) -> usize {
    let target: SocketAddr = addr.parse().unwrap();
    (0..STORM)
        .take_while(|i| match i % 2 {
            0 => connect_and_reset(target),
            _ => hello_and_leave(target),
        })
        .count()
}

/// A sender of the test pattern whose standard output nobody reads.
fn unread_sender() -> (Running, String, BufReader<ChildStdout>) {
    start_unread_sender(&["--source", "test", "--open", "--max-viewers", "1000"])
}

#[test]
fn a_console_nobody_reads_does_not_stop_the_stream() {
    let (mut sender, addr, unread) = unread_sender();
    let made = fill_the_console(&addr);
    let mut receiver = receiver_bin();
    receiver.args(["--connect", &addr, "--headless", "--frames", "5", "--json"]);
    let output = run_for(receiver, Duration::from_secs(10));
    assert!(
        output.status.success(),
        "after {made} connections: {output:?}"
    );
    assert_eq!(summary(&output)["frames"], 5);
    // Read again: what did not fit was counted, and the console says so.
    resume_reading(&mut sender, unread);
    sender.wait_line("lines left out");
}

#[test]
fn a_sender_whose_console_nobody_reads_still_exits() {
    let (mut sender, addr, _unread) = unread_sender();
    assert_eq!(fill_the_console(&addr), STORM, "the sender kept accepting");
    sender.interrupt();
    // It ends every stream, then waits at most a second for the console.
    let status = sender.wait_exit_within(Duration::from_secs(10));
    assert!(status.success(), "{status}");
}

#[test]
fn a_storm_of_resets_is_folded_and_a_wrong_code_still_shows() {
    let (sender, addr) = start_sender(&["--source", "test", "--code", CODE]);
    let target: SocketAddr = addr.parse().unwrap();
    let storm = thread::spawn(move || (0..STORM).take_while(|_| connect_and_reset(target)).count());
    let mut wrong = receiver_bin();
    wrong.args(["--connect", &addr, "--headless", "--code", "271-8281-828"]);
    let line = one_error_line(&run(wrong));
    assert!(line.starts_with("wrong code"), "{line}");
    let made = storm.join().unwrap();
    assert_eq!(made, STORM, "the sender kept accepting");
    // Ending the sender writes out the counts still pending.
    sender.interrupt();
    let lines = rest_of(&sender);
    assert!(
        lines.iter().any(|l| l.contains("gave a wrong code")),
        "no wrong-code line among {} lines",
        lines.len()
    );
    // A reset is a connection that left, not one turned away; those that
    // found no place were turned away: the two fold together.
    let shown = lines
        .iter()
        .filter(|l| {
            l.ends_with(" left during the opening exchange") || l.contains(" turned away: ")
        })
        .count() as u64;
    let folded: u64 = lines
        .iter()
        .filter(|l| l.contains("left out (turned away or left early)"))
        .map(|l| count_in(l))
        .sum();
    // A few lines each time the storm starts again (a pause of a second
    // while the kernel retries a dropped connection ends a run), the
    // rest counted.
    assert!(
        shown > 0 && folded >= 10 * shown,
        "{shown} lines of resets shown, {folded} folded"
    );
}
