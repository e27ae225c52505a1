//! The status line a receiver's window draws on the picture: when it
//! shows. What it says comes from `labels`; `overlay` draws it.
//!
//! It shows for [`SHOWN_FOR`] when the window opens and whenever the
//! stream comes back; while the connection is lost it stays, saying so,
//! and once the stream is over it stays until the window closes, at most
//! [`LINGER`] later. Time is passed in, so that this runs on a simulated
//! clock in tests.

use std::time::{Duration, Instant};

/// How long the status line shows when the window opens or the stream
/// comes back.
pub const SHOWN_FOR: Duration = Duration::from_secs(4);

/// How long a window stays open once the sender has ended the stream (or
/// the stream failed), saying so, unless q closes it first.
pub const LINGER: Duration = Duration::from_secs(3);

/// What the connection is doing, as the status line tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Pictures arrive (or are about to): shown for a while.
    Watching,
    /// The connection is lost or not there yet: shown while it lasts.
    Trouble,
    /// The stream is over: shown until the window closes.
    Over,
}

/// What the status line says: a state and its lines of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said {
    /// What the connection is doing.
    pub state: State,
    /// The text, a line each.
    pub lines: Vec<String>,
}

/// Decides when the status line shows.
#[derive(Debug, Default)]
pub struct StatusLine {
    said: Option<Said>,
    until: Option<Instant>,
}

impl StatusLine {
    /// Takes what there is to say at `now`; coming to [`State::Watching`]
    /// from anything else (or from nothing) shows it for [`SHOWN_FOR`].
    pub fn update(&mut self, said: Said, now: Instant) {
        let was = self.said.as_ref().map(|s| s.state);
        if said.state == State::Watching && was != Some(State::Watching) {
            self.until = Some(now + SHOWN_FOR);
        }
        self.said = Some(said);
    }

    /// The lines to draw at `now`, if any.
    pub fn shown(&self, now: Instant) -> Option<&[String]> {
        let said = self.said.as_ref()?;
        let visible = match said.state {
            State::Watching => self.until.is_some_and(|until| now < until),
            State::Trouble | State::Over => true,
        };
        visible.then_some(&said.lines[..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(state: State, text: &str) -> Said {
        Said {
            state,
            lines: vec![text.to_string()],
        }
    }

    #[test]
    fn shows_at_start_for_a_while_then_hides() {
        let t0 = Instant::now();
        let mut status = StatusLine::default();
        assert_eq!(status.shown(t0), None);
        status.update(said(State::Watching, "a"), t0);
        assert_eq!(status.shown(t0), Some(&["a".to_string()][..]));
        // Newer figures replace the text without showing it for longer.
        status.update(said(State::Watching, "b"), t0 + SHOWN_FOR / 2);
        assert_eq!(status.shown(t0 + SHOWN_FOR / 2).unwrap()[0], "b");
        status.update(said(State::Watching, "c"), t0 + SHOWN_FOR);
        assert_eq!(status.shown(t0 + SHOWN_FOR), None);
    }

    #[test]
    fn trouble_stays_and_the_return_shows_again() {
        let t0 = Instant::now();
        let mut status = StatusLine::default();
        status.update(said(State::Watching, "a"), t0);
        let later = t0 + SHOWN_FOR * 10;
        status.update(said(State::Trouble, "reconnecting"), later);
        assert_eq!(
            status.shown(later + SHOWN_FOR * 10).unwrap()[0],
            "reconnecting"
        );
        let back = later + SHOWN_FOR * 20;
        status.update(said(State::Watching, "a"), back);
        assert!(status.shown(back + SHOWN_FOR / 2).is_some());
        assert!(status.shown(back + SHOWN_FOR).is_none());
    }

    #[test]
    fn the_end_stays() {
        let t0 = Instant::now();
        let mut status = StatusLine::default();
        status.update(said(State::Over, "the sender ended the stream"), t0);
        assert!(status.shown(t0 + LINGER * 100).is_some());
    }
}
