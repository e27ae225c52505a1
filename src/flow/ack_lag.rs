//! How far a viewer's link has fallen behind the rate it is sent at, from
//! when each frame's last byte is acknowledged.
//!
//! When a link narrows under a running stream, the kernel at first keeps
//! taking the frames: they wait in flight (a large congestion window, a
//! shaper's queue, losses being repaired) rather than unsent, so "data
//! waits unsent" comes late, and on a shaper that drops instead of
//! queueing, the round trip never grows. What does show at once is that
//! each frame is acknowledged later than the rate allows.
//!
//! [`AckLag`] keeps, for each frame written and not yet acknowledged, when
//! a link carrying exactly the rate it was sent for would have carried its
//! last byte: the frames go through such a link one after the other, each
//! from when it was written or when the one before it was through,
//! whichever is later (so a keyframe's burst takes its time there too).
//! A frame still unacknowledged past that time (and a round trip) says by
//! how much the link is behind: a link that carries the rate or more is
//! never behind, one that carries less falls further behind with every
//! frame, and a queue it left stays counted until it has drained (the real
//! link's backlog is no excuse, only the one a link at the rate would
//! have).
//!
//! Like `flow::rate`, it runs on times given to it, so tests drive it on a
//! simulated clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How far behind the link may fall before it counts as backed up: about
/// a frame and a half at 30 fps, more than a delayed acknowledgement
/// (40 ms on Linux) of a frame that fits in one segment.
pub const BEHIND_LIMIT: Duration = Duration::from_millis(50);

/// The most frames followed: five seconds at 60 fps. A link so far behind
/// is measured from the newest of them.
const MOST_FRAMES: usize = 300;

/// One frame written and not yet acknowledged.
#[derive(Debug, Clone, Copy)]
struct Written {
    /// The byte count at its end, in the kernel's count of bytes
    /// acknowledged.
    end: u64,
    /// When a link carrying the rate would have carried its last byte.
    due: Instant,
}

/// The frames a link has yet to acknowledge (see the module's description).
#[derive(Debug, Default)]
pub struct AckLag {
    frames: VecDeque<Written>,
    /// When a link carrying the rate would be through the last frame.
    through: Option<Instant>,
}

impl AckLag {
    /// A frame of `bytes` written at `at` for a stream of `bps` bits a
    /// second, when the link had acknowledged `acked` bytes and `queued`
    /// more waited (sent or not).
    pub fn wrote(&mut self, at: Instant, acked: u64, queued: u64, bytes: u64, bps: u64) {
        if bps == 0 {
            return;
        }
        if self.frames.len() == MOST_FRAMES {
            self.frames.pop_front();
        }
        let start = self.through.map_or(at, |through| through.max(at));
        let due = start + Duration::from_secs_f64(bytes as f64 * 8.0 / bps as f64);
        self.through = Some(due);
        self.frames.push_back(Written {
            end: acked + queued + bytes,
            due,
        });
    }

    /// How far behind the link is at `now`, with `acked` bytes
    /// acknowledged and a round trip of `rtt` without queues: the most any
    /// frame not yet acknowledged is past its due time.
    pub fn behind(&mut self, now: Instant, acked: u64, rtt: Duration) -> Duration {
        while self.frames.front().is_some_and(|f| f.end <= acked) {
            self.frames.pop_front();
        }
        self.frames
            .iter()
            .map(|f| now.saturating_duration_since(f.due + rtt))
            .max()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: Duration = Duration::from_micros(33_333);

    /// Sends `frames` frames of `bytes` at 30 fps for a stream of
    /// `stream_bps`, over a link that carries `link_bps` with a round trip
    /// of `rtt`, starting at `start` (the link idle); returns how far
    /// behind it was just before each frame.
    fn run(stream_bps: u64, link_bps: u64, bytes: &[u64], rtt: Duration) -> Vec<Duration> {
        let start = Instant::now();
        let mut lag = AckLag::default();
        // When the link finishes carrying what was written so far, and the
        // byte count then.
        let mut free_at = Duration::ZERO;
        let mut written = 0u64;
        // (end byte, acknowledged at) of each frame.
        let mut acks: Vec<(u64, Duration)> = Vec::new();
        let mut seen = Vec::new();
        for (i, &size) in bytes.iter().enumerate() {
            let t = FRAME * i as u32;
            let acked = acks
                .iter()
                .filter(|&&(_, at)| at <= t)
                .map(|&(end, _)| end)
                .max()
                .unwrap_or(0);
            seen.push(lag.behind(start + t, acked, rtt));
            lag.wrote(start + t, acked, written - acked, size, stream_bps);
            free_at = free_at.max(t) + Duration::from_secs_f64(size as f64 * 8.0 / link_bps as f64);
            written += size;
            acks.push((written, free_at + rtt));
        }
        seen
    }

    #[test]
    fn a_link_that_carries_the_stream_is_never_behind() {
        // 2 Mbit/s of 8.3 kB frames, with a 40 kB keyframe every second,
        // on a 3 Mbit/s link with a 20 ms round trip.
        let sizes: Vec<u64> = (0..90)
            .map(|i| if i % 30 == 0 { 40_000 } else { 8_300 })
            .collect();
        let seen = run(2_000_000, 3_000_000, &sizes, Duration::from_millis(20));
        assert!(seen.iter().all(|d| d.is_zero()), "{seen:?}");
    }

    #[test]
    fn a_link_narrower_than_the_stream_falls_behind_at_once() {
        // The same stream on a 0.5 Mbit/s link: each 8.3 kB frame takes
        // 133 ms there, 33 ms at the stream's rate.
        let seen = run(2_000_000, 500_000, &[8_300; 20], Duration::from_millis(5));
        let first = seen.iter().position(|&d| d > BEHIND_LIMIT).expect("behind");
        assert!(first <= 4, "behind after {first} frames: {seen:?}");
        // And further with every frame (a sawtooth: each acknowledgement
        // leaves a younger frame the oldest).
        assert!(seen[19] > seen[4] + 4 * BEHIND_LIMIT, "{seen:?}");
    }

    #[test]
    fn a_frame_acknowledged_is_forgotten() {
        let start = Instant::now();
        let mut lag = AckLag::default();
        lag.wrote(start, 0, 0, 1000, 1_000_000);
        let later = start + Duration::from_secs(1);
        assert_eq!(
            lag.behind(later, 0, Duration::ZERO),
            Duration::from_secs(1) - Duration::from_millis(8)
        );
        assert_eq!(lag.behind(later, 1000, Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn frames_written_together_are_due_one_after_the_other() {
        let start = Instant::now();
        let mut lag = AckLag::default();
        // A 9 kB keyframe and a 1 kB frame just after it, at 1 Mbit/s: due
        // 72 ms and 80 ms on.
        lag.wrote(start, 0, 0, 9000, 1_000_000);
        lag.wrote(start + Duration::from_millis(1), 0, 9000, 1000, 1_000_000);
        let rtt = Duration::from_millis(2);
        let at = |ms| start + Duration::from_millis(ms);
        assert_eq!(lag.behind(at(74), 0, rtt), Duration::ZERO);
        assert_eq!(lag.behind(at(77), 9000, rtt), Duration::ZERO);
        assert_eq!(lag.behind(at(85), 9000, rtt), Duration::from_millis(3));
    }

    #[test]
    fn a_queue_the_link_left_counts_until_it_drains() {
        // 2 Mbit/s of 8.3 kB frames: half a second at 1 Mbit/s builds a
        // queue, and the link then carries 3 Mbit/s.
        let link = |t: f64| if t < 0.5 { 1_000_000 } else { 3_000_000 };
        let start = Instant::now();
        let mut lag = AckLag::default();
        let (mut written, mut carried) = (0u64, 0f64);
        let mut seen = Vec::new();
        for i in 0..60u32 {
            let t = f64::from(i) / 30.0;
            // What the link has carried by t (it is never idle here).
            let acked = carried.min(written as f64) as u64;
            let now = start + Duration::from_secs_f64(t);
            seen.push(lag.behind(now, acked, Duration::ZERO));
            lag.wrote(now, acked, written - acked, 8_300, 2_000_000);
            written += 8_300;
            carried += f64::from(link(t)) / 8.0 / 30.0;
        }
        // Still behind just after the link widened (frame 16), caught up
        // once the queue it left has gone.
        assert!(seen[16] > BEHIND_LIMIT, "{seen:?}");
        assert_eq!(seen[59], Duration::ZERO, "{seen:?}");
    }
}
