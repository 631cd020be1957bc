//! Timers: the base intervals (T1, T2, T4), the names of RFC 3261's timers,
//! the small table each transaction keeps, and the layer-wide queue ordered
//! by deadline that `poll_timeout` reads.
//!
//! The queue is a `BTreeSet` of `(deadline, transaction, timer)`. Every timer
//! a transaction stops is removed from it at once (the table says at which
//! deadline to look), so its first entry is always the true next deadline
//! and `poll_timeout` needs no `&mut`. Inserting and removing are O(log n),
//! which holds with hundreds of thousands of live transactions.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::key::Key;

/// The base intervals of RFC 3261 §17 (Table 4). Every other timer is
/// derived from these.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TimerConfig {
    /// Round-trip estimate: the first retransmission interval (500 ms).
    pub t1: Duration,
    /// The longest retransmission interval for non-INVITE requests and
    /// INVITE responses (4 s).
    pub t2: Duration,
    /// How long the network may hold a message (5 s): Timers I and K.
    pub t4: Duration,
    /// How long an INVITE server transaction waits for the TU's first
    /// response before it sends 100 Trying itself (200 ms, §17.2.1).
    pub trying: Duration,
}

impl Default for TimerConfig {
    fn default() -> TimerConfig {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            trying: Duration::from_millis(200),
        }
    }
}

impl TimerConfig {
    /// A configuration the machines can rely on: a zero T1 would retransmit
    /// in a loop at a single instant, and T2 below T1 would shrink intervals.
    pub(crate) fn sanitized(self) -> TimerConfig {
        let t1 = self.t1.max(Duration::from_millis(1));
        TimerConfig {
            t1,
            t2: self.t2.max(t1),
            ..self
        }
    }

    /// 64·T1: Timers B, F, H, J (unreliable), L and M.
    pub(crate) fn timeout(&self) -> Duration {
        self.t1.saturating_mul(64)
    }

    /// Timer D on an unreliable transport: "at least 32 seconds" (§17.1.1.2),
    /// and never shorter than the peer's Timer H (64·T1) would keep
    /// retransmitting for.
    pub(crate) fn timer_d(&self) -> Duration {
        self.timeout().max(Duration::from_secs(32))
    }
}

/// The timers of RFC 3261 §17 and RFC 6026, named as the RFCs name them.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Timer {
    /// INVITE client: retransmit the INVITE (T1, doubling, unreliable only).
    A,
    /// INVITE client: give up waiting for any response (64·T1).
    B,
    /// INVITE client: absorb retransmitted 3xx–6xx finals (≥ 32 s, 0 on reliable).
    D,
    /// Non-INVITE client: retransmit the request (T1 doubling up to T2).
    E,
    /// Non-INVITE client: give up waiting for a final response (64·T1).
    F,
    /// INVITE server: retransmit the 3xx–6xx final (T1 doubling up to T2).
    G,
    /// INVITE server: give up waiting for the ACK (64·T1).
    H,
    /// INVITE server: absorb ACK retransmissions (T4, 0 on reliable).
    I,
    /// Non-INVITE server: absorb request retransmissions (64·T1, 0 on reliable).
    J,
    /// Non-INVITE client: absorb response retransmissions (T4, 0 on reliable).
    K,
    /// INVITE server after a 2xx: absorb INVITE retransmissions (64·T1, RFC 6026).
    L,
    /// INVITE client after a 2xx: pass further 2xx to the TU (64·T1, RFC 6026).
    M,
    /// INVITE server: send 100 Trying if the TU has not responded (200 ms).
    Trying,
}

/// How many timers one transaction may run at once. No machine runs more
/// than two (A+B, E+F, G+H); the table is this small because a server can
/// hold hundreds of thousands of transactions.
const SLOTS: usize = 3;

/// The running timers of one transaction, keyed by [`Timer`].
#[derive(Clone, Default, Debug)]
pub(crate) struct TimerTable {
    slots: [Option<(Timer, Instant)>; SLOTS],
}

impl TimerTable {
    /// The deadline of `timer`, if it runs.
    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        self.slots
            .iter()
            .flatten()
            .find(|(t, _)| *t == timer)
            .map(|(_, at)| *at)
    }

    /// How many timers run.
    #[cfg(test)]
    pub(crate) fn running(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    /// Forgets a timer the queue has already popped.
    pub(crate) fn forget(&mut self, timer: Timer) {
        for slot in &mut self.slots {
            if slot.is_some_and(|(t, _)| t == timer) {
                *slot = None;
            }
        }
    }
}

/// Every running timer of every transaction, earliest first.
#[derive(Default, Debug)]
pub(crate) struct TimerQueue {
    deadlines: BTreeSet<(Instant, Key, Timer)>,
}

impl TimerQueue {
    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.deadlines.first().map(|(at, _, _)| *at)
    }

    /// Removes and returns the earliest timer due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Key, Timer)> {
        match self.deadlines.first() {
            Some((at, _, _)) if *at <= now => self.deadlines.pop_first().map(|(_, k, t)| (k, t)),
            _ => None,
        }
    }

    /// How many timers run, over all transactions.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.deadlines.len()
    }
}

/// One transaction's table and the shared queue, changed together so the
/// queue never holds a deadline the table has dropped.
pub(crate) struct Timers<'a> {
    key: Key,
    table: &'a mut TimerTable,
    queue: &'a mut TimerQueue,
}

impl<'a> Timers<'a> {
    /// The timers of transaction `key`.
    pub(crate) fn new(
        key: Key,
        table: &'a mut TimerTable,
        queue: &'a mut TimerQueue,
    ) -> Timers<'a> {
        Timers { key, table, queue }
    }

    /// Starts (or restarts) `timer` to fire at `at`.
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        self.stop(timer);
        let Some(slot) = self.table.slots.iter_mut().find(|s| s.is_none()) else {
            // The machines never run more than two timers at once (see SLOTS);
            // getting here is a bug in a state machine, not bad peer input.
            panic!("transaction {} runs more than {SLOTS} timers", self.key);
        };
        *slot = Some((timer, at));
        self.queue.deadlines.insert((at, self.key, timer));
    }

    /// Stops `timer` if it runs.
    pub(crate) fn stop(&mut self, timer: Timer) {
        for slot in &mut self.table.slots {
            match *slot {
                Some((t, at)) if t == timer => {
                    self.queue.deadlines.remove(&(at, self.key, t));
                    *slot = None;
                }
                _ => {}
            }
        }
    }

    /// Stops every timer: the transaction is going away.
    pub(crate) fn stop_all(&mut self) {
        for slot in &mut self.table.slots {
            if let Some((t, at)) = slot.take() {
                self.queue.deadlines.remove(&(at, self.key, t));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::transaction::testing::origin;

    #[test]
    fn defaults_are_rfc_3261_table_4() {
        let c = TimerConfig::default();
        assert_eq!(c.t1, Duration::from_millis(500));
        assert_eq!(c.t2, Duration::from_secs(4));
        assert_eq!(c.t4, Duration::from_secs(5));
        assert_eq!(c.timeout(), Duration::from_secs(32));
        assert_eq!(c.timer_d(), Duration::from_secs(32));
    }

    #[test]
    fn sanitized_keeps_t1_positive_and_t2_above_it() {
        let c = TimerConfig {
            t1: Duration::ZERO,
            t2: Duration::ZERO,
            ..TimerConfig::default()
        }
        .sanitized();
        assert_eq!(c.t1, Duration::from_millis(1));
        assert_eq!(c.t2, Duration::from_millis(1));
    }

    #[test]
    fn stopping_a_timer_removes_its_deadline_from_the_queue() {
        let t0 = origin();
        let mut queue = TimerQueue::default();
        let mut a = TimerTable::default();
        let mut b = TimerTable::default();
        Timers::new(Key(1), &mut a, &mut queue).set(Timer::E, t0 + Duration::from_millis(500));
        Timers::new(Key(1), &mut a, &mut queue).set(Timer::F, t0 + Duration::from_secs(32));
        Timers::new(Key(2), &mut b, &mut queue).set(Timer::J, t0 + Duration::from_secs(1));
        assert_eq!(queue.next(), Some(t0 + Duration::from_millis(500)));

        Timers::new(Key(1), &mut a, &mut queue).stop(Timer::E);
        assert_eq!(queue.next(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(a.get(Timer::E), None);

        // Restarting replaces the old deadline instead of adding a second one.
        Timers::new(Key(2), &mut b, &mut queue).set(Timer::J, t0 + Duration::from_secs(2));
        assert_eq!(queue.len(), 2);
        assert_eq!(queue.pop_due(t0 + Duration::from_secs(1)), None);
        assert_eq!(
            queue.pop_due(t0 + Duration::from_secs(2)),
            Some((Key(2), Timer::J))
        );

        Timers::new(Key(1), &mut a, &mut queue).stop_all();
        assert_eq!(queue.next(), None);
    }
}
