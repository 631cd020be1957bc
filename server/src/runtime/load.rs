//! When the call core counts as overloaded: sans-IO, time passed in.
//!
//! The measure is how long SIP datagrams waited in the socket before the
//! core read them (the kernel stamps each one on arrival). A phone resends
//! a request it has no answer to after 500 ms (T1), so that wait is what
//! turns a busy server into a failing one. A queue that only passes through
//! — a burst, or the core's thread held off the CPU for a moment by the
//! machine — empties again within a fraction of a second and costs nobody
//! a call. A queue that stands means more arrives than the core can handle:
//! every datagram read for `hold` has waited at least `target`. Only then
//! are new calls turned away (503), and only until one is read that waited
//! less, or the socket is read empty.

use std::time::{Duration, Instant};

/// Waits below this are a healthy server's.
pub(crate) const TARGET: Duration = Duration::from_millis(50);

/// How long every datagram must have waited at least [`TARGET`] before
/// new calls are turned away.
pub(crate) const HOLD: Duration = Duration::from_millis(500);

#[derive(Debug)]
pub(crate) struct LoadWatch {
    target: Duration,
    hold: Duration,
    /// Since when every datagram read had waited at least `target`.
    above_since: Option<Instant>,
}

impl LoadWatch {
    pub(crate) fn new(target: Duration, hold: Duration) -> LoadWatch {
        LoadWatch {
            target,
            hold,
            above_since: None,
        }
    }

    /// A datagram read at `now` after waiting `waited` in the socket.
    pub(crate) fn waited(&mut self, now: Instant, waited: Duration) {
        if waited < self.target {
            self.above_since = None;
        } else {
            self.above_since.get_or_insert(now);
        }
    }

    /// The socket was read empty at `now`: no queue at all.
    pub(crate) fn drained(&mut self) {
        self.above_since = None;
    }

    /// Whether new calls should be turned away at `now`.
    pub(crate) fn overloaded(&self, now: Instant) -> bool {
        self.above_since
            .is_some_and(|since| now.saturating_duration_since(since) >= self.hold)
    }
}

impl Default for LoadWatch {
    fn default() -> LoadWatch {
        LoadWatch::new(TARGET, HOLD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_standing_queue_is_overload_once_it_has_stood_for_the_hold() {
        let t0 = Instant::now();
        let mut w = LoadWatch::default();
        // Every 10 ms a datagram that waited 60 ms (over the 50 ms target).
        for i in 0..50 {
            w.waited(t0 + ms(i * 10), ms(60));
            assert!(!w.overloaded(t0 + ms(i * 10)), "at {} ms", i * 10);
        }
        w.waited(t0 + ms(500), ms(60));
        assert!(w.overloaded(t0 + ms(500)));
        // One read that waited less than the target ends it at once.
        w.waited(t0 + ms(510), ms(49));
        assert!(!w.overloaded(t0 + ms(510)));
        // And the hold starts again from the next long wait.
        w.waited(t0 + ms(520), ms(80));
        assert!(!w.overloaded(t0 + ms(1_019)));
        assert!(w.overloaded(t0 + ms(1_020)));
        // The socket read empty ends it too.
        w.drained();
        assert!(!w.overloaded(t0 + ms(1_020)));
    }

    #[test]
    fn a_stall_the_core_catches_up_on_turns_no_call_away() {
        let t0 = Instant::now();
        let mut w = LoadWatch::default();
        // The core's thread gets no CPU for 400 ms; then it reads the
        // backlog at twice the arrival rate: the oldest datagram waited
        // 400 ms, each later one 5 ms less, until the queue is gone.
        let mut at = t0 + ms(400);
        let mut waited = 400;
        while waited > 0 {
            w.waited(at, ms(waited));
            assert!(!w.overloaded(at), "waited {waited} ms");
            at += ms(5);
            waited -= 5;
        }
        w.drained();
        assert!(!w.overloaded(at));
    }

    #[test]
    fn waits_at_the_target_count_as_long_ones() {
        let t0 = Instant::now();
        let mut w = LoadWatch::new(ms(50), ms(100));
        w.waited(t0, ms(50));
        w.waited(t0 + ms(100), ms(50));
        assert!(w.overloaded(t0 + ms(100)));
    }
}
