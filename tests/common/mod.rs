//! Helpers for tests that run the real binaries.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use camwire::framing::{self, FrameReader};
use camwire::media::camera::{self, SourceChoice};
use camwire::media::source::SourceConfig;
use camwire::session::sender::{Audience, Event, Sender, SenderConfig, Stopper};
use camwire::wire::{self, Message, StreamInfo};

/// How long any one step of a test may take before it counts as a hang.
pub const STEP: Duration = Duration::from_secs(30);

/// A child process killed when the test lets go of it.
pub struct Running {
    pub child: Child,
    /// Lines of the stream that was followed (stdout or stderr).
    pub lines: Receiver<String>,
}

impl Running {
    /// Waits for a line containing `needle` and returns it.
    pub fn wait_line(&self, needle: &str) -> String {
        let deadline = Instant::now() + STEP;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(e) => panic!("no line with {needle:?}: {e}"),
            }
        }
    }

    /// Waits for the process to exit, at most [`STEP`].
    pub fn wait_exit(&mut self) -> ExitStatus {
        self.wait_exit_within(STEP)
    }

    /// Waits for the process to exit, at most `limit`.
    pub fn wait_exit_within(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "process did not exit");
            // No exit notification exists for a child in std; poll gently.
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The one line of JSON the process printed on stdout, after it exited.
    pub fn stdout_json(&mut self) -> serde_json::Value {
        let mut out = String::new();
        let mut stdout = self.child.stdout.take().expect("stdout is piped");
        stdout.read_to_string(&mut out).unwrap();
        serde_json::from_str(out.trim()).expect("one line of JSON")
    }

    /// Sends SIGINT, as Ctrl-C would.
    pub fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every line the process still prints on the stream followed, until it
/// closes it (it exits).
pub fn rest_of(running: &Running) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        match running.lines.recv_timeout(STEP) {
            Ok(line) => lines.push(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => return lines,
            Err(e) => panic!("the output did not end after {lines:?}: {e}"),
        }
    }
}

/// Forwards each line of `stream` to a channel.
fn follow(stream: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

pub fn sender_bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sender"))
}

pub fn receiver_bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_receiver"))
}

/// A sender on a free loopback port, with its address.
pub fn start_sender(args: &[&str]) -> (Running, String) {
    let mut command = sender_bin();
    command.args(["--bind", "127.0.0.1:0"]).args(args);
    start_piped(command)
}

/// Starts a sender command and waits until it says where it listens.
pub fn start_piped(command: Command) -> (Running, String) {
    start_piped_with_stderr(command, Stdio::inherit())
}

/// [`start_piped`], with the sender's standard error sent to `stderr`.
pub fn start_piped_with_stderr(mut command: Command, stderr: Stdio) -> (Running, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let lines = follow(child.stdout.take().unwrap());
    let sender = Running { child, lines };
    let line = sender.wait_line("listening on ");
    let addr = line.trim_start_matches("listening on ").trim().to_string();
    (sender, addr)
}

/// A sender on a free loopback port whose standard output is read up to
/// its `listening on` line and then left unread with the pipe open, as a
/// stalled terminal leaves it; [`resume_reading`] reads on.
pub fn start_unread_sender(args: &[&str]) -> (Running, String, BufReader<ChildStdout>) {
    let mut child = sender_bin()
        .args(["--bind", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let sender = Running {
        child,
        lines: mpsc::channel().1,
    };
    let mut line = String::new();
    while !line.starts_with("listening on ") {
        line.clear();
        let read = stdout.read_line(&mut line).unwrap();
        assert!(read > 0, "the sender ended before saying where it listens");
    }
    let addr = line.trim_start_matches("listening on ").trim().to_string();
    (sender, addr, stdout)
}

/// Follows the rest of a sender's standard output left unread so far.
pub fn resume_reading(sender: &mut Running, stdout: BufReader<ChildStdout>) {
    sender.lines = follow(stdout);
}

/// A receiver whose stderr (with progress lines) is followed line by line.
pub fn start_receiver(args: &[&str], env: &[(&str, &str)]) -> Running {
    let mut command = receiver_bin();
    command
        .arg("--verbose")
        .args(args)
        .envs(env.iter().copied());
    start_following_stderr(command)
}

/// Starts `command`, following its stderr line by line.
pub fn start_following_stderr(mut command: Command) -> Running {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = follow(child.stderr.take().unwrap());
    Running { child, lines }
}

/// Runs a command to completion with its stdout a pipe whose reading end is
/// already closed, as under `| head` once head has quit; returns its exit
/// status and the lines it wrote on stderr.
pub fn run_into_closed_pipe(mut command: Command) -> (ExitStatus, Vec<String>) {
    let (reading, writing) = std::io::pipe().unwrap();
    drop(reading);
    let mut child = command
        .stdin(Stdio::null())
        .stdout(writing)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = follow(child.stderr.take().unwrap());
    let mut running = Running { child, lines };
    let status = running.wait_exit();
    (status, running.lines.iter().collect())
}

/// Runs a command to completion, failing the test if it takes over [`STEP`].
pub fn run(command: Command) -> Output {
    run_for(command, STEP)
}

/// Runs a command to completion, failing the test if it takes over `limit`.
pub fn run_for(mut command: Command, limit: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            pipe.read_to_end(&mut buf).map(|_| buf)
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let mut running = Running {
        child,
        lines: mpsc::channel().1,
    };
    let status = running.wait_exit_within(limit);
    Output {
        status,
        stdout: out.join().unwrap().unwrap(),
        stderr: err.join().unwrap().unwrap(),
    }
}

/// The single line a failed binary printed on stderr.
pub fn one_error_line(output: &Output) -> String {
    assert!(!output.status.success(), "expected a failure");
    let text = String::from_utf8_lossy(&output.stderr).to_string();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("camwire: "))
        .collect();
    assert_eq!(lines.len(), 1, "expected one error line, got {text:?}");
    assert!(!text.contains("panicked"), "{text}");
    lines[0].to_string()
}

/// A viewer's opening message to an open sender, framed.
pub fn hello() -> Vec<u8> {
    let mut out = Vec::new();
    framing::write_message(&mut out, &[&wire::encode(&Message::hello(&[]))]).unwrap();
    out
}

/// The JSON summary a receiver printed last on stdout.
pub fn summary(output: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&output.stdout);
    let last = text.lines().last().expect("a summary line");
    serde_json::from_str(last).expect("valid JSON")
}

/// A library sender of the test pattern on a free loopback port, running on
/// a thread, with a channel of its events.
pub struct LibrarySender {
    pub addr: SocketAddr,
    pub stopper: Stopper,
    pub events: mpsc::Receiver<Event>,
    pub handle: JoinHandle<anyhow::Result<()>>,
}

impl LibrarySender {
    /// Starts one; `write_timeout` is how soon it drops a viewer that stops
    /// reading.
    pub fn start(
        source: SourceConfig,
        max_frames: u64,
        max_viewers: usize,
        write_timeout: Duration,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (info, open) = camera::prepare(SourceChoice::Test(0), source).unwrap();
        let config = SenderConfig {
            encoder: source.encoder(info),
            max_frames,
            write_timeout,
            code: None,
            audience: Audience::Viewers(max_viewers),
        };
        let (tx, events) = mpsc::channel();
        let tx = Mutex::new(tx);
        let sink = Arc::new(move |e: Event| {
            let _ = tx.lock().unwrap().send(e);
        });
        let sender = Sender::new(listener, config, sink).unwrap();
        let stopper = sender.stopper();
        let handle = thread::spawn(move || sender.run(open));
        LibrarySender {
            addr,
            stopper,
            events,
            handle,
        }
    }

    /// Waits for the next event that `pick` accepts.
    pub fn wait_for(&self, pick: impl Fn(&Event) -> bool) -> Event {
        loop {
            let event = self
                .events
                .recv_timeout(STEP)
                .expect("an event from the sender");
            if pick(&event) {
                return event;
            }
        }
    }

    /// Ends the stream cleanly and waits for the sender to finish.
    pub fn stop(self) {
        self.stopper.stop();
        self.handle.join().unwrap().unwrap();
    }
}

/// Writes `msg` on `stream`, framed; whether it went.
pub fn send_message(stream: &mut TcpStream, msg: &Message<'_>) -> bool {
    framing::write_message(stream, &[&wire::encode(msg)]).is_ok()
}

/// A fake open sender on a free loopback port: it reads one viewer's
/// `Hello`, announces `info`, then runs `script` on the connection.
/// Returns its address.
pub fn fake_sender(
    info: StreamInfo,
    script: impl FnOnce(&mut TcpStream) + Send + 'static,
) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut reader = FrameReader::new(conn.try_clone().unwrap(), 1024);
        reader.read_message().unwrap();
        send_message(&mut conn, &Message::stream(info));
        script(&mut conn);
    });
    addr
}

/// An X server of its own for one test (a virtual screen), stopped on drop.
pub struct Xvfb {
    pub child: Child,
    /// Its `DISPLAY`.
    pub display: String,
}

impl Xvfb {
    /// Starts one, failing the test when Xvfb is missing.
    pub fn start() -> Self {
        Self::try_start().expect("Xvfb is needed for this test: apt-get install xvfb")
    }

    /// Starts one, if Xvfb is there.
    pub fn try_start() -> Option<Self> {
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x1024x24",
                "-nolisten",
                "tcp",
                // A chat sender opens its window again after each call:
                // the server must not reset when its last client leaves.
                "-noreset",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        // Xvfb prints its display number once it accepts clients.
        let mut line = String::new();
        BufReader::new(child.stdout.take()?)
            .read_line(&mut line)
            .ok()?;
        let number: u32 = line.trim().parse().ok()?;
        Some(Xvfb {
            child,
            display: format!(":{number}"),
        })
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the tests run as root (shaped links and namespaces need it).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Runs `command` (an `ip` or `tc` command), which must succeed.
pub fn checked(command: &mut Command) {
    let output = command
        .output()
        .expect("iproute2 is needed: apt-get install iproute2");
    assert!(output.status.success(), "{command:?}: {output:?}");
}

/// A `--y4m` recording read back, checked to be `width` x `height` I420:
/// each frame's sequence number and luma plane.
pub fn read_recording(reader: impl Read, width: usize, height: usize) -> Vec<(u64, Vec<u8>)> {
    let mut decoder = y4m::Decoder::new(reader).expect("a YUV4MPEG2 header");
    assert_eq!((decoder.get_width(), decoder.get_height()), (width, height));
    assert!(matches!(
        decoder.get_colorspace(),
        y4m::Colorspace::C420jpeg
    ));
    let mut frames = Vec::new();
    loop {
        let frame = match decoder.read_frame() {
            Ok(frame) => frame,
            Err(y4m::Error::EOF) => return frames,
            Err(e) => panic!("a broken recording: {e}"),
        };
        let params = String::from_utf8(frame.get_raw_params().unwrap().to_vec()).unwrap();
        let seq = params
            .strip_prefix("Xseq=")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no Xseq in {params:?}"));
        assert_eq!(frame.get_u_plane().len(), (width / 2) * (height / 2));
        frames.push((seq, frame.get_y_plane().to_vec()));
    }
}
