//! What the layer hands back: datagrams to send ([`Transmit`]) and facts for
//! the transaction user ([`Event`]).

use std::net::SocketAddr;

use bytes::Bytes;

use super::key::Key;
use crate::sip::{HeaderName, Message};

/// One message for the transport to send.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Transmit {
    /// Where to: the peer's address (for a reliable transport, the remote
    /// address of the connection the request came in on).
    pub destination: SocketAddr,
    /// Whether it goes over a stream (TCP, TLS, WS) rather than UDP.
    pub reliable: bool,
    /// The serialized message.
    pub bytes: Bytes,
    /// The transaction that sent it; `None` for `send_stateless`. The driver
    /// passes it back to `handle_transport_error` when sending fails.
    pub key: Option<Key>,
}

/// Something the transaction user must know about.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Event {
    /// A new request (not a retransmission): a server transaction now waits
    /// for the TU's responses through `respond`.
    Request {
        /// The new server transaction.
        key: Key,
        /// The request, its top Via stamped with `received`/`rport`.
        msg: Message,
        /// Where it came from.
        source: SocketAddr,
    },
    /// A new CANCEL. Its own server transaction wants a response (200, or 481
    /// when `invite` is `None`); the TU answers the INVITE with 487 if it has
    /// not sent a final response yet (its `state` is still `Proceeding`).
    Cancel {
        /// The CANCEL's server transaction.
        key: Key,
        /// The INVITE server transaction it cancels, if one is alive.
        invite: Option<Key>,
        /// The CANCEL.
        msg: Message,
        /// Where it came from.
        source: SocketAddr,
    },
    /// An ACK that belongs to the TU: the ACK for a 2xx (which is its own
    /// transaction, RFC 3261 §17) or one that matched an INVITE server
    /// transaction in the Accepted state (RFC 6026 §8.7). ACKs for 3xx–6xx
    /// are absorbed by their transaction and never show up here.
    Ack {
        /// The INVITE server transaction it matched, if any.
        invite: Option<Key>,
        /// The ACK, its top Via stamped.
        msg: Message,
        /// Where it came from.
        source: SocketAddr,
    },
    /// A response on a client transaction: every provisional, the first
    /// final, and for INVITE every 2xx (forks and retransmissions, RFC 6026).
    Response {
        /// The client transaction.
        key: Key,
        /// The response.
        msg: Message,
    },
    /// The transaction gave up: Timer B or F on a client transaction (the TU
    /// acts as if a 408 had arrived), Timer H on an INVITE server transaction
    /// (no ACK ever came for its 3xx–6xx).
    Timeout {
        /// The transaction, now terminated.
        key: Key,
    },
    /// The transport could not send for this transaction; it has terminated.
    TransportError {
        /// The transaction, now terminated.
        key: Key,
    },
    /// A message from a peer was dropped. Logged and counted, never fatal.
    Discarded {
        /// Where it came from.
        source: SocketAddr,
        /// Why.
        reason: Discard,
    },
}

/// Why a received message was dropped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Discard {
    /// A header without which no transaction can be found (Via, CSeq, or for
    /// an RFC 2543 request, Call-ID).
    #[error("no {0} header")]
    MissingHeader(HeaderName),
    /// A response whose top Via has no branch cannot match a client
    /// transaction: every request this layer sends carries one.
    #[error("response without a via branch")]
    MissingBranch,
    /// A response was given to `handle_request`.
    #[error("not a request")]
    NotARequest,
    /// A request was given to `handle_response`.
    #[error("not a response")]
    NotAResponse,
    /// A response that matches no client transaction: discarded, as RFC 6026
    /// §7.3 asks (it may be a late 2xx after Timer M, or forged).
    #[error("no transaction matches the response")]
    NoTransaction,
}
