//! What a viewer thread follows of its link between frames: what the link
//! carries while data waits (from `TCP_INFO`, or from how the writes
//! went), which temporal layers the viewer takes (`flow::layers`), what it
//! reports to the bitrate law (`flow::rate`), and its unsent limit.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::viewer::{Conn, Far};
use crate::console;
use crate::flow;
use crate::flow::ack_lag::{AckLag, BEHIND_LIMIT};
use crate::flow::hub::{Cursor, Hub};
use crate::flow::layers::{FIT, LayerCap, LayerRates, Seen};
use crate::flow::rate::Report;
use crate::flow::stuck::{self, Counts};
use crate::link::net;
use crate::link::tcpinfo;
use crate::media::codec;
use crate::wire::StreamInfo;

/// What a viewer thread follows of its link between frames.
pub(super) struct LinkWatch<'a> {
    conn: Conn<'a>,
    info: StreamInfo,
    /// Who the viewer is, as `--verbose` names it (`viewer ADDR`).
    peer: String,
    /// Frames the viewer had skipped at the last report.
    skipped: u64,
    /// The bitrate its unsent limit was last set for.
    limit_kbit: Option<u32>,
    /// The temporal layers it takes.
    cap: LayerCap,
    /// Since when data has waited unsent: the link was busy since, so
    /// what it acknowledged since is what it carries.
    busy: Option<Busy>,
    /// How its writes went, for where the kernel says nothing.
    writes: Writes,
    /// What its link acknowledged lately.
    carried: Carried,
    /// Whether to read the kernel's `TCP_INFO` (else only `writes`).
    kernel: bool,
    /// The kernel's counts at the last report, for the hub to measure a
    /// write that waits from (see `flow::stuck`).
    counts: Option<Counts>,
    /// What `--verbose` last said: when, the layers and the link's rate.
    told: Option<(Instant, u8, Option<u64>)>,
    /// How far behind the stream's rate its link acknowledges (a viewer
    /// of a one-way stream, where the kernel says).
    lag: AckLag,
    /// The frame about to be written: when, the kernel's counts of bytes
    /// acknowledged and waiting then, and the rate it is sent for.
    pending: Option<Pending>,
    /// Whether the viewer is held to the base layer while its link is
    /// behind (see [`LinkWatch::before_sending`]).
    held: bool,
    /// How far behind the link was before the last frame.
    was_behind: Duration,
}

/// The frame about to be written, for [`AckLag::wrote`].
#[derive(Debug, Clone, Copy)]
struct Pending {
    at: Instant,
    acked: u64,
    queued: u64,
    bps: u64,
}

/// How long a frame may wait in the hub for this viewer, after newer ones
/// came, before its link counts as backed up: a frame and a half at 30 fps.
const LATE: Duration = Duration::from_millis(50);

/// How far behind the stream's rate a link must fall (see `flow::ack_lag`)
/// for its viewer to be held to the base layer until it is back within
/// [`BEHIND_LIMIT`]: a link that narrowed under the stream, not a probe of
/// the bitrate a little past the link, which the bitrate law undoes.
const HOLD_BEHIND: Duration = Duration::from_millis(150);

/// Falling behind by this much more from one frame to the next also holds
/// a viewer past [`BEHIND_LIMIT`] to the base layer, without waiting for
/// [`HOLD_BEHIND`]: the link carries a fraction of the rate (on one of a
/// quarter of it, each 8 kB frame adds 100 ms), and every frame written
/// meanwhile waits behind the others. A probe half as much again as the
/// link adds 25 ms with a 5 kB frame.
const FALLING: Duration = Duration::from_millis(50);

/// A frame's write that took this long waited for the link: the kernel's
/// unsent limit was reached.
const WRITE_WAITED: Duration = Duration::from_millis(5);

/// What a viewer's writes showed of its link, where the kernel says
/// nothing (no `TCP_INFO`): a write that had to wait means the unsent
/// limit was full, so data waited; and while it waits the kernel takes
/// new bytes only as fast as the link carries them, so the bytes written
/// stand for the bytes acknowledged.
#[derive(Debug, Default, Clone, Copy)]
struct Writes {
    /// Bytes written in all.
    written: u64,
    /// Whether the last frame's write waited.
    waited: bool,
}

impl Writes {
    /// Counts a frame of `bytes` whose write took `took`.
    fn wrote(&mut self, bytes: u64, took: Duration) {
        self.written += bytes;
        self.waited = took >= WRITE_WAITED;
    }

    /// What the writes say, as the kernel would: no delivery rate or round
    /// trip of its own (its rate comes from the bytes written while busy).
    fn sample(&self) -> tcpinfo::TcpSample {
        tcpinfo::TcpSample {
            delivery_rate: 0,
            app_limited: !self.waited,
            notsent: u32::from(self.waited),
            rtt_us: 0,
            min_rtt_us: 0,
            bytes_acked: self.written,
            rwnd_limited_us: 0,
        }
    }
}

/// The shortest busy time over which acknowledged bytes measure a link.
const BUSY_SAMPLE: Duration = Duration::from_millis(100);

/// Where a link's busy time began: when, and the peer's counts then.
#[derive(Debug, Clone, Copy)]
struct Busy {
    since: Instant,
    /// Bytes acknowledged by then.
    acked: u64,
    /// Time spent waiting on the peer's receive window by then.
    rwnd_limited_us: u64,
}

impl Busy {
    fn at(now: Instant, sample: &tcpinfo::TcpSample) -> Self {
        Busy {
            since: now,
            acked: sample.bytes_acked,
            rwnd_limited_us: sample.rwnd_limited_us,
        }
    }
}

/// The time over which [`LinkWatch`] counts what its link carried for the
/// bitrate law (see `rate::Report::carried_bps`): long enough that a
/// shaper's burst is a small part of it.
const CARRIED_OVER: Duration = Duration::from_secs(1);

/// What `flow::stuck` needs of a `TCP_INFO` sample.
fn stuck_sample(sample: &tcpinfo::TcpSample) -> stuck::Sample {
    stuck::Sample {
        notsent: sample.notsent,
        rtt_us: sample.rtt_us,
        min_rtt_us: sample.min_rtt_us,
        bytes_acked: sample.bytes_acked,
        rwnd_limited_us: sample.rwnd_limited_us,
    }
}

/// What a link acknowledged over the last [`CARRIED_OVER`].
#[derive(Debug, Default)]
struct Carried {
    /// Bytes acknowledged at each count over that time and one before,
    /// oldest first.
    acked: VecDeque<(Instant, u64)>,
}

impl Carried {
    /// Counts `acked` bytes acknowledged by `now`; returns the bits a
    /// second acknowledged over the last [`CARRIED_OVER`], or nothing
    /// before half of that was seen.
    fn count(&mut self, now: Instant, acked: u64) -> Option<u64> {
        self.acked.push_back((now, acked));
        flow::keep_last(&mut self.acked, now, CARRIED_OVER);
        let &(since, acked_then) = self.acked.front()?;
        let span = now.duration_since(since);
        (span >= CARRIED_OVER / 2)
            .then(|| (acked.saturating_sub(acked_then) as f64 * 8.0 / span.as_secs_f64()) as u64)
    }
}

/// Waiting on the peer's receive window for this long in a busy time
/// means the viewer stopped reading (a stopped process, a closed lid):
/// the rates measured before say nothing of its link.
const STALLED: Duration = Duration::from_millis(500);

impl<'a> LinkWatch<'a> {
    pub(super) fn new(conn: Conn<'a>, cursor: &Cursor, info: StreamInfo) -> Self {
        LinkWatch {
            conn,
            info,
            peer: conn.far.named(conn.stream.peer_addr().ok()),
            skipped: cursor.skipped_count(),
            limit_kbit: None,
            cap: LayerCap::new(Instant::now()),
            busy: None,
            writes: Writes::default(),
            carried: Carried::default(),
            kernel: tcpinfo::wanted(),
            counts: None,
            told: None,
            lag: AckLag::default(),
            pending: None,
            held: false,
            was_behind: Duration::ZERO,
        }
    }

    /// Reports the link to the hub, just before the next frame goes (which
    /// waited `behind` its newest): a link that keeps up has sent the last
    /// frame by now (nothing waits unsent), and the viewer neither skipped
    /// frames to get here nor is it far behind the newest, nor are its
    /// frames acknowledged later than the stream's rate allows (see
    /// `flow::ack_lag`). Then sets the layers the viewer takes, and the
    /// unsent limit for the bitrate when that changed.
    ///
    /// A link that falls far behind the rate has narrowed under the
    /// stream: until it catches up, the viewer takes the base layer only,
    /// whatever else it takes, so that what is queued drains while the
    /// bitrate comes down.
    pub(super) fn before_sending(&mut self, hub: &Hub, cursor: &mut Cursor, behind: Duration) {
        let kernel = self
            .kernel
            .then(|| tcpinfo::sample(self.conn.stream))
            .flatten();
        self.counts = kernel.as_ref().map(|k| Counts::from(&stuck_sample(k)));
        let sample = kernel.unwrap_or_else(|| self.writes.sample());
        let now = Instant::now();
        let skipped = cursor.skipped_count();
        // Late: frames were passed over, or this one waited in the hub
        // while newer ones came.
        let late = skipped > self.skipped || behind >= LATE;
        self.skipped = skipped;
        // (In a chat the way back carries the other end's video, and the
        // acknowledgements wait behind it.)
        let follows_acks = kernel.is_some() && self.conn.far == Far::Viewer;
        let link_behind = match follows_acks {
            true => self.lag.behind(
                now,
                sample.bytes_acked,
                Duration::from_micros(u64::from(sample.min_rtt_us)),
            ),
            false => Duration::ZERO,
        };
        let lagging = link_behind > BEHIND_LIMIT;
        let falling = link_behind.saturating_sub(self.was_behind) >= FALLING;
        self.was_behind = link_behind;
        self.held = match self.held {
            true => lagging,
            false => link_behind > HOLD_BEHIND || (lagging && falling),
        };
        let waiting = sample.notsent > 0 || lagging;
        let measured = self.measure(now, waiting, &sample);
        let link_bps = match measured {
            Measured::Rate(bps) => Some(bps),
            Measured::Nothing | Measured::PeerHeld(_) => None,
        };
        // What waited for the peer to read says nothing of its link: its
        // layers stay as they are, and the kernel's sample is no capacity.
        let peer_held = matches!(measured, Measured::PeerHeld(_));

        let rates = hub.layer_rates();
        let seen = Seen {
            backed_up: waiting || late,
            link_bps,
            others_clear: hub.others_clear(self.conn.id),
        };
        if !peer_held {
            self.cap.update(now, seen, rates);
        }
        if rates.layers > 0 {
            let layers = match self.held {
                true => self.cap.taken(rates.layers).min(1),
                false => self.cap.taken(rates.layers),
            };
            if layers != cursor.layers().min(rates.layers) {
                cursor.set_layers(layers);
            }
        }
        self.tell(now, cursor.layers().min(rates.layers), rates, link_bps);
        // A viewer that leaves out layers cannot take the whole stream:
        // the bitrate law must not count it as clear. (Held to the base
        // layer while behind, it is backed up, not slower.)
        let capped = rates.layers > 0 && self.cap.taken(rates.layers) < rates.layers;
        let rtt_queue =
            Duration::from_micros(u64::from(sample.rtt_us.saturating_sub(sample.min_rtt_us)));
        hub.report(
            self.conn.id,
            Report {
                // What the link acknowledged while busy, where measured:
                // steadier than the kernel's latest sample, and all there
                // is where the kernel says nothing.
                delivery_bps: link_bps.unwrap_or(sample.delivery_rate.saturating_mul(8)),
                // (Behind with nothing unsent, the kernel's latest sample
                // was taken over a few acknowledgements of a link that
                // just changed: no capacity.)
                app_limited: link_bps.is_none()
                    && (sample.app_limited || peer_held || (lagging && sample.notsent == 0)),
                backed_up: waiting || late || capped,
                // (In a chat the way back carries the other end's video.)
                ours: waiting || self.conn.far == Far::Viewer,
                // What is late in the kernel's queues counts as queued in
                // the network: on a shaper that drops rather than queues,
                // the round trip never shows it.
                queue_delay: rtt_queue.max(link_behind),
                behind: link_behind,
                base_fits_kbit: self.base_fits_kbit(now, capped, rates),
                carried_bps: self.carried.count(now, sample.bytes_acked),
            },
        );
        let sent_for = self.sent_for_kbit(hub, now, capped);
        self.pending = sent_for
            .filter(|_| follows_acks)
            .zip(tcpinfo::unacked(self.conn.stream))
            .map(|(kbit, queued)| Pending {
                at: now,
                acked: sample.bytes_acked,
                queued: u64::from(queued),
                bps: u64::from(kbit) * 1000,
            });
        self.follow_unsent_limit(sent_for);
    }

    /// What the link carried while busy, measured from `sample` at `now`
    /// (`waiting`: data waits unsent).
    fn measure(&mut self, now: Instant, waiting: bool, sample: &tcpinfo::TcpSample) -> Measured {
        if !waiting {
            self.busy = None;
        }
        let busy = *self.busy.get_or_insert_with(|| Busy::at(now, sample));
        let measured = link_rate(now, busy, waiting, sample);
        if let Measured::PeerHeld(held) = measured {
            // Measured again from here; a stall also makes the rates
            // measured before it worthless.
            self.busy = Some(Busy::at(now, sample));
            if held >= STALLED {
                self.cap.forget_rate();
            }
        }
        measured
    }

    /// The bitrate, in kbit/s, this viewer is sent: the encoder's, or
    /// what its link carries when it takes less (`capped`).
    fn sent_for_kbit(&self, hub: &Hub, now: Instant, capped: bool) -> Option<u32> {
        match (hub.target_kbit(), self.cap.believed(now)) {
            (Some(kbit), Some(bps)) if capped => Some(kbit.min((bps / 1000) as u32).max(1)),
            (target, _) => target,
        }
    }

    /// Sets the unsent limit for the bitrate this viewer is sent.
    fn follow_unsent_limit(&mut self, target: Option<u32>) {
        // (Set again only when it moved by a fifth: a socket option a frame
        // would be a waste.)
        let moved = match (self.limit_kbit, target) {
            (Some(was), Some(now)) => was.abs_diff(now) * 5 > was,
            (was, now) => was != now,
        };
        if moved && let Some(kbit) = target {
            let limit = codec::unsent_limit(self.info.codec, kbit);
            let _ = net::limit_unsent(self.conn.stream, limit);
            self.limit_kbit = target;
        }
    }

    /// Has the hub follow this viewer's writes while they wait (see
    /// `flow::stuck`), where the kernel says how they go. Not in a chat:
    /// there the way back carries the other end's video, and a write may
    /// wait for acknowledgements queued behind it when this way is wide
    /// (each end measures between its frames only, as it did before).
    pub(super) fn follow_writes(&self, hub: &Hub) {
        if self.kernel
            && self.conn.far == Far::Viewer
            && let Ok(socket) = self.conn.stream.try_clone()
        {
            let ask = move || tcpinfo::sample(&socket).as_ref().map(stuck_sample);
            hub.follow_writes(self.conn.id, Box::new(ask));
        }
    }

    /// A frame's write begins.
    pub(super) fn writing(&self, hub: &Hub) {
        hub.writing(self.conn.id, self.counts);
    }

    /// Counts a frame of `bytes` whose write took `took`.
    pub(super) fn wrote(&mut self, hub: &Hub, bytes: u64, took: Duration) {
        hub.writing(self.conn.id, None);
        self.writes.wrote(bytes, took);
        if let Some(p) = self.pending.take() {
            self.lag.wrote(p.at, p.acked, p.queued, bytes, p.bps);
        }
    }

    /// For a viewer that leaves out layers, the encoder's bitrate at which
    /// the base layer would fit in [`FIT`] of what its link was measured
    /// to carry (lately: see [`LayerCap::believed`]).
    fn base_fits_kbit(&self, now: Instant, capped: bool, rates: LayerRates) -> Option<u32> {
        let link_bps = self.cap.believed(now).filter(|_| capped)?;
        let whole = rates.cumulative[usize::from(rates.layers).checked_sub(1)?];
        // The base layer's share of the stream is about the same at any
        // bitrate.
        let share = rates.cumulative[0] as f64 / whole.max(1) as f64;
        (share > 0.0).then(|| (link_bps as f64 * FIT / share / 1000.0) as u32)
    }

    /// Says (with `--verbose`, or on a terminal) what this viewer's link
    /// carries and which layers it takes, when the layers change or the
    /// rate moves by a third, at most once a second for the rate alone.
    fn tell(&mut self, now: Instant, layers: u8, rates: LayerRates, link_bps: Option<u64>) {
        if rates.layers == 0 {
            return;
        }
        let due = match self.told {
            None => layers < rates.layers,
            Some((at, told_layers, told_bps)) => {
                let moved = match (told_bps, link_bps) {
                    (Some(a), Some(b)) => a.abs_diff(b) * 3 > a,
                    (None, Some(_)) => true,
                    _ => false,
                };
                told_layers != layers || (moved && now.duration_since(at) >= Duration::from_secs(1))
            }
        };
        if !due {
            return;
        }
        let rate = link_bps.map_or_else(
            || "rate not measured".to_string(),
            |bps| format!("its link carries {:.2} Mbit/s", bps as f64 / 1e6),
        );
        let takes = match layers {
            0 => "keyframes only".to_string(),
            n if n >= rates.layers => "every frame".to_string(),
            n => format!(
                "temporal layers 0-{} (1 frame in {})",
                n - 1,
                1u32 << (rates.layers - n)
            ),
        };
        console::info(&format!("{}: {rate}; takes {takes}", self.peer));
        self.told = Some((now, layers, link_bps));
    }
}

/// What a busy time measured of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Measured {
    /// It carried this many bits a second.
    Rate(u64),
    /// Nothing yet: not busy, or not for long enough.
    Nothing,
    /// The peer, not the link, held data for most of it (this long): its
    /// receive window was full because it read slowly or not at all.
    PeerHeld(Duration),
}

/// What a link carried while it was busy: the bytes acknowledged since
/// data began to wait (`busy`), once that is long enough to measure. (The
/// kernel's own delivery rate is no help here: on a shaped link its
/// samples, taken over a few acknowledgements, ranged from a tenth of the
/// link to thousands of times it.)
fn link_rate(now: Instant, busy: Busy, waiting: bool, sample: &tcpinfo::TcpSample) -> Measured {
    let busy_for = now.duration_since(busy.since);
    if !waiting || busy_for < BUSY_SAMPLE {
        return Measured::Nothing;
    }
    let held = Duration::from_micros(sample.rwnd_limited_us.saturating_sub(busy.rwnd_limited_us));
    if held * 2 >= busy_for {
        return Measured::PeerHeld(held);
    }
    let bits = sample
        .bytes_acked
        .saturating_sub(busy.acked)
        .saturating_mul(8);
    if bits == 0 {
        return Measured::Nothing;
    }
    Measured::Rate((bits as f64 / busy_for.as_secs_f64()) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(acked: u64, rwnd_limited_ms: u64) -> tcpinfo::TcpSample {
        tcpinfo::TcpSample {
            delivery_rate: 0,
            app_limited: false,
            notsent: 1000,
            rtt_us: 0,
            min_rtt_us: 0,
            bytes_acked: acked,
            rwnd_limited_us: rwnd_limited_ms * 1000,
        }
    }

    #[test]
    fn a_chat_speaks_of_its_caller_and_its_call_not_of_viewers() {
        let addr = Some(std::net::SocketAddr::from(([10, 0, 0, 1], 5555)));
        assert_eq!(Far::Viewer.named(addr), "viewer 10.0.0.1:5555");
        assert_eq!(Far::Caller.named(addr), "caller 10.0.0.1:5555");
        assert_eq!(Far::Call.named(addr), "the call");
        assert_eq!(Far::Caller.named(None), "caller");
    }

    #[test]
    fn a_busy_link_is_measured_by_what_it_acknowledged() {
        let start = Instant::now();
        let busy = Busy::at(start, &sample(10_000, 0));
        let now = start + Duration::from_millis(200);
        // 25 kB in 0.2 s: 1 Mbit/s.
        assert_eq!(
            link_rate(now, busy, true, &sample(35_000, 0)),
            Measured::Rate(1_000_000)
        );
        assert_eq!(
            link_rate(
                start + Duration::from_millis(50),
                busy,
                true,
                &sample(35_000, 0)
            ),
            Measured::Nothing,
            "too short to measure"
        );
        assert_eq!(
            link_rate(now, busy, false, &sample(35_000, 0)),
            Measured::Nothing,
            "not busy"
        );
    }

    #[test]
    fn what_a_link_carried_is_counted_over_the_last_second() {
        let start = Instant::now();
        let mut carried = Carried::default();
        let at = |ms| start + Duration::from_millis(ms);
        assert_eq!(carried.count(start, 0), None);
        assert_eq!(carried.count(at(400), 50_000), None, "too soon to say");
        // 125 kB a second for the first 1.5 s, then 25 kB a second.
        for ms in (500..=1500).step_by(100) {
            carried.count(at(ms), ms * 125);
        }
        assert_eq!(carried.count(at(1500), 187_500), Some(1_000_000));
        let mut last = None;
        for ms in (1600..=2500).step_by(100) {
            last = carried.count(at(ms), 187_500 + (ms - 1500) * 25);
        }
        assert_eq!(last, Some(200_000), "the first second is forgotten");
    }

    #[test]
    fn a_viewer_that_stopped_reading_is_not_taken_for_a_slow_link() {
        let start = Instant::now();
        let busy = Busy::at(start, &sample(10_000, 40));
        // Three seconds on, two and a half of them waiting on its window:
        // the few bytes it took say nothing of its link.
        let now = start + Duration::from_secs(3);
        assert_eq!(
            link_rate(now, busy, true, &sample(12_000, 2540)),
            Measured::PeerHeld(Duration::from_millis(2500))
        );
    }
}
