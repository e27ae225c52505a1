//! Writes that wait for the link. A viewer thread reports its link just
//! before each frame, so while one frame's write waits it says nothing:
//! when the link narrows under a running stream, the frames already
//! written hold the write for a quarter of a second or more (at 0.5
//! Mbit/s, one 15 KB frame of a 2 Mbit/s stream takes 0.24 s), and the
//! encoder goes on making frames for the old rate meanwhile. So the
//! capture thread, which applies the bitrate law before each frame, asks
//! the kernel about every write that has waited [`STUCK_AFTER`], and
//! reports what the link carried since the write began.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::flow::rate::Report;
use crate::link::tcpinfo::{self, TcpSample};

/// How long a write must have waited before the link is measured from
/// it: long enough that the bytes acknowledged meanwhile measure it.
pub const STUCK_AFTER: Duration = Duration::from_millis(100);

/// One viewer's socket, and the write it is in, if any.
#[derive(Debug)]
pub struct Writes {
    socket: TcpStream,
    /// When the write began, and the kernel's counts then.
    began: Option<(Instant, Counts)>,
}

/// The kernel's counts a write's wait is measured from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Bytes acknowledged in all.
    pub acked: u64,
    /// Microseconds in all that data waited for the peer's window.
    pub rwnd_limited_us: u64,
}

impl From<&TcpSample> for Counts {
    fn from(sample: &TcpSample) -> Self {
        Counts {
            acked: sample.bytes_acked,
            rwnd_limited_us: sample.rwnd_limited_us,
        }
    }
}

impl Writes {
    /// The writes to `socket` (a clone of the viewer's).
    pub fn new(socket: TcpStream) -> Self {
        Writes {
            socket,
            began: None,
        }
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
        let sample = tcpinfo::sample(&self.socket)?;
        stuck_report(now.duration_since(since), counts, &sample)
    }
}

/// The report for a write that has waited `waited`, from the kernel's
/// `counts` when it began and its `sample` now.
fn stuck_report(waited: Duration, counts: Counts, sample: &TcpSample) -> Option<Report> {
    if waited < STUCK_AFTER || sample.notsent == 0 {
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
    let bits = sample.bytes_acked.saturating_sub(counts.acked) * 8;
    Some(Report {
        delivery_bps: (bits as f64 / waited.as_secs_f64()) as u64,
        app_limited: false,
        backed_up: true,
        unsent: true,
        queue_delay: Duration::from_micros(u64::from(
            sample.rtt_us.saturating_sub(sample.min_rtt_us),
        )),
        base_fits_kbit: None,
        carried_bps: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(acked: u64, rwnd_limited_ms: u64) -> TcpSample {
        TcpSample {
            delivery_rate: 0,
            app_limited: false,
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
        assert!(report.backed_up && report.unsent && !report.app_limited);
        assert_eq!(report.queue_delay, Duration::from_millis(80));
        assert_eq!(
            stuck_report(Duration::from_millis(50), began, &now),
            None,
            "too short to say"
        );
        let sent = TcpSample { notsent: 0, ..now };
        assert_eq!(
            stuck_report(Duration::from_millis(200), began, &sent),
            None,
            "nothing waits: the write is about to end"
        );
    }

    #[test]
    fn a_write_the_peer_holds_says_nothing_of_the_link() {
        let began = Counts::from(&sample(100_000, 30));
        let now = sample(100_500, 1030);
        assert_eq!(stuck_report(Duration::from_secs(1), began, &now), None);
    }
}
