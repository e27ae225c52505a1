//! What a console writes and when: lines and the time go in, lines to
//! write come out, with no thread and no terminal.
//!
//! Two rules keep a console short and current:
//!
//! - **Folding.** A run is a sequence of [`Kind::Alike`] lines of one name
//!   that no line of another kind interrupts ([`Kind::Urgent`] lines pass
//!   without interrupting it). The first [`limits::FOLD_SHOWN`] lines of a
//!   run are written; the rest are counted, and the count is written as
//!   `... 4,950 similar lines left out (turned away)` when the run ends, or
//!   [`limits::FOLD_WINDOW`] after the first line it counts while the run
//!   goes on. A run also ends after a [`limits::FOLD_WINDOW`] without one
//!   of its lines, so an occasional line is always written.
//! - **A bounded queue.** At most `capacity` lines wait to be written. When
//!   the queue is full, an urgent line takes the place of the oldest
//!   ordinary one and any other line is left out. Lines left out are
//!   counted, and the count (`... 812 lines left out: output was not being
//!   read`) goes into the queue as soon as it has room.

use std::collections::VecDeque;
use std::mem;
use std::time::Instant;

use crate::limits;

/// How a line may be folded with its neighbours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Said once (a banner line, a progress line): never folded, and it
    /// ends a run.
    Single,
    /// Must not be buried (a wrong code): never folded, kept when the queue
    /// is full, and it does not end a run.
    Urgent,
    /// One of many alike, by name (`"turned away"`): folded within a run.
    Alike(&'static str),
}

/// Lines waiting to be written, folded and bounded.
#[derive(Debug)]
pub struct Backlog {
    queue: VecDeque<Waiting>,
    capacity: usize,
    /// Lines that found the queue full, not yet reported.
    left_out: u64,
    run: Option<Run>,
}

#[derive(Debug)]
struct Waiting {
    text: String,
    /// Not to be pushed out by an urgent line.
    kept: bool,
}

/// The lines of one name said one after another.
#[derive(Debug)]
struct Run {
    name: &'static str,
    shown: usize,
    folded: u64,
    /// When the first of the `folded` lines came.
    folding_since: Option<Instant>,
    /// When the run's last line came.
    last: Instant,
}

impl Backlog {
    /// An empty backlog that holds at most `capacity` lines (at least two,
    /// a line and the count of those left out).
    pub fn new(capacity: usize) -> Self {
        Backlog {
            queue: VecDeque::new(),
            capacity: capacity.max(2),
            left_out: 0,
            run: None,
        }
    }

    /// Takes a line said at `now`.
    pub fn push(&mut self, kind: Kind, text: String, now: Instant) {
        self.catch_up(now);
        match kind {
            Kind::Urgent => self.enqueue(text, true),
            Kind::Single => {
                self.end_run();
                self.enqueue(text, false);
            }
            Kind::Alike(name) => self.push_alike(name, text, now),
        }
    }

    /// The next line to write at `now`, if any.
    pub fn pop(&mut self, now: Instant) -> Option<String> {
        self.catch_up(now);
        match self.queue.pop_front() {
            Some(waiting) => Some(waiting.text),
            None if self.left_out > 0 => Some(left_out_line(mem::take(&mut self.left_out))),
            None => None,
        }
    }

    /// When a count falls due although no line comes: the writer should
    /// look again then.
    pub fn due(&self) -> Option<Instant> {
        let since = self.run.as_ref()?.folding_since?;
        Some(since + limits::FOLD_WINDOW)
    }

    /// Ends the run under way, so that its count is written now (at exit).
    pub fn finish(&mut self) {
        self.end_run();
    }

    /// Whether nothing waits to be written.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty() && self.left_out == 0
    }

    fn push_alike(&mut self, name: &'static str, text: String, now: Instant) {
        if self.run.as_ref().is_none_or(|run| run.name != name) {
            self.end_run();
        }
        let run = self.run.get_or_insert(Run {
            name,
            shown: 0,
            folded: 0,
            folding_since: None,
            last: now,
        });
        run.last = now;
        if run.shown < limits::FOLD_SHOWN {
            run.shown += 1;
            self.enqueue(text, false);
        } else {
            run.folded += 1;
            run.folding_since.get_or_insert(now);
        }
    }

    /// Ends a run gone quiet, and queues a count that is due at `now`.
    fn catch_up(&mut self, now: Instant) {
        let count_due = self.due().is_some_and(|due| now >= due);
        let Some(run) = &mut self.run else { return };
        if now >= run.last + limits::FOLD_WINDOW {
            return self.end_run();
        }
        if count_due {
            let count = folded_line(run.name, mem::take(&mut run.folded));
            run.folding_since = None;
            self.enqueue(count, false);
        }
    }

    fn end_run(&mut self) {
        if let Some(run) = self.run.take()
            && run.folded > 0
        {
            self.enqueue(folded_line(run.name, run.folded), false);
        }
    }

    fn enqueue(&mut self, text: String, urgent: bool) {
        if self.left_out > 0 && self.queue.len() + 2 <= self.capacity {
            let count = left_out_line(mem::take(&mut self.left_out));
            self.queue.push_back(Waiting {
                text: count,
                kept: true,
            });
        }
        if self.queue.len() >= self.capacity {
            let ordinary = self.queue.iter().position(|waiting| !waiting.kept);
            self.left_out += 1;
            match ordinary {
                Some(at) if urgent => drop(self.queue.remove(at)),
                _ => return,
            }
        }
        self.queue.push_back(Waiting { text, kept: urgent });
    }
}

fn folded_line(name: &str, count: u64) -> String {
    format!("... {} left out ({name})", similar_lines(count))
}

fn similar_lines(count: u64) -> String {
    match count {
        1 => "1 similar line".to_string(),
        _ => format!("{} similar lines", grouped(count)),
    }
}

fn left_out_line(count: u64) -> String {
    let lines = if count == 1 { "line" } else { "lines" };
    format!(
        "... {} {lines} left out: output was not being read",
        grouped(count)
    )
}

/// `4950` as `4,950`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const AWAY: Kind = Kind::Alike("turned away");
    const SHOWN: usize = limits::FOLD_SHOWN;

    fn drain(backlog: &mut Backlog, now: Instant) -> Vec<String> {
        std::iter::from_fn(|| backlog.pop(now)).collect()
    }

    fn away(backlog: &mut Backlog, count: usize, now: Instant) {
        for i in 0..count {
            backlog.push(AWAY, format!("away {i}"), now);
        }
    }

    fn numbered(prefix: &str, count: usize) -> Vec<String> {
        (0..count).map(|i| format!("{prefix} {i}")).collect()
    }

    #[test]
    fn single_lines_come_out_in_order_unchanged() {
        let (mut backlog, now) = (Backlog::new(8), Instant::now());
        for line in ["camwire sender: test", "listening on 127.0.0.1:1", "OPEN"] {
            backlog.push(Kind::Single, line.into(), now);
        }
        let out = drain(&mut backlog, now);
        assert_eq!(
            out,
            ["camwire sender: test", "listening on 127.0.0.1:1", "OPEN"]
        );
        assert!(backlog.is_empty());
    }

    #[test]
    fn a_run_shows_its_first_lines_and_counts_the_rest() {
        let (mut backlog, now) = (Backlog::new(64), Instant::now());
        away(&mut backlog, 5000, now);
        assert_eq!(drain(&mut backlog, now), numbered("away", SHOWN));
        backlog.finish();
        let count = format!(
            "... {} similar lines left out (turned away)",
            grouped(5000 - SHOWN as u64)
        );
        assert_eq!(drain(&mut backlog, now), [count]);
    }

    #[test]
    fn the_count_of_a_run_that_goes_on_falls_due_a_window_after_its_first_line() {
        let (mut backlog, start) = (Backlog::new(64), Instant::now());
        let step = limits::FOLD_WINDOW / 100;
        for i in 0..SHOWN + 12 {
            backlog.push(AWAY, format!("away {i}"), start + step * i as u32);
        }
        let first_folded = start + step * SHOWN as u32;
        assert_eq!(backlog.due(), Some(first_folded + limits::FOLD_WINDOW));
        let before = first_folded + limits::FOLD_WINDOW - Duration::from_millis(1);
        assert_eq!(drain(&mut backlog, before), numbered("away", SHOWN));
        let at = first_folded + limits::FOLD_WINDOW;
        let out = drain(&mut backlog, at);
        assert_eq!(out, ["... 12 similar lines left out (turned away)"]);
        // The run goes on: its next line is folded too.
        backlog.push(AWAY, "away again".into(), at);
        assert!(drain(&mut backlog, at).is_empty());
        assert_eq!(backlog.due(), Some(at + limits::FOLD_WINDOW));
    }

    #[test]
    fn another_kind_ends_the_run_after_its_count() {
        let (mut backlog, now) = (Backlog::new(64), Instant::now());
        away(&mut backlog, SHOWN + 3, now);
        backlog.push(Kind::Alike("left"), "left".into(), now);
        away(&mut backlog, 1, now);
        let mut expected = numbered("away", SHOWN);
        expected.push("... 3 similar lines left out (turned away)".into());
        expected.extend(["left".to_string(), "away 0".to_string()]);
        assert_eq!(drain(&mut backlog, now), expected);
    }

    #[test]
    fn alternating_kinds_are_never_folded() {
        let (mut backlog, now) = (Backlog::new(64), Instant::now());
        for i in 0..20 {
            backlog.push(Kind::Alike("joined"), format!("joined {i}"), now);
            backlog.push(Kind::Alike("left"), format!("left {i}"), now);
        }
        assert_eq!(drain(&mut backlog, now).len(), 40);
    }

    #[test]
    fn an_urgent_line_is_never_folded_and_does_not_end_the_run() {
        let (mut backlog, now) = (Backlog::new(64), Instant::now());
        away(&mut backlog, 10, now);
        for _ in 0..3 {
            backlog.push(Kind::Urgent, "gave a wrong code".into(), now);
        }
        away(&mut backlog, 10, now);
        backlog.finish();
        let mut expected = numbered("away", SHOWN);
        expected.extend(vec!["gave a wrong code".to_string(); 3]);
        expected.push(format!(
            "... {} similar lines left out (turned away)",
            20 - SHOWN
        ));
        assert_eq!(drain(&mut backlog, now), expected);
    }

    #[test]
    fn a_run_gone_quiet_ends_and_its_next_line_shows() {
        let (mut backlog, now) = (Backlog::new(64), Instant::now());
        away(&mut backlog, SHOWN + 1, now);
        let later = now + limits::FOLD_WINDOW * 2;
        backlog.push(AWAY, "away later".into(), later);
        let mut expected = numbered("away", SHOWN);
        expected
            .extend(["... 1 similar line left out (turned away)", "away later"].map(String::from));
        assert_eq!(drain(&mut backlog, later), expected);
    }

    #[test]
    fn a_full_queue_counts_what_it_leaves_out_and_says_so() {
        let (mut backlog, now) = (Backlog::new(4), Instant::now());
        for i in 0..10 {
            backlog.push(Kind::Single, format!("line {i}"), now);
        }
        let mut expected = numbered("line", 4);
        expected.push("... 6 lines left out: output was not being read".into());
        assert_eq!(drain(&mut backlog, now), expected);
        assert!(backlog.is_empty());
    }

    #[test]
    fn an_urgent_line_takes_the_place_of_the_oldest_ordinary_one() {
        let (mut backlog, now) = (Backlog::new(3), Instant::now());
        for line in ["a", "b", "c"] {
            backlog.push(Kind::Single, line.into(), now);
        }
        backlog.push(Kind::Urgent, "wrong code".into(), now);
        let out = drain(&mut backlog, now);
        let count = "... 1 line left out: output was not being read";
        assert_eq!(out, ["b", "c", "wrong code", count]);
    }

    #[test]
    fn the_count_of_lines_left_out_goes_in_as_soon_as_there_is_room() {
        let (mut backlog, now) = (Backlog::new(3), Instant::now());
        for line in ["a", "b", "c", "d"] {
            backlog.push(Kind::Single, line.into(), now);
        }
        assert_eq!(backlog.pop(now).as_deref(), Some("a"));
        assert_eq!(backlog.pop(now).as_deref(), Some("b"));
        backlog.push(Kind::Single, "e".into(), now);
        let count = "... 1 line left out: output was not being read";
        assert_eq!(drain(&mut backlog, now), ["c", count, "e"]);
    }

    #[test]
    fn grouped_puts_commas_between_thousands() {
        let cases = [(0, "0"), (999, "999"), (1000, "1,000"), (4950, "4,950")];
        for (n, text) in cases {
            assert_eq!(grouped(n), text);
        }
        assert_eq!(grouped(1_234_567), "1,234,567");
    }
}
