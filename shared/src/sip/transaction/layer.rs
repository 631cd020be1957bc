//! [`TransactionLayer`]: the endpoint that owns every transaction, finds the
//! one each message belongs to, runs its state machine and collects what it
//! sends and reports.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::branch::BranchGenerator;
use super::client_invite::ClientInvite;
use super::client_non_invite::ClientNonInvite;
use super::event::{Discard, Event, Transmit};
use super::io::Io;
use super::key::{Key, MatchKey};
use super::server_invite::ServerInvite;
use super::server_non_invite::ServerNonInvite;
use super::timer::{Timer, TimerConfig, TimerQueue, TimerTable, Timers};
use super::{Error, State};
use crate::sip::{Branch, Message, Method, StatusCode};

/// Every client and server transaction of one SIP element, sans-IO.
///
/// Feed it received messages (`handle_request`, `handle_response`), the TU's
/// responses (`respond`) and requests (`send_request`), and the time
/// (`handle_timeout` at `poll_timeout()`); drain `poll_transmit` and
/// `poll_event` after each call. Transactions that terminate are forgotten
/// at once, so `len()` counts live ones.
#[derive(Debug)]
pub struct TransactionLayer {
    config: TimerConfig,
    branches: BranchGenerator,
    next_key: u64,
    /// Boxed, like the index's keys: a busy server holds some 100,000
    /// transactions (most waiting out Timer J or L), and when a table grows
    /// it moves every slot at once on the core's thread. Slots of pointers
    /// keep that pause to milliseconds; inline entries made it tens.
    entries: HashMap<Key, Box<Entry>>,
    index: HashMap<Arc<MatchKey>, Key>,
    queue: TimerQueue,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
}

/// One live transaction.
#[derive(Debug)]
struct Entry {
    /// What the index knows it by, so it can be removed from there.
    match_key: Arc<MatchKey>,
    reliable: bool,
    /// Where its messages go: the server for a client transaction, the
    /// response address (RFC 3261 §18.2.2, RFC 3581) for a server one.
    destination: SocketAddr,
    timers: TimerTable,
    machine: Machine,
}

/// The state machine of one transaction, by kind.
#[derive(Debug)]
enum Machine {
    InviteClient(ClientInvite),
    NonInviteClient(ClientNonInvite),
    InviteServer(ServerInvite),
    NonInviteServer(ServerNonInvite),
}

impl Machine {
    fn state(&self) -> State {
        match self {
            Machine::InviteClient(m) => m.state(),
            Machine::NonInviteClient(m) => m.state(),
            Machine::InviteServer(m) => m.state(),
            Machine::NonInviteServer(m) => m.state(),
        }
    }

    fn start(&mut self, io: &mut Io<'_>) {
        match self {
            Machine::InviteClient(m) => m.start(io),
            Machine::NonInviteClient(m) => m.start(io),
            Machine::InviteServer(m) => m.start(io),
            Machine::NonInviteServer(_) => {}
        }
    }

    fn on_timer(&mut self, io: &mut Io<'_>, timer: Timer) {
        match self {
            Machine::InviteClient(m) => m.on_timer(io, timer),
            Machine::NonInviteClient(m) => m.on_timer(io, timer),
            Machine::InviteServer(m) => m.on_timer(io, timer),
            Machine::NonInviteServer(m) => m.on_timer(timer),
        }
    }
}

impl TransactionLayer {
    /// A layer with no transactions. `seed` makes the branches of the
    /// requests this element sends; give it 128 random bits from the OS.
    pub fn new(config: TimerConfig, seed: u128) -> TransactionLayer {
        TransactionLayer {
            config: config.sanitized(),
            branches: BranchGenerator::new(seed),
            next_key: 0,
            entries: HashMap::new(),
            index: HashMap::new(),
            queue: TimerQueue::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The timer configuration in force.
    pub fn config(&self) -> &TimerConfig {
        &self.config
    }

    /// A fresh RFC 3261 branch for the top Via of a request this element
    /// is about to build and pass to [`TransactionLayer::send_request`].
    pub fn new_branch(&mut self) -> Branch {
        self.branches.next_branch()
    }

    /// A received message of either kind.
    pub fn handle_message(
        &mut self,
        now: Instant,
        msg: Message,
        source: SocketAddr,
        reliable: bool,
    ) {
        if msg.is_request() {
            self.handle_request(now, msg, source, reliable);
        } else {
            self.handle_response(now, msg, source);
        }
    }

    /// A received request. A retransmission is absorbed (the transaction may
    /// resend its last response); a new request starts a server transaction
    /// and becomes [`Event::Request`] or [`Event::Cancel`]; an ACK either
    /// completes its INVITE transaction or reaches the TU as [`Event::Ack`].
    pub fn handle_request(
        &mut self,
        now: Instant,
        mut msg: Message,
        source: SocketAddr,
        reliable: bool,
    ) {
        // The key is taken before stamping: `received`/`rport` must not make
        // a retransmission look like a different request.
        let match_key = match MatchKey::for_request(&msg) {
            Ok(k) => k,
            Err(reason) => return self.discard(source, reason),
        };
        msg.stamp_received(source);
        let Some(method) = msg.method().cloned() else {
            return self.discard(source, Discard::NotARequest);
        };
        if method == Method::Ack {
            return self.handle_ack(now, &match_key, msg, source);
        }
        if let Some(&key) = self.index.get(&match_key) {
            self.dispatch(now, key, |m, io| match m {
                Machine::InviteServer(m) => m.on_retransmission(io),
                Machine::NonInviteServer(m) => m.on_retransmission(io),
                _ => {}
            });
            return;
        }
        let destination = if reliable {
            source
        } else {
            msg.response_destination(source)
        };
        let machine = if method == Method::Invite {
            Machine::InviteServer(ServerInvite::new(&msg, match_key.is_legacy()))
        } else {
            Machine::NonInviteServer(ServerNonInvite::new())
        };
        let key = self.insert(now, match_key.detached(), reliable, destination, machine);
        let event = if method == Method::Cancel {
            // §9.2: the CANCEL names its INVITE by the same key, method aside.
            let invite = self
                .index
                .get(&match_key.with_method(Method::Invite))
                .copied();
            Event::Cancel {
                key,
                invite,
                msg,
                source,
            }
        } else {
            Event::Request { key, msg, source }
        };
        self.events.push_back(event);
    }

    /// An ACK: for a 3xx–6xx it belongs to the INVITE server transaction;
    /// anything else (the ACK for a 2xx, which has its own branch) is the TU's.
    fn handle_ack(&mut self, now: Instant, match_key: &MatchKey, msg: Message, source: SocketAddr) {
        let found = if match_key.is_legacy() {
            self.find_legacy_invite(match_key)
        } else {
            self.index.get(match_key).copied()
        };
        match found {
            Some(key) => {
                self.dispatch(now, key, |m, io| {
                    if let Machine::InviteServer(m) = m {
                        m.on_ack(io, msg, source);
                    }
                });
            }
            None => self.events.push_back(Event::Ack {
                invite: None,
                msg,
                source,
            }),
        }
    }

    /// RFC 3261 §17.2.3 for RFC 2543 ACKs: same Request-URI, From tag,
    /// Call-ID, CSeq number and top Via as the INVITE, and the To tag of the
    /// response the transaction sent. A re-INVITE already carried that tag,
    /// an initial INVITE carried none; both are tried.
    fn find_legacy_invite(&self, ack_key: &MatchKey) -> Option<Key> {
        if let Some(&key) = self.index.get(ack_key) {
            return Some(key);
        }
        let ack_tag = ack_key.legacy_to_tag()?;
        let key = *self.index.get(&ack_key.with_to_tag(None)?)?;
        // The tag is what tells this ACK from one for a response the TU
        // sent some other way (a 2xx): without a match it is the TU's.
        match &self.entries.get(&key)?.machine {
            Machine::InviteServer(m) if m.response_to_tag() == Some(ack_tag) => Some(key),
            _ => None,
        }
    }

    /// A received response: matched to its client transaction by top Via
    /// branch and CSeq method, or discarded.
    pub fn handle_response(&mut self, now: Instant, msg: Message, source: SocketAddr) {
        let match_key = match MatchKey::for_response(&msg) {
            Ok(k) => k,
            Err(reason) => return self.discard(source, reason),
        };
        let (Some(status), Some(&key)) = (msg.status(), self.index.get(&match_key)) else {
            return self.discard(source, Discard::NoTransaction);
        };
        self.dispatch(now, key, |m, io| match m {
            Machine::InviteClient(m) => m.on_response(io, status, msg),
            Machine::NonInviteClient(m) => m.on_response(io, status, msg),
            _ => {}
        });
    }

    /// Sends a final response and forgets the transaction at once, as a
    /// stateless element would (RFC 3261 §8.2.7 allows a UAS to answer
    /// statelessly). A retransmitted request then reaches the TU again as
    /// new, so use it only for requests whose answer the TU can simply give
    /// again — REGISTER and OPTIONS — where holding each transaction for
    /// Timer J's 32 s costs memory and buys nothing.
    pub fn respond_and_forget(
        &mut self,
        now: Instant,
        key: Key,
        status: StatusCode,
        bytes: Bytes,
    ) -> Result<(), Error> {
        self.respond(now, key, status, bytes)?;
        if status.is_final() {
            self.remove(key);
        }
        Ok(())
    }

    /// Sends the TU's response on server transaction `key`. `bytes` is the
    /// serialized response (usually [`crate::sip::response_to`]'s) and
    /// `status` its code, which drives the state machine.
    pub fn respond(
        &mut self,
        now: Instant,
        key: Key,
        status: StatusCode,
        bytes: Bytes,
    ) -> Result<(), Error> {
        self.dispatch(now, key, |m, io| match m {
            Machine::InviteServer(m) => m.respond(io, status, bytes),
            Machine::NonInviteServer(m) => m.respond(io, status, bytes),
            _ => Err(Error::NotServerTransaction),
        })
        .unwrap_or(Err(Error::UnknownTransaction))
    }

    /// Starts a client transaction for `request` (serialized as `bytes`) to
    /// `destination`. Its top Via must carry a branch (see
    /// [`TransactionLayer::new_branch`]); a CANCEL reuses its INVITE's.
    /// Responses come back as [`Event::Response`] under the returned key.
    pub fn send_request(
        &mut self,
        now: Instant,
        request: &Message,
        bytes: Bytes,
        destination: SocketAddr,
        reliable: bool,
    ) -> Result<Key, Error> {
        let match_key = MatchKey::for_sent_request(request)?;
        let machine = match request.method() {
            Some(Method::Ack) => return Err(Error::AckIsNotATransaction),
            Some(Method::Invite) => Machine::InviteClient(ClientInvite::new(bytes, request)?),
            _ => Machine::NonInviteClient(ClientNonInvite::new(bytes)),
        };
        if self.index.contains_key(&match_key) {
            return Err(Error::DuplicateTransaction);
        }
        Ok(self.insert(now, match_key.detached(), reliable, destination, machine))
    }

    /// Sends a message outside any transaction: the TU's ACK for a 2xx, or
    /// a stateless reply. It comes out of `poll_transmit` in order with the
    /// rest, with no key.
    pub fn send_stateless(&mut self, destination: SocketAddr, reliable: bool, bytes: Bytes) {
        self.transmits.push_back(Transmit {
            destination,
            reliable,
            bytes,
            key: None,
        });
    }

    /// The transport failed to send for `key` (connection refused or reset,
    /// ICMP unreachable): the transaction ends and the TU hears of it.
    pub fn handle_transport_error(&mut self, _now: Instant, key: Key) {
        if self.entries.contains_key(&key) {
            self.remove(key);
            self.events.push_back(Event::TransportError { key });
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((key, timer)) = self.queue.pop_due(now) {
            if let Some(entry) = self.entries.get_mut(&key) {
                entry.timers.forget(timer);
            }
            self.dispatch(now, key, |m, io| m.on_timer(io, timer));
        }
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the TU.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When `handle_timeout` must next be called: the earliest deadline of
    /// any transaction.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.queue.next()
    }

    /// The state of transaction `key`; `None` once it has terminated.
    pub fn state(&self, key: Key) -> Option<State> {
        self.entries.get(&key).map(|e| e.machine.state())
    }

    /// When `timer` of transaction `key` fires, if it runs.
    pub fn deadline(&self, key: Key, timer: Timer) -> Option<Instant> {
        self.entries.get(&key)?.timers.get(timer)
    }

    /// How many transactions are alive.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no transaction is alive.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Panics if the index, the table of transactions and the timer queue
    /// disagree: every live transaction is indexed once, and the queue holds
    /// exactly the timers the transactions' tables hold.
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        assert_eq!(self.index.len(), self.entries.len());
        for (match_key, key) in &self.index {
            // One key, shared by the index and its entry.
            assert!(Arc::ptr_eq(&self.entries[key].match_key, match_key));
        }
        let running: usize = self.entries.values().map(|e| e.timers.running()).sum();
        assert_eq!(self.queue.len(), running);
    }

    fn discard(&mut self, source: SocketAddr, reason: Discard) {
        self.events.push_back(Event::Discarded { source, reason });
    }

    /// Registers a new transaction and runs its first step.
    fn insert(
        &mut self,
        now: Instant,
        match_key: MatchKey,
        reliable: bool,
        destination: SocketAddr,
        machine: Machine,
    ) -> Key {
        self.next_key += 1;
        let key = Key(self.next_key);
        let match_key = Arc::new(match_key);
        self.index.insert(match_key.clone(), key);
        self.entries.insert(
            key,
            Box::new(Entry {
                match_key,
                reliable,
                destination,
                timers: TimerTable::default(),
                machine,
            }),
        );
        self.dispatch(now, key, |m, io| m.start(io));
        key
    }

    /// Runs `f` on transaction `key` with its [`Io`], and forgets the
    /// transaction if that terminated it. `None` if `key` is not alive.
    fn dispatch<R>(
        &mut self,
        now: Instant,
        key: Key,
        f: impl FnOnce(&mut Machine, &mut Io<'_>) -> R,
    ) -> Option<R> {
        let entry = self.entries.get_mut(&key)?;
        let mut io = Io {
            now,
            config: &self.config,
            key,
            reliable: entry.reliable,
            destination: entry.destination,
            timers: Timers::new(key, &mut entry.timers, &mut self.queue),
            transmits: &mut self.transmits,
            events: &mut self.events,
        };
        let result = f(&mut entry.machine, &mut io);
        if entry.machine.state() == State::Terminated {
            self.remove(key);
        }
        Some(result)
    }

    fn remove(&mut self, key: Key) {
        let Some(mut entry) = self.entries.remove(&key) else {
            return;
        };
        Timers::new(key, &mut entry.timers, &mut self.queue).stop_all();
        if self.index.get(&entry.match_key) == Some(&key) {
            self.index.remove(&entry.match_key);
        }
    }
}

#[cfg(test)]
#[path = "layer_tests.rs"]
mod tests;
