//! The RFC 3261 §17 transaction layer (sans-IO).
//!
//! It sits between the transport, which turns datagrams and stream frames into
//! [`Message`](super::Message)s, and the transaction user (TU): the registrar,
//! the dialog layer, the call core. Retransmissions, their absorption and the
//! timers of RFC 3261 §17, with the Accepted states of RFC 6026, live here, so
//! the layers above see each request once and each response that matters once.
//!
//! [`TransactionLayer`] owns every transaction. Input goes in through
//! `handle_request`, `handle_response`, `handle_timeout`, `respond` and
//! `send_request`; output comes out of `poll_transmit`, `poll_event` and
//! `poll_timeout`. Time is always an argument: nothing here reads the clock,
//! so every timer is tested exactly in virtual time.
//!
//! One file per idea: `key.rs` says which transaction a message belongs to,
//! `timer.rs` holds the timer names and deadlines, the four state machines
//! have a file each, and `layer.rs` ties them together.

mod branch;
mod client_invite;
mod client_non_invite;
mod event;
mod io;
mod key;
mod layer;
mod server_invite;
mod server_non_invite;
mod timer;

#[cfg(test)]
mod pair;
#[cfg(test)]
mod sequences;
#[cfg(test)]
mod testing;

pub use event::{Discard, Event, Transmit};
pub use key::Key;
pub use layer::TransactionLayer;
pub use timer::{Timer, TimerConfig};

use super::header::HeaderName;

/// Where a transaction is in its state machine (RFC 3261 Figures 5–8, with
/// RFC 6026's Accepted). Each machine uses the subset its figure names.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum State {
    /// INVITE client: the INVITE is sent, nothing heard yet.
    Calling,
    /// Non-INVITE client and server: the request is sent or received, no response yet.
    Trying,
    /// A provisional response was received (client) or sent (server).
    Proceeding,
    /// A final response (any for non-INVITE, 3xx–6xx for INVITE) was received or sent.
    Completed,
    /// INVITE server: the ACK for a 3xx–6xx arrived.
    Confirmed,
    /// INVITE client and server after a 2xx (RFC 6026).
    Accepted,
    /// Done; the layer forgets the transaction the moment it gets here.
    Terminated,
}

/// Why a call on the layer by the TU was refused. Peer input never produces
/// one of these: bad peer messages become [`Event::Discarded`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The key names no live transaction (it never existed, or has ended).
    #[error("no such transaction")]
    UnknownTransaction,
    /// Responses are sent on server transactions only.
    #[error("not a server transaction")]
    NotServerTransaction,
    /// The transaction has already sent its final response (only 2xx may be
    /// repeated on an INVITE server transaction in the Accepted state).
    #[error("a final response was already sent")]
    FinalAlreadySent,
    /// The request given to `send_request` lacks a header the transaction needs.
    #[error("the request has no {0} header")]
    MissingHeader(HeaderName),
    /// The top Via of the request given to `send_request` has no branch.
    #[error("the top via of the request has no branch")]
    MissingBranch,
    /// `send_request` was given a response.
    #[error("not a request")]
    NotARequest,
    /// ACK is not a transaction: the INVITE client transaction sends the ACK
    /// for 3xx–6xx, and the TU sends the ACK for 2xx with `send_stateless`.
    #[error("ack is not sent through a client transaction")]
    AckIsNotATransaction,
    /// A client transaction with the same branch and method is alive.
    #[error("a transaction with this branch and method already exists")]
    DuplicateTransaction,
}
