//! A video chat as two library sessions in one process, on loopback port
//! 0 and in private mode, with stand-in windows: each takes the pictures
//! from its slots, checks them against the test pattern, and hangs up or
//! waits for the other person to leave, as a person at a window would.
//! The host's window opens again after each call, waiting for the next.

mod common;

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Result;
use camwire::flow::slot::Slot;
use camwire::limits;
use camwire::link::private::Code;
use camwire::media::camera::{self, SourceChoice};
use camwire::media::codec::convert::rgb_to_0rgb;
use camwire::media::source::{PATTERN_FRAMES, SourceConfig, pattern_rgb_coloured};
use camwire::session::call::LEFT;
use camwire::session::capture::CaptureConfig;
use camwire::session::chat::{self, CallEnd, Hosted, OwnVideo};
use camwire::session::preview::mirror;
use camwire::session::sender::{Audience, SenderConfig};
use camwire::session::stream::{Sending, Watching};
use camwire::session::window::{View, Window, WindowEnd};
use camwire::wire::Codec;
use common::STEP;

const SOURCE: SourceConfig = SourceConfig {
    width: 64,
    height: 48,
    fps: 15,
    codec: Codec::Raw,
    quality: 80,
    bitrate_kbit: None,
};

/// The code both sides give.
const CODE: &str = "1414213562";

/// The host's test pattern colouring, and the caller's.
const HOST_COLOURS: u8 = 1;
const CALLER_COLOURS: u8 = 2;

/// Pictures of each video a window must see before the call may end.
const ENOUGH: usize = 3;

/// Every picture of the test pattern in `colours`, as display pixels,
/// mirrored as a self-view is when `mirrored`.
fn pattern_pictures(colours: u8, mirrored: bool) -> Vec<Vec<u32>> {
    let (width, height) = (SOURCE.width, SOURCE.height);
    (0..PATTERN_FRAMES)
        .map(|i| {
            let mut pixels = vec![0; (width * height) as usize];
            rgb_to_0rgb(
                &pattern_rgb_coloured(width, height, i, colours),
                &mut pixels,
            );
            if mirrored {
                mirror(&mut pixels, width as usize);
            }
            pixels
        })
        .collect()
}

/// A window without a display, for one side of a call.
struct StandIn {
    /// The other person's pattern colouring, and one's own.
    other: u8,
    own: u8,
    /// Told each time this window has seen [`ENOUGH`] of both videos.
    seen_enough: Sender<()>,
    /// With this, the window hangs up once the other window has seen
    /// enough too; without it, it waits for the other person to leave.
    hang_up: Option<Receiver<()>>,
    /// Calls the host's window stays open for: once that many have ended,
    /// it is closed while it waits for the next.
    calls: usize,
    /// Told each time the window opens, with the calls ended so far.
    opened: Option<Sender<usize>>,
    /// Pictures of the other person checked, and of oneself, in all.
    others_seen: usize,
    own_seen: usize,
    /// Calls this window saw end because the other person left.
    ended: usize,
    /// The notice in the other person's slot each time they left.
    notices: Vec<String>,
}

impl StandIn {
    fn new(other: u8, own: u8, seen_enough: Sender<()>, hang_up: Option<Receiver<()>>) -> Self {
        StandIn {
            other,
            own,
            seen_enough,
            hang_up,
            calls: 1,
            opened: None,
            others_seen: 0,
            own_seen: 0,
            ended: 0,
            notices: Vec::new(),
        }
    }

    /// A host's window that stays for `calls` calls, and says each time
    /// it opens.
    fn staying_for(mut self, calls: usize, opened: Sender<usize>) -> Self {
        self.calls = calls;
        self.opened = Some(opened);
        self
    }
}

/// Takes a picture from `slot` within `wait`, checks it is one of
/// `pictures` and gives its buffer back; whether there was one.
fn check_next(slot: &Slot, pictures: &[Vec<u32>], wait: Duration, what: &str) -> bool {
    let Some(picture) = slot.take(wait) else {
        return false;
    };
    assert_eq!(
        (picture.width, picture.height),
        (SOURCE.width as usize, SOURCE.height as usize)
    );
    assert!(
        pictures.contains(&picture.pixels),
        "{what} is not its pattern"
    );
    slot.give_back(picture.pixels);
    true
}

impl Window for StandIn {
    fn show(&mut self, view: View<'_>) -> Result<WindowEnd> {
        let View::Call {
            call, own, size, ..
        } = view
        else {
            panic!("a chat shows a call");
        };
        assert_eq!(size, (SOURCE.width as usize, SOURCE.height as usize));
        // Each call starts afresh: nothing of the last caller is left.
        assert_eq!(call.slot.notice_text(), None, "a new call, not the last");
        if let Some(opened) = &self.opened {
            let _ = opened.send(self.ended);
        }
        let others = pattern_pictures(self.other, false);
        let owns = pattern_pictures(self.own, true);
        let (deadline, mut told) = (Instant::now() + STEP, false);
        let (mut others_seen, mut own_seen) = (0, 0);
        while Instant::now() < deadline {
            let wait = deadline.saturating_duration_since(Instant::now());
            if self.ended == self.calls {
                // Waiting for the next caller, oneself in the window: quit.
                own_seen += usize::from(check_next(own, &owns, wait, "oneself"));
                if own_seen >= ENOUGH {
                    return Ok(WindowEnd::UserQuit);
                }
                continue;
            }
            others_seen += usize::from(check_next(&call.slot, &others, wait, "the other"));
            own_seen += usize::from(check_next(own, &owns, Duration::ZERO, "oneself"));
            if !told && others_seen >= ENOUGH && own_seen >= ENOUGH {
                (self.others_seen, self.own_seen) = (others_seen, own_seen);
                // The other window may have hung up already.
                let _ = self.seen_enough.send(());
                told = true;
            }
            if let (true, Some(hang_up)) = (told, &self.hang_up) {
                hang_up
                    .recv_timeout(STEP)
                    .expect("the other window saw enough");
                return Ok(WindowEnd::UserQuit);
            }
            if call.slot.is_drained() {
                self.ended += 1;
                self.notices.extend(call.slot.notice_text());
                return Ok(WindowEnd::StreamOver);
            }
        }
        panic!("the call neither showed both videos nor ended");
    }
}

/// Runs a chat host on a fresh loopback port on a thread of its own,
/// showing the call in `window`; returns the port's address and the thread.
fn start_host(mut window: StandIn) -> (String, thread::JoinHandle<(Result<Hosted>, StandIn)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let host = thread::spawn(move || {
        let (info, open_source) =
            camera::prepare(SourceChoice::Test(HOST_COLOURS), SOURCE).unwrap();
        let config = SenderConfig {
            encoder: SOURCE.encoder(info),
            max_frames: 0,
            write_timeout: limits::VIEWER_WRITE_TIMEOUT,
            code: Code::new(CODE),
            audience: Audience::Viewers(16),
        };
        let sending = Sending {
            listener,
            config,
            open_source,
            events: Arc::new(|_| {}),
            on_start: Box::new(|_| Ok(())),
        };
        let ended = chat::host(sending, "127.0.0.1:0", &mut window);
        (ended, window)
    });
    (addr, host)
}

/// Calls the chat host at `addr` from this thread, showing the call in
/// `window`.
fn call(addr: &str, window: &mut StandIn) -> Result<CallEnd> {
    let (info, open_source) = camera::prepare(SourceChoice::Test(CALLER_COLOURS), SOURCE).unwrap();
    let own = OwnVideo {
        capture: CaptureConfig {
            encoder: SOURCE.encoder(info),
            max_frames: 0,
        },
        open_source,
    };
    let watching = Watching {
        addr: addr.to_string(),
        name: None,
        max_frames: 0,
        retry: false,
        code: Code::new(CODE),
        ask_code: None,
        stats: Default::default(),
        record: None,
    };
    chat::call(watching, own, Some(window))
}

#[test]
fn each_side_sees_the_other_and_the_host_hears_the_caller_hang_up() {
    let (host_saw, caller_waits) = mpsc::channel();
    let (caller_saw, _) = mpsc::channel();
    let host_window = StandIn::new(CALLER_COLOURS, HOST_COLOURS, host_saw, None);
    let (addr, host) = start_host(host_window);
    let mut window = StandIn::new(HOST_COLOURS, CALLER_COLOURS, caller_saw, Some(caller_waits));
    let called = call(&addr, &mut window).expect("the call ends cleanly");
    assert_eq!(called, CallEnd::HungUp);
    assert!(window.others_seen >= ENOUGH && window.own_seen >= ENOUGH);
    let (hosted, host_window) = host.join().expect("the host's thread");
    let hosted = hosted.expect("the host's session ends cleanly");
    assert_eq!(hosted, Hosted { calls: 1 });
    assert_eq!(host_window.ended, 1, "the host saw the caller leave");
    assert!(host_window.others_seen >= ENOUGH && host_window.own_seen >= ENOUGH);
    let notice = &host_window.notices[0];
    assert!(notice.starts_with(LEFT), "{notice}");
}

#[test]
fn each_side_sees_the_other_and_the_caller_hears_the_host_hang_up() {
    let (host_saw, _) = mpsc::channel();
    let (caller_saw, host_waits) = mpsc::channel();
    let host_window = StandIn::new(CALLER_COLOURS, HOST_COLOURS, host_saw, Some(host_waits));
    let (addr, host) = start_host(host_window);
    let mut window = StandIn::new(HOST_COLOURS, CALLER_COLOURS, caller_saw, None);
    let called = call(&addr, &mut window).expect("the call ends cleanly");
    assert_eq!(called, CallEnd::OtherLeft);
    assert!(window.others_seen >= ENOUGH && window.own_seen >= ENOUGH);
    let (hosted, host_window) = host.join().expect("the host's thread");
    let hosted = hosted.expect("the host's session ends cleanly");
    assert_eq!(hosted, Hosted { calls: 1 });
    assert_eq!(host_window.ended, 0, "the host hung up itself");
    assert!(host_window.others_seen >= ENOUGH && host_window.own_seen >= ENOUGH);
}

#[test]
fn the_host_takes_a_second_call_after_the_first_with_the_same_code() {
    let (host_saw, caller_waits) = mpsc::channel();
    let (opened, host_waits) = mpsc::channel();
    let host_window =
        StandIn::new(CALLER_COLOURS, HOST_COLOURS, host_saw, None).staying_for(2, opened);
    let (addr, host) = start_host(host_window);
    let mut hang_up = Some(caller_waits);
    for ended in 0..2 {
        // The host's window waits for this call.
        assert_eq!(host_waits.recv_timeout(STEP), Ok(ended));
        let (caller_saw, _) = mpsc::channel();
        let mut window = StandIn::new(HOST_COLOURS, CALLER_COLOURS, caller_saw, hang_up.take());
        let called = call(&addr, &mut window).expect("each call ends cleanly");
        assert_eq!(called, CallEnd::HungUp);
        assert!(window.others_seen >= ENOUGH && window.own_seen >= ENOUGH);
        hang_up = window.hang_up.take();
    }
    let (hosted, host_window) = host.join().expect("the host's thread");
    let hosted = hosted.expect("the host's session ends cleanly");
    assert_eq!(hosted, Hosted { calls: 2 });
    assert_eq!(host_window.ended, 2, "the host saw each caller leave");
    for notice in &host_window.notices {
        assert!(notice.starts_with(LEFT), "{notice}");
    }
}
