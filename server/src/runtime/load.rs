//! When the call core counts as overloaded: sans-IO, time passed in.
//!
//! The measure is how long SIP datagrams waited in the socket before the
//! core read them (the kernel stamps each one on arrival). A phone resends
//! a request it has no answer to after 500 ms (T1), so that wait is what
//! turns a busy server into a failing one. A queue that only passes through
//! — a burst, or the core's thread held off the CPU for a moment by the
//! machine — is read down within a fraction of a second and costs nobody a
//! call. A queue that stands means more arrives than the core handles:
//! every datagram read for `hold` (at least [`MIN_READS`] of them) has
//! waited at least `target`. A wait of `limit` or more — a resend is close —
//! counts at once. New calls are turned away (503) until a datagram is read
//! that waited less than `target`.
//!
//! Without arrival stamps (a kernel that gives none) the rule falls back to
//! the socket itself: not once read empty for `hold`.

use std::time::{Duration, Instant};

/// Waits below this are a healthy server's.
pub(crate) const TARGET: Duration = Duration::from_millis(50);

/// How long every datagram read must have waited at least [`TARGET`]
/// before new calls are turned away.
pub(crate) const HOLD: Duration = Duration::from_millis(300);

/// A wait this long turns new calls away at once: T1 (500 ms) is near.
pub(crate) const LIMIT: Duration = Duration::from_millis(400);

/// Reads within the hold that must all have waited long: one old
/// datagram alone is not a standing queue.
pub(crate) const MIN_READS: u32 = 8;

#[derive(Debug)]
pub(crate) struct LoadWatch {
    target: Duration,
    hold: Duration,
    limit: Duration,
    /// Since when every datagram read had waited at least `target`, and
    /// how many have been read since.
    above_since: Option<(Instant, u32)>,
    /// The last datagram read waited `limit` or more.
    at_limit: bool,
    /// Unstamped reads: since when the socket has not been read empty.
    busy_since: Option<Instant>,
}

impl LoadWatch {
    pub(crate) fn new(target: Duration, hold: Duration, limit: Duration) -> LoadWatch {
        LoadWatch {
            target,
            hold,
            limit,
            above_since: None,
            at_limit: false,
            busy_since: None,
        }
    }

    /// A datagram read at `now` after waiting `waited` in the socket
    /// (`None`: the kernel did not stamp it).
    pub(crate) fn read(&mut self, now: Instant, waited: Option<Duration>) {
        let Some(waited) = waited else {
            self.busy_since.get_or_insert(now);
            return;
        };
        self.at_limit = waited >= self.limit;
        if waited < self.target {
            self.above_since = None;
        } else {
            let (_, reads) = self.above_since.get_or_insert((now, 0));
            *reads += 1;
        }
    }

    /// The socket was read empty. With stamps this changes nothing (the
    /// next datagram's wait says whether the queue stands); without, it
    /// ends the busy spell.
    pub(crate) fn drained(&mut self) {
        self.busy_since = None;
    }

    /// Whether new calls should be turned away at `now`.
    pub(crate) fn overloaded(&self, now: Instant) -> bool {
        let standing = self.above_since.is_some_and(|(since, reads)| {
            reads >= MIN_READS && now.saturating_duration_since(since) >= self.hold
        });
        let busy = self
            .busy_since
            .is_some_and(|since| now.saturating_duration_since(since) >= self.hold);
        self.at_limit || standing || busy
    }
}

impl Default for LoadWatch {
    fn default() -> LoadWatch {
        LoadWatch::new(TARGET, HOLD, LIMIT)
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
        // Every 10 ms a datagram that waited 60 ms (over the 50 ms target),
        // the socket read empty in between: the queue stands all the same.
        for i in 0..30 {
            w.read(t0 + ms(i * 10), Some(ms(60)));
            w.drained();
            assert!(!w.overloaded(t0 + ms(i * 10)), "at {} ms", i * 10);
        }
        w.read(t0 + ms(300), Some(ms(60)));
        assert!(w.overloaded(t0 + ms(300)));
        // One read that waited less than the target ends it at once.
        w.read(t0 + ms(310), Some(ms(49)));
        assert!(!w.overloaded(t0 + ms(310)));
    }

    #[test]
    fn one_old_datagram_is_not_a_standing_queue() {
        let t0 = Instant::now();
        let mut w = LoadWatch::default();
        w.read(t0, Some(ms(200)));
        assert!(!w.overloaded(t0 + ms(1_000)));
        // Six more long waits over the hold: seven, fewer than MIN_READS.
        for i in 1..MIN_READS - 1 {
            w.read(t0 + ms(u64::from(i) * 50), Some(ms(200)));
        }
        assert!(!w.overloaded(t0 + ms(1_000)));
        w.read(t0 + ms(1_000), Some(ms(200)));
        assert!(w.overloaded(t0 + ms(1_000)));
    }

    #[test]
    fn a_wait_near_t1_turns_calls_away_at_once() {
        let t0 = Instant::now();
        let mut w = LoadWatch::default();
        w.read(t0, Some(ms(399)));
        assert!(!w.overloaded(t0));
        w.read(t0 + ms(1), Some(ms(400)));
        assert!(w.overloaded(t0 + ms(1)));
        // Still a long wait, under the limit: the standing rule decides.
        w.read(t0 + ms(2), Some(ms(300)));
        assert!(!w.overloaded(t0 + ms(2)));
    }

    #[test]
    fn a_300_ms_stall_caught_up_at_twice_the_arrival_rate_turns_no_call_away() {
        let t0 = Instant::now();
        let mut w = LoadWatch::default();
        // The core's thread gets no CPU for 300 ms while a datagram arrives
        // every 2 ms; then it reads the backlog one every 1 ms: each waited
        // 1 ms less than the one before, until the queue is gone.
        let mut at = t0 + ms(300);
        let mut waited = 300;
        while waited > 0 {
            w.read(at, Some(ms(waited)));
            assert!(!w.overloaded(at), "waited {waited} ms");
            at += ms(1);
            waited -= 1;
        }
    }

    #[test]
    fn a_stall_the_core_cannot_catch_up_on_in_the_hold_is_overload() {
        let t0 = Instant::now();
        let mut w = LoadWatch::default();
        // As above, but the core reads only a little faster than datagrams
        // arrive: the waits shrink by 0.1 ms a read and stay long.
        let mut at = t0 + ms(300);
        let mut waited_us = 300_000u64;
        let mut turned_away = None;
        while waited_us > 50_000 {
            w.read(at, Some(Duration::from_micros(waited_us)));
            if w.overloaded(at) {
                turned_away = Some(at - (t0 + ms(300)));
                break;
            }
            at += ms(1);
            waited_us -= 100;
        }
        assert_eq!(turned_away, Some(ms(300)));
    }

    #[test]
    fn without_stamps_a_socket_never_read_empty_for_the_hold_is_overload() {
        let t0 = Instant::now();
        let mut w = LoadWatch::default();
        w.read(t0, None);
        assert!(!w.overloaded(t0 + ms(299)));
        assert!(w.overloaded(t0 + ms(300)));
        w.drained();
        assert!(!w.overloaded(t0 + ms(300)));
    }
}
