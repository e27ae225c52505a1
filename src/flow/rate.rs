//! The control law that sets the encoder's bitrate from what each viewer's
//! link carries.
//!
//! Each viewer thread reports, just before each frame it sends, what it
//! saw of its connection ([`Report`]): what the link carried, whether that
//! was limited by the video rather than the network, and whether data is
//! waiting unsent (`session::link_watch` measures it from `TCP_INFO`, or from
//! its writes). A sample taken while the sender had nothing to send
//! (app-limited) says only that the link carried what it was given; one
//! taken while data waited is the link's capacity, as BBR measures it. A
//! viewer that sends nothing for [`SILENT_AFTER`] (it takes keyframes
//! only, or its peer stopped reading) says nothing of its link: it counts
//! as neither clear nor backed up. While a viewer thread waits in a write,
//! the capture thread reports for it what its link carried since the
//! write began (`flow::stuck`). The round trip's queue counts as the
//! stream's own only when most reports say it can be ([`Report::ours`]:
//! in a chat, the way back queues the other end's video).
//!
//! The law ([`RateControl`]), in the spirit of OBS's dynamic bitrate with
//! BBR's bandwidth estimate:
//! - **Down, at once.** When the viewer that can take the most is backed
//!   up, the target drops to [`HEADROOM`] of the best capacity it showed
//!   over the last [`WINDOW`] (since it was last clear for
//!   [`AFRESH_AFTER`]), at most once every [`DOWN_HOLD`]: the queue it
//!   built drains while the encoder makes less.
//! - **Up, carefully, then faster.** When some viewer has been clear
//!   (nothing waiting, no more than [`PROBE_QUEUE`] in the network's
//!   queues) for a whole [`PROBE_EVERY`], the target rises by
//!   [`PROBE_STEP`], up to the ceiling (`--bitrate`); each probe that
//!   passes makes the next step half as large again, up to
//!   [`MAX_PROBE_STEP`], so that a link that widened from 0.5 to 3 Mbit/s
//!   is filled in seconds, not half a minute. A probe that builds a queue
//!   is undone as soon as a queue shows, before [`PROBE_EVERY`] is out:
//!   the target goes back to where it went out clear, and the step starts
//!   small again. A keyframe's burst is no sign of a failed probe: for
//!   [`KEYFRAME_BURST`] after one, no probe is undone (the rules above
//!   still hold).
//! - **Past a known limit, only on evidence.** The capacity the target
//!   last came down from, or the lowest level a probe was undone at since,
//!   is the link's limit. The probes climb no higher than [`SHORT_OF`]
//!   it, then go straight to [`PROBE_PAST`] it (BBR probes at a quarter above its
//!   estimate), and no further until, since the target went there, some
//!   viewer's link, clear, carried [`WIDER`] than the limit on average
//!   over [`WIDER_FOR`] with hardly any queue ([`WIDER_QUEUE`]) all that
//!   while: the encoder makes about a tenth less than its
//!   target, so a probe just past the link can go out clear (the next
//!   from there built a queue of a quarter of a second), and a shaper's
//!   bucket lets even a probe well past it out clear for a second or so.
//!   A probe past the limit stays on trial (undone when a queue shows)
//!   until that evidence comes; after it, each probe doubles the target
//!   ([`WIDER_STEP`]) every [`STARTUP_EVERY`], as BBR's startup does,
//!   until one fails. A limit holds for [`LIMIT_FOR`] after it was set or
//!   last confirmed (a probe past it undone, or brought down behind a
//!   keyframe's burst, when what the link carried reads low), and not for
//!   the next viewer once every viewer has left. An undo goes on down the
//!   ladder of probes only while the queue has not shrunk since the last
//!   one, and no lower than [`SHORT_OF`] the limit: once the queue drains,
//!   the target is below the link, and a queue that stays below the limit
//!   says the link narrowed, which the way down follows (soon after an
//!   undo, only while the queue drains, then back to where the undo went:
//!   the queue the failed probe left reads the link low).
//! - **Drain what the network holds.** A loss-based TCP fills whatever
//!   buffer the path has (a router's queue can hold seconds); the round
//!   trip above its minimum says how much. When it passes [`QUEUE_LIMIT`],
//!   the target drops to [`DRAIN`] of the capacity until the queue is
//!   gone, as BBR drains after its startup, and then goes back to
//!   [`HEADROOM`] of that capacity (no higher than the last target that
//!   went out clear).
//! - **A queue that stands is no burst.** A shaper lets a burst through
//!   after each idle moment, so a short busy time can read a third above
//!   the link, and a target set from it keeps a queue standing. Once the
//!   queue has stayed above [`QUEUE_LIMIT`] for [`STANDING`] while this
//!   stream's own data waited, what the link acknowledged over the last
//!   second is its capacity: the target drains from that, and for
//!   [`KNOWN_FOR`] no sample may claim more, until a probe past it goes
//!   out clear. (Probes may still pass it: holding them to it cost a link
//!   that widened from 0.5 to 3 Mbit/s two more seconds to fill.)
//! - **The encoder follows the viewers that can take the most**: one slow
//!   viewer does not lower the picture for the others; it leaves out
//!   temporal layers instead (`flow::layers`). But they give up to
//!   [`SPARE`] of their bitrate so that its base layer fits its link: a
//!   viewer on a link of half the stream then keeps a quarter of the
//!   frames, fresh, instead of falling to keyframes only. Once given, the
//!   spare stays while the base layer nearly fits ([`SPARE_KEPT`]) and
//!   through a short time unmeasured ([`BASE_FITS_FOR`]).
//!
//! Everything here runs on times given to it, so tests drive it on a
//! simulated clock.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::flow;
use crate::flow::layers::FIT;

/// The share of a measured capacity the target is set to.
pub const HEADROOM: f64 = 0.85;
/// How long a capacity sample counts.
pub const WINDOW: Duration = Duration::from_secs(2);
/// The shortest time between two decreases.
pub const DOWN_HOLD: Duration = Duration::from_millis(400);
/// How long every frame must have gone out clear before a probe up.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);
/// How much the first probe after a decrease raises the target.
pub const PROBE_STEP: f64 = 0.15;
/// The largest step a run of passing probes grows to.
pub const MAX_PROBE_STEP: f64 = 0.6;
/// Queueing delay in the path (round trip above its minimum) beyond
/// which the target drains the queue.
pub const QUEUE_LIMIT: Duration = Duration::from_millis(60);
/// Queueing delay in the path beyond which no probe up is made: a queue
/// that is building says the link is full, before it reaches
/// [`QUEUE_LIMIT`].
pub const PROBE_QUEUE: Duration = Duration::from_millis(30);
/// The share of the capacity the target drops to while draining.
pub const DRAIN: f64 = 0.5;
/// How long the network's queue must stay above [`QUEUE_LIMIT`] to count
/// as standing, not as a burst (a keyframe) on its way out.
pub const STANDING: Duration = Duration::from_millis(500);
/// How long what a link carried under a standing queue is believed: it
/// caps the capacity the short samples claim, until a probe past it goes
/// out clear.
pub const KNOWN_FOR: Duration = Duration::from_secs(10);
/// How long a link must have been clear for a new backlog on it to start
/// afresh, the capacities measured before it forgotten.
pub const AFRESH_AFTER: Duration = Duration::from_millis(500);
/// How far past the link's limit (see the module's description) a probe goes
/// to see whether the link has widened, as BBR's bandwidth probe sends at
/// a quarter above its estimate: far enough that the encoder, which
/// makes about a tenth less than its target, still offers [`WIDER`] than
/// the limit.
pub const PROBE_PAST: f64 = 1.4;
/// How much more than its limit a link must carry, with no queue, for
/// [`WIDER_FOR`], to count as wider: then the probes go on past it. The
/// limit is a capacity measured behind a queue, which can read a twentieth
/// low, and a shaper's bucket adds a tenth over a few seconds.
pub const WIDER: f64 = 1.2;
/// How long the link's limit holds once set or confirmed (a probe past it
/// undone): a link whose encoder cannot make enough to show it is wider
/// (a still picture, or a target given up for a slower viewer) is probed
/// as before after this.
pub const LIMIT_FOR: Duration = Duration::from_secs(15);
/// How long a link must carry [`WIDER`] than its limit: the counts of
/// the last second over this long, on average. A shaper's bucket lets a
/// probe past the link through for a while (the bench's 16 kB lets a
/// fifth more than 0.5 Mbit/s through for a second and a half); a wider
/// link does so for good.
pub const WIDER_FOR: Duration = Duration::from_millis(1500);
/// The most queueing delay a link may show, at any report over
/// [`WIDER_FOR`] (but in a keyframe's burst, [`KEYFRAME_BURST`], or of a
/// queue that is not this stream's), for what it carried to count as
/// [`WIDER`]: a link that
/// has widened carries the probe past its limit with no queue at all. A
/// limit measured low (0.38 Mbit/s on a 0.5 Mbit/s link, seen here)
/// lets a link that has not widened carry a fifth more than it for a
/// while, but the probe past it then builds a queue: 3 ms, then 12, then
/// 17 within the 0.4 s before the evidence would have come, and the
/// probes, doubling from there, built a 0.7 s backlog. (Below
/// [`PROBE_QUEUE`], which stops a probe: the queue starts to grow only
/// once the encoder fills the probe, a second after it.)
pub const WIDER_QUEUE: Duration = Duration::from_millis(10);
/// The step of each probe once a link has shown it is wider than its
/// limit, until one fails: each doubles the target, as BBR's startup
/// does, every [`STARTUP_EVERY`]. A probe far past the link builds its
/// queue within a few frames, and is undone as soon.
pub const WIDER_STEP: f64 = 1.0;
/// How long each such probe must go out clear before the next.
pub const STARTUP_EVERY: Duration = Duration::from_millis(500);
/// The most probes an undo can go back through (see
/// [`RateControl::undo_probe`]).
const LADDER: usize = 8;
/// The share of the link's limit that the probes go straight up to.
pub const SHORT_OF: f64 = 0.95;
/// How long after a keyframe its burst may queue without undoing a probe:
/// the 40 kB of a 720p keyframe take a third of a second at 1 Mbit/s.
pub const KEYFRAME_BURST: Duration = Duration::from_millis(400);
/// How long a viewer's last report counts: after that it is silent.
pub const SILENT_AFTER: Duration = Duration::from_secs(2);

/// The largest share of the target given up so that a slower viewer's base
/// layer fits its link.
pub const SPARE: f64 = 0.15;
/// Once given up, the spare is kept while the slower viewer's base layer
/// would fit at this share of the least it may be given: its share of the
/// stream moves with the picture, and a spare given and taken back each
/// time it crossed the line (ten times a second in a hard scene, seen
/// here) sent that viewer the bigger base layer just when it was biggest.
pub const SPARE_KEPT: f64 = 0.8;
/// How long a slower viewer's base-layer fit counts once its reports stop
/// saying (its link not measured while it tries another layer for half a
/// second, or it takes every layer again).
pub const BASE_FITS_FOR: Duration = Duration::from_secs(2);

/// The lowest target, in kbit/s: below it the picture is not worth having,
/// and a viewer that cannot take even this much gets keyframes only.
pub const FLOOR_KBIT: u32 = 150;

/// What a viewer thread saw of its connection after sending a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// What the link carried, in bits a second.
    pub delivery_bps: u64,
    /// Whether that rate was limited by what the sender had to send.
    pub app_limited: bool,
    /// Whether data was waiting unsent, frames came late, or layers were
    /// being left out.
    pub backed_up: bool,
    /// Whether a queue the round trip shows can be this stream's own:
    /// always on a one-way stream, whose way back carries only
    /// acknowledgements; in a chat, whose way back carries the other end's
    /// video, only when data waited unsent (a queue on the way back slows
    /// the acknowledgements, and this end's data waits only now and then).
    pub ours: bool,
    /// How long data waits in the network's queues: the round trip above
    /// the smallest one seen, or how far behind the stream's rate the link
    /// acknowledges its frames, whichever is more.
    pub queue_delay: Duration,
    /// How far behind the stream's rate the link acknowledges its frames
    /// (`flow::ack_lag`; zero where that is not followed). Unlike the
    /// round trip, which a burst through a shaper's queue leaves high for
    /// a while, it allows for each frame's size: a keyframe is no sign.
    /// (From a write that waits, `flow::stuck`: how long it has waited,
    /// whatever the frame.)
    pub behind: Duration,
    /// For a viewer that leaves out layers: the bitrate, in kbit/s, at
    /// which the stream's base layer would fit its link.
    pub base_fits_kbit: Option<u32>,
    /// What the link acknowledged over about the last second, in bits a
    /// second, once that much was seen. While a queue stands in the
    /// network all that time the link was never idle, so this is its
    /// capacity: free of the bursts a shaper lets through after an idle
    /// moment, which make a short busy time's rate read high.
    pub carried_bps: Option<u64>,
}

/// What the law remembers of one viewer.
#[derive(Debug, Clone, Default)]
struct Viewer {
    /// Capacity samples (taken while backed up), newest last: when, bits
    /// a second, and whether it is only a bound (see [`Sample`]).
    capacity: Vec<(Instant, u64, Sample)>,
    /// When it was last backed up, if it ever was.
    backed_up_at: Option<Instant>,
    /// When it last reported, and whether it was backed up then.
    last_report: Option<(Instant, bool)>,
    /// When it was first seen.
    since: Option<Instant>,
    /// The network's queueing delay at the last report.
    queue_delay: Duration,
    /// How far behind its link was at the last report.
    behind: Duration,
    /// The bitrate at which its base layer would fit, from the last
    /// report that said, and when (see [`BASE_FITS_FOR`]).
    base_fits: Option<(Instant, u32)>,
    /// What its link acknowledged over about the last second, in bits a
    /// second, at each report over the last [`WIDER_FOR`] and one before,
    /// oldest first.
    carried: VecDeque<(Instant, u64)>,
    /// When the network last held more than [`PROBE_QUEUE`] of its data.
    queued_at: Option<Instant>,
    /// Since when every report has shown at most [`WIDER_QUEUE`].
    tight_since: Option<Instant>,
    /// Since when the network has held more than [`QUEUE_LIMIT`] of its
    /// data, without a break.
    queued_since: Option<Instant>,
    /// What its link carried under a standing queue, and when.
    known: Option<(Instant, u64)>,
    /// Reports since the queue passed [`PROBE_QUEUE`], and how many of
    /// them said it could be this stream's ([`Report::ours`]).
    queued_reports: (u32, u32),
    /// Whether the network holds more than [`QUEUE_LIMIT`] of this
    /// stream's own data (see [`RateControl::report`]).
    own_queue: bool,
}

impl Viewer {
    fn best_capacity(&self, now: Instant) -> Option<u64> {
        let recent = || {
            self.capacity
                .iter()
                .filter(|(at, _, _)| now.duration_since(*at) <= WINDOW)
        };
        // (A bound counts only while no sample in the window measured.)
        let best = recent()
            .filter(|&&(_, _, sample)| sample == Sample::Measured)
            .map(|&(_, bps, _)| bps)
            .max()
            .or_else(|| recent().map(|&(_, bps, _)| bps).max())?;
        Some(self.known(now).map_or(best, |known| best.min(known)))
    }

    /// Whether its link carried at least `bps` on average over the counts
    /// of the last [`WIDER_FOR`] (each of about the last second: the
    /// encoder's output moves by a sixth from one second to the next),
    /// all made at `since` or later, with no more than [`WIDER_QUEUE`]
    /// queued at any of them.
    fn carried_at_least(&self, now: Instant, bps: u64, since: Instant) -> bool {
        let counts = self.carried.len() as u64;
        let sum: u64 = self.carried.iter().map(|&(_, carried)| carried).sum();
        self.carried.front().is_some_and(|&(at, _)| {
            at >= since
                && now.duration_since(at) >= WIDER_FOR
                && self.tight_since.is_some_and(|tight| tight <= at)
        }) && sum >= bps.saturating_mul(counts)
    }

    /// What its link carried under a standing queue, while believed.
    fn known(&self, now: Instant) -> Option<u64> {
        self.known
            .filter(|&(at, _)| now.duration_since(at) < KNOWN_FOR)
            .map(|(_, bps)| bps)
    }

    /// Whether the viewer has gone clear for a whole probe period.
    fn clear_for_a_probe(&self, now: Instant) -> bool {
        let clear_since = self.backed_up_at.max(self.queued_at).or(self.since);
        self.standing(now) == Standing::Clear
            && clear_since.is_some_and(|at| now.duration_since(at) >= PROBE_EVERY)
    }

    /// What its reports say of its link at `now`.
    fn standing(&self, now: Instant) -> Standing {
        match self.last_report {
            Some((at, _)) if now.duration_since(at) >= SILENT_AFTER => Standing::Silent,
            None => Standing::Silent,
            Some((_, backed_up)) => {
                let lately = self
                    .backed_up_at
                    .is_some_and(|at| now.duration_since(at) < DOWN_HOLD);
                match backed_up || lately {
                    true => Standing::BackedUp,
                    false => Standing::Clear,
                }
            }
        }
    }
}

/// What a capacity sample is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sample {
    /// What the link carried, not limited by the sender.
    Measured,
    /// An app-limited sample taken while the stream's own queue grew: the
    /// most the link could carry. It counts for nothing while a measured
    /// one is in the window: the kernel's last such sample may be from
    /// before the link narrowed, taken over a few acknowledgements of a
    /// shaper's burst (5 Gbit/s on a veth seen here), and as the most in
    /// the window it held the law at the ceiling for a second on a link
    /// narrowed to a quarter.
    Bound,
}

/// What a viewer's reports say of its link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    /// It takes the whole stream, and did for the last [`DOWN_HOLD`].
    Clear,
    /// Data waits, or waited within [`DOWN_HOLD`], or it leaves out layers.
    BackedUp,
    /// No report for [`SILENT_AFTER`].
    Silent,
}

/// The link's limit (see the module's description).
#[derive(Debug, Clone, Copy)]
struct Limit {
    kbit: u32,
    /// When it was set or last confirmed (a probe past it undone, or
    /// brought down behind a keyframe's burst).
    at: Instant,
    /// When the target last went past it.
    past_at: Option<Instant>,
    /// When a probe past it was last undone (or brought down, as above).
    confirmed_at: Option<Instant>,
}

/// What the undos since the last other change of the target keep.
#[derive(Debug, Clone, Copy)]
struct Undo {
    /// How far behind the link was at the last one.
    behind: Duration,
    /// The lowest level they go back to: just short of the link's limit
    /// before the first.
    floor: u32,
}

/// The encoder's target, kept from every viewer's reports.
#[derive(Debug, Clone)]
pub struct RateControl {
    ceiling_kbit: u32,
    /// The target the law keeps.
    law_kbit: u32,
    /// What the encoder is given: the target, or up to [`SPARE`] less so
    /// that a slower viewer's base layer fits.
    given_kbit: u32,
    /// Whether the last update gave up some of the target for a slower
    /// viewer's base layer.
    sparing: bool,
    viewers: HashMap<u64, Viewer>,
    last_down: Option<Instant>,
    last_up: Option<Instant>,
    /// The next probe's step.
    step: f64,
    /// While the target drains the network's queue: the capacity it was
    /// drained from, in bits a second.
    draining: Option<u64>,
    /// For a drain soon after an undo: where it ends, the level the undo
    /// went back to (see [`RateControl::drained`]).
    drain_back: Option<u32>,
    /// The last target every frame went out clear at for a whole probe
    /// period: where a drain ends, unless the link carries less.
    clear_kbit: u32,
    /// When the last probe up (or undo of one) was made, while it is on
    /// trial.
    probe_at: Option<Instant>,
    /// The targets the probes since the last decrease rose from, lowest
    /// first: where each undo goes back to.
    ladder: Vec<u32>,
    /// The link's limit: the capacity the target last came down from (but
    /// behind a probe past it), or the lowest level a probe was undone at
    /// since (see the module's description).
    limit: Option<Limit>,
    /// While the last change was an undo: one that follows it, while the
    /// queue stays, goes down the ladder and leaves the limit alone (the
    /// queue is the first probe's).
    undo: Option<Undo>,
    /// Whether the probes double every [`STARTUP_EVERY`]: since a link
    /// showed it is wider than its limit, until a probe fails.
    startup: bool,
    /// When the last keyframe went out.
    keyframe_at: Option<Instant>,
}

impl RateControl {
    /// A law that starts at, and never passes, `ceiling_kbit`.
    pub fn new(ceiling_kbit: u32) -> Self {
        RateControl {
            ceiling_kbit,
            law_kbit: ceiling_kbit,
            given_kbit: ceiling_kbit,
            sparing: false,
            viewers: HashMap::new(),
            last_down: None,
            last_up: None,
            step: PROBE_STEP,
            draining: None,
            drain_back: None,
            clear_kbit: ceiling_kbit,
            probe_at: None,
            ladder: Vec::new(),
            limit: None,
            undo: None,
            startup: false,
            keyframe_at: None,
        }
    }

    /// The encoder's target now, in kbit/s.
    pub fn target_kbit(&self) -> u32 {
        self.given_kbit
    }

    /// Whether the link of the viewer that can take the most is narrower
    /// than the stream: the law holds the target below its ceiling, or a
    /// probe past the link's limit to the ceiling is on trial. A keyframe
    /// then holds up the frames behind it there. (A target given up for a
    /// slower viewer's base layer is no such link: that viewer leaves out
    /// layers.)
    pub fn narrow(&self) -> bool {
        self.law_kbit < self.ceiling_kbit || (self.limit.is_some() && self.probe_at.is_some())
    }

    /// Takes viewer `id`'s report made at `now`.
    pub fn report(&mut self, id: u64, now: Instant, report: Report) {
        let viewer = self.viewers.entry(id).or_default();
        viewer.since.get_or_insert(now);
        viewer.queue_delay = report.queue_delay;
        viewer.behind = report.behind;
        // (Kept when a report says nothing: `update` lets it run out.)
        if let Some(kbit) = report.base_fits_kbit {
            viewer.base_fits = Some((now, kbit));
        }
        // (A report from a write that waits carries none.)
        if let Some(bps) = report.carried_bps {
            viewer.carried.push_back((now, bps));
            flow::keep_last(&mut viewer.carried, now, WIDER_FOR);
        }
        if report.queue_delay > PROBE_QUEUE {
            viewer.queued_at = Some(now);
        }
        // (Not broken by a keyframe's burst, nor by a queue that is not
        // this stream's.)
        let burst = self
            .keyframe_at
            .is_some_and(|key| now.duration_since(key) < KEYFRAME_BURST);
        match report.queue_delay > WIDER_QUEUE {
            true if report.ours && !burst => viewer.tight_since = None,
            true => {}
            false => _ = viewer.tight_since.get_or_insert(now),
        }
        // (A queue is followed without a break: reports far apart say
        // nothing of the time between them.)
        let gap = viewer
            .last_report
            .is_some_and(|(at, _)| now.duration_since(at) >= STANDING);
        let (reports, ours) = match (report.queue_delay > PROBE_QUEUE, gap) {
            (true, false) => viewer.queued_reports,
            _ => (0, 0),
        };
        viewer.queued_reports = match report.queue_delay > PROBE_QUEUE {
            true => (
                reports.saturating_add(1),
                ours.saturating_add(u32::from(report.ours)),
            ),
            false => (0, 0),
        };
        if report.queue_delay <= QUEUE_LIMIT || gap {
            viewer.queued_since = None;
        }
        if report.queue_delay > QUEUE_LIMIT {
            viewer.queued_since.get_or_insert(now);
        }
        // A queue is this stream's when every report since it passed
        // [`PROBE_QUEUE`] said it could be, or most of three or more did
        // (see [`Report::ours`]); one that is not makes the
        // acknowledgements late, and what the link carried meanwhile says
        // nothing of it.
        let (reports, ours) = viewer.queued_reports;
        let ours = ours == reports || (reports >= 3 && ours.saturating_mul(2) >= reports);
        let foreign = report.queue_delay > PROBE_QUEUE && !ours;
        viewer.own_queue = report.queue_delay > QUEUE_LIMIT && ours;
        let standing = viewer.own_queue
            && viewer
                .queued_since
                .is_some_and(|since| now.duration_since(since) >= STANDING);
        let report = Report {
            backed_up: report.backed_up || viewer.own_queue,
            ..report
        };
        viewer
            .capacity
            .retain(|(at, _, _)| now.duration_since(*at) <= WINDOW);
        viewer.last_report = Some((now, report.backed_up));
        if report.backed_up {
            let afresh = viewer
                .backed_up_at
                .is_none_or(|at| now.duration_since(at) >= AFRESH_AFTER);
            if afresh {
                // What it carried before it went clear is past: the link
                // may just have narrowed under it.
                viewer.capacity.clear();
            }
            viewer.backed_up_at = Some(now);
            if let Some(carried) = report.carried_bps.filter(|&bps| standing && bps > 0) {
                // The queue stands: the stream does not fit, whatever the
                // short samples said, and what the link carried all this
                // while is its capacity.
                viewer.capacity.clear();
                viewer.capacity.push((now, carried, Sample::Measured));
                viewer.known = Some((now, carried));
                return;
            }
            // An app-limited sample says what the link carried of what it
            // was given; while the network's queue grows, that is more than
            // it can carry, so it is the capacity's upper bound, and
            // draining from it still drains. (Not behind a foreign queue.)
            if (!report.app_limited || viewer.own_queue) && !foreign && report.delivery_bps > 0 {
                let sample = match report.app_limited {
                    true => Sample::Bound,
                    false => Sample::Measured,
                };
                viewer.capacity.push((now, report.delivery_bps, sample));
            }
        }
    }

    /// Whether some viewer other than `id` is clear (the whole stream
    /// taken, nothing waiting for [`DOWN_HOLD`]) and not silent: then the
    /// target follows it, not `id`.
    pub fn others_clear(&self, id: u64, now: Instant) -> bool {
        self.viewers
            .iter()
            .any(|(&other, v)| other != id && v.standing(now) == Standing::Clear)
    }

    /// Whether every viewer's link has room to spare: the target is at the
    /// ceiling and every viewer is clear. A keyframe then costs nobody a
    /// stall.
    pub fn roomy(&self, now: Instant) -> bool {
        self.given_kbit == self.ceiling_kbit
            && self
                .viewers
                .values()
                .all(|v| v.standing(now) == Standing::Clear)
    }

    /// Counts a keyframe made at `now`: for [`KEYFRAME_BURST`] the queue it
    /// builds undoes no probe.
    pub fn keyframe(&mut self, now: Instant) {
        self.keyframe_at = Some(now);
    }

    /// Forgets viewer `id` (it left).
    pub fn forget(&mut self, id: u64) {
        self.viewers.remove(&id);
        if self.viewers.is_empty() {
            // The next viewer's link is another: nothing learnt holds.
            self.limit = None;
            self.startup = false;
            self.undo = None;
            self.ladder.clear();
            self.probe_at = None;
        }
    }

    /// Applies the law at `now`; returns the encoder's new target when it
    /// changed.
    pub fn update(&mut self, now: Instant) -> Option<u32> {
        if self.viewers.is_empty() {
            return None;
        }
        let before = self.given_kbit;
        self.follow(now);
        // Give up to SPARE of the target so that the slowest viewer
        // leaving out layers keeps its base layer (nothing when even that
        // would not make it fit, or once given, SPARE_KEPT of that), and
        // move only by a twentieth or more (each change is a line on the
        // console), never above the law.
        let target = self.law_kbit;
        let least = (f64::from(target) * (1.0 - SPARE)) as u32;
        let kept = match self.sparing {
            true => SPARE_KEPT,
            false => 1.0,
        };
        let spared = self
            .viewers
            .values()
            .filter(|v| v.standing(now) != Standing::Silent)
            .filter_map(|v| v.base_fits)
            .filter(|&(at, _)| now.duration_since(at) < BASE_FITS_FOR)
            .map(|(_, kbit)| kbit)
            // (`fits` leaves room in the link; the base layer may fill it.)
            .filter(|&fits| f64::from(fits) / FIT >= f64::from(least) * kept)
            .min()
            .map_or(target, |fits| fits.clamp(least, target));
        if spared == target || spared.abs_diff(self.given_kbit) * 20 > self.given_kbit {
            self.given_kbit = spared.max(FLOOR_KBIT.min(target));
        }
        self.given_kbit = self.given_kbit.min(target);
        self.sparing = self.given_kbit < target;
        (self.given_kbit != before).then_some(self.given_kbit)
    }

    /// The law itself: moves `law_kbit` (see the module's description).
    fn follow(&mut self, now: Instant) {
        if self
            .limit
            .is_some_and(|limit| now.duration_since(limit.at) >= LIMIT_FOR)
        {
            self.limit = None;
        }
        if self.wider(now) {
            // (The probes double from here.)
            self.limit = None;
            self.startup = true;
            self.step = WIDER_STEP;
        }
        if self.drained(now) || self.undo_probe(now) {
            return;
        }
        let standing = |wanted| self.viewers.values().any(|v| v.standing(now) == wanted);
        let anyone_clear = standing(Standing::Clear);
        if !anyone_clear && !standing(Standing::BackedUp) {
            // Every viewer is silent: nothing to go by.
        } else if !anyone_clear {
            // Everyone is backed up: follow the one that carries most.
            let best = self
                .viewers
                .values()
                .filter_map(|v| v.best_capacity(now))
                .max();
            let held = self
                .last_down
                .is_some_and(|at| now.duration_since(at) < DOWN_HOLD);
            let queued = self.every_heard(now, |v| v.own_queue);
            let share = if queued { DRAIN } else { HEADROOM };
            if let Some(bps) = best
                && !held
            {
                // A link that carries the stream with room to spare only
                // queued a burst (a keyframe): nothing to change.
                let carried = (bps as f64 * HEADROOM / 1000.0) as u32;
                let fits = (bps as f64 * share / 1000.0) as u32;
                // (Once the target is down to that, a queue that stays
                // is drained.)
                if carried <= self.law_kbit {
                    // (A probe past the limit that fails this way, not
                    // undone, a keyframe's burst in its way, confirms the
                    // limit: what the link carried while it failed reads
                    // low, a sample across a loss repaired. Seen here: 370
                    // kbit/s on a 0.5 Mbit/s link, and then the probes past
                    // that went out clear.)
                    let burst = self
                        .keyframe_at
                        .is_some_and(|key| now.duration_since(key) < KEYFRAME_BURST);
                    let on_trial_past = burst
                        && self.probe_at.is_some()
                        && self.limit.is_some_and(|limit| self.law_kbit > limit.kbit);
                    let after_undo = |limit: &Limit| {
                        limit
                            .confirmed_at
                            .is_some_and(|at| now.duration_since(at) < PROBE_EVERY)
                    };
                    // (Soon after an undo, a drain, back to where the undo
                    // went, which went out clear, once the queue is gone:
                    // the queue the failed probe left reads the link low,
                    // a third of it seen here, and a target left at that
                    // took 10 s to fill the link once it widened.)
                    let soon = self.limit.is_some_and(|limit| after_undo(&limit));
                    self.drain_back = soon.then_some(self.law_kbit);
                    self.law_kbit = fits.max(FLOOR_KBIT);
                    self.last_down = Some(now);
                    self.step = PROBE_STEP;
                    self.startup = false;
                    self.draining = (queued || soon).then_some(bps);
                    self.ladder.clear();
                    self.probe_at = None;
                    // The link did not carry more than that: its limit.
                    // (Soon after an undo, what backs it up is the queue
                    // the failed probe left, measured low while it
                    // drains: the limit the undo confirmed stands.)
                    let measured = (bps / 1000) as u32;
                    self.limit = Some(match self.limit {
                        Some(limit) if on_trial_past => Limit {
                            kbit: limit.kbit.max(measured),
                            at: now,
                            past_at: None,
                            confirmed_at: Some(now),
                        },
                        Some(limit) if after_undo(&limit) => Limit {
                            kbit: limit.kbit.max(measured),
                            ..limit
                        },
                        _ => Limit {
                            kbit: measured,
                            at: now,
                            past_at: None,
                            confirmed_at: None,
                        },
                    });
                    self.undo = None;
                }
            }
        } else if self.law_kbit < self.ceiling_kbit {
            let every = match self.startup {
                true => STARTUP_EVERY,
                false => PROBE_EVERY,
            };
            let probed = self
                .last_up
                .is_none_or(|at| now.duration_since(at) >= every)
                && self
                    .last_down
                    .is_none_or(|at| now.duration_since(at) >= PROBE_EVERY);
            let clear = self.viewers.values().any(|v| v.clear_for_a_probe(now));
            if probed && clear {
                self.clear_kbit = self.law_kbit;
                let law_bps = u64::from(self.law_kbit) * 1000;
                // A link found to carry less than the target went out
                // clear at has widened: what it carried is past.
                // (Not past a limit: the encoder may have made less.)
                let free = self.limit.is_none();
                for viewer in self.viewers.values_mut() {
                    let clear = viewer.standing(now) == Standing::Clear;
                    if free && clear && viewer.known(now).is_some_and(|known| known < law_bps) {
                        viewer.known = None;
                    }
                }
                let Some(up) = self.past_the_limit(now) else {
                    return;
                };
                self.probe_at = Some(now);
                self.undo = None;
                if self.ladder.len() == LADDER {
                    self.ladder.remove(0);
                }
                self.ladder.push(self.law_kbit);
                self.law_kbit = up.min(self.ceiling_kbit);
                self.last_up = Some(now);
                self.step = match self.startup {
                    true => WIDER_STEP,
                    false => (self.step * 1.5).min(MAX_PROBE_STEP),
                };
            }
        }
    }
}

impl RateControl {
    /// Whether some viewer was heard from lately (not silent) and every
    /// one that was is `such`.
    fn every_heard(&self, now: Instant, such: impl Fn(&Viewer) -> bool) -> bool {
        let mut heard = self
            .viewers
            .values()
            .filter(|v| v.standing(now) != Standing::Silent)
            .peekable();
        heard.peek().is_some() && heard.all(such)
    }

    /// Where the next probe goes, given the link's limit: the step up, but
    /// to [`SHORT_OF`] the limit at most, then to [`PROBE_PAST`] it, then
    /// nowhere (`None`) until the link shows it is wider
    /// ([`RateControl::wider`]).
    fn past_the_limit(&mut self, now: Instant) -> Option<u32> {
        let up = (f64::from(self.law_kbit) * (1.0 + self.step)).ceil() as u32;
        let Some(limit) = self.limit.as_mut() else {
            return Some(up);
        };
        let short = (f64::from(limit.kbit) * SHORT_OF) as u32;
        let past = (f64::from(limit.kbit) * PROBE_PAST).ceil() as u32;
        if self.law_kbit < short {
            Some(up.min(short))
        } else if self.law_kbit < past {
            limit.past_at = Some(now);
            Some(past)
        } else {
            None
        }
    }

    /// Whether the link has shown it is wider than its limit: the target
    /// is past it, and since it went there, some viewer's link, clear for
    /// a probe, carried [`WIDER`] than the limit on average over
    /// [`WIDER_FOR`]. (What was counted before says nothing: the
    /// acknowledgements of a backlog draining after a narrowing, or of a
    /// target too far below the limit to pass it.)
    fn wider(&self, now: Instant) -> bool {
        let Some(Limit {
            kbit,
            past_at: Some(since),
            ..
        }) = self.limit
        else {
            return false;
        };
        let wider = (f64::from(kbit) * WIDER * 1000.0) as u64;
        self.law_kbit > kbit
            && self
                .viewers
                .values()
                .any(|v| v.clear_for_a_probe(now) && v.carried_at_least(now, wider, since))
    }

    /// Undoes a probe up that builds a queue while it is on trial (for
    /// [`PROBE_EVERY`], or past the link's limit until the link shows it
    /// is wider): the target goes straight back to where it went out clear,
    /// before the queue grows into a backlog (waiting to measure the link
    /// and dropping below it would cost the picture more), and the level
    /// the probe reached is the link's limit if it is lower. A queue
    /// counts when no viewer that is heard from is without one now (backed
    /// up at its last report, or acknowledging more than [`PROBE_QUEUE`]
    /// behind the rate). A queue that stays [`DOWN_HOLD`] after an undo,
    /// no shorter than it was then, undoes the probe before it too: the
    /// link may have narrowed under both. Returns whether it undid one.
    fn undo_probe(&mut self, now: Instant) -> bool {
        let Some(at) = self.probe_at else {
            return false;
        };
        // (A probe past the link's limit stays on trial until the link
        // shows it is wider: the encoder may have made too little to
        // fill it yet.)
        // (At the ceiling there is nothing to probe for.)
        let past = self.limit.is_some_and(|limit| self.law_kbit > limit.kbit)
            && self.law_kbit < self.ceiling_kbit;
        if now.duration_since(at) >= PROBE_EVERY && !past {
            self.probe_at = None;
            return false;
        }
        if self
            .last_down
            .is_some_and(|down| now.duration_since(down) < DOWN_HOLD)
        {
            return false;
        }
        if self
            .keyframe_at
            .is_some_and(|key| now.duration_since(key) < KEYFRAME_BURST)
        {
            return false;
        }
        let queued = self.every_heard(now, |v| {
            v.last_report.is_some_and(|(_, b)| b) || v.behind > PROBE_QUEUE
        });
        if !queued {
            return false;
        }
        // (Once the queue drains, the target is below the link.)
        let behind = self
            .viewers
            .values()
            .filter(|v| v.standing(now) != Standing::Silent)
            .map(|v| v.behind)
            .max()
            .unwrap_or_default();
        if self.undo.is_some_and(|undo| behind < undo.behind) {
            return false;
        }
        // (No lower than just short of the link's limit before the first
        // undo: a queue that stays there says the link narrowed, which the
        // law's way down follows.)
        let floor = self.undo.map_or(0, |undo| undo.floor);
        let Some(from) = self.ladder.pop().filter(|&from| from >= floor) else {
            self.probe_at = None;
            return false;
        };
        let floor = match self.undo {
            Some(undo) => undo.floor,
            None => {
                let floor = self
                    .limit
                    .map_or(0, |limit| (f64::from(limit.kbit) * SHORT_OF) as u32);
                let kbit = self
                    .limit
                    .map_or(self.law_kbit, |l| l.kbit.min(self.law_kbit));
                self.limit = Some(Limit {
                    kbit,
                    at: now,
                    past_at: None,
                    confirmed_at: Some(now),
                });
                floor
            }
        };
        self.undo = Some(Undo { behind, floor });
        self.law_kbit = from.min(self.law_kbit);
        self.last_down = Some(now);
        self.step = PROBE_STEP;
        self.startup = false;
        // (On trial again: see above.)
        self.probe_at = Some(now);
        true
    }

    /// Ends a drain once no viewer's network holds more than
    /// [`PROBE_QUEUE`], nor is its stream that far behind: the target goes
    /// back to [`HEADROOM`] of the capacity it drained from, or to the last
    /// target that went out clear if that is less (a short sample can read
    /// high); after a drain soon after an undo, to where the undo went
    /// back to. Returns whether it ended one.
    fn drained(&mut self, now: Instant) -> bool {
        let Some(bps) = self.draining else {
            return false;
        };
        if !self.every_heard(now, |v| v.queue_delay.max(v.behind) <= PROBE_QUEUE) {
            return false;
        }
        self.draining = None;
        let cruise = match self.drain_back.take() {
            Some(back) => back,
            None => ((bps as f64 * HEADROOM / 1000.0) as u32).min(self.clear_kbit),
        }
        .min(self.ceiling_kbit);
        if cruise > self.law_kbit {
            self.law_kbit = cruise;
            self.last_up = Some(now);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CEILING: u32 = 2000;

    /// A viewer on a link of `link_kbit` while the stream runs at
    /// `target_kbit`: backed up, and measuring the link, when the stream
    /// does not fit; clear, and app-limited, when it does.
    fn on_link(link_kbit: u32, target_kbit: u32) -> Report {
        let fits = target_kbit <= link_kbit;
        Report {
            delivery_bps: u64::from(if fits { target_kbit } else { link_kbit }) * 1000,
            app_limited: fits,
            backed_up: !fits,
            ours: !fits,
            queue_delay: Duration::ZERO,
            behind: Duration::ZERO,
            base_fits_kbit: None,
            carried_bps: Some(u64::from(target_kbit.min(link_kbit)) * 1000),
        }
    }

    /// A keyframe queued for 150 ms on a 3 Mbit/s link.
    fn keyframe_burst() -> Report {
        Report {
            delivery_bps: 3_000_000,
            app_limited: false,
            backed_up: true,
            ours: true,
            queue_delay: Duration::from_millis(150),
            behind: Duration::ZERO,
            base_fits_kbit: None,
            carried_bps: None,
        }
    }

    /// A viewer on a link of `link_kbit` while the encoder makes `share`
    /// of its target.
    fn encoder_on_link(link_kbit: u32, target_kbit: u32, share: f64) -> Report {
        on_link(link_kbit, (f64::from(target_kbit) * share) as u32)
    }

    /// Runs the law from 3 s on, one viewer whose encoder makes `share`
    /// of the target on a link of `link_kbit`, until the target goes past
    /// a limit of `limit_kbit`; returns the time then.
    fn up_to_the_probe_past(
        law: &mut RateControl,
        start: Instant,
        limit_kbit: u32,
        link_kbit: u32,
        share: f64,
    ) -> f64 {
        let past = (f64::from(limit_kbit) * PROBE_PAST).ceil() as u32;
        let mut t = 3.0;
        while law.target_kbit() != past {
            assert!(t < 30.0, "no probe past");
            t += 1.0 / 30.0;
            let now = start + Duration::from_secs_f64(t);
            law.report(1, now, encoder_on_link(link_kbit, law.target_kbit(), share));
            law.update(now);
        }
        t
    }

    /// Runs the law for `seconds` at 30 reports a second from one viewer
    /// whose link carries `link_kbit(t)`; returns the target each 100 ms.
    fn run(
        law: &mut RateControl,
        start: Instant,
        from: f64,
        seconds: f64,
        link_kbit: impl Fn(f64) -> u32,
    ) -> Vec<(f64, u32)> {
        run_reports(law, start, from, seconds, |t, target| {
            on_link(link_kbit(t), target)
        })
    }

    /// Runs the law for `seconds` at 30 reports a second from one viewer
    /// that reports `report(t, target)`; returns the target each 100 ms.
    fn run_reports(
        law: &mut RateControl,
        start: Instant,
        from: f64,
        seconds: f64,
        report: impl Fn(f64, u32) -> Report,
    ) -> Vec<(f64, u32)> {
        let mut out = Vec::new();
        let frames = (seconds * 30.0) as usize;
        for i in 0..frames {
            let t = from + i as f64 / 30.0;
            let now = start + Duration::from_secs_f64(t);
            law.report(1, now, report(t, law.target_kbit()));
            law.update(now);
            if i % 3 == 0 {
                out.push((t, law.target_kbit()));
            }
        }
        out
    }

    #[test]
    fn a_narrowing_link_brings_the_target_down_within_half_a_second() {
        let start = Instant::now();
        let mut law = RateControl::new(CEILING);
        run(&mut law, start, 0.0, 5.0, |_| 20_000);
        assert_eq!(law.target_kbit(), CEILING, "a wide link keeps the ceiling");
        let trace = run(&mut law, start, 5.0, 2.0, |_| 1500);
        let fitted = trace.iter().find(|(_, kbit)| *kbit <= 1500).unwrap();
        assert!(fitted.0 - 5.0 <= 0.5, "down after {:.2} s", fitted.0 - 5.0);
        assert!(law.target_kbit() >= (1500.0 * HEADROOM * 0.9) as u32);
    }

    #[test]
    fn a_widening_link_is_probed_back_up_to_the_ceiling() {
        let start = Instant::now();
        let mut law = RateControl::new(CEILING);
        run(&mut law, start, 0.0, 3.0, |_| 500);
        assert!(law.target_kbit() <= 500, "{}", law.target_kbit());
        let trace = run(&mut law, start, 3.0, 12.0, |_| 3000);
        let back = trace
            .iter()
            .find(|(_, kbit)| *kbit >= CEILING * 8 / 10)
            .unwrap();
        // 425 kbit/s, then +15%, +22%, +34%, +51%, +60% a second.
        assert!(back.0 - 3.0 <= 6.0, "80% after {:.1} s", back.0 - 3.0);
        assert!(trace.iter().all(|(_, kbit)| *kbit <= CEILING));
        assert_eq!(law.target_kbit(), CEILING);
    }

    #[test]
    fn a_probe_past_the_link_that_goes_out_clear_goes_no_further() {
        let start = Instant::now();
        let mut law = RateControl::new(CEILING);
        run(&mut law, start, 0.0, 3.0, |_| 1000);
        // The encoder makes 60% of its target: a probe past the link still
        // fits it, and says nothing of what is beyond.
        let trace = run_reports(&mut law, start, 3.0, 10.0, |_, target| {
            encoder_on_link(1000, target, 0.6)
        });
        let past = (1000.0 * PROBE_PAST).ceil() as u32;
        assert!(trace.iter().all(|&(_, kbit)| kbit <= past), "{trace:?}");
        assert_eq!(law.target_kbit(), past, "{trace:?}");
        // Once the link carries more than it was found to, the probes go on.
        let trace = run_reports(&mut law, start, 13.0, 5.0, |_, target| {
            encoder_on_link(20_000, target, 0.9)
        });
        assert!(trace.iter().any(|&(_, kbit)| kbit > past), "{trace:?}");
        assert_eq!(law.target_kbit(), CEILING, "{trace:?}");
    }

    #[test]
    fn a_limit_measured_low_is_no_evidence_of_a_wider_link() {
        let start = Instant::now();
        let mut law = RateControl::new(CEILING);
        run(&mut law, start, 0.0, 3.0, |_| 1000);
        // The link carries 1300, more than a fifth above the limit found.
        // The encoder takes a second to fill the probe past the limit:
        // till then it fits, and after it makes a twentieth too much, so
        // that a queue grows, slowly, from a second on.
        let probed = std::cell::Cell::new(None);
        let queue = std::cell::Cell::new(0.0_f64);
        let trace = run_reports(&mut law, start, 3.0, 4.0, |t, target| {
            if target > 1000 {
                probed.set(probed.get().or(Some(t)));
            }
            let filled = probed.get().is_some_and(|at| t - at >= 1.0);
            let made = if filled {
                1365.0
            } else {
                1250.0_f64.min(f64::from(target))
            };
            queue.set((queue.get() + (made - 1300.0) / 1300.0 / 30.0).max(0.0));
            Report {
                queue_delay: Duration::from_secs_f64(queue.get()),
                carried_bps: Some((made.min(1300.0) * 1000.0) as u64),
                // (A viewer's queue is always its own.)
                ours: true,
                ..on_link(20_000, target)
            }
        });
        let past = (1000.0 * PROBE_PAST).ceil() as u32;
        assert!(trace.iter().any(|&(_, kbit)| kbit == past), "{trace:?}");
        assert!(trace.iter().all(|&(_, kbit)| kbit <= past), "{trace:?}");
    }

    #[test]
    fn a_keyframe_on_a_link_that_widened_does_not_hold_back_the_evidence() {
        let start = Instant::now();
        let mut law = RateControl::new(CEILING);
        run(&mut law, start, 0.0, 3.0, |_| 1000);
        // The link widened; the probe past the limit goes out clear but
        // for a keyframe's burst (60 ms of queue for 0.2 s) in its middle.
        let past = (1000.0 * PROBE_PAST).ceil() as u32;
        let mut passed_at = None;
        for i in 0..90 {
            let t = 3.0 + f64::from(i) / 30.0;
            let now = start + Duration::from_secs_f64(t);
            let burst = (3.8..4.0).contains(&t);
            if i == 24 {
                law.keyframe(now);
            }
            let report = Report {
                queue_delay: Duration::from_millis(if burst { 60 } else { 0 }),
                ours: true,
                ..encoder_on_link(20_000, law.target_kbit(), 0.95)
            };
            law.report(1, now, report);
            law.update(now);
            if law.target_kbit() > past {
                passed_at.get_or_insert(t);
            }
        }
        // (Held back by the burst, 5.5 s.)
        let passed_at = passed_at.expect("the evidence came");
        assert!(passed_at < 5.2, "evidence at {passed_at:.2} s");
    }

    #[test]
    fn a_limit_the_encoder_cannot_show_wider_is_forgotten_in_time() {
        let start = Instant::now();
        let mut law = RateControl::new(CEILING);
        run(&mut law, start, 0.0, 3.0, |_| 1000);
        // A wide link, but the encoder makes too little to show it.
        let trace = run_reports(&mut law, start, 3.0, 20.0, |_, target| {
            encoder_on_link(20_000, target, 0.7)
        });
        let past = (1000.0 * PROBE_PAST).ceil() as u32;
        let held_until = trace.iter().find(|&&(_, kbit)| kbit > past).unwrap().0;
        assert!(held_until >= LIMIT_FOR.as_secs_f64(), "{trace:?}");
        assert!(held_until <= LIMIT_FOR.as_secs_f64() + 3.0, "{trace:?}");
    }

    #[test]
    fn a_ceiling_past_the_limit_ends_the_trial() {
        let start = Instant::now();
        // The limit is found at 1000, a ceiling of 1200 is past it.
        let mut law = RateControl::new(1200);
        run(&mut law, start, 0.0, 3.0, |_| 1000);
        let trace = run_reports(&mut law, start, 3.0, 4.0, |_, target| {
            encoder_on_link(20_000, target, 0.7)
        });
        assert_eq!(law.target_kbit(), 1200, "{trace:?}");
        // A queue that shows long after is no failed probe: the link has
        // room (it carried the target), and the law stays.
        let keyframe = Report {
            delivery_bps: 20_000_000,
            ..keyframe_burst()
        };
        let now = start + Duration::from_secs(8);
        law.report(1, now, keyframe);
        law.update(now);
        assert_eq!(law.target_kbit(), 1200);
    }

    #[test]
    fn the_next_viewer_inherits_no_limit() {
        let start = Instant::now();
        let mut law = RateControl::new(CEILING);
        run(&mut law, start, 0.0, 3.0, |_| 500);
        law.forget(1);
        // Another viewer, on a wide link, from the next second: its
        // encoder's undershoot would hold the first one's limit.
        let trace = run_reports(&mut law, start, 4.0, 8.0, |_, target| {
            encoder_on_link(20_000, target, 0.7)
        });
        assert_eq!(law.target_kbit(), CEILING, "{trace:?}");
    }

    #[test]
    fn a_link_that_widens_past_its_limit_is_filled_within_six_seconds() {
        let start = Instant::now();
        let mut law = RateControl::new(CEILING);
        // The encoder makes a tenth less than its target, as OpenH264 does
        // on Big Buck Bunny.
        let at = |link: u32| move |_, target| encoder_on_link(link, target, 0.9);
        run_reports(&mut law, start, 0.0, 12.0, at(500));
        assert!(law.target_kbit() <= 700, "{}", law.target_kbit());
        let trace = run_reports(&mut law, start, 12.0, 10.0, at(3000));
        let back = trace
            .iter()
            .find(|(_, kbit)| *kbit >= CEILING * 8 / 10)
            .unwrap();
        assert!(back.0 - 12.0 <= 6.0, "80% after {:.1} s", back.0 - 12.0);
    }

    #[test]
    fn a_link_is_narrow_while_the_target_is_held_down_or_its_limit_known() {
        let start = Instant::now();
        let mut law = RateControl::new(CEILING);
        assert!(!law.narrow(), "nothing known");
        let at = |link: u32| move |_, target| encoder_on_link(link, target, 0.9);
        run_reports(&mut law, start, 0.0, 6.0, at(1500));
        assert!(law.target_kbit() < CEILING && law.narrow());
        // 1.5 Mbit/s at most, the probe past it goes to the ceiling, on
        // trial: still narrow.
        let mut at_ceiling = false;
        for tenth in 0..40 {
            let from = 6.0 + f64::from(tenth) / 10.0;
            run_reports(&mut law, start, from, 0.1, at(1500));
            at_ceiling |= law.target_kbit() == CEILING;
            assert!(law.narrow(), "at {from:.1} s");
        }
        assert!(at_ceiling, "no probe past the limit");
        // Wide: once it shows so, nothing holds the target down.
        run_reports(&mut law, start, 10.0, 10.0, at(20_000));
        assert_eq!(law.target_kbit(), CEILING);
        assert!(!law.narrow());
    }

    #[test]
    fn a_probe_that_overshoots_is_undone() {
        let start = Instant::now();
        let mut law = RateControl::new(CEILING);
        let trace = run(&mut law, start, 0.0, 20.0, |_| 1000);
        // It settles below the link and visits above it only briefly.
        let above = trace.iter().filter(|(_, kbit)| *kbit > 1000).count();
        assert!(above * 5 <= trace.len(), "{above} of {}", trace.len());
        assert!(law.target_kbit() <= 1000 * 115 / 100);
    }

    #[test]
    fn a_probe_that_builds_a_queue_is_undone_to_where_it_went_out_clear() {
        let start = Instant::now();
        let mut law = RateControl::new(CEILING);
        run(&mut law, start, 0.0, 3.0, |_| 1000);
        // From here the link shows its queue (acknowledgements late,
        // `flow::ack_lag`) as soon as the stream passes it, before anything
        // waits unsent or is measured.
        let report = |target: u32| Report {
            delivery_bps: u64::from(target.min(1000)) * 1000,
            app_limited: true,
            backed_up: false,
            ours: true,
            queue_delay: Duration::from_millis(if target > 1000 { 40 } else { 0 }),
            behind: Duration::from_millis(if target > 1000 { 40 } else { 0 }),
            base_fits_kbit: None,
            carried_bps: Some(u64::from(target.min(1000)) * 1000),
        };
        let mut targets = vec![law.target_kbit()];
        for i in 0..30 * 20 {
            let now = start + Duration::from_secs_f64(3.0 + f64::from(i) / 30.0);
            law.report(1, now, report(law.target_kbit()));
            law.update(now);
            targets.push(law.target_kbit());
        }
        let mut failed = Vec::new();
        for w in targets.windows(3) {
            if w[1] > 1000 {
                // Undone at the next report, to where it rose from.
                assert_eq!(w[2], w[0], "{targets:?}");
                failed.push((w[0], w[1]));
            }
        }
        assert!(failed.len() >= 3, "it probed: {targets:?}");
        // The link showed its limit when the target came down to it: the
        // probes go from just short of it to a little past it, no further.
        let short = (1000.0 * SHORT_OF) as u32;
        let past = (1000.0 * PROBE_PAST).ceil() as u32;
        assert!(
            failed.iter().all(|&(from, to)| from >= short && to <= past),
            "{failed:?}"
        );
        assert!(failed.len() * 20 <= targets.len(), "{failed:?}");
        let mean = targets.iter().map(|&k| u64::from(k)).sum::<u64>() / targets.len() as u64;
        assert!(mean >= 900, "the link is used: {mean} kbit/s on average");
    }

    #[test]
    fn a_queue_that_stays_after_an_undo_undoes_the_probe_before() {
        let start = Instant::now();
        let mut law = RateControl::new(CEILING);
        run(&mut law, start, 0.0, 3.0, |_| 1000);
        let at = |t: f64| start + Duration::from_secs_f64(t);
        let clear = Report {
            ours: true,
            carried_bps: Some(u64::from(CEILING) * 1000),
            ..on_link(20_000, 0)
        };
        let queued = Report {
            behind: Duration::from_millis(40),
            queue_delay: Duration::from_millis(40),
            ..clear
        };
        // Two probes go out clear (the link shows it is wider than it was
        // found to be, so the second may pass it far), then a queue shows
        // after the second.
        let mut t = 3.0;
        let mut levels = vec![law.target_kbit()];
        while levels.len() < 3 {
            assert!(t < 30.0, "no probes: {levels:?}");
            t += 1.0 / 30.0;
            law.report(1, at(t), clear);
            if law.update(at(t)).is_some() {
                levels.push(law.target_kbit());
            }
        }
        let mut after = Vec::new();
        for _ in 0..30 {
            t += 1.0 / 30.0;
            law.report(1, at(t), queued);
            if law.update(at(t)).is_some() {
                after.push(law.target_kbit());
            }
        }
        // Back down the ladder, one probe each DOWN_HOLD while it stays.
        assert_eq!(
            after[..2],
            [levels[1], levels[0]],
            "{levels:?} then {after:?}"
        );
    }

    #[test]
    fn a_queue_that_drains_after_an_undo_leaves_the_probe_before() {
        let start = Instant::now();
        let mut law = RateControl::new(CEILING);
        run(&mut law, start, 0.0, 3.0, |_| 1000);
        let at = |t: f64| start + Duration::from_secs_f64(t);
        let clear = Report {
            ours: true,
            carried_bps: Some(u64::from(CEILING) * 1000),
            ..on_link(20_000, 0)
        };
        let mut t = 3.0;
        let mut levels = vec![law.target_kbit()];
        while levels.len() < 3 {
            assert!(t < 30.0, "no probes: {levels:?}");
            t += 1.0 / 30.0;
            law.report(1, at(t), clear);
            if law.update(at(t)).is_some() {
                levels.push(law.target_kbit());
            }
        }
        // The queue the last probe built shows, then drains (by a
        // millisecond a report): the target it went back to is below the
        // link.
        let mut after = Vec::new();
        for i in 0..30 {
            t += 1.0 / 30.0;
            let behind = Duration::from_millis(70 - i);
            let queued = Report {
                behind,
                queue_delay: behind,
                ..clear
            };
            law.report(1, at(t), queued);
            if law.update(at(t)).is_some() {
                after.push(law.target_kbit());
            }
        }
        assert_eq!(after, [levels[1]], "{levels:?} then {after:?}");
    }

    #[test]
    fn a_queue_that_stays_after_a_probe_past_the_limit_goes_back_just_short_of_it() {
        let start = Instant::now();
        let mut law = RateControl::new(CEILING);
        run(&mut law, start, 0.0, 3.0, |_| 1000);
        let at = |t: f64| start + Duration::from_secs_f64(t);
        // The encoder makes 70% of its target: the probe past the limit
        // goes out clear.
        let clear = |target: u32| encoder_on_link(20_000, target, 0.7);
        let short = (1000.0 * SHORT_OF) as u32;
        let past = (1000.0 * PROBE_PAST).ceil() as u32;
        let mut t = 3.0;
        let mut levels = vec![law.target_kbit()];
        while law.target_kbit() != past {
            assert!(t < 30.0, "no probe past: {levels:?}");
            t += 1.0 / 30.0;
            law.report(1, at(t), clear(law.target_kbit()));
            if law.update(at(t)).is_some() {
                levels.push(law.target_kbit());
            }
        }
        assert!(levels.ends_with(&[short, past]), "{levels:?}");
        // Then a queue shows, and stays.
        let mut after = Vec::new();
        for _ in 0..60 {
            t += 1.0 / 30.0;
            let queued = Report {
                behind: Duration::from_millis(40),
                queue_delay: Duration::from_millis(40),
                ..clear(law.target_kbit())
            };
            law.report(1, at(t), queued);
            if law.update(at(t)).is_some() {
                after.push(law.target_kbit());
            }
        }
        assert_eq!(after, [short], "{levels:?} then {after:?}");
    }

    #[test]
    fn the_queue_a_failed_probe_leaves_does_not_lower_the_limit() {
        let start = Instant::now();
        let mut law = RateControl::new(CEILING);
        run(&mut law, start, 0.0, 3.0, |_| 1000);
        let at = |t: f64| start + Duration::from_secs_f64(t);
        let short = (1000.0 * SHORT_OF) as u32;
        let mut t = up_to_the_probe_past(&mut law, start, 1000, 20_000, 0.6);
        // It builds a queue: undone. The queue drains behind a link that
        // reads low meanwhile, and the law comes down further.
        let drains = Report {
            delivery_bps: 800_000,
            app_limited: false,
            backed_up: true,
            ours: true,
            queue_delay: Duration::from_millis(80),
            behind: Duration::from_millis(80),
            base_fits_kbit: None,
            carried_bps: Some(800_000),
        };
        for _ in 0..15 {
            t += 1.0 / 30.0;
            law.report(1, at(t), drains);
            law.update(at(t));
        }
        assert!(law.target_kbit() < short, "{}", law.target_kbit());
        // Then the link is clear again: the probes go back up to just
        // short of the limit the failed probe confirmed.
        let mut levels = Vec::new();
        while levels.len() < 3 {
            assert!(t < 60.0, "no probes: {levels:?}");
            t += 1.0 / 30.0;
            law.report(1, at(t), encoder_on_link(20_000, law.target_kbit(), 0.6));
            if law.update(at(t)).is_some() {
                levels.push(law.target_kbit());
            }
        }
        assert!(levels.contains(&short), "{levels:?}");
    }

    #[test]
    fn a_probe_past_the_limit_that_fails_behind_a_keyframe_confirms_the_limit() {
        let start = Instant::now();
        let mut law = RateControl::new(CEILING);
        run(&mut law, start, 0.0, 3.0, |_| 1000);
        let at = |t: f64| start + Duration::from_secs_f64(t);
        let mut t = up_to_the_probe_past(&mut law, start, 1000, 1000, 0.7);
        // A cut's keyframe, so that no queue undoes the probe for a while;
        // then the link, full, reads a third low across a loss repaired,
        // and the law comes down.
        law.keyframe(at(t));
        let low = Report {
            delivery_bps: 370_000,
            app_limited: false,
            backed_up: true,
            ours: true,
            queue_delay: Duration::from_millis(40),
            behind: Duration::from_millis(40),
            base_fits_kbit: None,
            carried_bps: Some(1_000_000),
        };
        for _ in 0..6 {
            t += 1.0 / 30.0;
            law.report(1, at(t), low);
            law.update(at(t));
        }
        assert!(law.target_kbit() <= 370, "{}", law.target_kbit());
        assert_eq!(law.limit.map(|limit| limit.kbit), Some(1000));
    }

    #[test]
    fn a_keyframe_that_queues_during_a_probe_does_not_undo_it() {
        let start = Instant::now();
        let mut law = RateControl::new(CEILING);
        run(&mut law, start, 0.0, 3.0, |_| 1000);
        // Clear on a wide link until a probe goes up.
        let clear = Report {
            ours: true,
            carried_bps: Some(u64::from(CEILING) * 1000),
            ..on_link(20_000, 0)
        };
        let mut t = 3.0;
        let report = |law: &mut RateControl, t: f64, report: Report| {
            let now = start + Duration::from_secs_f64(t);
            law.report(
                1,
                now,
                Report {
                    delivery_bps: u64::from(law.target_kbit()) * 1000,
                    ..report
                },
            );
            law.update(now)
        };
        let before = law.target_kbit();
        while law.target_kbit() == before {
            assert!(t < 30.0, "no probe");
            t += 1.0 / 30.0;
            report(&mut law, t, clear);
        }
        let probed = law.target_kbit();
        // The probe makes a keyframe (a change of size) whose burst queues
        // for 150 ms.
        law.keyframe(start + Duration::from_secs_f64(t));
        for _ in 0..5 {
            t += 1.0 / 30.0;
            report(
                &mut law,
                t,
                Report {
                    queue_delay: Duration::from_millis(40),
                    behind: Duration::from_millis(40),
                    ..clear
                },
            );
        }
        assert_eq!(law.target_kbit(), probed, "the probe stands");
    }

    #[test]
    fn one_fast_viewer_keeps_the_rate_up_for_everyone() {
        let start = Instant::now();
        let mut law = RateControl::new(CEILING);
        for i in 0..300 {
            let now = start + Duration::from_millis(i * 33);
            let target = law.target_kbit();
            law.report(1, now, on_link(20_000, target));
            law.report(2, now, on_link(1000, target));
            law.update(now);
        }
        assert_eq!(law.target_kbit(), CEILING);
        law.forget(1);
        let later = start + Duration::from_secs(10);
        for i in 0..30 {
            let now = later + Duration::from_millis(i * 33);
            law.report(2, now, on_link(1000, law.target_kbit()));
            law.update(now);
        }
        assert!(
            law.target_kbit() <= 1000,
            "the slow viewer alone is followed"
        );
    }

    #[test]
    fn a_queue_in_the_network_is_drained() {
        let start = Instant::now();
        let mut law = RateControl::new(CEILING);
        let queued = Report {
            delivery_bps: 700_000,
            app_limited: false,
            backed_up: true,
            ours: true,
            queue_delay: Duration::from_millis(500),
            behind: Duration::ZERO,
            base_fits_kbit: None,
            carried_bps: None,
        };
        // (Three reports: one alone does not say whose the queue is.)
        for i in 0..3 {
            law.report(1, start + Duration::from_millis(i * 33), queued);
        }
        let start = start + Duration::from_millis(66);
        assert_eq!(
            law.update(start),
            Some(350),
            "half the link while it drains"
        );
        // A write that has waited 0.3 s for a link whose shaper drops what
        // queues past it: the round trip says little.
        let stuck = Report {
            queue_delay: Duration::from_millis(5),
            behind: Duration::from_millis(300),
            ..queued
        };
        let later = start + DOWN_HOLD / 2;
        law.report(1, later, stuck);
        assert_eq!(law.update(later), None, "a write still waits");
        let drained = Report {
            queue_delay: Duration::from_millis(5),
            base_fits_kbit: None,
            ..queued
        };
        let later = start + DOWN_HOLD;
        law.report(1, later, drained);
        assert_eq!(
            law.update(later),
            Some(595),
            "back to what the link carries once the queue is gone"
        );
    }

    #[test]
    fn the_queue_a_failed_probe_leaves_reading_low_is_drained_then_gone_back_over() {
        let start = Instant::now();
        let mut law = RateControl::new(CEILING);
        run(&mut law, start, 0.0, 3.0, |_| 1000);
        let at = |t: f64| start + Duration::from_secs_f64(t);
        let mut t = up_to_the_probe_past(&mut law, start, 1000, 1000, 0.9);
        // It builds a queue: undone, back to where it went out clear.
        // (Data waits; the kernel's sample, stale, says nothing.)
        let queued = Report {
            delivery_bps: 2_000_000,
            app_limited: true,
            backed_up: true,
            ours: true,
            queue_delay: Duration::from_millis(40),
            behind: Duration::from_millis(40),
            base_fits_kbit: None,
            carried_bps: Some(1_000_000),
        };
        t += 1.0 / 30.0;
        law.report(1, at(t), queued);
        law.update(at(t));
        let back = law.target_kbit();
        assert!(back < 1000, "{back}");
        // The queue drains; a sample across a loss repaired reads a third
        // of the link: down while the queue lasts, then back.
        let low = Report {
            delivery_bps: 330_000,
            app_limited: false,
            queue_delay: Duration::from_millis(50),
            behind: Duration::from_millis(50),
            ..queued
        };
        let mut lowest = back;
        for _ in 0..15 {
            t += 1.0 / 30.0;
            law.report(1, at(t), low);
            law.update(at(t));
            lowest = lowest.min(law.target_kbit());
        }
        assert_eq!(lowest, (330.0 * HEADROOM) as u32, "down while it drains");
        let drained = Report {
            queue_delay: Duration::from_millis(5),
            behind: Duration::ZERO,
            ..low
        };
        t += 1.0 / 30.0;
        law.report(1, at(t), drained);
        law.update(at(t));
        assert_eq!(law.target_kbit(), back, "back to where the undo went");
    }

    #[test]
    fn a_queue_that_stands_is_drained_though_short_samples_read_high() {
        let start = Instant::now();
        let mut law = RateControl::new(CEILING);
        // A 675 kbit/s link whose shaper lets bursts through: the short
        // busy times read up to 950 kbit/s, so 660 kbit/s looks as if it
        // fits, but a 250 ms queue stands in front of it.
        law.law_kbit = 660;
        law.given_kbit = 660;
        let queued = |i: u64| Report {
            delivery_bps: [950_000, 800_000, 850_000][i as usize % 3],
            app_limited: false,
            backed_up: true,
            ours: true,
            queue_delay: Duration::from_millis(250),
            behind: Duration::ZERO,
            base_fits_kbit: None,
            carried_bps: Some(675_000),
        };
        let mut down_at = None;
        for i in 0..60 {
            let now = start + Duration::from_millis(i * 33);
            law.report(1, now, queued(i));
            if law.update(now).is_some() && down_at.is_none() {
                down_at = Some(now.duration_since(start));
            }
        }
        let down_at = down_at.expect("the standing queue was left alone");
        assert!(down_at >= STANDING, "a burst is not drained: {down_at:?}");
        assert_eq!(law.target_kbit(), 337, "half of what the link carried");
        let later = start + Duration::from_secs(3);
        let gone = Report {
            queue_delay: Duration::from_millis(10),
            backed_up: false,
            ours: false,
            ..queued(0)
        };
        law.report(1, later, gone);
        assert_eq!(
            law.update(later),
            Some(573),
            "then what the link carries, not what the bursts said"
        );
    }

    #[test]
    fn the_links_have_room_for_a_keyframe_only_while_everyone_takes_the_whole_stream() {
        let start = Instant::now();
        let mut law = RateControl::new(CEILING);
        assert!(law.roomy(start), "nobody to stall");
        law.report(1, start, on_link(20_000, CEILING));
        law.update(start);
        assert!(law.roomy(start));
        // A second viewer that leaves out layers: a keyframe would stall it.
        let capped = Report {
            backed_up: true,
            ours: true,
            ..on_link(1000, CEILING)
        };
        law.report(2, start, capped);
        law.update(start);
        assert!(!law.roomy(start));
        law.forget(2);
        assert!(law.roomy(start));
        // The one viewer's link narrows: the target comes down from the
        // ceiling.
        let later = start + Duration::from_secs(1);
        law.report(1, later, on_link(1000, CEILING));
        law.update(later);
        assert!(law.target_kbit() < CEILING);
        law.report(1, later, on_link(1000, law.target_kbit()));
        law.update(later);
        assert!(!law.roomy(later + DOWN_HOLD), "below the ceiling");
    }

    #[test]
    fn a_queue_on_the_way_back_is_not_drained() {
        let start = Instant::now();
        let mut law = RateControl::new(CEILING);
        // A chat whose other way is full: the acknowledgements wait behind
        // the other end's video, so the round trip says 200 ms of queue,
        // the kernel's samples read low, frames come late on a machine
        // busy with both encoders, and this end's data waits unsent now
        // and then; but its own way is wide.
        let acks_late = |i: u64| Report {
            delivery_bps: 1_200_000,
            app_limited: true,
            backed_up: true,
            ours: i % 5 == 4,
            queue_delay: Duration::from_millis(200),
            behind: Duration::ZERO,
            base_fits_kbit: None,
            carried_bps: Some(1_500_000),
        };
        for i in 0..90 {
            let now = start + Duration::from_millis(i * 33);
            law.report(1, now, acks_late(i));
            law.update(now);
        }
        assert_eq!(law.target_kbit(), CEILING);
    }

    #[test]
    fn a_keyframe_queued_on_a_wide_enough_link_changes_nothing() {
        let start = Instant::now();
        let mut law = RateControl::new(CEILING);
        let burst = keyframe_burst();
        law.report(1, start, burst);
        assert_eq!(law.update(start), None);
        assert_eq!(law.target_kbit(), CEILING);
    }

    #[test]
    fn a_link_that_narrows_soon_after_a_burst_is_followed_down_at_once() {
        let start = Instant::now();
        let mut law = RateControl::new(CEILING);
        // A keyframe queues on a 3 Mbit/s link: nothing changes...
        let burst = keyframe_burst();
        law.report(1, start, burst);
        law.update(start);
        run(&mut law, start, 0.1, 1.0, |_| 3000);
        assert_eq!(law.target_kbit(), CEILING);
        // ...and when the link narrows a second later, the burst's rate
        // does not hold the target up.
        let narrowed = start + Duration::from_millis(1100);
        law.report(1, narrowed, on_link(500, CEILING));
        assert_eq!(law.update(narrowed), Some(425));
    }

    #[test]
    fn a_stale_app_limited_sample_gives_way_to_a_measured_one() {
        let start = Instant::now();
        let mut law = RateControl::new(CEILING);
        run(&mut law, start, 0.0, 3.0, |_| 3000);
        assert_eq!(law.target_kbit(), CEILING);
        // The link narrows to a quarter: the first report behind it holds
        // the kernel's last sample, app-limited, from a shaper's burst...
        let queued = Duration::from_millis(75);
        let narrowed = start + Duration::from_secs(3);
        let stale = Report {
            delivery_bps: 5_000_000_000,
            app_limited: true,
            backed_up: true,
            ours: true,
            queue_delay: queued,
            behind: queued,
            ..on_link(500, CEILING)
        };
        law.report(1, narrowed, stale);
        law.update(narrowed);
        assert_eq!(law.target_kbit(), CEILING, "a bound of 5 Gbit/s");
        // ...and the next, which measures the link, brings the target down.
        let later = narrowed + Duration::from_millis(33);
        let measured = Report {
            delivery_bps: 480_000,
            app_limited: false,
            queue_delay: queued * 2,
            behind: queued * 2,
            ..stale
        };
        law.report(1, later, measured);
        law.update(later);
        assert!(law.target_kbit() <= 480, "{}", law.target_kbit());
    }

    #[test]
    fn a_link_below_the_floor_keeps_the_floor() {
        let start = Instant::now();
        let mut law = RateControl::new(CEILING);
        run(&mut law, start, 0.0, 3.0, |_| 50);
        assert_eq!(law.target_kbit(), FLOOR_KBIT);
    }

    #[test]
    fn the_encoder_gives_up_15_percent_at_most_so_a_slow_viewers_base_layer_fits() {
        let start = Instant::now();
        let mut law = RateControl::new(CEILING);
        let fast = on_link(10_000, CEILING);
        let slow = |fits: u32| Report {
            backed_up: true,
            ours: true,
            base_fits_kbit: Some(fits),
            ..on_link(1000, CEILING)
        };
        law.report(1, start, fast);
        law.report(2, start, slow(1800));
        assert_eq!(law.update(start), Some(1800));
        law.report(2, start, slow(1750));
        assert_eq!(law.update(start), None, "small moves are not followed");
        law.report(2, start, slow(1600));
        assert_eq!(law.update(start), Some(1700), "15% at most");
        assert!(!law.narrow(), "the link followed takes the whole stream");
        law.report(2, start, slow(900));
        assert_eq!(
            law.update(start),
            Some(CEILING),
            "nothing is given up for a base layer that would not fit anyway"
        );
        law.report(2, start, slow(1800));
        assert_eq!(law.update(start), Some(1800));
        law.forget(2);
        assert_eq!(law.update(start), Some(CEILING), "the slow viewer left");
    }

    #[test]
    fn a_spare_given_is_kept_through_small_moves_and_unmeasured_moments() {
        let start = Instant::now();
        let mut law = RateControl::new(CEILING);
        let at = |ms: u64| start + Duration::from_millis(ms);
        let slow = |fits: Option<u32>| Report {
            backed_up: true,
            ours: true,
            base_fits_kbit: fits,
            ..on_link(1000, CEILING)
        };
        law.report(1, at(0), on_link(10_000, CEILING));
        // Not given for a base layer that fits only below the least.
        let short = (f64::from(CEILING) * (1.0 - SPARE) * FIT * 0.9) as u32;
        law.report(2, at(0), slow(Some(short)));
        assert_eq!(law.update(at(0)), None);
        law.report(2, at(0), slow(Some(1700)));
        assert_eq!(law.update(at(0)), Some(1700));
        // Once given, a base layer a tenth short keeps it.
        law.report(2, at(100), slow(Some(short)));
        assert_eq!(law.update(at(100)), None);
        assert_eq!(law.target_kbit(), 1700);
        // Half a second unmeasured keeps it too.
        for ms in [200, 400, 700] {
            law.report(1, at(ms), on_link(10_000, CEILING));
            law.report(2, at(ms), slow(None));
            assert_eq!(law.update(at(ms)), None, "at {ms} ms");
        }
        // Unmeasured for longer, it goes.
        law.report(2, at(2200), slow(None));
        law.report(1, at(2200), on_link(10_000, CEILING));
        assert_eq!(law.update(at(2200)), Some(CEILING));
        // So it does for a slow viewer that falls silent.
        law.report(2, at(3000), slow(Some(1700)));
        assert_eq!(law.update(at(3000)), Some(1700));
        law.report(1, at(5100), on_link(10_000, CEILING));
        assert_eq!(law.update(at(5100)), Some(CEILING));
    }

    #[test]
    fn a_viewer_that_sends_nothing_for_a_while_counts_as_neither_clear_nor_backed_up() {
        let start = Instant::now();
        let mut law = RateControl::new(CEILING);
        // Viewer 2 takes keyframes only: a report every 3 s, capped.
        let capped = Report {
            backed_up: true,
            ours: true,
            ..on_link(300, CEILING)
        };
        for i in 0..150 {
            let now = start + Duration::from_millis(i * 33);
            if i % 90 == 0 {
                law.report(2, now, capped);
            }
            // Viewer 1's link narrows to 1 Mbit/s after two seconds.
            let link = if i < 60 { 20_000 } else { 1000 };
            law.report(1, now, on_link(link, law.target_kbit()));
            law.update(now);
            if i == 80 {
                assert!(!law.others_clear(1, now), "a capped viewer is not clear");
            }
        }
        assert!(
            law.target_kbit() <= 1000,
            "the fast viewer is followed down: {}",
            law.target_kbit()
        );
        let later = start + Duration::from_secs(10);
        assert!(!law.others_clear(1, later), "a silent viewer is not clear");
        assert!(!law.others_clear(2, later), "nor is one silent since");
    }
}
