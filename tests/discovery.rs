//! Discovery on a LAN of the test's own: two network namespaces joined by
//! a veth pair, the senders in one, the receivers in the other. Every
//! sender that announces and every receiver that looks runs inside them,
//! so no multicast reaches this machine's real interfaces.
//!
//! Needs root and iproute2 (`ip`); without root it says so and passes.

mod common;

use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use common::*;

/// Two namespaces joined by a veth pair, removed on drop: the senders'
/// side holds `.2`, the receivers' side `.1`. With [`Lan::second`], a
/// third namespace on a second network of the senders' namespace.
struct Lan {
    id: u32,
    senders: String,
    receivers: String,
    subnet: String,
    others: Option<String>,
}

impl Lan {
    fn new() -> Self {
        // Unique to this LAN: the tests of this file run side by side.
        static LANS: AtomicU32 = AtomicU32::new(0);
        let n = LANS.fetch_add(1, Ordering::SeqCst);
        let id = std::process::id() % 1000 * 10 + n % 10;
        let lan = Lan {
            id,
            senders: format!("cwd{id}s"),
            receivers: format!("cwd{id}r"),
            subnet: format!("10.214.{}", id % 250),
            others: None,
        };
        ip(&["netns", "add", &lan.senders]);
        ip(&["netns", "add", &lan.receivers]);
        inside(&lan.senders, &["ip", "link", "set", "lo", "up"]);
        lan.join(&lan.receivers, "x", &lan.subnet);
        lan
    }

    /// A third namespace, on a second network (`10.215.*`) of the
    /// senders' namespace, where the senders hold `.2` too.
    fn second(mut self) -> Self {
        let others = format!("cwd{}o", self.id);
        ip(&["netns", "add", &others]);
        self.join(&others, "z", &self.second_subnet());
        self.others = Some(others);
        self
    }

    fn second_subnet(&self) -> String {
        format!("10.215.{}", self.id % 250)
    }

    /// Joins `ns` to the senders' namespace by a veth pair on `subnet`.
    fn join(&self, ns: &str, tag: &str, subnet: &str) {
        let (near, far) = (
            format!("cwd{}{tag}a", self.id),
            format!("cwd{}{tag}b", self.id),
        );
        // Made in this namespace, both ends are moved out at once:
        // nothing of the pair stays on this machine's own network.
        ip(&["link", "add", &near, "type", "veth", "peer", "name", &far]);
        ip(&["link", "set", &near, "netns", &self.senders]);
        ip(&["link", "set", &far, "netns", ns]);
        for (ns, dev, host) in [(&self.senders[..], &near, 2), (ns, &far, 1)] {
            let addr = format!("{subnet}.{host}/24");
            inside(ns, &["ip", "addr", "add", &addr, "dev", dev]);
            inside(ns, &["ip", "link", "set", dev, "up"]);
        }
        inside(ns, &["ip", "link", "set", "lo", "up"]);
    }

    /// An open sender of the test pattern in the senders' namespace,
    /// bound to `ip` (`.2` when `None`), with `args`; its address.
    fn sender(&self, ip: Option<&str>, args: &[&str]) -> (Running, String) {
        let sender_ip = format!("{}.2", self.subnet);
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.senders, env!("CARGO_BIN_EXE_sender")]);
        command.args(["--bind", &format!("{}:0", ip.unwrap_or(&sender_ip))]);
        command.args(["--open", "--source", "test", "--codec", "jpeg"]);
        command.args(["--width", "320", "--height", "240"]);
        command.args(args);
        start_piped(command)
    }

    /// A receiver in the receivers' namespace with `args`, run to its end.
    fn receiver(&self, args: &[&str]) -> Output {
        self.receiver_in(&self.receivers, args)
    }

    /// A receiver in namespace `ns` with `args`, run to its end.
    fn receiver_in(&self, ns: &str, args: &[&str]) -> Output {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_receiver")]);
        command.args(args);
        run(command)
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the pair, and so both.
        let others = self.others.iter();
        for ns in [&self.senders, &self.receivers].into_iter().chain(others) {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn ip(args: &[&str]) {
    checked(Command::new("ip").args(args));
}

fn inside(ns: &str, args: &[&str]) {
    checked(Command::new("ip").args(["netns", "exec", ns]).args(args));
}

/// Whether the test can run; says why not when it cannot.
fn can_build_a_lan() -> bool {
    let root = is_root();
    if !root {
        eprintln!("skipped: building network namespaces needs root");
    }
    root
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn list_shows_a_sender_by_name_with_its_address() {
    if !can_build_a_lan() {
        return;
    }
    let lan = Lan::new();
    let (sender, addr) = lan.sender(None, &["--name", "studio"]);
    sender.wait_line("on the other computer run:  receiver --connect studio");
    let output = lan.receiver(&["--list"]);
    assert!(output.status.success(), "{output:?}");
    let listed = stdout(&output);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 1, "{listed}");
    let words: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(words, ["studio", &addr, "open"], "{listed}");
}

#[test]
fn a_receiver_with_no_address_watches_the_only_sender() {
    if !can_build_a_lan() {
        return;
    }
    let lan = Lan::new();
    let (_sender, _) = lan.sender(None, &["--name", "only"]);
    let output = lan.receiver(&["--headless", "--frames", "10", "--json"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(summary(&output)["frames"], 10);
}

#[test]
fn connect_takes_a_name_found_on_the_lan() {
    if !can_build_a_lan() {
        return;
    }
    let lan = Lan::new();
    let (_sender, _) = lan.sender(None, &["--name", "Kitchen cam"]);
    let (_other, _) = lan.sender(None, &["--name", "hall"]);
    let args = ["--connect", "kitchen cam", "--headless", "--frames", "10"];
    let output = lan.receiver(&[&args[..], &["--json"]].concat());
    assert!(output.status.success(), "{output:?}");
    assert_eq!(summary(&output)["frames"], 10);
}

#[test]
fn two_senders_are_listed_and_a_receiver_with_no_address_asks_which() {
    if !can_build_a_lan() {
        return;
    }
    let lan = Lan::new();
    let (_alpha, alpha) = lan.sender(None, &["--name", "alpha"]);
    let (_bravo, bravo) = lan.sender(None, &["--name", "bravo"]);
    let output = lan.receiver(&["--list"]);
    assert!(output.status.success(), "{output:?}");
    let listed = stdout(&output);
    let rows: Vec<Vec<&str>> = listed
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [vec!["alpha", &alpha, "open"], vec!["bravo", &bravo, "open"]],
        "{listed}"
    );
    let output = lan.receiver(&["--headless"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let line = one_error_line(&output);
    assert!(line.contains("(alpha, bravo)"), "{line}");
    assert!(line.contains("--connect NAME"), "{line}");
    let listed = stdout(&output);
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(listed.starts_with("alpha "), "{listed}");
}

#[test]
fn a_name_taken_on_the_lan_gets_a_number_and_says_so() {
    if !can_build_a_lan() {
        return;
    }
    let lan = Lan::new();
    let (first, _) = lan.sender(None, &["--name", "twin"]);
    let (second, _) = lan.sender(None, &["--name", "twin"]);
    // The one renamed says so once its new name is taken; listing before
    // that could miss it.
    let renamed = "another sender on the LAN is called twin, so this one is announced as twin (2): receivers give --connect 'twin (2)'";
    let deadline = std::time::Instant::now() + STEP;
    let mut said = Vec::new();
    while !said.iter().any(|line: &String| line == renamed) {
        assert!(std::time::Instant::now() < deadline, "{said:?}");
        for sender in [&first, &second] {
            if let Ok(line) = sender
                .lines
                .recv_timeout(std::time::Duration::from_millis(50))
            {
                said.push(line);
            }
        }
    }
    let listed = stdout(&lan.receiver(&["--list"]));
    let names: Vec<&str> = listed
        .lines()
        .map(|l| l.split("  ").next().unwrap())
        .collect();
    assert_eq!(names, ["twin", "twin (2)"], "{listed}");
}

#[test]
fn a_sender_on_loopback_or_told_not_to_announces_nothing() {
    if !can_build_a_lan() {
        return;
    }
    let lan = Lan::new();
    let (quiet, _) = lan.sender(Some("127.0.0.1"), &["--name", "hidden"]);
    quiet.wait_line("on this computer run:");
    let (_told, _) = lan.sender(None, &["--name", "unlisted", "--no-announce"]);
    // Not even the mDNS daemon runs: no socket on UDP port 5353.
    let sockets = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lan.senders,
            "ss",
            "-uanp",
            "sport",
            "=",
            ":5353",
        ])
        .output()
        .unwrap();
    let sockets = stdout(&sockets);
    assert!(!sockets.contains("sender"), "{sockets}");
    let output = lan.receiver(&["--list"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(stdout(&output), "");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("no camwire sender answered"), "{said}");
    assert!(said.contains("UDP port 5353"), "{said}");
    let line = one_error_line(&lan.receiver(&["--headless"]));
    assert!(
        line.starts_with("no camwire sender answered on the LAN"),
        "{line}"
    );
    let line = one_error_line(&lan.receiver(&["--connect", "hidden", "--headless"]));
    assert!(
        line.starts_with("could not connect to hidden: no sender of that name answered"),
        "{line}"
    );
}

#[test]
fn a_sender_bound_to_one_address_announces_on_that_network_only() {
    if !can_build_a_lan() {
        return;
    }
    let lan = Lan::new().second();
    let others = lan.others.clone().unwrap();
    let sender_there: IpAddr = format!("{}.2", lan.second_subnet()).parse().unwrap();
    let ear = Ear::start(&others, &format!("{}.1", lan.second_subnet()));
    let (_one, one) = lan.sender(None, &["--name", "one-network"]);
    let names = |output: &Output| -> Vec<String> {
        assert!(output.status.success(), "{output:?}");
        let rows = stdout(output);
        let first_two = |l: &str| l.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        rows.lines().map(first_two).collect()
    };
    // Found on its own network: it has probed and announced by now.
    let here = names(&lan.receiver(&["--list"]));
    assert_eq!(here, [format!("one-network {one}")]);
    assert!(
        !ear.heard_from(sender_there),
        "mDNS from the sender on the network it is not bound to"
    );
    // One bound to 0.0.0.0 is on both, with the address of each.
    let (_every, every) = lan.sender(Some("0.0.0.0"), &["--name", "every-network"]);
    let every_at = |subnet: &str| every.replace("0.0.0.0", &format!("{subnet}.2"));
    let there = names(&lan.receiver_in(&others, &["--list"]));
    assert_eq!(
        there,
        [format!("every-network {}", every_at(&lan.second_subnet()))]
    );
    let here = names(&lan.receiver(&["--list"]));
    let every_here = format!("every-network {}", every_at(&lan.subnet));
    assert_eq!(here, [every_here, format!("one-network {one}")]);
    assert!(ear.heard_from(sender_there), "the ear heard nothing at all");
}

/// Listens for multicast DNS inside a namespace, on a thread of its own
/// that enters it, recording where each packet came from.
struct Ear {
    heard: Arc<Mutex<Vec<IpAddr>>>,
    stop: Arc<AtomicBool>,
}

impl Ear {
    /// Listens in `ns` on the interface holding `ip`, from when this returns.
    fn start(ns: &str, ip: &str) -> Self {
        let path = format!("/run/netns/{ns}");
        let ip: Ipv4Addr = ip.parse().unwrap();
        let heard = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready, listening) = mpsc::channel();
        let (into, until) = (Arc::clone(&heard), Arc::clone(&stop));
        thread::spawn(move || {
            let socket = socket_in(&path, ip);
            ready.send(()).unwrap();
            let mut buf = [0u8; 9000];
            while !until.load(Ordering::SeqCst) {
                if let Ok((_, from)) = socket.recv_from(&mut buf) {
                    into.lock().unwrap().push(from.ip());
                }
            }
        });
        listening.recv_timeout(STEP).expect("the ear listening");
        Ear { heard, stop }
    }

    fn heard_from(&self, ip: IpAddr) -> bool {
        self.heard.lock().unwrap().contains(&ip)
    }
}

impl Drop for Ear {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// A UDP socket on port 5353 in the namespace at `path`, in the mDNS group
/// on the interface holding `ip`; this thread stays in that namespace.
fn socket_in(path: &str, ip: Ipv4Addr) -> UdpSocket {
    use std::os::fd::AsRawFd;
    let ns = fs::File::open(path).unwrap();
    // SAFETY: a valid descriptor of a network namespace; setns changes
    // only the calling thread's namespace.
    let entered = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(entered, 0, "setns: {}", std::io::Error::last_os_error());
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
    socket.set_reuse_address(true).unwrap();
    socket.set_reuse_port(true).unwrap();
    let any = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 5353));
    socket.bind(&any.into()).unwrap();
    socket
        .join_multicast_v4(&Ipv4Addr::new(224, 0, 0, 251), &ip)
        .unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    socket.into()
}

#[test]
fn a_caller_with_no_address_calls_the_only_sender_taking_calls() {
    if !can_build_a_lan() {
        return;
    }
    let Some(x) = Xvfb::try_start() else {
        eprintln!("skipped: a chat sender's window needs Xvfb (apt-get install xvfb)");
        return;
    };
    let lan = Lan::new();
    let mut command = Command::new("ip");
    command.args([
        "netns",
        "exec",
        &lan.senders,
        "env",
        &format!("DISPLAY={}", x.display),
    ]);
    command.arg(env!("CARGO_BIN_EXE_sender"));
    command.args(["--bind", &format!("{}.2:0", lan.subnet), "--open", "--chat"]);
    command.args(["--source", "test", "--codec", "jpeg", "--name", "desk"]);
    let (_desk, desk) = start_piped(command);
    let (_hall, _) = lan.sender(None, &["--name", "hall"]);
    let listed = stdout(&lan.receiver(&["--list"]));
    let desk_row = listed.lines().find(|l| l.starts_with("desk "));
    let desk_row: Vec<&str> = desk_row.unwrap_or_default().split_whitespace().collect();
    assert_eq!(desk_row, ["desk", &desk, "open", "chat"], "{listed}");
    let call = [
        "--chat",
        "--headless",
        "--source",
        "test",
        "--codec",
        "jpeg",
    ];
    let output = lan.receiver(&[&call[..], &["--frames", "10", "--json"]].concat());
    assert!(output.status.success(), "{output:?}");
    assert_eq!(summary(&output)["frames"], 10);
}

/// The id of the window on `x` whose title matches `pattern`, waiting
/// for one.
fn window_titled(x: &Xvfb, pattern: &str) -> String {
    let mut command = Command::new("xdotool");
    command.args(["search", "--sync", "--name", pattern]);
    command.env("DISPLAY", &x.display);
    let output = run(command);
    assert!(output.status.success(), "no window titled {pattern}");
    stdout(&output).lines().next().unwrap().to_string()
}

/// `addr` as it stands in a regular expression.
fn literally(addr: &str) -> String {
    addr.replace('.', "\\.")
        .replace('[', "\\[")
        .replace(']', "\\]")
}

#[test]
fn a_sender_found_by_name_is_named_and_looked_up_again_on_retry() {
    if !can_build_a_lan() {
        return;
    }
    let Some(x) = Xvfb::try_start() else {
        eprintln!("skipped: the receiver's window needs Xvfb (apt-get install xvfb)");
        return;
    };
    let lan = Lan::new();
    let (first, first_addr) = lan.sender(None, &["--name", "roving", "--fps", "10"]);
    let mut command = Command::new("ip");
    command.args(["netns", "exec", &lan.receivers, "env"]);
    command.arg(format!("DISPLAY={}", x.display));
    command.arg(env!("CARGO_BIN_EXE_receiver"));
    command.args(["--connect", "roving", "--retry", "--verbose"]);
    let receiver = start_following_stderr(command);
    // The window names the sender by its name, with its address.
    let line = receiver.wait_line("camwire: showing");
    assert_eq!(
        line,
        format!("camwire: showing 320x240 jpeg from roving ({first_addr})")
    );
    let window = window_titled(
        &x,
        &format!("^camwire: roving \\({}\\)", literally(&first_addr)),
    );
    // Started again elsewhere (another port), it is found there.
    drop(first);
    let (_second, second_addr) = lan.sender(None, &["--name", "roving", "--fps", "10"]);
    assert_ne!(first_addr, second_addr);
    receiver.wait_line(&format!("camwire: found roving at {second_addr}"));
    let figures = "  [0-9]+\\.[0-9] fps";
    let again = format!(
        "^camwire: roving \\({}\\){figures}",
        literally(&second_addr)
    );
    assert_eq!(window_titled(&x, &again), window);
}
