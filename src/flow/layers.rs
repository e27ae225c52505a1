//! How many temporal layers one viewer takes, when its link cannot carry
//! the whole stream that the others get.
//!
//! One encoder serves every viewer, and its bitrate follows the viewers
//! that can take the most (`flow::rate`). A viewer on a slower link than
//! theirs gets fewer frames instead: it leaves out whole temporal layers,
//! top first (with OpenH264's T0 T2 T1 T2 pattern, 30 fps becomes 15,
//! then 7.5), which needs no second encode and leaves every frame it takes
//! decodable. Below even the base layer it takes keyframes only.
//!
//! The law ([`LayerCap`]):
//! - **Only when the encoder follows someone else.** Once no other viewer
//!   has been clear for [`FOLLOWED_AFTER`], the encoder's bitrate comes
//!   down for this one, and leaving out layers would only cost it frames:
//!   it takes everything. (Not at once: one burst queued on the other's
//!   link must not flood this one.)
//! - **Down to what fits.** Once the link has been backed up for
//!   [`DOWN_AFTER`], the viewer takes the most layers that fit in [`FIT`]
//!   of what its link carried while backed up (the base layer alone may
//!   fill the link), but at least the base layer: keyframes only come
//!   after [`KEYFRAMES_ONLY_AFTER`] backed up on the base layer alone, so
//!   that one rate measured low (a new connection still finding its pace,
//!   the queue a failed try of a layer left) does not cost the whole
//!   picture. Unmeasured, one layer fewer. A link
//!   that carries what it is sent only queued a burst (a keyframe): no
//!   change.
//! - **Up one at a time.** After [`UP_AFTER`] with nothing waiting, one
//!   layer more, unless the link's rate measured in the last [`KNOWN_FOR`]
//!   says it does not fit. A step up that backs the link up within [`UP_AFTER`] is
//!   undone at once, and the next waits twice as long (up to [`MAX_UP_AFTER`]), so
//!   a link that cannot take the next layer is not tried every second.
//!
//! Like `flow::rate`, it runs on times given to it, so tests drive it on a
//! simulated clock.

use std::time::{Duration, Instant};

/// How long a link must stay backed up before layers are left out.
pub const DOWN_AFTER: Duration = Duration::from_millis(150);
/// The share of a link's measured rate the layers taken may fill (the base
/// layer may fill it all).
pub const FIT: f64 = 0.85;
/// How long a link must stay backed up on the base layer alone before the
/// viewer takes keyframes only.
pub const KEYFRAMES_ONLY_AFTER: Duration = Duration::from_secs(1);
/// How long a link must stay clear before one layer more is tried.
pub const UP_AFTER: Duration = Duration::from_millis(1500);
/// The longest wait before trying a layer that failed before.
pub const MAX_UP_AFTER: Duration = Duration::from_secs(12);
/// How long a link's measured rate is believed: while it is, no layer is
/// tried that the rate says does not fit.
pub const KNOWN_FOR: Duration = Duration::from_secs(10);
/// How long no other viewer must have been clear before this one takes
/// everything, the encoder following it.
pub const FOLLOWED_AFTER: Duration = Duration::from_secs(1);

/// The bitrate of the stream's layers, each with those below it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LayerRates {
    /// `cumulative[n - 1]`: bits a second of layers `0..n`.
    pub cumulative: [u64; crate::flow::hub::LAYERS],
    /// Layers the stream has.
    pub layers: u8,
}

impl LayerRates {
    /// The most layers whose bitrate fits in [`FIT`] of `link_bps` (0:
    /// not even the base layer, keyframes only).
    ///
    /// The base layer alone needs only to fit the link: taking keyframes
    /// only costs far more frames than the little delay a full link adds.
    pub fn that_fit(&self, link_bps: u64) -> u8 {
        let room = link_bps as f64 * FIT;
        let base_fits = self.cumulative[0] <= link_bps;
        (1..=self.layers)
            .take_while(|&n| {
                let bps = self.cumulative[usize::from(n) - 1] as f64;
                bps <= room || (n == 1 && base_fits)
            })
            .last()
            .unwrap_or(0)
    }
}

/// What one viewer's link showed just before its next frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// Whether data waited unsent, or frames were left out for being late.
    pub backed_up: bool,
    /// What the link carried while backed up, in bits a second, if known.
    pub link_bps: Option<u64>,
    /// Whether some other viewer takes the whole stream with nothing
    /// waiting, so that the encoder follows it and not this one.
    pub others_clear: bool,
}

/// How many layers one viewer takes (see the module's description).
#[derive(Debug, Clone)]
pub struct LayerCap {
    /// Layers taken: 0 for keyframes only, up to the stream's layers.
    taken: u8,
    /// Since when the link has been backed up, if it is.
    backed_up_since: Option<Instant>,
    /// When the link was last backed up or the layers changed.
    settled_at: Instant,
    /// When a layer was last added, while that step is not undone.
    up_at: Option<Instant>,
    /// How long to wait clear before adding a layer.
    up_after: Duration,
    /// The link's rate when it was last measured, and when.
    known: Option<(Instant, u64)>,
    /// Since when no other viewer has been clear, if so.
    followed_since: Option<Instant>,
}

impl LayerCap {
    /// A viewer that starts with every layer, at `now`.
    pub fn new(now: Instant) -> Self {
        LayerCap {
            taken: u8::MAX,
            backed_up_since: None,
            settled_at: now,
            up_at: None,
            up_after: UP_AFTER,
            known: None,
            followed_since: None,
        }
    }

    /// The link's rate, in bits a second, if measured within
    /// [`KNOWN_FOR`] before `now`.
    pub fn believed(&self, now: Instant) -> Option<u64> {
        self.known
            .filter(|&(at, _)| now.duration_since(at) < KNOWN_FOR)
            .map(|(_, bps)| bps)
    }

    /// Layers taken now, at most `layers` (the stream's).
    pub fn taken(&self, layers: u8) -> u8 {
        self.taken.min(layers)
    }

    /// Forgets the link's last measured rate: it was measured while the
    /// viewer stopped reading, and says nothing of the link.
    pub fn forget_rate(&mut self) {
        self.known = None;
    }

    /// Takes what the link showed at `now`, for a stream whose layers carry
    /// `rates`; returns the layers to take when that changed.
    pub fn update(&mut self, now: Instant, seen: Seen, rates: LayerRates) -> Option<u8> {
        let before = self.taken(rates.layers);
        if rates.layers == 0 {
            return None;
        }
        if let Some(bps) = seen.link_bps {
            self.known = Some((now, bps));
        }
        if seen.others_clear {
            self.followed_since = None;
        }
        let followed = !seen.others_clear
            && now.duration_since(*self.followed_since.get_or_insert(now)) >= FOLLOWED_AFTER;
        if followed {
            // The encoder follows this viewer: it takes everything.
            self.backed_up_since = None;
            self.taken = u8::MAX;
        } else if !seen.others_clear {
            // Perhaps about to be followed: no change meanwhile.
        } else if seen.backed_up {
            let since = *self.backed_up_since.get_or_insert(now);
            // A layer just tried is undone at the first sign it does not
            // fit: it was a guess, and a queue costs every frame after.
            let probing = self
                .up_at
                .is_some_and(|at| now.duration_since(at) < UP_AFTER);
            let waited = now.duration_since(since);
            if probing || waited >= DOWN_AFTER {
                // Straight to what fits, but to keyframes only from the base
                // layer alone, backed up for [`KEYFRAMES_ONLY_AFTER`] (the
                // queue a failed try of a layer built takes a while to
                // drain): one rate measured low must not cost the whole
                // picture. Unmeasured, one layer.
                let give_up = probing || waited >= KEYFRAMES_ONLY_AFTER;
                let fits = match seen.link_bps {
                    Some(bps) => match rates.that_fit(bps) {
                        fits if fits >= before => None,
                        fits if before > 1 => Some(fits.max(1)),
                        _ => give_up.then_some(0),
                    },
                    None if before > 1 || give_up => before.checked_sub(1),
                    None => None,
                };
                if let Some(fits) = fits {
                    let failed_probe = self
                        .up_at
                        .is_some_and(|at| now.duration_since(at) < self.up_after);
                    self.up_after = if failed_probe {
                        (self.up_after * 2).min(MAX_UP_AFTER)
                    } else {
                        UP_AFTER
                    };
                    self.taken = fits;
                    self.backed_up_since = None;
                    self.up_at = None;
                }
            }
            self.settled_at = now;
        } else {
            self.backed_up_since = None;
            if self
                .up_at
                .is_some_and(|at| now.duration_since(at) >= UP_AFTER)
            {
                // The last step up held: the next may come as soon.
                self.up_after = UP_AFTER;
            }
            let may_fit = self
                .believed(now)
                .is_none_or(|bps| rates.that_fit(bps) > before);
            if before < rates.layers
                && may_fit
                && now.duration_since(self.settled_at) >= self.up_after
            {
                self.taken = before + 1;
                self.up_at = Some(now);
                self.settled_at = now;
            }
        }
        let after = self.taken(rates.layers);
        if after == rates.layers {
            // Everything again: no cap, whatever the stream's layers become.
            self.taken = u8::MAX;
        }
        (after != before).then_some(after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2 Mbit/s stream of three layers: the base carries 40%, the middle
    /// one 25%, the top 35%.
    const RATES: LayerRates = LayerRates {
        cumulative: [800_000, 1_300_000, 2_000_000, 2_000_000],
        layers: 3,
    };

    /// Runs a viewer on a link of `link_bps` for `seconds` at 30 frames a
    /// second (fewer with layers left out do not matter here: it reports
    /// each 33 ms); returns (time in ms, layers) at each change.
    fn run(
        cap: &mut LayerCap,
        start: Instant,
        from_ms: u64,
        to_ms: u64,
        link_bps: u64,
    ) -> Vec<(u64, u8)> {
        let mut changes = Vec::new();
        for ms in (from_ms..to_ms).step_by(33) {
            let taken = cap.taken(RATES.layers);
            let sent = if taken == 0 {
                0
            } else {
                RATES.cumulative[usize::from(taken) - 1]
            };
            let seen = Seen {
                backed_up: sent > link_bps,
                link_bps: (sent > link_bps).then_some(link_bps),
                others_clear: true,
            };
            if let Some(n) = cap.update(start + Duration::from_millis(ms), seen, RATES) {
                changes.push((ms, n));
            }
        }
        changes
    }

    #[test]
    fn layers_that_fit_a_link() {
        assert_eq!(RATES.that_fit(3_000_000), 3);
        assert_eq!(
            RATES.that_fit(2_000_000),
            2,
            "no room to spare: the top layer goes"
        );
        assert_eq!(RATES.that_fit(1_000_000), 1);
        assert_eq!(
            RATES.that_fit(850_000),
            1,
            "the base layer may fill the link"
        );
        assert_eq!(RATES.that_fit(500_000), 0, "keyframes only");
    }

    #[test]
    fn a_slow_link_drops_to_what_fits_within_a_fifth_of_a_second() {
        let start = Instant::now();
        let mut cap = LayerCap::new(start);
        let changes = run(&mut cap, start, 0, 1000, 1_000_000);
        assert_eq!(
            changes.iter().map(|c| c.1).collect::<Vec<_>>(),
            vec![1],
            "{changes:?}"
        );
        assert!((150..=200).contains(&changes[0].0), "{changes:?}");
    }

    #[test]
    fn a_layer_that_does_not_fit_is_tried_less_and_less_often() {
        let start = Instant::now();
        let mut cap = LayerCap::new(start);
        // 1.2 Mbit/s: the base layer fits, the middle one not.
        let changes = run(&mut cap, start, 0, 30_000, 1_200_000);
        let ups: Vec<u64> = changes.iter().filter(|c| c.1 == 2).map(|c| c.0).collect();
        assert!(ups.len() >= 2, "{changes:?}");
        let gaps: Vec<u64> = ups.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.windows(2).all(|g| g[1] >= g[0]), "{gaps:?}");
        assert!(
            ups.len() <= 5,
            "tried {} times in 30 s: {changes:?}",
            ups.len()
        );
        assert!(
            changes.iter().all(|c| c.1 >= 1),
            "the base layer always fits"
        );
    }

    #[test]
    fn the_queue_a_failed_try_left_does_not_cost_the_base_layer() {
        let start = Instant::now();
        let mut cap = LayerCap::new(start);
        run(&mut cap, start, 0, 2000, 1_000_000);
        assert_eq!(cap.taken(RATES.layers), 1);
        let at = |ms: u64| start + Duration::from_millis(ms);
        let clear = Seen {
            backed_up: false,
            link_bps: None,
            others_clear: true,
        };
        // Clear long enough to try the middle layer (once the rate
        // measured as it came down is no longer believed)...
        let tried = (2000..15_000)
            .step_by(33)
            .find_map(|ms| cap.update(at(ms), clear, RATES).map(|n| (ms, n)));
        let (tried_at, layers) = tried.expect("a layer more is tried");
        assert_eq!(layers, 2);
        // ...which backs the link up; the queue it built drains for half a
        // second, measured a little under the base layer's rate.
        let draining = Seen {
            backed_up: true,
            link_bps: Some(780_000),
            others_clear: true,
        };
        let changes: Vec<(u64, u8)> = (tried_at + 33..tried_at + 600)
            .step_by(33)
            .filter_map(|ms| cap.update(at(ms), draining, RATES).map(|n| (ms, n)))
            .collect();
        assert_eq!(
            changes.iter().map(|c| c.1).collect::<Vec<_>>(),
            vec![1],
            "undone, and the base layer kept: {changes:?}"
        );
    }

    #[test]
    fn a_link_that_widens_gets_every_layer_back() {
        let start = Instant::now();
        let mut cap = LayerCap::new(start);
        run(&mut cap, start, 0, 2500, 500_000);
        assert_eq!(cap.taken(RATES.layers), 0, "keyframes only at 0.5 Mbit/s");
        // Nothing is measured on a link that carries all it is sent: the
        // first layer is tried once the last rate measured is too old.
        let changes = run(&mut cap, start, 2500, 20_000, 10_000_000);
        assert_eq!(
            changes.iter().map(|c| c.1).collect::<Vec<_>>(),
            vec![1, 2, 3],
            "{changes:?}"
        );
        let known_until = 2500 + KNOWN_FOR.as_millis() as u64;
        assert!(changes[0].0 <= known_until + 3000, "{changes:?}");
        assert!(changes[2].0 - changes[0].0 <= 3500, "{changes:?}");
    }

    #[test]
    fn a_burst_on_a_link_that_fits_changes_nothing() {
        let start = Instant::now();
        let mut cap = LayerCap::new(start);
        for ms in (0..1000).step_by(33) {
            let seen = Seen {
                backed_up: ms < 400,
                link_bps: Some(5_000_000),
                others_clear: true,
            };
            assert_eq!(
                cap.update(start + Duration::from_millis(ms), seen, RATES),
                None
            );
        }
    }

    #[test]
    fn the_viewer_the_encoder_follows_takes_everything() {
        let start = Instant::now();
        let mut cap = LayerCap::new(start);
        run(&mut cap, start, 0, 2000, 1_000_000);
        assert_eq!(cap.taken(RATES.layers), 1);
        let alone = Seen {
            backed_up: true,
            link_bps: Some(1_000_000),
            others_clear: false,
        };
        let at = |ms: u64| start + Duration::from_millis(2000 + ms);
        assert_eq!(cap.update(at(0), alone, RATES), None, "not at once");
        let capped = Seen {
            others_clear: true,
            ..alone
        };
        assert_eq!(cap.update(at(500), capped, RATES), None);
        assert_eq!(cap.update(at(600), alone, RATES), None, "a burst");
        assert_eq!(
            cap.update(at(600) + FOLLOWED_AFTER, alone, RATES),
            Some(3),
            "followed: everything"
        );
    }
}
