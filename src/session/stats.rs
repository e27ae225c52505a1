//! What a receiver measures, and the one-line JSON summary it prints.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::limits;
use crate::media::source::now_us;
use crate::wire::StreamInfo;

/// Largest frame age the latency histogram records: one minute, in µs.
const MAX_LATENCY_US: u64 = 60_000_000;

/// How far back the current frame rate and bitrate look.
const NOW_WINDOW: Duration = Duration::from_secs(1);

/// Frames remembered for them at most, whatever the frame rate.
const NOW_FRAMES: usize = 4096;

/// The largest integer a JSON reader holds exactly (2^53).
const MAX_EXACT_JSON: u64 = 1 << 53;

/// A frame's sequence number that no sender makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SeqError {
    /// It did not grow.
    #[error("frame {seq} came after frame {last}")]
    NotIncreasing {
        /// The one before.
        last: u64,
        /// This one.
        seq: u64,
    },
    /// It jumped implausibly far.
    #[error("frame {seq} came straight after frame {last}")]
    Jump {
        /// The one before.
        last: u64,
        /// This one.
        seq: u64,
    },
}

/// Running measurements of one receiver.
pub struct Stats {
    info: Option<StreamInfo>,
    from: Option<String>,
    frames: u64,
    bytes: u64,
    dropped: u64,
    decode_errors: u64,
    last_seq: Option<u64>,
    started: Option<Instant>,
    last_decoded: Option<Instant>,
    latency_us: Histogram<u64>,
    last_latency_us: u64,
    /// Body length of the frame that arrived last, counted once decoded.
    arrived_bytes: u64,
    /// The size the last frame was coded at, where smaller than the
    /// stream's (H.264 at half size on a narrow link).
    coded_smaller: Option<(u32, u32)>,
    /// Frames coded smaller than the stream.
    smaller_frames: u64,
    /// When each frame of the last [`NOW_WINDOW`] was decoded, and its bytes.
    recent: VecDeque<(Instant, u64)>,
    log: Option<Box<dyn Write + Send>>,
}

impl std::fmt::Debug for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stats")
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            info: None,
            from: None,
            frames: 0,
            bytes: 0,
            dropped: 0,
            decode_errors: 0,
            last_seq: None,
            started: None,
            last_decoded: None,
            latency_us: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("valid histogram bounds"),
            last_latency_us: 0,
            arrived_bytes: 0,
            coded_smaller: None,
            smaller_frames: 0,
            recent: VecDeque::new(),
            log: None,
        }
    }
}

/// The JSON summary of `receiver --json` (see the contract for each key).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    pub frames: u64,
    pub seconds: f64,
    pub fps: f64,
    pub bytes: u64,
    pub mbit_per_s: f64,
    pub width: u32,
    pub height: u32,
    pub codec: &'static str,
    pub latency_ms_p50: f64,
    pub latency_ms_p99: f64,
    pub latency_ms_max: f64,
    pub dropped: u64,
    pub decode_errors: u64,
    pub fps_last_second: f64,
    pub mbit_per_s_last_second: f64,
    pub half_size_frames: u64,
}

impl Stats {
    /// Writes a CSV line per decoded frame to `log`: sequence number,
    /// capture and decode times (µs since the Unix epoch), age in ms and
    /// the length of the frame's message body.
    pub fn set_log(&mut self, mut log: Box<dyn Write + Send>) -> io::Result<()> {
        writeln!(log, "seq,captured_us,decoded_us,latency_ms,bytes")?;
        self.log = Some(log);
        Ok(())
    }

    /// Flushes the frame log, if there is one.
    pub fn flush_log(&mut self) -> io::Result<()> {
        self.log.as_mut().map_or(Ok(()), |log| log.flush())
    }

    /// Records the announcement of a stream, on a new connection: its
    /// sequence numbers start afresh.
    pub fn set_info(&mut self, info: StreamInfo) {
        self.info = Some(info);
        self.last_seq = None;
    }

    /// Records a new connection's stream, [`Stats::set_info`], and who
    /// sends it, as the user knows the sender (its name and address).
    pub fn set_stream(&mut self, info: StreamInfo, from: &str) {
        self.set_info(info);
        if self.from.as_deref() != Some(from) {
            self.from = Some(from.to_string());
        }
    }

    /// Who sends the stream now, as [`Stats::set_stream`] was told.
    pub fn from(&self) -> Option<&str> {
        self.from.as_deref()
    }

    /// Records a frame message of `body_len` bytes whose first byte arrived
    /// at `first_byte`; returns how many frames were missed before it. Its
    /// bytes count once it is decoded.
    ///
    /// A sequence number that does not grow, or jumps by more than
    /// [`limits::MAX_SEQ_GAP`], is a protocol error: no sender makes one.
    pub fn frame_arrived(
        &mut self,
        seq: u64,
        body_len: usize,
        first_byte: Instant,
    ) -> Result<u64, SeqError> {
        let missed = match self.last_seq {
            Some(last) if seq <= last => return Err(SeqError::NotIncreasing { last, seq }),
            Some(last) if seq - last > limits::MAX_SEQ_GAP => {
                return Err(SeqError::Jump { last, seq });
            }
            Some(last) => seq - last - 1,
            None => 0,
        };
        // Kept an exact JSON number, whatever a peer does.
        self.dropped = (self.dropped + missed).min(MAX_EXACT_JSON);
        self.last_seq = Some(seq);
        self.arrived_bytes = body_len as u64;
        self.started.get_or_insert(first_byte);
        Ok(missed)
    }

    /// Records a frame whose pixels are ready, captured at `captured_us`.
    pub fn frame_decoded(&mut self, captured_us: u64) {
        self.frames += 1;
        let bytes = std::mem::take(&mut self.arrived_bytes);
        self.bytes += bytes;
        let now = Instant::now();
        self.last_decoded = Some(now);
        while self
            .recent
            .front()
            .is_some_and(|&(at, _)| now.duration_since(at) > NOW_WINDOW)
            || self.recent.len() >= NOW_FRAMES
        {
            self.recent.pop_front();
        }
        self.recent.push_back((now, bytes));
        let decoded_us = now_us();
        let age = decoded_us
            .saturating_sub(captured_us)
            .clamp(1, MAX_LATENCY_US);
        self.last_latency_us = age;
        self.latency_us.saturating_record(age);
        if let Some(log) = &mut self.log {
            let seq = self.last_seq.unwrap_or(0);
            let ms = age as f64 / 1000.0;
            if let Err(e) = writeln!(log, "{seq},{captured_us},{decoded_us},{ms:.3},{bytes}") {
                crate::console::warn(&format!("stopped the frame log: {e}"));
                self.log = None;
            }
        }
    }

    /// Records the size the frame just decoded was coded at (`None`: the
    /// codec does not say).
    pub fn frame_coded(&mut self, size: Option<(u32, u32)>) {
        let whole = self.info.map(|i| (i.width, i.height));
        self.coded_smaller = size.filter(|&s| Some(s) != whole);
        if self.coded_smaller.is_some() {
            self.smaller_frames += 1;
        }
    }

    /// The size the last frame was coded at, when smaller than the stream.
    pub fn coded_smaller(&self) -> Option<(u32, u32)> {
        self.coded_smaller
    }

    /// Records a frame whose pixels could not be decoded.
    /// Returns how many have been skipped so far.
    pub fn frame_undecodable(&mut self) -> u64 {
        self.arrived_bytes = 0;
        self.decode_errors += 1;
        self.decode_errors
    }

    /// Frames decoded so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Bytes of frame messages so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Age of the newest decoded frame, in milliseconds.
    pub fn last_latency_ms(&self) -> f64 {
        self.last_latency_us as f64 / 1000.0
    }

    /// The summary as it stands.
    pub fn summary(&self) -> Summary {
        let seconds = match (self.started, self.last_decoded) {
            (Some(start), Some(end)) => end.saturating_duration_since(start).as_secs_f64(),
            _ => 0.0,
        };
        let per_second = |n: f64| if seconds > 0.0 { n / seconds } else { 0.0 };
        let quantile_ms = |q: f64| match self.frames {
            0 => 0.0,
            _ => self.latency_us.value_at_quantile(q) as f64 / 1000.0,
        };
        let info = self.info;
        Summary {
            frames: self.frames,
            seconds,
            fps: per_second(self.frames as f64),
            bytes: self.bytes,
            mbit_per_s: per_second(self.bytes as f64 * 8.0 / 1e6),
            width: info.map_or(0, |i| i.width),
            height: info.map_or(0, |i| i.height),
            codec: info.map_or("none", |i| i.codec.name()),
            latency_ms_p50: quantile_ms(0.5),
            latency_ms_p99: quantile_ms(0.99),
            latency_ms_max: quantile_ms(1.0),
            dropped: self.dropped,
            decode_errors: self.decode_errors,
            fps_last_second: self.recent.len() as f64 / NOW_WINDOW.as_secs_f64(),
            mbit_per_s_last_second: self.recent.iter().map(|&(_, b)| b).sum::<u64>() as f64 * 8.0
                / 1e6
                / NOW_WINDOW.as_secs_f64(),
            half_size_frames: self.smaller_frames,
        }
    }
}

impl Summary {
    /// The summary as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a summary always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Codec;

    #[test]
    fn the_last_second_counts_the_frames_and_bytes_decoded_in_it() {
        let mut stats = Stats::default();
        let now = Instant::now();
        for seq in 0..12 {
            stats.frame_arrived(seq, 25_000, now).unwrap();
            stats.frame_decoded(now_us());
        }
        let summary = stats.summary();
        assert_eq!(summary.fps_last_second, 12.0);
        assert!(
            (summary.mbit_per_s_last_second - 2.4).abs() < 1e-9,
            "{summary:?}"
        );
    }

    #[test]
    fn gaps_in_sequence_numbers_count_as_dropped() {
        let mut stats = Stats::default();
        let now = Instant::now();
        for seq in [5, 6, 9, 10] {
            stats.frame_arrived(seq, 100, now).unwrap();
            stats.frame_decoded(now_us());
        }
        let summary = stats.summary();
        assert_eq!(summary.dropped, 2);
        assert_eq!(summary.frames, 4);
        assert_eq!(summary.bytes, 400);
    }

    #[test]
    fn sequence_numbers_no_sender_makes_are_errors_and_dropped_stays_exact() {
        let mut stats = Stats::default();
        let now = Instant::now();
        stats.frame_arrived(0, 1, now).unwrap();
        assert_eq!(
            stats.frame_arrived(u64::MAX, 1, now),
            Err(SeqError::Jump {
                last: 0,
                seq: u64::MAX
            })
        );
        assert_eq!(
            stats.frame_arrived(limits::MAX_SEQ_GAP, 1, now),
            Ok(limits::MAX_SEQ_GAP - 1)
        );
        assert!(matches!(
            stats.frame_arrived(5, 1, now),
            Err(SeqError::NotIncreasing { .. })
        ));
        let mut last = limits::MAX_SEQ_GAP;
        for _ in 0..(MAX_EXACT_JSON / limits::MAX_SEQ_GAP) + 2 {
            last += limits::MAX_SEQ_GAP;
            stats.frame_arrived(last, 1, now).unwrap();
        }
        assert_eq!(stats.summary().dropped, MAX_EXACT_JSON);
        stats.set_info(StreamInfo {
            width: 1,
            height: 1,
            codec: Codec::Raw,
        });
        assert_eq!(
            stats.frame_arrived(0, 1, now),
            Ok(0),
            "a new connection starts afresh"
        );
    }

    #[test]
    fn the_frame_log_has_a_line_per_frame_with_its_bytes() {
        #[derive(Clone, Default)]
        struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let log = Shared::default();
        let mut stats = Stats::default();
        stats.set_log(Box::new(log.clone())).unwrap();
        stats.frame_arrived(3, 1234, Instant::now()).unwrap();
        stats.frame_decoded(now_us());
        let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "seq,captured_us,decoded_us,latency_ms,bytes");
        let fields: Vec<&str> = lines[1].split(',').collect();
        assert_eq!((fields[0], fields[4]), ("3", "1234"));
    }

    #[test]
    fn summary_is_one_line_of_json_with_the_contract_keys() {
        let mut stats = Stats::default();
        stats.set_info(StreamInfo {
            width: 4,
            height: 2,
            codec: Codec::Jpeg,
        });
        stats.frame_arrived(0, 10, Instant::now()).unwrap();
        stats.frame_decoded(now_us().saturating_sub(2_000));
        let json = stats.summary().to_json();
        assert!(!json.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        for key in [
            "frames",
            "seconds",
            "fps",
            "bytes",
            "width",
            "height",
            "codec",
            "latency_ms_p50",
            "latency_ms_p99",
            "latency_ms_max",
            "dropped",
        ] {
            assert!(value.get(key).is_some(), "{key} missing from {json}");
        }
        assert_eq!(value["codec"], "jpeg");
        assert!(value["latency_ms_p50"].as_f64().unwrap() >= 2.0);
    }
}
