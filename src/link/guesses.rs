//! Limits on guessing a private sender's code.
//!
//! Each source (an IPv4 address, or an IPv6 /64: see [`net::origin`]) has a
//! bucket of [`limits::GUESS_BURST`] attempts that refills one every
//! [`limits::GUESS_INTERVAL`]. Behind them one bucket for everybody, of
//! [`limits::GLOBAL_GUESS_BURST`] refilling one every
//! [`limits::GLOBAL_GUESS_INTERVAL`], caps what many sources together can
//! try. One source can spend only its own bucket's rate of the global one,
//! a tenth, so someone guessing from one machine never keeps out the
//! person who has the code. An attempt that proves the code gives its
//! tokens back.
//!
//! Time is passed in, so the arithmetic is tested on a simulated clock.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::limits;
use crate::link::net;

/// Why an attempt at the code was not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    /// This source has used up its attempts for now.
    ThisSource,
    /// All sources together have.
    Everyone,
}

impl Limited {
    /// Why, as the viewer is told.
    pub fn reason(self) -> &'static str {
        match self {
            Limited::ThisSource => {
                "too many wrong codes lately from your address: try again in a few seconds"
            }
            Limited::Everyone => "too many wrong codes lately: try again in a few seconds",
        }
    }
}

/// How long it takes at most to try every one of `codes` codes at these
/// limits: from many sources at once (the shared allowance: burst, then
/// one a [`limits::GLOBAL_GUESS_INTERVAL`]), and from one source alone.
pub fn time_to_try_all(codes: f64) -> (Duration, Duration) {
    let at = |burst: u32, interval: Duration| {
        let after_burst = (codes - f64::from(burst)).max(0.0);
        Duration::from_secs_f64((after_burst * interval.as_secs_f64()).min(1e15))
    };
    (
        at(limits::GLOBAL_GUESS_BURST, limits::GLOBAL_GUESS_INTERVAL),
        at(limits::GUESS_BURST, limits::GUESS_INTERVAL),
    )
}

/// A token bucket: `burst` attempts, one more every `interval`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl Bucket {
    fn full(burst: u32, now: Instant) -> Self {
        Bucket {
            tokens: f64::from(burst),
            refilled: now,
        }
    }

    /// Adds what time has earned since the last refill, up to `burst`.
    fn refill(&mut self, burst: u32, interval: Duration, now: Instant) {
        let earned =
            now.saturating_duration_since(self.refilled).as_secs_f64() / interval.as_secs_f64();
        self.tokens = (self.tokens + earned).min(f64::from(burst));
        self.refilled = now;
    }

    fn give_back(&mut self, burst: u32) {
        self.tokens = (self.tokens + 1.0).min(f64::from(burst));
    }
}

#[derive(Debug)]
struct State {
    everyone: Bucket,
    sources: HashMap<IpAddr, Bucket>,
    failures: u64,
}

/// The guess limits of one sender, shared by its viewer threads.
#[derive(Debug)]
pub struct GuessLimiter {
    state: Mutex<State>,
}

impl Default for GuessLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl GuessLimiter {
    /// Full buckets.
    pub fn new() -> Self {
        Self::starting_at(Instant::now())
    }

    fn starting_at(now: Instant) -> Self {
        GuessLimiter {
            state: Mutex::new(State {
                everyone: Bucket::full(limits::GLOBAL_GUESS_BURST, now),
                sources: HashMap::new(),
                failures: 0,
            }),
        }
    }

    /// Takes a token for one attempt from `ip`, from its source's bucket
    /// and the global one; neither is spent when either is empty.
    pub fn try_start(&self, ip: IpAddr) -> Result<(), Limited> {
        self.try_start_at(ip, Instant::now())
    }

    fn try_start_at(&self, ip: IpAddr, now: Instant) -> Result<(), Limited> {
        let mut state = self.lock();
        let source = net::origin(ip);
        if !state.sources.contains_key(&source) {
            forget_idle_sources(&mut state.sources, now);
            if state.sources.len() >= limits::MAX_GUESS_SOURCES {
                // So many sources guessing at once: the global bucket is
                // as good as empty anyway.
                return Err(Limited::Everyone);
            }
        }
        let bucket = state
            .sources
            .entry(source)
            .or_insert_with(|| Bucket::full(limits::GUESS_BURST, now));
        bucket.refill(limits::GUESS_BURST, limits::GUESS_INTERVAL, now);
        if bucket.tokens < 1.0 {
            return Err(Limited::ThisSource);
        }
        let everyone = &mut state.everyone;
        everyone.refill(
            limits::GLOBAL_GUESS_BURST,
            limits::GLOBAL_GUESS_INTERVAL,
            now,
        );
        if everyone.tokens < 1.0 {
            return Err(Limited::Everyone);
        }
        everyone.tokens -= 1.0;
        if let Some(bucket) = state.sources.get_mut(&source) {
            bucket.tokens -= 1.0;
        }
        Ok(())
    }

    /// Gives the tokens back: the attempt from `ip` knew the code.
    pub fn succeeded(&self, ip: IpAddr) {
        let mut state = self.lock();
        state.everyone.give_back(limits::GLOBAL_GUESS_BURST);
        if let Some(bucket) = state.sources.get_mut(&net::origin(ip)) {
            bucket.give_back(limits::GUESS_BURST);
        }
    }

    /// Counts a wrong code; returns how many there have been.
    pub fn failed(&self) -> u64 {
        let mut state = self.lock();
        state.failures += 1;
        state.failures
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        crate::sync::lock(&self.state)
    }
}

/// Drops the sources whose buckets have filled up again: they hold nothing
/// a fresh bucket would not, and the map stays bounded.
fn forget_idle_sources(sources: &mut HashMap<IpAddr, Bucket>, now: Instant) {
    if sources.len() < limits::MAX_GUESS_SOURCES {
        return;
    }
    sources.retain(|_, bucket| {
        let mut later = *bucket;
        later.refill(limits::GUESS_BURST, limits::GUESS_INTERVAL, now);
        later.tokens < f64::from(limits::GUESS_BURST)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    /// Attempts from `from`, one every `every`, for `span`, all wrong;
    /// returns how many were let through.
    fn guess_for(
        limiter: &GuessLimiter,
        from: IpAddr,
        start: Instant,
        every: Duration,
        span: Duration,
    ) -> u32 {
        let mut allowed = 0;
        let mut at = start;
        while at < start + span {
            if limiter.try_start_at(from, at).is_ok() {
                limiter.failed();
                allowed += 1;
            }
            at += every;
        }
        allowed
    }

    #[test]
    fn a_four_digit_code_falls_within_hours() {
        let (everyone, one) = time_to_try_all(10_000.0);
        let hours = |d: Duration| d.as_secs_f64() / 3600.0;
        assert!((2.7..2.8).contains(&hours(everyone)), "{everyone:?}");
        assert!((27.0..28.0).contains(&hours(one)), "{one:?}");
        assert_eq!(time_to_try_all(3.0), (Duration::ZERO, Duration::ZERO));
    }

    #[test]
    fn one_source_gets_its_burst_then_one_guess_per_interval() {
        let start = Instant::now();
        let limiter = GuessLimiter::starting_at(start);
        let hour = Duration::from_secs(3600);
        let allowed = guess_for(&limiter, ip(1), start, Duration::from_millis(200), hour);
        let expected =
            limits::GUESS_BURST + (hour.as_secs() / limits::GUESS_INTERVAL.as_secs()) as u32;
        assert!(
            allowed.abs_diff(expected) <= 1,
            "{allowed} guesses in an hour, expected about {expected}"
        );
    }

    #[test]
    fn a_guesser_never_keeps_out_someone_from_another_address() {
        let start = Instant::now();
        let limiter = GuessLimiter::starting_at(start);
        let span = Duration::from_secs(500);
        guess_for(&limiter, ip(1), start, Duration::from_millis(50), span);
        let at = start + span;
        let _ = limiter.try_start_at(ip(1), at);
        assert_eq!(
            limiter.try_start_at(ip(1), at),
            Err(Limited::ThisSource),
            "the guesser is held to its own rate"
        );
        for _ in 0..3 {
            assert_eq!(limiter.try_start_at(ip(2), at), Ok(()), "the right viewer");
            limiter.succeeded(ip(2));
        }
    }

    #[test]
    fn many_sources_together_hit_the_global_ceiling() {
        let start = Instant::now();
        let limiter = GuessLimiter::starting_at(start);
        let allowed: u32 = (0..=255)
            .map(|last| u32::from(limiter.try_start_at(ip(last), start).is_ok()))
            .sum();
        assert_eq!(allowed, limits::GLOBAL_GUESS_BURST);
        let later = start + limits::GLOBAL_GUESS_INTERVAL;
        assert_eq!(limiter.try_start_at(ip(1), later), Ok(()));
        assert_eq!(limiter.try_start_at(ip(2), later), Err(Limited::Everyone));
    }

    #[test]
    fn a_refusal_spends_nothing_and_a_right_code_gives_back() {
        let start = Instant::now();
        let limiter = GuessLimiter::starting_at(start);
        for _ in 0..limits::GUESS_BURST {
            limiter.try_start_at(ip(1), start).unwrap();
        }
        assert_eq!(limiter.try_start_at(ip(1), start), Err(Limited::ThisSource));
        limiter.succeeded(ip(1));
        assert_eq!(limiter.try_start_at(ip(1), start), Ok(()));
        let ok = GuessLimiter::starting_at(start);
        for _ in 0..3 * limits::GLOBAL_GUESS_BURST {
            assert_eq!(ok.try_start_at(ip(3), start), Ok(()));
            ok.succeeded(ip(3));
        }
    }

    #[test]
    fn an_ipv6_network_is_one_source() {
        let start = Instant::now();
        let limiter = GuessLimiter::starting_at(start);
        let v6 = |last: u16| IpAddr::from([0x2001, 0xdb8, 0, 1, 0, 0, 0, last]);
        for i in 0..limits::GUESS_BURST as u16 {
            limiter.try_start_at(v6(i), start).unwrap();
        }
        assert_eq!(
            limiter.try_start_at(v6(999), start),
            Err(Limited::ThisSource)
        );
    }

    #[test]
    fn the_sources_remembered_stay_bounded() {
        let start = Instant::now();
        let limiter = GuessLimiter::starting_at(start);
        let mut at = start;
        for i in 0..(3 * limits::MAX_GUESS_SOURCES as u32) {
            let source = IpAddr::from((0x0a00_0000 + i).to_be_bytes());
            let _ = limiter.try_start_at(source, at);
            at += limits::GUESS_INTERVAL;
        }
        assert!(limiter.lock().sources.len() <= limits::MAX_GUESS_SOURCES);
    }
}
