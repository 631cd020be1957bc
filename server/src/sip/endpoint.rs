//! The SIP endpoint, sans-IO: bytes from the transports in, responses out.
//!
//! It parses, answers what does not parse (400/505/501, or silence when no
//! answer can be formed), runs every request through the transaction layer
//! (so retransmissions are absorbed and answered from memory), applies the
//! generic request checks of RFC 3261 §8.2, and hands each method to its
//! handler: REGISTER to the registrar, OPTIONS answered here, INVITEs to a
//! queue's number and everything inside calls to the B2BUA.

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
use crate::calls::acd::{Acd, QueueSettings};
use crate::calls::agents::AgentState;
use crate::calls::b2bua::{B2bua, B2buaSettings, Handled};
use crate::calls::event::Event as CallEvent;
use crate::config::Transport;

/// Methods this endpoint implements (the Allow header).
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, REFER, NOTIFY, REGISTER";

/// Option tags this endpoint supports (anything else in Require gets 420).
pub const SUPPORTED: &[&str] = &["timer"];

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
    /// The queues.
    pub queues: Vec<QueueSettings>,
    /// Our UDP socket (for Via and Contact of requests we send).
    pub udp: Option<SocketAddr>,
    /// Our TCP socket.
    pub tcp: Option<SocketAddr>,
    /// Our WebSocket listener (SIP over WebSocket).
    pub ws: Option<SocketAddr>,
    /// Reminder time for callers on hold (`[calls] hold_reminder`).
    pub hold_reminder: Duration,
    /// Where calls to numbers that are not our extensions go (`[[trunks]]`).
    pub trunk: Option<crate::calls::b2bua::OutboundRoute>,
    /// The trunks whose calls come in, and their numbers.
    pub inbound_trunks: Vec<crate::calls::b2bua::InboundTrunk>,
    /// The trunks we register to.
    pub trunk_accounts: Vec<super::trunk_registration::TrunkAccount>,
    /// In-dialog OPTIONS to connected legs this often (`[calls] keepalive`).
    pub keepalive: Option<Duration>,
    /// The dropped-line message's length (`[calls] dropped_announcement`).
    pub dropped_announcement: Duration,
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
    /// From the call core.
    Call(CallEvent),
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
    /// A new call turned away (503) while overloaded.
    Shed {
        /// From where.
        source: SocketAddr,
    },
    /// A registration to a provider's trunk succeeded or failed.
    Trunk(super::trunk_registration::TrunkEvent),
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
    b2bua: B2bua,
    trunks: super::trunk_registration::TrunkRegistrations,
    transmits: VecDeque<Transmit>,
    events: VecDeque<EndpointEvent>,
    tags: u64,
    /// Set by the runtime while it cannot keep up: new calls are turned
    /// away with 503 so the calls already up can finish.
    overloaded: bool,
}

/// How long a caller turned away while overloaded is asked to wait.
pub const OVERLOAD_RETRY_AFTER: Duration = Duration::from_secs(5);

impl SipCore {
    /// A new endpoint; `key` seeds nonces, tags and branches.
    pub fn new(
        settings: EndpointSettings,
        key: [u8; 32],
        now: Instant,
        media: Option<Box<dyn crate::calls::media::MediaControl>>,
    ) -> SipCore {
        let timers = TimerConfig {
            t1: settings.t1,
            t2: settings.t2,
            t4: settings.t4,
            ..TimerConfig::default()
        };
        let seed = u128::from_le_bytes(key[..16].try_into().unwrap_or([0; 16]));
        let b2bua = B2bua::new(
            B2buaSettings {
                udp: settings.udp,
                tcp: settings.tcp,
                ws: settings.ws,
                domain: settings.domain.clone(),
                server_name: settings.server_name.clone(),
                hold_reminder: settings.hold_reminder,
                trunk: settings.trunk.clone(),
                inbound: settings.inbound_trunks.clone(),
                keepalive: settings.keepalive,
                dropped_announcement: settings.dropped_announcement,
            },
            Acd::new(settings.queues.clone(), now),
            (seed >> 32) as u64,
            media,
        );
        let trunks = super::trunk_registration::TrunkRegistrations::new(
            settings.trunk_accounts.clone(),
            settings.udp,
            settings.tcp,
            now,
            (seed >> 16) as u64,
        );
        SipCore {
            layer: TransactionLayer::new(timers, seed),
            registrar: Registrar::new(settings.registrar.clone(), key, now),
            b2bua,
            trunks,
            settings,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            tags: (seed >> 64) as u64 ^ 0x9e37_79b9_7f4a_7c15,
            overloaded: false,
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

    /// Tells the endpoint whether the runtime is keeping up. While it is
    /// not, every new INVITE is answered 503 with Retry-After (RFC 3261
    /// §21.5.4) — cheap to send, and a trunk or phone retries or fails
    /// over — while registrations, the calls already up and every
    /// in-dialog request are served as usual.
    pub fn set_overloaded(&mut self, overloaded: bool) {
        self.overloaded = overloaded;
    }

    /// Whether new calls are being turned away.
    pub fn overloaded(&self) -> bool {
        self.overloaded
    }

    /// A key pressed on a call's media (RFC 4733).
    pub fn handle_media_dtmf(
        &mut self,
        now: Instant,
        session: crate::media::SessionId,
        leg: crate::media::Leg,
        digit: char,
    ) {
        self.b2bua
            .handle_media_dtmf(now, &mut self.layer, &self.registrar, session, leg, digit);
        self.drain_layer(now, Transport::Udp);
    }

    /// The media engine found a leg silent past the RTP timeout.
    pub fn handle_media_silence(
        &mut self,
        now: Instant,
        session: crate::media::SessionId,
        leg: crate::media::Leg,
    ) {
        self.b2bua
            .handle_media_silence(now, &mut self.layer, &self.registrar, session, leg);
        self.drain_layer(now, Transport::Udp);
    }

    /// A TCP connection closed.
    pub fn handle_flow_closed(&mut self, now: Instant, remote: SocketAddr) {
        self.b2bua
            .handle_flow_closed(now, &mut self.layer, &self.registrar, remote);
        // A browser is reachable only over its WebSocket: with the socket
        // gone its registrations are too (it registers again on reconnect).
        self.registrar.remove_flow(remote);
        self.drain_registrar(now);
        self.drain_layer(now, Transport::Udp);
    }

    /// Live transactions.
    pub fn transactions(&self) -> usize {
        self.layer.len()
    }

    /// Restores a binding saved before a restart; the agent's phone counts
    /// as registered again.
    pub fn restore_binding(
        &mut self,
        now: Instant,
        extension: String,
        binding: super::registrar::Binding,
    ) {
        self.registrar.restore(extension.clone(), binding);
        self.b2bua
            .handle_registration(now, &mut self.layer, &extension, &self.registrar);
    }

    /// Numbers new calls after the highest one stored before a restart.
    pub fn resume_calls_after(&mut self, last: u64) {
        self.b2bua.resume_after(last);
    }

    /// The end of a turn: the media commands it queued start now.
    pub fn flush_media(&mut self) {
        self.b2bua.flush_media();
    }

    /// The call core (agent states, calls in progress).
    pub fn calls(&self) -> &B2bua {
        &self.b2bua
    }

    /// An agent (or the API for them) chose a state.
    pub fn set_agent_state(
        &mut self,
        now: Instant,
        extension: &str,
        state: AgentState,
    ) -> Result<(), crate::calls::acd::AcdError> {
        let r = self
            .b2bua
            .set_agent_state(now, &mut self.layer, &self.registrar, extension, state);
        self.drain_layer(now, Transport::Udp);
        r
    }

    /// Hold or resume asked for through the API by the agent on the call.
    pub fn hold_by_request(
        &mut self,
        now: Instant,
        call: &str,
        agent: &str,
        holding: bool,
    ) -> Result<(), crate::calls::b2bua::HoldError> {
        let r = self.b2bua.hold_by_request(now, call, agent, holding);
        self.drain_layer(now, Transport::Udp);
        r
    }

    /// A blind transfer asked for through the API by the agent on the call.
    pub fn transfer_by_request(
        &mut self,
        now: Instant,
        call: &str,
        agent: &str,
        to: &str,
        note: Option<String>,
    ) -> Result<(), crate::calls::b2bua::TransferError> {
        let r = self.b2bua.transfer_by_request(
            now,
            &mut self.layer,
            &self.registrar,
            call,
            agent,
            to,
            note,
        );
        self.drain_layer(now, Transport::Udp);
        r
    }

    /// An attended transfer completed or called off through the API.
    pub fn consult_by_request(
        &mut self,
        now: Instant,
        call: &str,
        agent: &str,
        complete: bool,
    ) -> Result<(), crate::calls::b2bua::TransferError> {
        let r = self.b2bua.consult_by_request(
            now,
            &mut self.layer,
            &self.registrar,
            call,
            agent,
            complete,
        );
        self.drain_layer(now, Transport::Udp);
        r
    }

    /// The agent's latest note on their call.
    pub fn remember_note(&mut self, call: &str, agent: &str, text: &str) {
        self.b2bua.remember_note(call, agent, text);
    }

    /// Places a call: the staff member's phone first, then the patient.
    pub fn dial_out(
        &mut self,
        now: Instant,
        req: crate::calls::b2bua::DialOutRequest,
    ) -> Result<String, crate::calls::b2bua::DialOutError> {
        let r = self
            .b2bua
            .dial_out(now, &mut self.layer, &self.registrar, req);
        self.drain_layer(now, Transport::Udp);
        r
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
        let reliable = flow.transport.is_stream();
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
        self.drain_registrar(now);
        self.b2bua
            .handle_timeout(now, &mut self.layer, &self.registrar);
        self.trunks.handle_timeout(now, &mut self.layer);
        self.drain_layer(now, Transport::Udp);
    }

    /// The server is stopping: the providers are asked to remove our
    /// registrations (`Expires: 0`), so they stop sending calls to an
    /// address nobody answers.
    pub fn leave_trunks(&mut self, now: Instant) {
        self.trunks.unregister_all(now, &mut self.layer);
        self.drain_layer(now, Transport::Udp);
    }

    /// Whether no trunk REGISTER is in flight (after `leave_trunks`: every
    /// removal answered or given up on).
    pub fn trunks_idle(&self) -> bool {
        self.trunks.is_idle()
    }

    /// Whether each trunk we register to is registered now.
    pub fn trunk_status(&self) -> Vec<(String, bool)> {
        self.trunks
            .status()
            .map(|(name, up)| (name.to_string(), up))
            .collect()
    }

    /// Registrar facts go out as events; binding changes tell the ACD who
    /// has a phone.
    fn drain_registrar(&mut self, now: Instant) {
        while let Some(e) = self.registrar.poll_event() {
            if let RegistrarEvent::Bound { extension, .. }
            | RegistrarEvent::Unbound { extension, .. } = &e
            {
                self.b2bua
                    .handle_registration(now, &mut self.layer, extension, &self.registrar);
            }
            self.events.push_back(EndpointEvent::Registrar(e));
        }
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
        if let Some(e) = self.events.pop_front() {
            return Some(e);
        }
        if let Some(e) = self.trunks.poll_event() {
            return Some(EndpointEvent::Trunk(e));
        }
        self.b2bua.poll_event().map(EndpointEvent::Call)
    }

    /// The earliest deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.layer.poll_timeout(),
            self.registrar.poll_timeout(),
            self.b2bua.poll_timeout(),
            self.trunks.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
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
                    let status = if invite.is_some() {
                        StatusCode::OK
                    } else {
                        StatusCode::CALL_DOES_NOT_EXIST
                    };
                    self.respond(now, key, &msg, status, |_| {});
                    if let Some(invite) = invite {
                        self.b2bua
                            .handle_cancel(now, &mut self.layer, &self.registrar, invite);
                    }
                }
                transaction::Event::Response { key, msg } => {
                    if !self.trunks.handle_response(now, &mut self.layer, key, &msg) {
                        self.b2bua.handle_response(
                            now,
                            &mut self.layer,
                            &self.registrar,
                            key,
                            &msg,
                        );
                    }
                }
                transaction::Event::Timeout { key }
                | transaction::Event::TransportError { key } => {
                    if self.trunks.handle_transaction_timeout(now, key) {
                        continue;
                    }
                    self.b2bua.handle_transaction_timeout(
                        now,
                        &mut self.layer,
                        &self.registrar,
                        key,
                    );
                }
                transaction::Event::Discarded { source, reason } => {
                    self.events
                        .push_back(EndpointEvent::Discarded { source, reason });
                }
                transaction::Event::Ack { .. } => {}
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
        // REGISTER and OPTIONS are answered statelessly, as registrars do:
        // a retransmission is simply answered again (the registrar is
        // idempotent per Call-ID and CSeq), and no transaction is held for
        // Timer J's 32 s — at thousands of registrations a second that is
        // most of the server's memory.
        let stateless = matches!(req.method(), Some(Method::Register | Method::Options));
        let sent = if stateless {
            self.layer.respond_and_forget(now, key, status, data)
        } else {
            self.layer.respond(now, key, status, data)
        };
        if let Err(e) = sent {
            // Only a bug of ours can get here (the key came from the layer).
            tracing::warn!(error = %e, "response not sent");
        }
        if status.is_final()
            && let Some(method) = req.method()
        {
            self.events.push_back(EndpointEvent::Answered {
                method: method.clone(),
                status,
            });
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
        if msg.to_tag().is_some() && method != Method::Register && method != Method::Options {
            // Inside a dialog: one of our calls' legs, or nobody's.
            let handled =
                self.b2bua
                    .handle_in_dialog(now, &mut self.layer, &self.registrar, key, msg);
            if handled == Handled::No {
                self.respond(now, key, msg, StatusCode::CALL_DOES_NOT_EXIST, |_| {});
            }
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
            Method::Invite => self.invite(now, key, msg, source, transport),
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
            Transport::Ws => "ws",
            Transport::Wss => "wss",
        };
        let outcome = self.registrar.handle_register(now, msg, source, transport);
        self.send_response(now, key, msg, outcome.status, outcome.response);
        self.drain_registrar(now);
    }

    fn invite(
        &mut self,
        now: Instant,
        key: transaction::Key,
        msg: &Message,
        source: SocketAddr,
        transport: Transport,
    ) {
        if self.overloaded {
            let retry = OVERLOAD_RETRY_AFTER.as_secs();
            self.respond(now, key, msg, StatusCode::SERVICE_UNAVAILABLE, |w| {
                w.header(&HeaderName::RetryAfter, retry);
                w.header(
                    &HeaderName::Warning,
                    "399 careline \"overloaded; try again\"",
                );
            });
            self.events.push_back(EndpointEvent::Shed { source });
            return;
        }
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
        let handled = self.b2bua.handle_invite(
            now,
            &mut self.layer,
            &self.registrar,
            key,
            msg,
            source,
            transport,
        );
        if handled == Handled::No {
            self.respond(now, key, msg, StatusCode::NOT_FOUND, |w| {
                w.header(
                    &HeaderName::Warning,
                    "399 careline \"no queue answers this number\"",
                );
            });
        }
    }
}

#[cfg(test)]
#[path = "endpoint_tests.rs"]
mod tests;
