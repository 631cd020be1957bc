//! The SIP endpoint, sans-IO: bytes from the transports in, responses out.
//!
//! It parses, answers what does not parse (400/505/501, or silence when no
//! answer can be formed), runs every request through the transaction layer
//! (so retransmissions are absorbed and answered from memory), applies the
//! generic request checks of RFC 3261 §8.2, and hands each method to its
//! handler: REGISTER to the registrar, OPTIONS answered here. Calls arrive
//! with the queue issue; until then INVITE is refused with 480.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use careline_shared::sip::transaction::{self, TimerConfig, TransactionLayer};
use careline_shared::sip::{
    HeaderName, Message, MessageWriter, Method, ParseError, StatusCode, Tag, Uri, check_request,
    parse_datagram, response_to, salvage_response,
};

use super::registrar::{Registrar, RegistrarEvent, RegistrarSettings};
use crate::config::Transport;

/// Methods this endpoint implements (the Allow header).
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER";

/// Option tags this endpoint supports (anything else in Require gets 420).
pub const SUPPORTED: &[&str] = &[];

/// Endpoint settings (from `[sip]` and `[registrar]`).
#[derive(Debug, Clone)]
pub struct EndpointSettings {
    /// The SIP domain.
    pub domain: String,
    /// The Server header.
    pub server_name: String,
    /// T1.
    pub t1: Duration,
    /// T2.
    pub t2: Duration,
    /// T4.
    pub t4: Duration,
    /// The registrar's settings.
    pub registrar: RegistrarSettings,
}

/// A transport flow: how a message came in, and so how to answer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flow {
    /// UDP or TCP.
    pub transport: Transport,
    /// The peer's address.
    pub remote: SocketAddr,
    /// Our socket's address, when known.
    pub local: Option<SocketAddr>,
}

/// Bytes to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// UDP or TCP.
    pub transport: Transport,
    /// To whom (for TCP: the remote address of the connection).
    pub destination: SocketAddr,
    /// The message.
    pub data: Bytes,
}

/// Facts for the runtime's logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointEvent {
    /// From the registrar.
    Registrar(RegistrarEvent),
    /// A new request was answered with a final status.
    Answered {
        /// Its method.
        method: Method,
        /// The status sent.
        status: StatusCode,
    },
    /// A message that did not parse.
    Invalid {
        /// From where.
        source: SocketAddr,
        /// Why.
        error: ParseError,
        /// Whether a response could be sent.
        answered: bool,
    },
    /// Dropped by the transaction layer (no Via, stray response …).
    Discarded {
        /// From where.
        source: SocketAddr,
        /// Why.
        reason: transaction::Discard,
    },
}

/// The endpoint.
pub struct SipCore {
    settings: EndpointSettings,
    layer: TransactionLayer,
    registrar: Registrar,
    transmits: VecDeque<Transmit>,
    events: VecDeque<EndpointEvent>,
    tags: u64,
}

impl SipCore {
    /// A new endpoint; `key` seeds nonces, tags and branches.
    pub fn new(settings: EndpointSettings, key: [u8; 32], now: Instant) -> SipCore {
        let timers = TimerConfig {
            t1: settings.t1,
            t2: settings.t2,
            t4: settings.t4,
            ..TimerConfig::default()
        };
        let seed = u128::from_le_bytes(key[..16].try_into().unwrap_or([0; 16]));
        SipCore {
            layer: TransactionLayer::new(timers, seed),
            registrar: Registrar::new(settings.registrar.clone(), key, now),
            settings,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            tags: (seed >> 64) as u64 ^ 0x9e37_79b9_7f4a_7c15,
        }
    }

    /// The registrar (credentials, restored bindings, lookups).
    pub fn registrar_mut(&mut self) -> &mut Registrar {
        &mut self.registrar
    }

    /// The registrar, read-only.
    pub fn registrar(&self) -> &Registrar {
        &self.registrar
    }

    /// Live transactions.
    pub fn transactions(&self) -> usize {
        self.layer.len()
    }

    /// A UDP datagram arrived.
    pub fn handle_datagram(&mut self, now: Instant, flow: Flow, data: Bytes) {
        match parse_datagram(data.clone()) {
            Ok(msg) => self.handle_message(now, flow, msg),
            Err(error) => self.handle_invalid(flow, &data, error),
        }
    }

    /// A message that did not parse: answer it statelessly if it was a request
    /// whose Via, From, To, Call-ID and CSeq could still be read.
    pub fn handle_invalid(&mut self, flow: Flow, data: &[u8], error: ParseError) {
        let response = salvage_response(data, error.status(), &error.to_string());
        let answered = response.is_some();
        if let Some(data) = response {
            self.transmits.push_back(Transmit {
                transport: flow.transport,
                destination: flow.remote,
                data,
            });
        }
        self.events.push_back(EndpointEvent::Invalid {
            source: flow.remote,
            error,
            answered,
        });
    }

    /// A parsed message arrived (a datagram, or one framed off a stream).
    pub fn handle_message(&mut self, now: Instant, flow: Flow, msg: Message) {
        let reliable = flow.transport == Transport::Tcp;
        if msg.is_request() {
            self.layer.handle_request(now, msg, flow.remote, reliable);
        } else {
            self.layer.handle_response(now, msg, flow.remote);
        }
        self.drain_layer(now, flow.transport);
    }

    /// Timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.layer.handle_timeout(now);
        self.registrar.handle_timeout(now);
        while let Some(e) = self.registrar.poll_event() {
            self.events.push_back(EndpointEvent::Registrar(e));
        }
        self.drain_layer(now, Transport::Udp);
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if let Some(t) = self.transmits.pop_front() {
            return Some(t);
        }
        self.layer.poll_transmit().map(|t| Transmit {
            transport: if t.reliable {
                Transport::Tcp
            } else {
                Transport::Udp
            },
            destination: t.destination,
            data: t.bytes,
        })
    }

    /// The next fact to report.
    pub fn poll_event(&mut self) -> Option<EndpointEvent> {
        self.events.pop_front()
    }

    /// The earliest deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.layer.poll_timeout(), self.registrar.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn drain_layer(&mut self, now: Instant, transport: Transport) {
        while let Some(event) = self.layer.poll_event() {
            match event {
                transaction::Event::Request { key, msg, source } => {
                    self.dispatch(now, key, &msg, source, transport)
                }
                transaction::Event::Cancel {
                    key, invite, msg, ..
                } => {
                    // No INVITE is ever left pending yet, so a CANCEL finds
                    // nothing to stop; when it does, the INVITE gets 487.
                    let status = if invite.is_some() {
                        StatusCode::OK
                    } else {
                        StatusCode::CALL_DOES_NOT_EXIST
                    };
                    self.respond(now, key, &msg, status, |_| {});
                }
                transaction::Event::Discarded { source, reason } => {
                    self.events
                        .push_back(EndpointEvent::Discarded { source, reason });
                }
                transaction::Event::Ack { .. }
                | transaction::Event::Response { .. }
                | transaction::Event::Timeout { .. }
                | transaction::Event::TransportError { .. } => {}
            }
        }
    }

    fn next_tag(&mut self) -> Tag {
        self.tags = self
            .tags
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        Tag::new(format!("cl{:012x}", self.tags >> 16))
    }

    fn respond(
        &mut self,
        now: Instant,
        key: transaction::Key,
        req: &Message,
        status: StatusCode,
        add: impl FnOnce(&mut MessageWriter),
    ) {
        let tag = self.next_tag();
        let mut w = response_to(req, status, Some(&tag));
        w.header(&HeaderName::Server, &self.settings.server_name);
        add(&mut w);
        self.send_response(now, key, req, status, w.finish());
    }

    fn send_response(
        &mut self,
        now: Instant,
        key: transaction::Key,
        req: &Message,
        status: StatusCode,
        data: Bytes,
    ) {
        if let Err(e) = self.layer.respond(now, key, status, data) {
            // Only a bug of ours can get here (the key came from the layer).
            tracing::warn!(error = %e, "response not sent");
        }
        if status.is_final() {
            if let Some(method) = req.method() {
                self.events.push_back(EndpointEvent::Answered {
                    method: method.clone(),
                    status,
                });
            }
        }
    }

    fn dispatch(
        &mut self,
        now: Instant,
        key: transaction::Key,
        msg: &Message,
        source: SocketAddr,
        transport: Transport,
    ) {
        let method = msg.method().cloned().unwrap_or(Method::Other("".into()));
        let _span = tracing::debug_span!(
            "txn",
            method = %method,
            call_id = msg.call_id().map(|c| c.as_str()).unwrap_or(""),
        )
        .entered();
        if let Err(rejection) = check_request(msg, SUPPORTED) {
            let unsupported = rejection.unsupported.join(", ");
            let warning = format!("399 careline \"{}\"", rejection.reason.replace('"', "'"));
            self.respond(now, key, msg, rejection.status, |w| {
                if !unsupported.is_empty() {
                    w.header(&HeaderName::Unsupported, unsupported);
                }
                w.header(&HeaderName::Warning, warning);
            });
            return;
        }
        match method {
            Method::Register => self.register(now, key, msg, source, transport),
            Method::Options => {
                let allow = ALLOW;
                self.respond(now, key, msg, StatusCode::OK, |w| {
                    w.header(&HeaderName::Allow, allow);
                    w.header(&HeaderName::Accept, "application/sdp");
                });
            }
            Method::Invite => self.invite(now, key, msg),
            Method::Bye
            | Method::Update
            | Method::Prack
            | Method::Info
            | Method::Refer
            | Method::Notify => {
                self.respond(now, key, msg, StatusCode::CALL_DOES_NOT_EXIST, |_| {});
            }
            Method::Other(_) => self.respond(now, key, msg, StatusCode::NOT_IMPLEMENTED, |w| {
                w.header(&HeaderName::Allow, ALLOW);
            }),
            _ => self.respond(now, key, msg, StatusCode::METHOD_NOT_ALLOWED, |w| {
                w.header(&HeaderName::Allow, ALLOW);
            }),
        }
    }

    fn register(
        &mut self,
        now: Instant,
        key: transaction::Key,
        msg: &Message,
        source: SocketAddr,
        transport: Transport,
    ) {
        let aor_ok = msg
            .headers
            .to
            .as_ref()
            .is_some_and(|to| matches!(&to.uri, Uri::Sip(u) if u.user.is_some()));
        if !aor_ok {
            self.respond(now, key, msg, StatusCode::BAD_REQUEST, |w| {
                w.header(
                    &HeaderName::Warning,
                    "399 careline \"the To header must hold a sip or sips address-of-record\"",
                );
            });
            return;
        }
        let transport = match transport {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        };
        let outcome = self.registrar.handle_register(now, msg, source, transport);
        while let Some(e) = self.registrar.poll_event() {
            self.events.push_back(EndpointEvent::Registrar(e));
        }
        self.send_response(now, key, msg, outcome.status, outcome.response);
    }

    fn invite(&mut self, now: Instant, key: transaction::Key, msg: &Message) {
        if !msg.body.is_empty() {
            let sdp = msg.headers.content_type.as_ref().is_some_and(|ct| {
                ct.split(';')
                    .next()
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/sdp"))
            });
            if !sdp {
                self.respond(now, key, msg, StatusCode::UNSUPPORTED_MEDIA_TYPE, |w| {
                    w.header(&HeaderName::Accept, "application/sdp");
                });
                return;
            }
        }
        let accept = msg.headers.tokens(&HeaderName::Accept);
        let sdp_acceptable = accept.is_empty()
            || accept.iter().any(|a| {
                let t = a
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                t == "application/sdp" || t == "application/*" || t == "*/*"
            });
        if !sdp_acceptable {
            self.respond(now, key, msg, StatusCode::NOT_ACCEPTABLE, |w| {
                w.header(&HeaderName::Accept, "application/sdp");
            });
            return;
        }
        self.respond(now, key, msg, StatusCode::TEMPORARILY_UNAVAILABLE, |w| {
            w.header(
                &HeaderName::Warning,
                "399 careline \"no call routing is configured on this server yet\"",
            );
        });
    }
}

#[cfg(test)]
#[path = "endpoint_tests.rs"]
mod tests;
