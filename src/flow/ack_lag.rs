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
//! it was written and when, at the rate it was sent for, the link should
//! have carried it and everything written before it. The oldest frame
//! still unacknowledged past that time (and a round trip) says by how much
//! the link is behind: a link that carries the rate or more is never
//! behind, one that carries less falls further behind with every frame.
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
    /// When it was written.
    at: Instant,
    /// The byte count at its end, in the kernel's count of bytes
    /// acknowledged.
    end: u64,
    /// How long, at the rate it was sent for, the link needs to carry it
    /// and everything that waited before it.
    due: Duration,
}

/// The frames a link has yet to acknowledge (see the module's description).
#[derive(Debug, Default)]
pub struct AckLag {
    frames: VecDeque<Written>,
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
        let ahead = queued + bytes;
        self.frames.push_back(Written {
            at,
            end: acked + ahead,
            due: Duration::from_secs_f64(ahead as f64 * 8.0 / bps as f64),
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
            .map(|f| now.saturating_duration_since(f.at + f.due + rtt))
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
        // Written behind another 9 kB: due when the 10 kB are carried.
        lag.wrote(later, 1000, 9000, 1000, 1_000_000);
        let due = later + Duration::from_millis(80);
        assert_eq!(lag.behind(due, 1000, Duration::ZERO), Duration::ZERO);
        assert_eq!(
            lag.behind(
                due + Duration::from_millis(5),
                1000,
                Duration::from_millis(2)
            ),
            Duration::from_millis(3)
        );
    }
}
