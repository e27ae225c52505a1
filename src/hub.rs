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

    /// Counts a new viewer in; returns the number now watching.
    pub fn join(&self) -> usize {
        let mut state = self.lock();
        state.viewers += 1;
        self.changed.notify_all();
        state.viewers
    }

    /// Counts a viewer out; returns the number still watching.
    pub fn leave(&self) -> usize {
        let mut state = self.lock();
        state.viewers -= 1;
        self.changed.notify_all();
        state.viewers
    }

    /// The number of viewers now.
    pub fn viewers(&self) -> usize {
        self.lock().viewers
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
        let mut state = self.wait_until(|s| is_new(s) || s.end.is_some());
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
    fn first_end_reason_wins() {
        let hub = Hub::new();
        hub.end(End::Failed("camera gone".into()));
        hub.end(End::Clean);
        assert_eq!(hub.ended(), Some(End::Failed("camera gone".into())));
        assert!(!hub.wait_for_viewers());
    }
}
