//! What a state machine may do while it handles one input: send on its
//! transport, tell the TU something, and start or stop its timers.
//!
//! The layer builds an [`Io`] around one transaction for each input, so the
//! machines stay plain data with no knowledge of the other transactions.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::event::{Event, Transmit};
use super::key::Key;
use super::timer::{Timer, TimerConfig, Timers};

/// One transaction's view of the layer for the duration of one input.
pub(crate) struct Io<'a> {
    /// The time of the input.
    pub(crate) now: Instant,
    /// The layer's timer configuration.
    pub(crate) config: &'a TimerConfig,
    /// The transaction.
    pub(crate) key: Key,
    /// Whether its transport is a stream: no retransmissions, and the timers
    /// that only absorb retransmissions are zero.
    pub(crate) reliable: bool,
    pub(crate) destination: SocketAddr,
    pub(crate) timers: Timers<'a>,
    pub(crate) transmits: &'a mut VecDeque<Transmit>,
    pub(crate) events: &'a mut VecDeque<Event>,
}

impl Io<'_> {
    /// Queues `bytes` for the transaction's destination.
    pub(crate) fn send(&mut self, bytes: &Bytes) {
        self.transmits.push_back(Transmit {
            destination: self.destination,
            reliable: self.reliable,
            bytes: bytes.clone(),
            key: Some(self.key),
        });
    }

    /// Tells the TU.
    pub(crate) fn emit(&mut self, event: Event) {
        self.events.push_back(event);
    }

    /// Starts `timer` to fire `after` from now. A deadline past what
    /// `Instant` can hold never fires, which is what such a timer means.
    pub(crate) fn start(&mut self, timer: Timer, after: Duration) {
        if let Some(at) = self.now.checked_add(after) {
            self.timers.set(timer, at);
        }
    }

    /// Stops `timer`.
    pub(crate) fn stop(&mut self, timer: Timer) {
        self.timers.stop(timer);
    }
}
