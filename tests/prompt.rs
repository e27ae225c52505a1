//! The code typed at the receiver's prompt, on a terminal of its own: a
//! pseudo-terminal (`openpty`) is the receiver's standard input, as a
//! person's terminal is, and the test types into its other end once the
//! prompt shows on standard error.

#![cfg(target_os = "linux")]

mod common;

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::Instant;

use common::*;

/// The code the sender is started with.
const CODE: &str = "3141592653";

/// A pseudo-terminal: the end the test types into, and the terminal end
/// the receiver reads as its standard input.
fn terminal() -> (File, OwnedFd) {
    let (mut typing, mut terminal) = (0, 0);
    // SAFETY: openpty writes two new descriptors into the two integers;
    // the name, settings and size may be null.
    let made = unsafe {
        libc::openpty(
            &mut typing,
            &mut terminal,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(made, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors are new and owned by nothing else.
    unsafe { (File::from_raw_fd(typing), OwnedFd::from_raw_fd(terminal)) }
}

/// A receiver typing at its prompt: its standard error, as it comes (a
/// prompt ends in no newline).
struct AtPrompt {
    child: Child,
    typing: File,
    stderr: Receiver<Vec<u8>>,
    seen: String,
}

impl AtPrompt {
    fn start(addr: &str) -> Self {
        let (typing, terminal) = terminal();
        let mut child = receiver_bin()
            .args(["--connect", addr, "--headless", "--frames", "3"])
            .env_remove("CAMWIRE_CODE")
            .stdin(Stdio::from(terminal))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut pipe = child.stderr.take().unwrap();
        let (tx, stderr) = mpsc::channel();
        thread::spawn(move || {
            let mut buf = [0u8; 1024];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                if tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        AtPrompt {
            child,
            typing,
            stderr,
            seen: String::new(),
        }
    }

    /// Waits until standard error has said `needle` since the last wait.
    fn wait_for(&mut self, needle: &str) {
        let deadline = Instant::now() + STEP;
        while !self.seen.contains(needle) {
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = self.stderr.recv_timeout(left);
            let chunk = chunk.unwrap_or_else(|e| panic!("no {needle:?} in {:?}: {e}", self.seen));
            self.seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        let after = self.seen.find(needle).unwrap() + needle.len();
        self.seen.drain(..after);
    }

    /// Types `line` and Enter.
    fn type_line(&mut self, line: &str) {
        writeln!(self.typing, "{line}").unwrap();
    }

    /// What standard error said up to the exit, and the exit status.
    fn finish(mut self) -> (std::process::ExitStatus, String) {
        let status = self.child.wait().unwrap();
        for chunk in self.stderr.iter() {
            self.seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        (status, self.seen)
    }
}

fn private_sender() -> (Running, String) {
    let mut command = sender_bin();
    command.args(["--bind", "127.0.0.1:0", "--source", "test", "--code", CODE]);
    command.args(["--codec", "jpeg", "--no-announce"]);
    start_piped(command)
}

#[test]
fn a_wrong_code_at_the_prompt_is_asked_again_and_the_right_one_gets_in() {
    let (sender, addr) = private_sender();
    let mut receiver = AtPrompt::start(&addr);
    receiver.wait_for(&format!("{addr} is private. Code (the sender prints it): "));
    receiver.type_line("271-8281-828");
    receiver.wait_for("wrong code. Try again (2 of 3): ");
    receiver.type_line("314-1592-653");
    let (status, said) = receiver.finish();
    assert!(status.success(), "{status}: {said:?}");
    assert!(!said.contains("wrong code"), "{said:?}");
    // The sender told the prompt apart from a refusal, and counted the
    // wrong code.
    let mut lines = Vec::new();
    while !lines
        .last()
        .is_some_and(|l: &String| l.contains(" is watching"))
    {
        lines.push(sender.lines.recv_timeout(STEP).expect("the sender's lines"));
    }
    let lines = lines.join("\n");
    assert!(lines.contains(" was asked for the code\n"), "{lines}");
    assert!(
        lines.contains(" gave a wrong code (1 wrong so far)\n"),
        "{lines}"
    );
    assert!(!lines.contains("turned away"), "{lines}");
}

#[test]
fn three_wrong_codes_at_the_prompt_end_the_receiver_with_one_line() {
    let (_sender, addr) = private_sender();
    let mut receiver = AtPrompt::start(&addr);
    receiver.wait_for("Code (the sender prints it): ");
    receiver.type_line("1111111111");
    for n in 2..=3 {
        receiver.wait_for(&format!("wrong code. Try again ({n} of 3): "));
        receiver.type_line("1111111111");
    }
    let (status, said) = receiver.finish();
    assert_eq!(status.code(), Some(1), "{said:?}");
    assert_eq!(
        said.trim_end(),
        format!("wrong code: {addr} was started with another one"),
    );
}
