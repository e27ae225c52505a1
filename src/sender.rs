//! The sending side: accepts viewers and streams the newest frame to each.
//!
//! Threads: the caller's thread accepts connections; one capture thread owns
//! the [`FrameSource`] and runs only while someone watches; one thread per
//! viewer writes frames to its socket. They meet in a [`Hub`].

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use anyhow::{Result, anyhow};

use crate::hub::{End, Hub, Packet};
use crate::limits;
use crate::private::{Code, GuessLimiter};
use crate::source::FrameSource;
use crate::viewer::{self, Refusal};
use crate::wire::{self, Message, StreamInfo};

/// Opens the frame source; called on the capture thread each time capture
/// starts, because a camera must live on the thread that uses it.
pub type SourceFactory = Box<dyn Fn() -> Result<Box<dyn FrameSource>> + Send>;

/// What a sender does beyond the source's own settings.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// The stream every viewer is told about.
    pub info: StreamInfo,
    /// Frames per second asked of the source; 0 means a new frame is made
    /// only once a viewer has taken the last one.
    pub fps: u32,
    /// End the stream after this many frames; 0 streams forever.
    pub max_frames: u64,
    /// Viewers served at once; one more is told so and turned away.
    pub max_viewers: usize,
    /// How long a viewer may block a write before it is dropped
    /// (normally [`limits::VIEWER_WRITE_TIMEOUT`]).
    pub write_timeout: Duration,
    /// The code viewers must know; `None` streams to anyone.
    pub code: Option<Code>,
}

/// Something the sender's user may want to hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A viewer started watching.
    Joined { peer: SocketAddr, viewers: usize },
    /// A viewer stopped watching; `reason` is set when it was not a clean end.
    Left {
        peer: SocketAddr,
        viewers: usize,
        reason: Option<String>,
    },
    /// A connection was refused before it could watch.
    Refused { peer: SocketAddr, reason: String },
    /// A viewer gave the wrong code; `failures` counts them all so far.
    WrongCode { peer: SocketAddr, failures: u64 },
    /// Accepting a connection failed (for example, out of file descriptors).
    AcceptFailed(String),
}

/// Receives [`Event`]s; called from any of the sender's threads.
pub type EventSink = Arc<dyn Fn(Event) + Send + Sync>;

/// Ends a running sender from another thread (Ctrl-C, a test).
#[derive(Clone)]
pub struct Stopper {
    hub: Arc<Hub>,
    wake: SocketAddr,
}

impl Stopper {
    /// Ends the stream cleanly: every viewer gets the end message.
    pub fn stop(&self) {
        finish(&self.hub, self.wake, End::Clean);
    }
}

/// A sender bound to a listening socket.
pub struct Sender {
    listener: TcpListener,
    config: SenderConfig,
    hub: Arc<Hub>,
    wake: SocketAddr,
    events: EventSink,
    guesses: Arc<GuessLimiter>,
    /// Connections still in their opening exchange.
    opening: Arc<AtomicUsize>,
}

impl Sender {
    /// A sender that will accept viewers on `listener`.
    pub fn new(listener: TcpListener, config: SenderConfig, events: EventSink) -> Result<Self> {
        let wake = wake_address(listener.local_addr()?);
        Ok(Sender {
            listener,
            config,
            hub: Arc::new(Hub::new()),
            wake,
            events,
            guesses: Arc::new(GuessLimiter::new()),
            opening: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// The hub this sender's threads meet in, for a preview.
    pub fn hub(&self) -> Arc<Hub> {
        Arc::clone(&self.hub)
    }

    /// A handle that stops this sender.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            hub: Arc::clone(&self.hub),
            wake: self.wake,
        }
    }

    /// Streams until the stream ends; an error if it ended because the
    /// source failed.
    pub fn run(self, open_source: SourceFactory) -> Result<()> {
        let capture = spawn_capture(&self, open_source);
        let mut viewers: Vec<JoinHandle<()>> = Vec::new();
        while self.hub.ended().is_none() {
            let (stream, peer) = match self.listener.accept() {
                Ok(conn) => conn,
                Err(e) if is_transient(&e) => continue,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    (self.events)(Event::AcceptFailed(e.to_string()));
                    thread::sleep(limits::ACCEPT_BACKOFF);
                    continue;
                }
            };
            if self.hub.ended().is_some() {
                break;
            }
            viewers.retain(|v| !v.is_finished());
            if self.opening.load(Ordering::SeqCst) >= limits::MAX_OPENING {
                let reason = "too many connections opening at once".to_string();
                (self.events)(Event::Refused { peer, reason });
                continue;
            }
            self.opening.fetch_add(1, Ordering::SeqCst);
            match self.spawn_viewer(stream, peer) {
                Ok(viewer) => viewers.push(viewer),
                Err(e) => {
                    self.opening.fetch_sub(1, Ordering::SeqCst);
                    (self.events)(Event::AcceptFailed(format!(
                        "could not start a thread: {e}"
                    )));
                }
            }
        }
        for viewer in viewers {
            let _ = viewer.join();
        }
        let _ = capture.join();
        match self.hub.ended() {
            Some(End::Failed(reason)) => Err(anyhow!(reason)),
            _ => Ok(()),
        }
    }

    fn spawn_viewer(&self, stream: TcpStream, peer: SocketAddr) -> io::Result<JoinHandle<()>> {
        let (hub, events) = (Arc::clone(&self.hub), Arc::clone(&self.events));
        let (guesses, opening) = (Arc::clone(&self.guesses), Arc::clone(&self.opening));
        let config = self.config.clone();
        thread::Builder::new().spawn(move || {
            let admission = viewer::Admission {
                code: config.code.as_ref(),
                guesses: &guesses,
                write_timeout: config.write_timeout,
            };
            let admitted = admission.admit(&stream);
            opening.fetch_sub(1, Ordering::SeqCst);
            let mut link = match admitted {
                Ok(link) => link,
                Err(Refusal::WrongCode { failures }) => {
                    return events(Event::WrongCode { peer, failures });
                }
                Err(Refusal::Other(e)) => {
                    let reason = format!("{e:#}");
                    return events(Event::Refused { peer, reason });
                }
            };
            hub.join();
            let viewers = hub.remote_viewers();
            if viewers > config.max_viewers {
                hub.leave();
                let reason = format!(
                    "the sender is at its limit of {} viewers",
                    config.max_viewers
                );
                let _ = link.send(&Message::Error {
                    reason: reason.as_str().into(),
                });
                return events(Event::Refused { peer, reason });
            }
            events(Event::Joined { peer, viewers });
            let reason = viewer::send_stream(&mut link, config.info, &hub)
                .err()
                .map(|e| format!("{e:#}"));
            hub.leave();
            let viewers = hub.remote_viewers();
            events(Event::Left {
                peer,
                viewers,
                reason,
            });
        })
    }
}

fn spawn_capture(sender: &Sender, open_source: SourceFactory) -> JoinHandle<()> {
    let hub = Arc::clone(&sender.hub);
    let (config, wake) = (sender.config.clone(), sender.wake);
    thread::spawn(move || {
        // A camera's decoder may panic on a broken frame: end the stream
        // with a reason instead of leaving every viewer waiting.
        let end = panic::catch_unwind(AssertUnwindSafe(|| {
            capture_loop(&hub, &config, &*open_source)
        }))
        .unwrap_or_else(|_| End::Failed("the capture failed unexpectedly".into()));
        // The newest frame stays: viewers still take it before the end.
        finish(&hub, wake, end);
    })
}

/// Opens the source whenever someone watches and publishes its frames.
fn capture_loop(
    hub: &Hub,
    config: &SenderConfig,
    open_source: &dyn Fn() -> Result<Box<dyn FrameSource>>,
) -> End {
    let mut seq = 0u64;
    while hub.wait_for_viewers() {
        let mut source = match open_source() {
            Ok(source) => source,
            Err(e) => return End::Failed(format!("{e:#}")),
        };
        if source.info() != config.info {
            return End::Failed(format!(
                "the source changed its format to {:?} after the stream was announced as {:?}",
                source.info(),
                config.info
            ));
        }
        let mut first = true;
        while hub.viewers() > 0 && hub.ended().is_none() {
            // A session's first frame waits for a viewer ready to take it;
            // unpaced, each later one waits until the last was taken.
            let ready = if first {
                hub.wait_ready()
            } else {
                config.fps > 0 || hub.wait_taken()
            };
            if !ready {
                break;
            }
            first = false;
            let frame = match source.next_frame() {
                Ok(frame) => frame,
                Err(e) => return End::Failed(format!("{e:#}")),
            };
            let header = wire::frame_header(seq, frame.captured_us, &frame.data);
            hub.publish(Packet {
                seq,
                header,
                data: frame.data,
            });
            seq += 1;
            if config.max_frames > 0 && seq >= config.max_frames {
                return End::Clean;
            }
        }
        drop(source);
        hub.clear();
    }
    End::Clean
}

/// Ends the stream and wakes the accept loop so that it sees the end.
fn finish(hub: &Hub, wake: SocketAddr, end: End) {
    hub.end(end);
    let _ = TcpStream::connect_timeout(&wake, limits::CONNECT_TIMEOUT);
}

/// Where to connect to reach a listener bound to `local`.
fn wake_address(local: SocketAddr) -> SocketAddr {
    let ip = match local.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, local.port())
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
