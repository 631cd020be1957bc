//! A timer table keyed by an enum: one deadline per timer, the earliest found
//! in O(log n), cancelling by key.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::time::Instant;

/// Deadlines keyed by `T`.
#[derive(Debug)]
pub(crate) struct Timers<T: Ord + Hash + Copy> {
    by_time: BTreeSet<(Instant, T)>,
    by_key: HashMap<T, Instant>,
}

impl<T: Ord + Hash + Copy> Default for Timers<T> {
    fn default() -> Self {
        Timers {
            by_time: BTreeSet::new(),
            by_key: HashMap::new(),
        }
    }
}

impl<T: Ord + Hash + Copy> Timers<T> {
    /// Sets (or moves) a timer.
    pub(crate) fn set(&mut self, timer: T, at: Instant) {
        self.stop(timer);
        self.by_time.insert((at, timer));
        self.by_key.insert(timer, at);
    }

    /// Stops a timer if it runs.
    pub(crate) fn stop(&mut self, timer: T) {
        if let Some(at) = self.by_key.remove(&timer) {
            self.by_time.remove(&(at, timer));
        }
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.by_time.first().map(|(at, _)| *at)
    }

    /// Removes and returns one timer due at `now`, earliest first.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, T)> {
        let &(at, timer) = self.by_time.first()?;
        if at > now {
            return None;
        }
        self.by_time.remove(&(at, timer));
        self.by_key.remove(&timer);
        Some((at, timer))
    }
}
