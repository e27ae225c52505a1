//! The meeting point of the capture thread and the viewer threads.
//!
//! The hub holds the newest frames: for raw and JPEG only the newest one,
//! for H.264 the last [`limits::BACKLOG_FRAMES`]. The capture thread adds
//! each frame as it is made, and never waits for a viewer; each viewer
//! thread takes its next frame when it is ready to send another. So a slow
//! viewer never slows the capture or the other viewers.
//!
//! Which frame a viewer takes next ([`Lag`]): when every frame is a
//! keyframe, the newest, skipping whatever it missed. Otherwise the next
//! in order while it is at most [`limits::SOFT_LAG`] behind the newest;
//! further behind, only base-layer frames (those others depend on) up to
//! [`limits::HARD_LAG`] behind, so that it drops whole temporal layers and
//! catches up; further still, nothing until a keyframe. So no viewer is
//! ever sent a frame more than `HARD_LAG` older than the newest.
//!
//! A viewer takes only a frame it can decode: each viewer's [`Cursor`]
//! follows which frames it took and which it skipped (the hub remembers the
//! kind of the last [`RECENT_KINDS`] frames, not their pixels), and a frame
//! whose reference the viewer skipped is skipped too, with a keyframe asked
//! for (each viewer at most once a [`limits::KEYFRAME_GAP`], that gap
//! doubling while it keeps asking, up to [`limits::MAX_KEYFRAME_BACKOFF`],
//! so that one viewer on a hopeless link does not fill everyone's stream
//! with keyframes).
//!
//! A viewer may also take fewer temporal layers than the stream has
//! ([`Cursor::set_layers`], decided by `flow::layers`): the frames above
//! them are left out as they come, never counted as falling behind.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use std::time::Instant;

use crate::flow::layers::LayerRates;
use crate::flow::rate::{RateControl, Report};
use crate::flow::stuck::{Ask, Counts, Waiting};
use crate::limits;
use crate::media::codec;
use crate::wire::{Codec, FrameKind};

/// Frames whose kind the hub remembers, for viewers that skipped them.
pub const RECENT_KINDS: usize = 256;

/// Temporal layers a cursor follows: 0 to `LAYERS - 1`. Encoders make no
/// more (OpenH264's temporal scalability has four).
pub const LAYERS: usize = 4;

/// One frame, serialized once and shared by every viewer that sends it.
#[derive(Debug)]
pub struct Packet {
    /// The frame's sequence number.
    pub seq: u64,
    /// When it was captured, in microseconds since the Unix epoch.
    pub captured_us: u64,
    /// Whether it is a keyframe, and its layer.
    pub kind: FrameKind,
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

/// How far behind the newest frame a viewer may fall, and what it leaves
/// out when it is further (see the module's description).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lag {
    /// Frames the hub keeps, newest included.
    pub backlog: usize,
    /// Up to this far behind, every frame.
    pub soft: Duration,
    /// Up to this far behind, base-layer frames.
    pub hard: Duration,
}

impl Lag {
    /// Only the newest frame: for codecs whose every frame is a keyframe.
    pub const NEWEST: Lag = Lag {
        backlog: 1,
        soft: Duration::ZERO,
        hard: Duration::ZERO,
    };

    /// The lag an inter-frame codec's viewers get.
    pub const INTER: Lag = Lag {
        backlog: limits::BACKLOG_FRAMES,
        soft: limits::SOFT_LAG,
        hard: limits::HARD_LAG,
    };

    /// The lag for a stream of `codec`.
    pub fn for_codec(codec: Codec) -> Lag {
        if codec::all_keyframes(codec) {
            Lag::NEWEST
        } else {
            Lag::INTER
        }
    }
}

impl Default for Lag {
    fn default() -> Self {
        Lag::NEWEST
    }
}

#[derive(Debug, Default)]
struct State {
    lag: Lag,
    /// The newest frames, oldest first; at most `lag.backlog`.
    backlog: VecDeque<Arc<Packet>>,
    /// Sequence numbers and kinds of the frames published last, oldest
    /// first.
    recent: VecDeque<(u64, FrameKind)>,
    /// Whether some viewer has taken the newest frame, or skipped it for
    /// want of a reference.
    taken: bool,
    /// Whether a viewer skipped a frame it could not decode.
    keyframe_wanted: bool,
    viewers: usize,
    /// Viewers on this machine (a preview), counted in `viewers` too.
    local: usize,
    /// Viewers blocked waiting for a frame.
    waiting: usize,
    end: Option<End>,
    /// The bitrate law, for a codec that has a bitrate.
    rate: Option<RateControl>,
    /// Each viewer's writes, where the kernel says how they go.
    writes: HashMap<u64, Waiting>,
    /// The id the next viewer gets.
    next_id: u64,
}

/// Shared state of one sender.
#[derive(Debug, Default)]
pub struct Hub {
    state: Mutex<State>,
    changed: Condvar,
}

impl Hub {
    /// A hub with no frame and no viewers, that keeps only the newest
    /// frame.
    pub fn new() -> Self {
        Self::default()
    }

    /// A hub for a stream of `codec` (see [`Lag::for_codec`]).
    pub fn for_codec(codec: Codec) -> Self {
        Self::with_lag(Lag::for_codec(codec))
    }

    /// A hub whose viewers fall behind as `lag` says.
    pub fn with_lag(lag: Lag) -> Self {
        let hub = Self::default();
        hub.lock().lag = lag;
        hub
    }

    /// A hub for a stream of `codec` whose bitrate follows its viewers'
    /// links, up to `ceiling_kbit` (see `flow::rate`); raw and JPEG have
    /// no bitrate to follow.
    pub fn with_rate(codec: Codec, ceiling_kbit: u32) -> Self {
        let hub = Self::for_codec(codec);
        if !codec::all_keyframes(codec) {
            hub.lock().rate = Some(RateControl::new(ceiling_kbit));
        }
        hub
    }

    /// Takes what viewer `id` saw of its connection.
    pub fn report(&self, id: u64, report: Report) {
        if let Some(rate) = &mut self.lock().rate {
            rate.report(id, Instant::now(), report);
        }
    }

    /// Whether some viewer other than `id` takes the whole stream with
    /// room to spare, so that the encoder follows it (see `flow::layers`).
    pub fn others_clear(&self, id: u64) -> bool {
        self.lock()
            .rate
            .as_ref()
            .is_some_and(|rate| rate.others_clear(id, Instant::now()))
    }

    /// The bitrate of each temporal layer, from the frames the hub holds
    /// (keyframes counted at the size of the base layer's other frames, so
    /// that one keyframe does not look like a base layer that grew).
    pub fn layer_rates(&self) -> LayerRates {
        let state = self.lock();
        let (Some(first), Some(last)) = (state.backlog.front(), state.backlog.back()) else {
            return LayerRates::default();
        };
        let frames = state.backlog.len() as f64;
        // The span of `n` frames is `n` frame intervals, not `n - 1`.
        let span_us = last.captured_us.saturating_sub(first.captured_us) as f64 * frames
            / (frames - 1.0).max(1.0);
        if span_us <= 0.0 {
            return LayerRates::default();
        }
        let mut count = [0u64; LAYERS];
        let mut delta_bytes = [0u64; LAYERS];
        let mut deltas = [0u64; LAYERS];
        for packet in &state.backlog {
            let layer = usize::from(packet.kind.layer).min(LAYERS - 1);
            count[layer] += 1;
            if !packet.kind.key {
                delta_bytes[layer] += packet.data.len() as u64;
                deltas[layer] += 1;
            }
        }
        let mut rates = LayerRates::default();
        let mut sum = 0.0;
        for layer in 0..LAYERS {
            if count[layer] > 0 {
                rates.layers = layer as u8 + 1;
            }
            let mean = delta_bytes[layer] as f64 / deltas[layer].max(1) as f64;
            sum += mean * 8.0 * count[layer] as f64 * 1e6 / span_us;
            rates.cumulative[layer] = sum as u64;
        }
        rates
    }

    /// Applies the bitrate law now; the new target in kbit/s when it
    /// changed.
    pub fn update_rate(&self) -> Option<u32> {
        let mut state = self.lock();
        let State { rate, writes, .. } = &mut *state;
        let rate = rate.as_mut()?;
        let now = Instant::now();
        // A write that has waited for its link says what the link carries
        // before the viewer thread can.
        for (&id, writes) in writes.iter() {
            if let Some(report) = writes.report(now) {
                rate.report(id, now, report);
            }
        }
        rate.update(now)
    }

    /// Follows viewer `id`'s writes, asking the kernel about its
    /// connection with `ask`, for [`Hub::update_rate`].
    pub fn follow_writes(&self, id: u64, ask: Ask) {
        self.lock().writes.insert(id, Waiting::new(ask));
    }

    /// Viewer `id` begins a write, the kernel's counts being `counts`; or,
    /// with `None`, its write is over.
    pub fn writing(&self, id: u64, counts: Option<Counts>) {
        if let Some(writes) = self.lock().writes.get_mut(&id) {
            writes.writing(Instant::now(), counts);
        }
    }

    /// Whether every viewer's link has room for a keyframe (see
    /// [`RateControl::roomy`]); always, for a codec without a bitrate law.
    pub fn links_have_room(&self) -> bool {
        self.lock()
            .rate
            .as_ref()
            .is_none_or(|rate| rate.roomy(Instant::now()))
    }

    /// Whether the link the bitrate follows is narrower than the stream
    /// (see [`RateControl::narrow`]).
    pub fn link_narrow(&self) -> bool {
        self.lock().rate.as_ref().is_some_and(RateControl::narrow)
    }

    /// The bitrate target now, in kbit/s, for a codec that has one.
    pub fn target_kbit(&self) -> Option<u32> {
        self.lock().rate.as_ref().map(RateControl::target_kbit)
    }

    /// Counts a viewer over the network in for as long as the returned
    /// guard lives (however its thread ends, a panic too, so that capture
    /// and the camera stop when nobody watches); also returns the number
    /// of remote viewers now watching, counted in the same step.
    ///
    /// A viewer over the network starts after the frame that was newest
    /// when it came (see [`Watching::cursor`]): that frame was made before
    /// anyone counted it, so it does not go to the viewer, and capture
    /// makes the next without waiting for it to be taken.
    pub fn watch(self: &Arc<Self>) -> (Watching, usize) {
        let (remote, start, id) = {
            let mut state = self.lock();
            state.viewers += 1;
            state.next_id += 1;
            let start = state.backlog.back().map(|p| p.seq);
            if start.is_some() {
                state.taken = true;
            }
            self.changed.notify_all();
            (state.viewers - state.local, start, state.next_id)
        };
        let watching = Watching {
            hub: Arc::clone(self),
            at: Where::Remote,
            start,
            id,
        };
        (watching, remote)
    }

    /// Counts a viewer on this machine (a preview) in for as long as the
    /// returned guard lives: it keeps capture running but is left out of
    /// [`remote_viewers`](Self::remote_viewers).
    pub fn watch_here(self: &Arc<Self>) -> Watching {
        let mut state = self.lock();
        state.viewers += 1;
        state.local += 1;
        self.changed.notify_all();
        Watching {
            hub: Arc::clone(self),
            at: Where::Here,
            start: None,
            id: 0,
        }
    }

    /// Counts a viewer `at` out.
    fn leave(&self, at: Where, id: u64) {
        let mut state = self.lock();
        state.viewers = state.viewers.saturating_sub(1);
        if at == Where::Here {
            state.local = state.local.saturating_sub(1);
        }
        if let Some(rate) = &mut state.rate {
            rate.forget(id);
        }
        state.writes.remove(&id);
        self.changed.notify_all();
    }

    /// The number of viewers now.
    pub fn viewers(&self) -> usize {
        self.lock().viewers
    }

    /// Viewers over the network.
    pub fn remote_viewers(&self) -> usize {
        let state = self.lock();
        state.viewers - state.local
    }

    /// Replaces the newest frame; returns the remote viewers it was
    /// published to, counted in the same step (a viewer that comes later
    /// starts after it).
    pub fn publish(&self, packet: Packet) -> usize {
        debug_assert!(usize::from(packet.kind.layer) < LAYERS, "{:?}", packet.kind);
        let mut state = self.lock();
        if state.recent.len() == RECENT_KINDS {
            state.recent.pop_front();
        }
        state.recent.push_back((packet.seq, packet.kind));
        if packet.kind.key
            && let Some(rate) = state.rate.as_mut()
        {
            rate.keyframe(Instant::now());
        }
        if state.backlog.len() >= state.lag.backlog.max(1) {
            state.backlog.pop_front();
        }
        state.backlog.push_back(Arc::new(packet));
        state.taken = false;
        self.changed.notify_all();
        state.viewers - state.local
    }

    /// When the newest frame was captured (µs since the Unix epoch), if
    /// there is one.
    pub fn newest_captured_us(&self) -> Option<u64> {
        self.lock().backlog.back().map(|p| p.captured_us)
    }

    /// Whether some viewer has asked for a keyframe since this was last
    /// asked; asking clears it.
    pub fn take_keyframe_request(&self) -> bool {
        std::mem::take(&mut self.lock().keyframe_wanted)
    }

    /// Whether some viewer waits for a keyframe, without clearing it.
    pub fn keyframe_requested(&self) -> bool {
        self.lock().keyframe_wanted
    }

    /// Forgets the newest frame, so a viewer that comes later does not get
    /// a stale one.
    pub fn clear(&self) {
        let mut state = self.lock();
        state.backlog.clear();
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

    /// Blocks until there is a frame after the last one `cursor` saw that
    /// it should take (see [`Lag`]) and can decode, or the stream ended. A
    /// frame comes before the end, so the last frame is never lost.
    pub fn next_for(&self, cursor: &mut Cursor) -> Next {
        let mut state = self.lock();
        state.waiting += 1;
        self.changed.notify_all();
        loop {
            if let Some(packet) = Self::pick(&mut state, cursor) {
                self.changed.notify_all();
                state.waiting -= 1;
                return Next::Frame(packet);
            }
            if let Some(end) = state.end.clone() {
                state.waiting -= 1;
                return Next::End(end);
            }
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// The frame `cursor` takes next of those the hub holds, if any;
    /// every frame passed over on the way is counted as skipped, and a
    /// keyframe is asked for when the viewer can no longer decode the
    /// base layer.
    fn pick(state: &mut State, cursor: &mut Cursor) -> Option<Arc<Packet>> {
        let newest = Arc::clone(state.backlog.back()?);
        if !cursor.is_before(newest.seq) {
            return None;
        }
        let first = state.backlog.iter().find(|p| cursor.is_before(p.seq))?;
        cursor.catch_up(&state.recent, first.seq);
        let lag = state.lag;
        let mut taken = None;
        let after = cursor.last;
        let unseen = |p: &&Arc<Packet>| after.is_none_or(|last| p.seq > last);
        for packet in state.backlog.iter().filter(unseen) {
            if !cursor.takes_layer(packet.kind) {
                cursor.left_out(packet.seq, packet.kind);
                continue;
            }
            let behind =
                Duration::from_micros(newest.captured_us.saturating_sub(packet.captured_us));
            let wanted = packet.seq == newest.seq
                || behind <= lag.soft
                || (packet.kind.layer == 0 && behind <= lag.hard);
            if wanted && cursor.can_decode(packet.kind) {
                cursor.took(packet.seq, packet.kind);
                taken = Some(Arc::clone(packet));
                break;
            }
            cursor.skipped(packet.seq, packet.kind);
        }
        if taken.as_ref().is_none_or(|p| p.seq == newest.seq) {
            state.taken = true;
        }
        if !cursor.can_decode(FrameKind::delta(0))
            && taken.is_none()
            && cursor.may_ask(Instant::now())
        {
            state.keyframe_wanted = true;
        }
        taken
    }

    fn wait_until(&self, ready: impl Fn(&State) -> bool) -> MutexGuard<'_, State> {
        let state = self.lock();
        self.changed
            .wait_while(state, |s| !ready(s))
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        crate::sync::lock(&self.state)
    }
}

/// Where a viewer watches from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Where {
    /// Over the network.
    Remote,
    /// On this machine: a preview.
    Here,
}

/// One viewer counted in a hub; counted out when dropped.
#[derive(Debug)]
pub struct Watching {
    hub: Arc<Hub>,
    at: Where,
    /// The frame that was newest when the viewer came, if any.
    start: Option<u64>,
    /// The viewer's id in the bitrate law (0 for a preview, which has no
    /// link to report).
    id: u64,
}

impl Watching {
    /// The viewer's cursor: after the frame that was newest when it came,
    /// so that it gets only frames made while it was counted (with
    /// `--frames N`, exactly N). A preview starts at the newest.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            last: self.start,
            ..Cursor::default()
        }
    }

    /// The viewer's id, for [`Hub::report`].
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        self.hub.leave(self.at, self.id);
    }
}

/// What one viewer took of the stream, so that it takes only frames it
/// can decode.
///
/// `holds[t]` says whether the viewer has the newest frame of any layer
/// below `t`: what a frame of layer `t` needs (and a layer-0 frame needs
/// the newest layer-0 frame, `holds[1]`). A new cursor holds nothing, so
/// it starts at a keyframe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    last: Option<u64>,
    holds: [bool; LAYERS + 1],
    /// Frames skipped for being late or undecodable, in all.
    skipped: u64,
    /// Temporal layers taken: 0 for keyframes only.
    layers: u8,
    /// When this viewer last asked for a keyframe, and how long it waits
    /// before asking again.
    asked: Option<(Instant, Duration)>,
}

impl Default for Cursor {
    fn default() -> Self {
        Cursor {
            last: None,
            holds: [false; LAYERS + 1],
            skipped: 0,
            layers: LAYERS as u8,
            asked: None,
        }
    }
}

impl Cursor {
    /// A cursor for a viewer that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes only the lowest `layers` temporal layers from now on (0:
    /// keyframes only).
    pub fn set_layers(&mut self, layers: u8) {
        self.layers = layers.min(LAYERS as u8);
    }

    /// The temporal layers taken.
    pub fn layers(&self) -> u8 {
        self.layers
    }

    fn takes_layer(&self, kind: FrameKind) -> bool {
        kind.key || kind.layer < self.layers
    }

    /// Whether the viewer may ask for a keyframe at `now`; if so, the next
    /// ask waits twice as long (see the module's description).
    fn may_ask(&mut self, now: Instant) -> bool {
        let wait = match self.asked {
            None => limits::KEYFRAME_GAP,
            Some((at, wait)) => {
                let since = now.duration_since(at);
                if since < wait {
                    return false;
                }
                if since > 2 * limits::MAX_KEYFRAME_BACKOFF {
                    // Long without asking: start again from the shortest.
                    limits::KEYFRAME_GAP
                } else {
                    (wait * 2).min(limits::MAX_KEYFRAME_BACKOFF)
                }
            }
        };
        self.asked = Some((now, wait));
        true
    }

    /// Counts a frame left out for being above the layers taken: like a
    /// skip for decoding, but not a sign of falling behind.
    fn left_out(&mut self, seq: u64, kind: FrameKind) {
        self.mark(kind, false);
        self.last = Some(seq);
    }

    /// The sequence number of the last frame it took or skipped.
    pub fn last(&self) -> Option<u64> {
        self.last
    }

    fn is_before(&self, seq: u64) -> bool {
        self.last.is_none_or(|last| seq > last)
    }

    /// Whether a frame of `kind` can be decoded after what was taken.
    pub fn can_decode(&self, kind: FrameKind) -> bool {
        kind.key || self.holds[usize::from(kind.layer).clamp(1, LAYERS)]
    }

    /// Counts a frame taken: it is now the newest of its layer held.
    pub fn took(&mut self, seq: u64, kind: FrameKind) {
        self.mark(kind, true);
        self.last = Some(seq);
    }

    /// Counts a frame skipped: the newest of its layer is one not held.
    pub fn skipped(&mut self, seq: u64, kind: FrameKind) {
        self.mark(kind, false);
        self.last = Some(seq);
        self.skipped += 1;
    }

    /// Frames this viewer has skipped so far for being late or
    /// undecodable (not those above its layers).
    pub fn skipped_count(&self) -> u64 {
        self.skipped
    }

    fn mark(&mut self, kind: FrameKind, held: bool) {
        let layer = usize::from(kind.layer).min(LAYERS);
        self.holds[layer + 1..].fill(held);
    }

    /// Counts as skipped every frame published after the last one seen and
    /// before `seq`; when `recent` no longer reaches back that far, nothing
    /// is held any more.
    fn catch_up(&mut self, recent: &VecDeque<(u64, FrameKind)>, seq: u64) {
        let Some(last) = self.last else { return };
        let reaches = recent
            .front()
            .is_some_and(|&(oldest, _)| oldest <= last + 1);
        if !reaches {
            self.holds.fill(false);
        }
        // `recent` is in order: start past `last` instead of scanning it all.
        let after = recent.partition_point(|&(s, _)| s <= last);
        for &(skipped, kind) in recent.range(after..).take_while(|(s, _)| *s < seq) {
            if self.takes_layer(kind) {
                self.skipped(skipped, kind);
            } else {
                self.left_out(skipped, kind);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(seq: u64) -> Packet {
        packet_of(seq, FrameKind::KEY)
    }

    fn packet_of(seq: u64, kind: FrameKind) -> Packet {
        Packet {
            seq,
            captured_us: seq * 33_333,
            kind,
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
        let hub = Arc::new(Hub::new());
        let _watching = hub.watch();
        for seq in 0..5 {
            hub.publish(packet(seq));
        }
        let mut cursor = Cursor::new();
        assert_eq!(seq_of(hub.next_for(&mut cursor)), 4);
        hub.publish(packet(5));
        assert_eq!(seq_of(hub.next_for(&mut cursor)), 5);
    }

    #[test]
    fn the_last_frame_comes_before_the_end() {
        let hub = Arc::new(Hub::new());
        let _watching = hub.watch();
        hub.publish(packet(0));
        hub.end(End::Clean);
        let mut cursor = Cursor::new();
        assert_eq!(seq_of(hub.next_for(&mut cursor)), 0);
        assert!(matches!(hub.next_for(&mut cursor), Next::End(End::Clean)));
    }

    #[test]
    fn taken_tracks_the_newest_frame() {
        let hub = Arc::new(Hub::new());
        let watching = hub.watch();
        hub.publish(packet(0));
        hub.next_for(&mut Cursor::new());
        assert!(hub.wait_taken());
        drop(watching);
        hub.publish(packet(1));
        assert!(!hub.wait_taken(), "nobody watches");
    }

    #[test]
    fn capture_can_wait_for_a_ready_viewer() {
        let hub = Arc::new(Hub::new());
        let _watching = hub.watch();
        let viewer = {
            let hub = Arc::clone(&hub);
            std::thread::spawn(move || seq_of(hub.next_for(&mut Cursor::new())))
        };
        assert!(hub.wait_ready());
        hub.publish(packet(0));
        assert_eq!(viewer.join().unwrap(), 0);
    }

    #[test]
    fn local_viewers_are_not_remote_and_everyone_is_counted_out_once() {
        let hub = Arc::new(Hub::new());
        let preview = hub.watch_here();
        let (remote, counted) = hub.watch();
        assert_eq!(counted, 1);
        assert_eq!((hub.viewers(), hub.remote_viewers()), (2, 1));
        drop(preview);
        assert_eq!(hub.remote_viewers(), 1);
        let panicked = std::thread::spawn(move || {
            let _remote = remote;
            panic!("a viewer thread fails");
        });
        assert!(panicked.join().is_err());
        assert_eq!(hub.viewers(), 0, "a panic still counts the viewer out");
    }

    #[test]
    fn first_end_reason_wins() {
        let hub = Hub::new();
        hub.end(End::Failed("camera gone".into()));
        hub.end(End::Clean);
        assert_eq!(hub.ended(), Some(End::Failed("camera gone".into())));
        assert!(!hub.wait_for_viewers());
    }

    /// Layers of a three-layer temporal pattern: T0 T2 T1 T2, repeated.
    fn layered(seq: u64) -> FrameKind {
        match seq {
            0 => FrameKind::KEY,
            s => FrameKind::delta([0, 2, 1, 2][(s % 4) as usize]),
        }
    }

    /// Feeds `cursor` frames `0..n`, of which it takes those `takes`
    /// accepts and can decode; returns the ones it took.
    fn follow(cursor: &mut Cursor, n: u64, takes: impl Fn(u64) -> bool) -> Vec<u64> {
        let mut took = Vec::new();
        for seq in 0..n {
            let kind = layered(seq);
            if takes(seq) && cursor.can_decode(kind) {
                cursor.took(seq, kind);
                took.push(seq);
            } else {
                cursor.skipped(seq, kind);
            }
        }
        took
    }

    #[test]
    fn dropping_the_top_layer_keeps_the_rest_decodable() {
        let mut cursor = Cursor::new();
        let took = follow(&mut cursor, 12, |seq| layered(seq).layer < 2);
        assert_eq!(took, vec![0, 2, 4, 6, 8, 10]);
    }

    #[test]
    fn missing_a_middle_layer_frame_breaks_the_top_layer_until_the_next() {
        let mut cursor = Cursor::new();
        // Frame 2 (T1) is skipped: frame 3 (T2) needs it, frame 4 (T0) not,
        // and frame 5 (T2) needs frame 4, which was taken.
        let took = follow(&mut cursor, 8, |seq| seq != 2);
        assert_eq!(took, vec![0, 1, 4, 5, 6, 7]);
    }

    #[test]
    fn missing_a_base_layer_frame_waits_for_a_keyframe() {
        let mut cursor = Cursor::new();
        let took = follow(&mut cursor, 12, |seq| seq != 4);
        assert_eq!(took, vec![0, 1, 2, 3]);
        assert!(cursor.can_decode(FrameKind::KEY));
        assert!(
            !Cursor::new().can_decode(FrameKind::delta(0)),
            "a new viewer starts at a key"
        );
    }

    #[test]
    fn a_viewer_skips_what_it_cannot_decode_and_asks_for_a_keyframe() {
        let hub = Arc::new(Hub::new());
        let _watching = hub.watch();
        let mut cursor = Cursor::new();
        hub.publish(packet_of(0, FrameKind::KEY));
        assert_eq!(seq_of(hub.next_for(&mut cursor)), 0);
        // While the viewer was busy, a base-layer frame came and went.
        hub.publish(packet_of(1, FrameKind::delta(0)));
        hub.publish(packet_of(2, FrameKind::delta(0)));
        let viewer = std::thread::spawn({
            let hub = Arc::clone(&hub);
            move || seq_of(hub.next_for(&mut cursor))
        });
        assert!(hub.wait_taken(), "the undecodable frame is passed over");
        assert!(hub.take_keyframe_request());
        assert!(!hub.take_keyframe_request(), "asking clears the request");
        hub.publish(packet_of(3, FrameKind::KEY));
        assert_eq!(viewer.join().unwrap(), 3);
    }

    #[test]
    fn a_viewer_that_missed_more_than_the_hub_remembers_waits_for_a_keyframe() {
        let hub = Arc::new(Hub::new());
        let _watching = hub.watch();
        let mut cursor = Cursor::new();
        hub.publish(packet_of(0, FrameKind::KEY));
        hub.next_for(&mut cursor);
        for seq in 1..=RECENT_KINDS as u64 + 1 {
            hub.publish(packet_of(seq, FrameKind::delta(3)));
        }
        let next = RECENT_KINDS as u64 + 2;
        hub.publish(packet_of(next, FrameKind::delta(1)));
        hub.publish(packet_of(next + 1, FrameKind::KEY));
        assert_eq!(seq_of(hub.next_for(&mut cursor)), next + 1);
    }

    #[test]
    fn a_new_viewer_starts_after_the_frame_made_before_it_came() {
        let hub = Arc::new(Hub::new());
        let preview = hub.watch_here();
        hub.publish(packet(5));
        let (viewer, _) = hub.watch();
        // Unpaced capture need not wait for frame 5 to be taken by anyone.
        assert!(hub.wait_taken());
        let mut cursor = viewer.cursor();
        hub.publish(packet(6));
        assert_eq!(seq_of(hub.next_for(&mut cursor)), 6);
        assert_eq!(
            seq_of(hub.next_for(&mut preview.cursor())),
            6,
            "a preview takes the newest"
        );
    }

    /// Takes frames from `hub` with `cursor` until none is ready; returns
    /// the sequence numbers taken.
    fn take_ready(hub: &Hub, cursor: &mut Cursor) -> Vec<u64> {
        let mut state = hub.lock();
        std::iter::from_fn(|| Hub::pick(&mut state, cursor).map(|p| p.seq)).collect()
    }

    #[test]
    fn a_viewer_a_little_behind_gets_every_frame_in_order() {
        let hub = Arc::new(Hub::with_lag(Lag::INTER));
        let _watching = hub.watch();
        let mut cursor = Cursor::new();
        for seq in 0..3 {
            hub.publish(packet_of(seq, layered(seq)));
        }
        // Frame 0 is 67 ms older than the newest: within the soft lag.
        assert_eq!(take_ready(&hub, &mut cursor), vec![0, 1, 2]);
    }

    #[test]
    fn a_viewer_further_behind_drops_the_top_layers_and_catches_up() {
        let hub = Arc::new(Hub::with_lag(Lag::INTER));
        let _watching = hub.watch();
        let mut cursor = Cursor::new();
        hub.publish(packet_of(0, layered(0)));
        assert_eq!(take_ready(&hub, &mut cursor), vec![0]);
        for seq in 1..=9 {
            hub.publish(packet_of(seq, layered(seq)));
        }
        // 1 (T2), 2 (T1) and 3 (T2) are over 100 ms behind frame 9 and
        // droppable; 4 (T0) is needed; from 6 on all are within 100 ms.
        assert_eq!(take_ready(&hub, &mut cursor), vec![4, 6, 7, 8, 9]);
        assert!(!hub.take_keyframe_request(), "nothing was lost");
    }

    #[test]
    fn a_viewer_too_far_behind_waits_for_a_keyframe_and_asks_for_one() {
        let hub = Arc::new(Hub::with_lag(Lag::INTER));
        let _watching = hub.watch();
        let mut cursor = Cursor::new();
        hub.publish(packet_of(0, layered(0)));
        assert_eq!(take_ready(&hub, &mut cursor), vec![0]);
        for seq in 1..=20 {
            hub.publish(packet_of(seq, layered(seq)));
        }
        // Frame 4, a base-layer frame, is 533 ms behind: past the hard
        // lag, so everything after it is undecodable.
        assert_eq!(take_ready(&hub, &mut cursor), Vec::<u64>::new());
        assert!(hub.take_keyframe_request());
        hub.publish(packet_of(21, FrameKind::KEY));
        assert_eq!(take_ready(&hub, &mut cursor), vec![21]);
    }

    #[test]
    fn the_backlog_is_bounded_and_keyframe_codecs_keep_only_the_newest() {
        let hub = Arc::new(Hub::with_lag(Lag::INTER));
        for seq in 0..100 {
            hub.publish(packet(seq));
        }
        assert_eq!(hub.lock().backlog.len(), limits::BACKLOG_FRAMES);
        let hub = Arc::new(Hub::for_codec(Codec::Jpeg));
        let _watching = hub.watch();
        for seq in 0..5 {
            hub.publish(packet(seq));
        }
        assert_eq!(hub.lock().backlog.len(), 1);
        assert_eq!(take_ready(&hub, &mut Cursor::new()), vec![4]);
    }

    #[test]
    fn a_viewer_taking_fewer_layers_leaves_the_rest_out_without_falling_behind() {
        let hub = Arc::new(Hub::with_lag(Lag::INTER));
        let _watching = hub.watch();
        let mut cursor = Cursor::new();
        cursor.set_layers(2);
        let mut took = Vec::new();
        for seq in 0..12 {
            hub.publish(packet_of(seq, layered(seq)));
            took.extend(take_ready(&hub, &mut cursor));
        }
        assert_eq!(took, vec![0, 2, 4, 6, 8, 10], "T2 left out");
        assert_eq!(
            cursor.skipped_count(),
            0,
            "leaving out is not falling behind"
        );
        cursor.set_layers(0);
        for seq in 12..30 {
            hub.publish(packet_of(
                seq,
                if seq == 20 {
                    FrameKind::KEY
                } else {
                    layered(seq)
                },
            ));
            took.extend(take_ready(&hub, &mut cursor));
        }
        assert_eq!(&took[6..], &[20], "keyframes only");
        cursor.set_layers(LAYERS as u8);
        hub.publish(packet_of(30, FrameKind::delta(2)));
        assert_eq!(
            take_ready(&hub, &mut cursor),
            Vec::<u64>::new(),
            "T2 needs the T1 left out"
        );
        hub.publish(packet_of(31, FrameKind::KEY));
        hub.publish(packet_of(32, FrameKind::delta(2)));
        assert_eq!(take_ready(&hub, &mut cursor), vec![31, 32]);
    }

    #[test]
    fn a_viewer_that_keeps_asking_for_keyframes_asks_less_and_less_often() {
        let mut cursor = Cursor::new();
        let start = Instant::now();
        let asks: Vec<u64> = (0..60_000)
            .step_by(33)
            .filter(|&ms| cursor.may_ask(start + Duration::from_millis(ms)))
            .collect();
        let gaps: Vec<u64> = asks.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps[0] >= 750 && gaps[0] < 800, "{gaps:?}");
        assert!(gaps.windows(2).all(|g| g[1] >= g[0]), "{gaps:?}");
        assert!(
            gaps.iter()
                .all(|&g| g < limits::MAX_KEYFRAME_BACKOFF.as_millis() as u64 + 40),
            "{gaps:?}"
        );
        let most = 60 / limits::MAX_KEYFRAME_BACKOFF.as_secs() + 3;
        assert!(asks.len() as u64 <= most, "{asks:?}");
    }

    #[test]
    fn layer_rates_come_from_the_frames_held_keyframes_aside() {
        let hub = Hub::with_lag(Lag::INTER);
        for seq in 0..30u64 {
            let kind = layered(seq);
            let bytes = if kind.key {
                50_000
            } else {
                [4000, 2500, 1750][usize::from(kind.layer)]
            };
            hub.publish(Packet {
                data: Arc::from(vec![0; bytes]),
                ..packet_of(seq, kind)
            });
        }
        let rates = hub.layer_rates();
        assert_eq!(rates.layers, 3);
        // One second: 8 base-layer frames (the keyframe counted as 4000
        // bytes), 7 of 2500 bytes and 15 of 1750.
        let expected = [256_000.0, 396_000.0, 606_000.0];
        for (got, want) in rates.cumulative.iter().zip(expected) {
            assert!((*got as f64 - want).abs() < want * 0.02, "{rates:?}");
        }
    }
}
