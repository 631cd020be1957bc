//! A timer table keyed by an enum: one deadline per timer, the earliest found
//! in O(log n), cancelling by key.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::time::Instant;

/// Deadlines keyed by `T`, at instants of type `I` (monotonic [`Instant`]s
/// for the call core; epoch milliseconds for durable work such as call-back
/// tasks, whose deadlines outlive the process).
#[derive(Debug)]
pub(crate) struct Timers<T: Ord + Hash + Copy, I: Ord + Copy = Instant> {
    by_time: BTreeSet<(I, T)>,
    by_key: HashMap<T, I>,
}

impl<T: Ord + Hash + Copy, I: Ord + Copy> Default for Timers<T, I> {
    fn default() -> Self {
        Timers {
            by_time: BTreeSet::new(),
            by_key: HashMap::new(),
        }
    }
}

impl<T: Ord + Hash + Copy, I: Ord + Copy> Timers<T, I> {
    /// Sets (or moves) a timer.
    pub(crate) fn set(&mut self, timer: T, at: I) {
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
    pub(crate) fn next(&self) -> Option<I> {
        self.by_time.first().map(|(at, _)| *at)
    }

    /// Removes and returns one timer due at `now`, earliest first.
    pub(crate) fn pop_due(&mut self, now: I) -> Option<(I, T)> {
        let &(at, timer) = self.by_time.first()?;
        if at > now {
            return None;
        }
        self.by_time.remove(&(at, timer));
        self.by_key.remove(&timer);
        Some((at, timer))
    }
}
