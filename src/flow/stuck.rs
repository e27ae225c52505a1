//! Writes that wait for the link. A viewer thread reports its link just
//! before each frame, so while one frame's write waits it says nothing:
//! when the link narrows under a running stream, the frames already
//! written hold the write for a quarter of a second or more (at 0.5
//! Mbit/s, one 15 KB frame of a 2 Mbit/s stream takes 0.24 s), and the
//! encoder goes on making frames for the old rate meanwhile. So the
//! capture thread, which applies the bitrate law before each frame, asks
//! the kernel about every write that has waited [`STUCK_AFTER`], and
//! reports what the link carried since the write began. (The kernel is
//! asked through a function the viewer thread gives: `flow` knows no
//! sockets.)

use std::time::{Duration, Instant};

use crate::flow::rate::{Report, SILENT_AFTER};

/// How long a write must have waited before the link is measured from
/// it: long enough that the bytes acknowledged meanwhile measure it.
pub const STUCK_AFTER: Duration = Duration::from_millis(100);

/// What the kernel says of a connection (its `TCP_INFO`), as far as a
/// write's wait is measured from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Bytes written but not yet sent.
    pub notsent: u32,
    /// Smoothed round trip, in microseconds.
    pub rtt_us: u32,
    /// The smallest round trip seen, in microseconds.
    pub min_rtt_us: u32,
    /// Bytes acknowledged in all.
    pub bytes_acked: u64,
    /// Microseconds in all that data waited for the peer's window.
    pub rwnd_limited_us: u64,
}

/// Asks the kernel about one viewer's connection.
pub type Ask = Box<dyn Fn() -> Option<Sample> + Send>;

/// One viewer's connection, and the write it is in, if any.
pub struct Waiting {
    ask: Ask,
    /// When the write began, and the kernel's counts then.
    began: Option<(Instant, Counts)>,
}

impl std::fmt::Debug for Waiting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiting")
            .field("began", &self.began)
            .finish_non_exhaustive()
    }
}

/// The kernel's counts a write's wait is measured from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Bytes acknowledged in all.
    pub acked: u64,
    /// Microseconds in all that data waited for the peer's window.
    pub rwnd_limited_us: u64,
}

impl From<&Sample> for Counts {
    fn from(sample: &Sample) -> Self {
        Counts {
            acked: sample.bytes_acked,
            rwnd_limited_us: sample.rwnd_limited_us,
        }
    }
}

impl Waiting {
    /// The writes of a connection the kernel is asked about with `ask`.
    pub fn new(ask: Ask) -> Self {
        Waiting { ask, began: None }
    }

    /// A write begins at `now`, the kernel's counts being `counts`; or,
    /// with `None`, the write is over.
    pub fn writing(&mut self, now: Instant, counts: Option<Counts>) {
        self.began = counts.map(|counts| (now, counts));
    }

    /// What the link showed at `now` of a write that has waited
    /// [`STUCK_AFTER`]; nothing otherwise, or when the peer, not the link,
    /// held it (a full receive window: it reads slowly or not at all).
    pub fn report(&self, now: Instant) -> Option<Report> {
        let (since, counts) = self.began?;
        let sample = (self.ask)()?;
        stuck_report(now.duration_since(since), counts, &sample)
    }
}

/// The report for a write that has waited `waited`, from the kernel's
/// `counts` when it began and its `sample` now. Nothing before two round
/// trips past [`STUCK_AFTER`] (the first acknowledgements of a write to an
/// idle link take a round trip to come), nothing once nothing at all was
/// acknowledged (the peer or its network is gone: the viewer is silent,
/// as `flow::rate` expects), and nothing from [`SILENT_AFTER`] on.
fn stuck_report(waited: Duration, counts: Counts, sample: &Sample) -> Option<Report> {
    let round_trips = Duration::from_micros(u64::from(sample.min_rtt_us) * 2);
    if waited < STUCK_AFTER + round_trips || waited >= SILENT_AFTER || sample.notsent == 0 {
        return None;
    }
    let held = Duration::from_micros(
        sample
            .rwnd_limited_us
            .saturating_sub(counts.rwnd_limited_us),
    );
    if held * 2 >= waited {
        return None;
    }
    let bits = sample
        .bytes_acked
        .saturating_sub(counts.acked)
        .saturating_mul(8);
    if bits == 0 {
        return None;
    }
    Some(Report {
        delivery_bps: (bits as f64 / waited.as_secs_f64()) as u64,
        app_limited: false,
        backed_up: true,
        ours: true,
        queue_delay: Duration::from_micros(u64::from(
            sample.rtt_us.saturating_sub(sample.min_rtt_us),
        )),
        // (The viewer thread follows how late its frames are acknowledged,
        // and reports that once its write is done; until then the stream
        // is at least as far behind as the write has waited. A shaper that
        // drops what queues past it keeps the round trip low: a drain
        // taken as over by 29 ms of it, with a write 0.34 s behind, sent
        // the backlog on growing, seen here.)
        behind: waited,
        base_fits_kbit: None,
        carried_bps: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(acked: u64, rwnd_limited_ms: u64) -> Sample {
        Sample {
            notsent: 5000,
            rtt_us: 90_000,
            min_rtt_us: 10_000,
            bytes_acked: acked,
            rwnd_limited_us: rwnd_limited_ms * 1000,
        }
    }

    #[test]
    fn a_write_that_waits_for_the_link_measures_it() {
        let began = Counts::from(&sample(100_000, 0));
        let now = sample(112_500, 0);
        // 12.5 kB in 0.2 s: 0.5 Mbit/s, with 80 ms queued.
        let report = stuck_report(Duration::from_millis(200), began, &now).unwrap();
        assert_eq!(report.delivery_bps, 500_000);
        assert!(report.backed_up && report.ours && !report.app_limited);
        assert_eq!(report.queue_delay, Duration::from_millis(80));
        assert_eq!(
            report.behind,
            Duration::from_millis(200),
            "as long as it waited"
        );
        assert_eq!(
            stuck_report(Duration::from_millis(50), began, &now),
            None,
            "too short to say"
        );
        let sent = Sample { notsent: 0, ..now };
        assert_eq!(
            stuck_report(Duration::from_millis(200), began, &sent),
            None,
            "nothing waits: the write is about to end"
        );
    }

    #[test]
    fn a_write_that_nothing_was_acknowledged_of_says_nothing() {
        let began = Counts::from(&sample(100_000, 0));
        let now = sample(100_000, 0);
        assert_eq!(stuck_report(Duration::from_millis(500), began, &now), None);
        let moved = sample(150_000, 0);
        assert_eq!(
            stuck_report(Duration::from_secs(3), began, &moved),
            None,
            "a write stuck this long leaves its viewer silent"
        );
        let far = Sample {
            min_rtt_us: 100_000,
            ..moved
        };
        assert_eq!(
            stuck_report(Duration::from_millis(250), began, &far),
            None,
            "two round trips of a far link have not passed"
        );
    }

    #[test]
    fn a_write_the_peer_holds_says_nothing_of_the_link() {
        let began = Counts::from(&sample(100_000, 30));
        let now = sample(100_500, 1030);
        assert_eq!(stuck_report(Duration::from_secs(1), began, &now), None);
    }
}
