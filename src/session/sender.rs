//! The sending side: accepts viewers and streams the newest frame to each.
//!
//! Threads: the caller's thread accepts connections; one capture thread
//! (see [`crate::session::capture`]) owns the frame source and runs only while
//! someone watches; one thread per viewer writes frames to its socket. They
//! meet in a [`Hub`].

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use anyhow::{Result, anyhow};

use crate::flow::hub::{End, Hub};
use crate::limits;
use crate::link::admission::{self, Admitted, Caller, Refusal};
use crate::link::guesses::{GuessLimiter, Limited};
use crate::link::opening::{Full, Opening, Place};
use crate::link::paced::Paced;
use crate::link::private::Code;
use crate::link::sealed::Link;
use crate::media::codec::EncoderConfig;
use crate::media::source::SourceFactory;
use crate::session::call::{self, Answered, Line};
use crate::session::capture::{CaptureConfig, panic_text, spawn_capture};
use crate::session::viewer;
use crate::wire::{Message, RefusalKind};

/// What a sender does beyond the source's own settings.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// The stream every viewer is told about (`encoder.info`), and how
    /// its pictures are encoded.
    pub encoder: EncoderConfig,
    /// End the stream after this many frames; 0 streams forever.
    pub max_frames: u64,
    /// How long a viewer may block a write before it is dropped
    /// (normally [`limits::VIEWER_WRITE_TIMEOUT`]).
    pub write_timeout: Duration,
    /// The code viewers must know; `None` streams to anyone.
    pub code: Option<Code>,
    /// Who is served: viewers, or one caller.
    pub audience: Audience,
}

/// Who a sender serves.
#[derive(Debug, Clone)]
pub enum Audience {
    /// Up to this many viewers at once, one way; one more is told so and
    /// turned away.
    Viewers(usize),
    /// One caller at a time (a chat is two people), whose own video goes
    /// to the line's current call; the next caller hears that the line is
    /// busy. After a call the sender waits for the next one.
    Call(Line),
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
    /// A chat caller left, and the sender waits for the next; `why`, when
    /// the call did not end cleanly.
    CallEnded {
        peer: SocketAddr,
        why: Option<String>,
    },
    /// A connection came without the code and was asked for it (its
    /// viewer may type it in and connect again): not a refusal.
    AskedForCode { peer: SocketAddr },
    /// A connection closed before its opening exchange was over: it left
    /// (a viewer quit as it started, a port scan), nobody refused it.
    LeftEarly { peer: SocketAddr },
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
    opening: Opening,
    /// Refused connections being told why.
    turning_away: Arc<AtomicUsize>,
}

impl Sender {
    /// A sender that will accept viewers on `listener`.
    pub fn new(listener: TcpListener, config: SenderConfig, events: EventSink) -> Result<Self> {
        let wake = wake_address(listener.local_addr()?);
        Ok(Sender {
            listener,
            hub: Arc::new(Hub::with_rate(
                config.encoder.info.codec,
                config.encoder.bitrate_kbit,
            )),
            config,
            wake,
            events,
            guesses: Arc::new(GuessLimiter::new()),
            opening: Opening::new(),
            turning_away: Arc::new(AtomicUsize::new(0)),
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
        let wake = self.wake;
        let capture = spawn_capture(
            Arc::clone(&self.hub),
            self.config.capture(),
            open_source,
            move |hub, end| finish(hub, wake, end),
        );
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
            let place = match self.take_place(&stream, peer) {
                Ok(place) => place,
                Err(full) => {
                    self.turn_away(stream, full.reason());
                    let reason = full.reason().to_string();
                    (self.events)(Event::Refused { peer, reason });
                    continue;
                }
            };
            match self.spawn_viewer(stream, peer, place) {
                Ok(viewer) => viewers.push(viewer),
                Err(e) => {
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

    /// A place in the opening exchange for `stream`; losing it later to a
    /// newcomer shuts the stream's reading side, which ends the exchange.
    fn take_place(&self, stream: &TcpStream, peer: SocketAddr) -> Result<Place, Full> {
        let reading = stream.try_clone().map_err(|_| Full::Everyone)?;
        let cut = Box::new(move || {
            let _ = reading.shutdown(Shutdown::Read);
        });
        self.opening.enter(peer.ip(), cut)
    }

    /// Tells a connection that got no place why, on a thread of its own
    /// (at most [`limits::MAX_TURNING_AWAY`] at once; beyond that it is
    /// just closed): its `Hello` is read first, so that closing does not
    /// reset the connection before the viewer reads the answer.
    fn turn_away(&self, stream: TcpStream, reason: &'static str) {
        let turning = Arc::clone(&self.turning_away);
        if turning.fetch_add(1, Ordering::SeqCst) >= limits::MAX_TURNING_AWAY {
            turning.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        let spawned = thread::Builder::new().spawn(move || {
            admission::turn_away(stream, reason);
            turning.fetch_sub(1, Ordering::SeqCst);
        });
        if spawned.is_err() {
            self.turning_away.fetch_sub(1, Ordering::SeqCst);
        }
    }

    fn spawn_viewer(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        place: Place,
    ) -> io::Result<JoinHandle<()>> {
        let context = ViewerContext {
            hub: Arc::clone(&self.hub),
            events: Arc::clone(&self.events),
            guesses: Arc::clone(&self.guesses),
            config: self.config.clone(),
        };
        thread::Builder::new().spawn(move || context.serve(&stream, peer, place))
    }
}

/// What a viewer's thread shares with its sender.
struct ViewerContext {
    hub: Arc<Hub>,
    events: EventSink,
    guesses: Arc<GuessLimiter>,
    config: SenderConfig,
}

impl ViewerContext {
    /// Admits the viewer and streams to it until either side ends.
    /// `place` is given back once the opening exchange is over.
    fn serve(&self, stream: &TcpStream, peer: SocketAddr, place: Place) {
        let admission = admission::Admission {
            code: self.config.code.as_ref(),
            guesses: &self.guesses,
            from: peer.ip(),
            write_timeout: self.config.write_timeout,
            unsent_limit: self.config.encoder.unsent_limit(),
        };
        let admitted = admission.admit(stream);
        if place.evicted() && admitted.is_err() {
            admission::refuse(stream, Full::Everyone.reason());
            let reason = "cut off to make room for a newcomer: this address opened too many connections at once".to_string();
            return (self.events)(Event::Refused { peer, reason });
        }
        drop(place);
        let Admitted { mut link, caller } = match admitted {
            Ok(admitted) => admitted,
            Err(Refusal::CodeAsked) => return (self.events)(Event::AskedForCode { peer }),
            Err(Refusal::Left) => return (self.events)(Event::LeftEarly { peer }),
            Err(Refusal::WrongCode { failures }) => {
                return (self.events)(Event::WrongCode { peer, failures });
            }
            Err(Refusal::Limited(limited)) => {
                let reason = match limited {
                    Limited::ThisSource => "too many wrong codes lately from this address",
                    Limited::Everyone => "too many wrong codes lately from everyone",
                };
                let reason = reason.to_string();
                return (self.events)(Event::Refused { peer, reason });
            }
            Err(Refusal::Other(e)) => {
                let reason = format!("{e:#}");
                return (self.events)(Event::Refused { peer, reason });
            }
        };
        let refuse = |link: &mut Link<Paced<'_>>, kind: RefusalKind, reason: String| {
            let _ = link.send(&Message::refused(kind, &reason));
            (self.events)(Event::Refused { peer, reason });
        };
        let answering = match self.pick_up(caller, peer) {
            Ok(answering) => answering,
            Err((kind, reason)) => return refuse(&mut link, kind, reason),
        };
        let (watching, viewers) = self.hub.watch();
        if let Audience::Viewers(limit) = self.config.audience
            && viewers > limit
        {
            return refuse(
                &mut link,
                RefusalKind::Busy,
                match limit {
                    1 => "the sender is at its limit of one viewer".to_string(),
                    _ => format!("the sender is at its limit of {limit} viewers"),
                },
            );
        }
        (self.events)(Event::Joined { peer, viewers });
        let cursor = watching.cursor();
        let conn = viewer::Conn {
            stream,
            id: watching.id(),
            far: match answering {
                Some(_) => viewer::Far::Caller,
                None => viewer::Far::Viewer,
            },
        };
        let info = self.config.encoder.info;
        let mut reason = viewer::send_stream(&mut link, info, &self.hub, cursor, Some(conn))
            .err()
            .map(|e| format!("{e:#}"));
        drop(watching);
        if let Some(answering) = answering {
            // Stop reading the caller too: a caller that trickles bytes must
            // not keep the sender from ending.
            let _ = stream.shutdown(Shutdown::Both);
            match answering.join() {
                Ok(CallEnd::CutOff(why)) => reason = Some(why),
                // One line for the call's end, with the sender's reason
                // first: when it cut the caller off, the caller's side
                // only saw the connection close.
                Ok(CallEnd::Over(why)) => {
                    if self.hub.ended().is_none() {
                        let why = reason.or(why);
                        (self.events)(Event::CallEnded { peer, why });
                    }
                    return;
                }
                Err(_) => {}
            }
        }
        let viewers = self.hub.remote_viewers();
        (self.events)(Event::Left {
            peer,
            viewers,
            reason,
        });
    }

    /// In chat mode, starts receiving the caller's video on a thread that
    /// says, when it ends, how the call ended; refuses a caller to a
    /// one-way sender, a viewer to a chat, and a second caller.
    fn pick_up(
        &self,
        caller: Option<Caller>,
        peer: SocketAddr,
    ) -> Result<Option<JoinHandle<CallEnd>>, (RefusalKind, String)> {
        let wrong_mode = |reason: &str| Err((RefusalKind::WrongMode, reason.to_string()));
        let (line, caller) = match (&self.config.audience, caller) {
            (Audience::Viewers(_), None) => return Ok(None),
            (Audience::Viewers(_), Some(_)) => {
                return wrong_mode("this sender streams one way: connect without --chat");
            }
            (Audience::Call(_), None) => {
                return wrong_mode("this sender is waiting for a call: connect with --chat");
            }
            (Audience::Call(line), Some(caller)) => (line.clone(), caller),
        };
        let Some(call) = line.pick_up() else {
            let busy = "the line is busy: someone else is on the call";
            return Err((RefusalKind::Busy, busy.to_string()));
        };
        let line_socket = caller.reader.get_ref().try_clone().ok();
        let free = line.clone();
        let answering = thread::Builder::new().spawn(move || {
            let answered = panic::catch_unwind(AssertUnwindSafe(|| {
                call::answer(caller, &peer.to_string(), &call)
            }));
            // Whoever left, this caller gets nothing more: its stream ends
            // too (its viewer thread finds the connection shut).
            if let Some(socket) = line_socket {
                let _ = socket.shutdown(Shutdown::Both);
            }
            let why = match answered {
                // A caller that never sent its video did not call: it is
                // cut off (it must not go on watching), and the window
                // goes on waiting.
                Ok(Answered::NoVideo) => {
                    line.free();
                    let cut = "it sent no video of its own: a call goes both ways";
                    return CallEnd::CutOff(cut.to_string());
                }
                Ok(Answered::Left { why }) => why,
                Err(panic) => Some(format!("internal error: {}", panic_text(&*panic))),
            };
            // The call is over: the line waits for the next caller, unless
            // the sender is stopping (which is why the caller went).
            line.hang_up();
            CallEnd::Over(why)
        });
        match answering {
            Ok(answering) => Ok(Some(answering)),
            Err(e) => {
                // No thread for the call: the line stays free for the next.
                free.free();
                Err((
                    RefusalKind::Busy,
                    format!("the sender cannot answer now: {e}"),
                ))
            }
        }
    }
}

/// How a call's answering thread ended.
enum CallEnd {
    /// The caller was cut off without a call (it sent no video): why.
    CutOff(String),
    /// The call took place and is over; why, when not a plain hang-up.
    Over(Option<String>),
}

impl SenderConfig {
    /// The part of this configuration the capture thread uses.
    pub fn capture(&self) -> CaptureConfig {
        CaptureConfig {
            encoder: self.encoder,
            max_frames: self.max_frames,
        }
    }
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
