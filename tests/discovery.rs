//! Discovery on a LAN of the test's own: two network namespaces joined by
//! a veth pair, the senders in one, the receivers in the other. Every
//! sender that announces and every receiver that looks runs inside them,
//! so no multicast reaches this machine's real interfaces.
//!
//! Needs root and iproute2 (`ip`); without root it says so and passes.

mod common;

use std::fs;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use common::*;

/// Two namespaces joined by a veth pair, removed on drop: the senders'
/// side holds `.2`, the receivers' side `.1`.
struct Lan {
    senders: String,
    receivers: String,
    subnet: String,
}

impl Lan {
    fn new() -> Self {
        // Unique to this LAN: the tests of this file run side by side.
        static LANS: AtomicU32 = AtomicU32::new(0);
        let n = LANS.fetch_add(1, Ordering::SeqCst);
        let id = std::process::id() % 1000 * 10 + n % 10;
        let lan = Lan {
            senders: format!("cwd{id}s"),
            receivers: format!("cwd{id}r"),
            subnet: format!("10.214.{}", id % 250),
        };
        let (near, far) = (format!("cwd{id}x"), format!("cwd{id}y"));
        // Made in this namespace, both ends are moved out at once:
        // nothing of the pair stays on this machine's own network.
        ip(&["netns", "add", &lan.senders]);
        ip(&["netns", "add", &lan.receivers]);
        ip(&["link", "add", &near, "type", "veth", "peer", "name", &far]);
        ip(&["link", "set", &near, "netns", &lan.senders]);
        ip(&["link", "set", &far, "netns", &lan.receivers]);
        for (ns, dev, host) in [(&lan.senders, &near, 2), (&lan.receivers, &far, 1)] {
            let addr = format!("{}.{host}/24", lan.subnet);
            inside(ns, &["ip", "addr", "add", &addr, "dev", dev]);
            inside(ns, &["ip", "link", "set", dev, "up"]);
            inside(ns, &["ip", "link", "set", "lo", "up"]);
        }
        lan
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
        let mut command = Command::new("ip");
        command.args([
            "netns",
            "exec",
            &self.receivers,
            env!("CARGO_BIN_EXE_receiver"),
        ]);
        command.args(args);
        run(command)
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the pair, and so both.
        for ns in [&self.senders, &self.receivers] {
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

fn checked(command: &mut Command) {
    let output = command
        .output()
        .expect("iproute2 is needed: apt-get install iproute2");
    assert!(output.status.success(), "{command:?}: {output:?}");
}

fn is_root() -> bool {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        == Some("0")
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
