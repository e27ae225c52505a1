//! The meeting point of the capture thread and the viewer threads.
//!
//! The hub holds exactly one frame: the newest. The capture thread replaces
//! it; each viewer thread takes it when it is ready to send another and skips
//! whatever it missed meanwhile. So a slow viewer never slows the capture or
//! the other viewers, and no queue of stale frames can build up here.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// One frame, serialized once and shared by every viewer that sends it.
#[derive(Debug)]
pub struct Packet {
    /// The frame's sequence number.
    pub seq: u64,
    /// The message body up to the pixels (see `wire::frame_header`).
    pub header: Vec<u8>,
    /// The encoded pixels, the rest of the body.
    pub data: Arc<[u8]>,
}

/// How a stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// Cleanly: `--frames` reached or the user stopped the sender.
    Clean,
    /// The source failed; the reason is for the viewers' users.
    Failed(String),
}

/// What a viewer thread should do next.
#[derive(Debug)]
pub enum Next {
    /// Send this frame.
    Frame(Arc<Packet>),
    /// Tell the viewer the stream is over, and why.
    End(End),
}

#[derive(Debug, Default)]
struct State {
    latest: Option<Arc<Packet>>,
    /// Whether some viewer has taken `latest`.
    taken: bool,
    viewers: usize,
    /// Viewers on this machine (a preview), counted in `viewers` too.
    local: usize,
    /// Viewers blocked waiting for a frame.
    waiting: usize,
    end: Option<End>,
}

/// Shared state of one sender.
#[derive(Debug, Default)]
pub struct Hub {
    state: Mutex<State>,
    changed: Condvar,
}

impl Hub {
    /// A hub with no frame and no viewers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts a new viewer in; returns the number of remote viewers now
    /// watching, counted in the same step.
    pub fn join(&self) -> usize {
        let mut state = self.lock();
        state.viewers += 1;
        self.changed.notify_all();
        state.viewers - state.local
    }

    /// Counts a viewer out; returns the number of remote viewers still
    /// watching.
    pub fn leave(&self) -> usize {
        let mut state = self.lock();
        state.viewers -= 1;
        self.changed.notify_all();
        state.viewers - state.local
    }

    /// The number of viewers now.
    pub fn viewers(&self) -> usize {
        self.lock().viewers
    }

    /// Counts in a viewer on this machine (a preview); it keeps capture
    /// running but is left out of [`remote_viewers`](Self::remote_viewers).
    pub fn join_local(&self) {
        let mut state = self.lock();
        state.local += 1;
        state.viewers += 1;
        self.changed.notify_all();
    }

    /// Counts out a viewer counted in with [`join_local`](Self::join_local).
    pub fn leave_local(&self) {
        let mut state = self.lock();
        state.local -= 1;
        state.viewers -= 1;
        self.changed.notify_all();
    }

    /// Viewers over the network.
    pub fn remote_viewers(&self) -> usize {
        let state = self.lock();
        state.viewers - state.local
    }

    /// Replaces the newest frame.
    pub fn publish(&self, packet: Packet) {
        let mut state = self.lock();
        state.latest = Some(Arc::new(packet));
        state.taken = false;
        self.changed.notify_all();
    }

    /// Forgets the newest frame, so a viewer that comes later does not get
    /// a stale one.
    pub fn clear(&self) {
        let mut state = self.lock();
        state.latest = None;
        state.taken = true;
    }

    /// Ends the stream; the first reason given wins.
    pub fn end(&self, end: End) {
        let mut state = self.lock();
        state.end.get_or_insert(end);
        self.changed.notify_all();
    }

    /// How the stream ended, if it has.
    pub fn ended(&self) -> Option<End> {
        self.lock().end.clone()
    }

    /// Blocks until someone watches (`true`) or the stream ends (`false`).
    pub fn wait_for_viewers(&self) -> bool {
        let state = self.wait_until(|s| s.viewers > 0 || s.end.is_some());
        state.end.is_none()
    }

    /// Blocks until some viewer waits for a frame (`true`), or nobody
    /// watches or the stream ended (`false`). Capture waits for this before
    /// a session's first frame, so that frame is not made only to be missed.
    pub fn wait_ready(&self) -> bool {
        let state = self.wait_until(|s| s.waiting > 0 || s.viewers == 0 || s.end.is_some());
        state.waiting > 0 && state.end.is_none()
    }

    /// Blocks until a viewer has taken the newest frame (`true`), or nobody
    /// watches any more or the stream ended (`false`).
    pub fn wait_taken(&self) -> bool {
        let state = self.wait_until(|s| s.taken || s.viewers == 0 || s.end.is_some());
        state.taken && state.viewers > 0 && state.end.is_none()
    }

    /// Blocks until there is a frame newer than `last_seq`, or the stream
    /// ended. A newer frame comes first, so the last frame is never lost.
    pub fn next_for(&self, last_seq: Option<u64>) -> Next {
        let is_new = |s: &State| {
            s.latest
                .as_ref()
                .is_some_and(|p| last_seq.is_none_or(|last| p.seq > last))
        };
        let mut state = self.lock();
        state.waiting += 1;
        self.changed.notify_all();
        let mut state = self
            .changed
            .wait_while(state, |s| !is_new(s) && s.end.is_none())
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.waiting -= 1;
        if is_new(&state) {
            state.taken = true;
            self.changed.notify_all();
            let packet = state.latest.clone().expect("checked above");
            return Next::Frame(packet);
        }
        Next::End(state.end.clone().expect("checked above"))
    }

    fn wait_until(&self, ready: impl Fn(&State) -> bool) -> MutexGuard<'_, State> {
        let state = self.lock();
        self.changed
            .wait_while(state, |s| !ready(s))
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(seq: u64) -> Packet {
        Packet {
            seq,
            header: Vec::new(),
            data: Arc::from(&[][..]),
        }
    }

    fn seq_of(next: Next) -> u64 {
        match next {
            Next::Frame(p) => p.seq,
            Next::End(end) => panic!("ended: {end:?}"),
        }
    }

    #[test]
    fn a_slow_viewer_skips_to_the_newest_frame() {
        let hub = Hub::new();
        hub.join();
        for seq in 0..5 {
            hub.publish(packet(seq));
        }
        assert_eq!(seq_of(hub.next_for(None)), 4);
        hub.publish(packet(5));
        assert_eq!(seq_of(hub.next_for(Some(4))), 5);
    }

    #[test]
    fn the_last_frame_comes_before_the_end() {
        let hub = Hub::new();
        hub.join();
        hub.publish(packet(0));
        hub.end(End::Clean);
        assert_eq!(seq_of(hub.next_for(None)), 0);
        assert!(matches!(hub.next_for(Some(0)), Next::End(End::Clean)));
    }

    #[test]
    fn taken_tracks_the_newest_frame() {
        let hub = Hub::new();
        hub.join();
        hub.publish(packet(0));
        hub.next_for(None);
        assert!(hub.wait_taken());
        hub.leave();
        hub.publish(packet(1));
        assert!(!hub.wait_taken(), "nobody watches");
    }

    #[test]
    fn capture_can_wait_for_a_ready_viewer() {
        let hub = Arc::new(Hub::new());
        hub.join();
        let viewer = {
            let hub = Arc::clone(&hub);
            std::thread::spawn(move || seq_of(hub.next_for(None)))
        };
        assert!(hub.wait_ready());
        hub.publish(packet(0));
        assert_eq!(viewer.join().unwrap(), 0);
    }

    #[test]
    fn local_viewers_are_not_remote() {
        let hub = Hub::new();
        hub.join_local();
        hub.join();
        assert_eq!((hub.viewers(), hub.remote_viewers()), (2, 1));
        hub.leave_local();
        assert_eq!(hub.remote_viewers(), 1);
    }

    #[test]
    fn first_end_reason_wins() {
        let hub = Hub::new();
        hub.end(End::Failed("camera gone".into()));
        hub.end(End::Clean);
        assert_eq!(hub.ended(), Some(End::Failed("camera gone".into())));
        assert!(!hub.wait_for_viewers());
    }
}
