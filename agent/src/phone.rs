//! The agent's phone, sans-IO: a SIP user agent on the shared transaction
//! layer that registers its extension with the server and takes the calls
//! the server rings it with.
//!
//! - Registration (digest, refresh, retry while the server is unreachable)
//!   is the shared [`Registrations`] client; its facts come out as
//!   [`PhoneEvent::Registration`].
//! - An INVITE rings a line: `180 Ringing` goes back at once and
//!   [`PhoneEvent::Ringing`] carries the server's call id (the
//!   `X-Careline-Call` header), which matches the WebSocket's `call_offered`
//!   to the line. [`Phone::answer`] sends the 200 with our SDP answer and
//!   resends it until the ACK comes (RFC 3261 §13.3.1.4), giving up with a
//!   BYE after 64·T1.
//! - A re-INVITE or an UPDATE with SDP (hold music, a transfer moving the
//!   media) is answered at once and reported as [`PhoneEvent::Media`].
//! - BYE and CANCEL end the line; [`Phone::hang_up`] declines a ringing
//!   line (603) or sends BYE.
//!
//! Every request we send goes to the server (our outbound proxy), whatever
//! the remote target says: the server reaches us the same way. Time is
//! always an argument, so every timer is tested exactly in virtual time.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use careline_shared::sdp::{self, Codec, Direction, NegotiationError, Sdp};
use careline_shared::sip::registration::{Account, RegistrationEvent, Registrations};
use careline_shared::sip::transaction::{Event, Key, TimerConfig, TransactionLayer, Transmit};
use careline_shared::sip::{
    Dialog, HeaderName, Host, Message, Method, SipUri, StatusCode, Tag, Uri, Via, parse_datagram,
    response_to,
};

/// The header in which the server names its call.
pub const CALL_HEADER: &str = "X-Careline-Call";

/// How often a keep-alive (a blank datagram, RFC 5626 §3.5.1's CRLF) goes
/// to the server, holding NAT mappings open between registrations.
pub const KEEPALIVE: Duration = Duration::from_secs(25);

/// What the phone answers to `OPTIONS` and puts in `Allow`.
const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, NOTIFY, INFO";

// (REFER is sent by the phone, never taken: see phone_refer.rs.)

/// A line (one call) of this phone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LineId(pub u64);

/// What the phone needs to know.
#[derive(Clone, Debug)]
pub struct PhoneConfig {
    /// The extension and its password, and the server to register with.
    pub account: Account,
    /// Our SIP address (Via, Contact).
    pub local: SocketAddr,
    /// The codecs we offer and accept, in order of preference.
    pub codecs: Vec<Codec>,
    /// Lines ringing or talking at once; a call beyond them gets 486.
    pub max_lines: usize,
}

impl PhoneConfig {
    /// The defaults for `account` at `local`: G.711 first (what the
    /// server relays to the phone network without transcoding), then Opus,
    /// with DTMF events; two lines (a call and a consultation).
    pub fn new(account: Account, local: SocketAddr) -> PhoneConfig {
        PhoneConfig {
            account,
            local,
            codecs: vec![
                Codec::PCMU,
                Codec::PCMA,
                Codec::OPUS,
                Codec::TELEPHONE_EVENT,
            ],
            max_lines: 2,
        }
    }
}

/// The media a line agreed on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Media {
    /// Where to send RTP (`None`: the other side asked for none, e.g. hold).
    pub remote: Option<SocketAddr>,
    /// The voice codec to send with.
    pub codec: Codec,
    /// The payload type of RFC 4733 events, when agreed.
    pub dtmf_pt: Option<u8>,
    /// Whether we may send (false while the server holds us `recvonly`/`inactive`).
    pub send: bool,
}

/// Why a line ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// The server hung up (BYE).
    RemoteHangUp,
    /// The server stopped ringing us before we answered (CANCEL).
    Cancelled,
    /// We hung up or declined.
    LocalHangUp,
    /// Our 200 was never acknowledged.
    NoAck,
    /// Our call was refused with this status (486 busy, 404 unknown …).
    Refused(u16),
    /// Our call got no answer at all (Timer B).
    Unanswered,
}

impl EndReason {
    /// As logs and the screen name it: `remote_hang_up`, `refused_486` …
    pub fn name(self) -> String {
        match self {
            EndReason::RemoteHangUp => "remote_hang_up".into(),
            EndReason::Cancelled => "cancelled".into(),
            EndReason::LocalHangUp => "local_hang_up".into(),
            EndReason::NoAck => "no_ack".into(),
            EndReason::Refused(code) => format!("refused_{code}"),
            EndReason::Unanswered => "unanswered".into(),
        }
    }
}

/// What the phone tells its driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PhoneEvent {
    /// Registration succeeded or failed (and is retried).
    Registration(RegistrationEvent),
    /// A call is ringing this phone.
    Ringing {
        /// The line.
        line: LineId,
        /// The server's call id, to match with the WebSocket's `call_offered`.
        call_id: Option<String>,
        /// Who is calling, as the From header shows it.
        from: String,
    },
    /// The line is answered (or its media changed): start or move the audio.
    Media {
        /// The line.
        line: LineId,
        /// What was agreed.
        media: Media,
    },
    /// How a transfer we asked for (REFER) goes: the REFER's final
    /// answer, then the sipfrag statuses of its NOTIFYs.
    Transfer {
        /// The line.
        line: LineId,
        /// A SIP status (202 accepted, 180/200 from the target's leg, or a
        /// refusal).
        status: u16,
        /// Nothing more will come (a final status).
        done: bool,
    },
    /// The line is over.
    Ended {
        /// The line.
        line: LineId,
        /// Why.
        reason: EndReason,
    },
}

/// A request by the driver that cannot be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// No such line (it has ended).
    #[error("no line {0:?}")]
    NoSuchLine(LineId),
    /// The line is not ringing.
    #[error("the line is not ringing")]
    NotRinging,
    /// Our answer could not be built.
    #[error("the call's offer cannot be answered: {0}")]
    Offer(#[from] NegotiationError),
    /// Not something to dial.
    #[error("`{0}` is not a number to call (digits, letters, + - . _ * #)")]
    BadTarget(String),
    /// The request could not be sent.
    #[error("cannot send: {0}")]
    Send(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineState {
    /// Our INVITE is out, no 2xx yet.
    Dialing,
    /// 180 sent, waiting for the user.
    Ringing,
    /// 200 sent, waiting for the ACK.
    Answered,
    /// Talking.
    Confirmed,
}

/// A 2xx resent until its ACK arrives.
#[derive(Debug)]
struct Unacked {
    cseq: u32,
    bytes: Bytes,
    destination: SocketAddr,
    next: Instant,
    interval: Duration,
    give_up: Instant,
}

#[derive(Debug)]
struct Line {
    id: LineId,
    state: LineState,
    dialog: Dialog,
    /// The INVITE being answered and its server transaction, or (for
    /// our own calls) the INVITE we sent and its client transaction.
    invite: Message,
    invite_key: Key,
    /// Set on the lines we dialled.
    outgoing: Option<dial::Outgoing>,
    /// The last offer received, to answer.
    offer: Option<Sdp>,
    /// Our description (its version goes up with each answer).
    ours: Option<Sdp>,
    local_rtp: Option<SocketAddr>,
    unacked: Option<Unacked>,
    /// The user hung up before the ACK: BYE once it comes.
    bye_on_ack: bool,
    /// Our REFER in flight, if any.
    refer: Option<Key>,
}

/// The phone.
#[derive(Debug)]
pub struct Phone {
    config: PhoneConfig,
    layer: TransactionLayer,
    registrations: Registrations,
    lines: Vec<Line>,
    events: VecDeque<PhoneEvent>,
    next_line: u64,
    seed: u64,
    /// Messages dropped as unreadable.
    discarded: u64,
    /// When the next keep-alive goes to the server.
    keepalive: Option<Instant>,
}

impl Phone {
    /// A phone whose first REGISTER is due at `now`; `seed` (random bits)
    /// makes branches, tags and Call-IDs unique to this run.
    pub fn new(config: PhoneConfig, now: Instant, seed: u64) -> Phone {
        let registrations = Registrations::new(
            vec![config.account.clone()],
            Some(config.local),
            None,
            now,
            seed,
        );
        Phone {
            layer: TransactionLayer::new(TimerConfig::default(), u128::from(seed) << 64 | 0x5eed),
            registrations,
            config,
            lines: Vec::new(),
            events: VecDeque::new(),
            next_line: 1,
            seed,
            discarded: 0,
            keepalive: Some(now + KEEPALIVE),
        }
    }

    /// Whether the server has our registration now.
    pub fn registered(&self) -> bool {
        self.registrations.status().any(|(_, ok)| ok)
    }

    /// The lines ringing or talking.
    pub fn lines(&self) -> impl Iterator<Item = LineId> + '_ {
        self.lines.iter().map(|l| l.id)
    }

    /// The phone is going away: every line hung up (declined, cancelled or
    /// BYE) and the registration removed.
    pub fn shut_down(&mut self, now: Instant) {
        let lines: Vec<LineId> = self.lines.iter().map(|l| l.id).collect();
        for line in lines {
            let _ = self.hang_up(now, line);
        }
        // A line still waiting for its ACK gets its BYE now.
        while let Some(i) = self
            .lines
            .iter()
            .position(|l| l.state == LineState::Answered)
        {
            self.lines[i].state = LineState::Confirmed;
            self.send_bye(now, i);
            self.end(i, EndReason::LocalHangUp);
        }
        self.keepalive = None;
        self.registrations.unregister_all(now, &mut self.layer);
        self.drain(now);
    }

    /// Whether the registration has nothing in flight (after
    /// [`Phone::shut_down`]: its removal was answered or failed).
    pub fn is_idle(&self) -> bool {
        self.registrations.is_idle()
    }

    /// Whether `line` is ringing (not yet answered).
    pub fn is_ringing(&self, line: LineId) -> bool {
        self.lines
            .iter()
            .any(|l| l.id == line && l.state == LineState::Ringing)
    }

    /// Datagrams that could not be read as SIP (dropped).
    pub fn discarded(&self) -> u64 {
        self.discarded
    }

    /// A datagram from `source`.
    pub fn handle_datagram(&mut self, now: Instant, bytes: Bytes, source: SocketAddr) {
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return; // a keep-alive (RFC 5626 §4.4.1 CRLF)
        }
        // The server is our only peer: anything else on the network that
        // tries to ring or hang up this phone is dropped.
        if source.ip() != self.config.account.remote.ip() {
            self.discarded += 1;
            return;
        }
        match parse_datagram(bytes) {
            Ok(msg) => self.layer.handle_message(now, msg, source, false),
            Err(_) => self.discarded += 1,
        }
        self.drain(now);
    }

    /// Time moved on to `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.layer.handle_timeout(now);
        self.registrations.handle_timeout(now, &mut self.layer);
        if self.keepalive.is_some_and(|t| t <= now) && self.registered() {
            // A NAT between us and the server forgets a UDP mapping after
            // tens of seconds; our registration refreshes far less often.
            self.layer.send_stateless(
                self.config.account.remote,
                false,
                Bytes::from_static(b"\r\n\r\n"),
            );
            self.keepalive = Some(now + KEEPALIVE);
        }
        if self.keepalive.is_some_and(|t| t <= now) {
            // Not registered: the next one is due a period after we are.
            self.keepalive = Some(now + KEEPALIVE);
        }
        for i in (0..self.lines.len()).rev() {
            self.resend_2xx(now, i);
        }
        self.drain(now);
    }

    /// When `handle_timeout` is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let lines = self
            .lines
            .iter()
            .filter_map(|l| l.unacked.as_ref().map(|u| u.next.min(u.give_up)));
        [
            self.layer.poll_timeout(),
            self.registrations.poll_timeout(),
            self.keepalive.filter(|_| self.registered()),
        ]
        .into_iter()
        .flatten()
        .chain(lines)
        .min()
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.layer.poll_transmit()
    }

    /// The next fact for the driver.
    pub fn poll_event(&mut self) -> Option<PhoneEvent> {
        self.events.pop_front()
    }

    /// Answers a ringing line, with our audio at `local_rtp`.
    pub fn answer(
        &mut self,
        now: Instant,
        line: LineId,
        local_rtp: SocketAddr,
    ) -> Result<(), PhoneError> {
        let i = self.find(line)?;
        if self.lines[i].state != LineState::Ringing {
            return Err(PhoneError::NotRinging);
        }
        self.lines[i].local_rtp = Some(local_rtp);
        let (ours, media) = self.answer_offer(i)?;
        let l = &mut self.lines[i];
        let mut w = response_to(&l.invite, StatusCode::OK, Some(&l.dialog.local_tag));
        w.header(
            &HeaderName::Contact,
            format_args!("<{}>", contact(&self.config)),
        )
        .header(&HeaderName::Allow, ALLOW);
        let bytes = w.finish_with_body(Some("application/sdp"), &ours.to_bytes());
        let cseq = l.invite.cseq().map_or(0, |c| c.seq);
        // The transaction sends it once; we resend it until the ACK.
        let _ = self
            .layer
            .respond(now, l.invite_key, StatusCode::OK, bytes.clone());
        let t1 = self.layer.config().t1;
        l.unacked = Some(Unacked {
            cseq,
            destination: l.invite.response_destination(self.config.account.remote),
            bytes,
            next: now + t1,
            interval: t1,
            give_up: now + t1 * 64,
        });
        l.ours = Some(ours);
        l.state = LineState::Answered;
        self.events.push_back(PhoneEvent::Media { line, media });
        Ok(())
    }

    /// Declines a ringing line (603) or hangs up a call (BYE).
    pub fn hang_up(&mut self, now: Instant, line: LineId) -> Result<(), PhoneError> {
        let i = self.find(line)?;
        match self.lines[i].state {
            LineState::Ringing => {
                let l = &self.lines[i];
                let bytes =
                    response_to(&l.invite, StatusCode::DECLINE, Some(&l.dialog.local_tag)).finish();
                let _ = self
                    .layer
                    .respond(now, l.invite_key, StatusCode::DECLINE, bytes);
                self.end(i, EndReason::LocalHangUp);
            }
            // RFC 3261 §15: no BYE before the ACK (or its timeout).
            LineState::Answered => self.lines[i].bye_on_ack = true,
            LineState::Dialing => self.cancel_dialing(now, i),
            LineState::Confirmed => {
                self.send_bye(now, i);
                self.end(i, EndReason::LocalHangUp);
            }
        }
        Ok(())
    }

    fn find(&self, line: LineId) -> Result<usize, PhoneError> {
        self.lines
            .iter()
            .position(|l| l.id == line)
            .ok_or(PhoneError::NoSuchLine(line))
    }

    fn drain(&mut self, now: Instant) {
        while let Some(reg) = self.registrations.poll_event() {
            self.events.push_back(PhoneEvent::Registration(reg));
        }
        while let Some(ev) = self.layer.poll_event() {
            match ev {
                Event::Request { key, msg, source } => self.on_request(now, key, msg, source),
                Event::Cancel {
                    key, invite, msg, ..
                } => self.on_cancel(now, key, invite, &msg),
                Event::Ack { msg, .. } => self.on_ack(now, &msg),
                Event::Response { key, msg } => {
                    if !self
                        .registrations
                        .handle_response(now, &mut self.layer, key, &msg)
                        && !self.on_refer_response(key, &msg)
                    {
                        self.on_response(now, key, &msg);
                    }
                }
                Event::Timeout { key } | Event::TransportError { key } => {
                    if !self.registrations.handle_transaction_timeout(now, key)
                        && !self.on_refer_timeout(key)
                    {
                        self.on_dial_timeout(key);
                    }
                }
                Event::Discarded { .. } => self.discarded += 1,
            }
            while let Some(reg) = self.registrations.poll_event() {
                self.events.push_back(PhoneEvent::Registration(reg));
            }
        }
    }

    fn on_request(&mut self, now: Instant, key: Key, msg: Message, source: SocketAddr) {
        let method = msg.method().cloned();
        if msg.to_tag().is_some() {
            return self.in_dialog(now, key, msg, method);
        }
        match method {
            Some(Method::Invite) => self.on_invite(now, key, msg, source),
            Some(Method::Options) => {
                let mut w = response_to(&msg, StatusCode::OK, None);
                w.header(&HeaderName::Allow, ALLOW)
                    .header(&HeaderName::Accept, "application/sdp");
                self.reply(now, key, StatusCode::OK, w.finish(), true);
            }
            _ => {
                let mut w = response_to(&msg, StatusCode::METHOD_NOT_ALLOWED, None);
                w.header(&HeaderName::Allow, ALLOW);
                self.reply(now, key, StatusCode::METHOD_NOT_ALLOWED, w.finish(), true);
            }
        }
    }

    fn on_invite(&mut self, now: Instant, key: Key, msg: Message, _source: SocketAddr) {
        let tag = Tag::new(format!(
            "ag{:08x}{:04x}",
            self.seed as u32 ^ self.next_line as u32,
            self.next_line
        ));
        let refuse = |status: StatusCode| response_to(&msg, status, Some(&tag)).finish();
        if self.lines.len() >= self.config.max_lines {
            let bytes = refuse(StatusCode::BUSY_HERE);
            return self.reply(now, key, StatusCode::BUSY_HERE, bytes, false);
        }
        let offer = Sdp::parse(&msg.body).ok();
        let answerable = offer.as_ref().is_some_and(|o| {
            sdp::answer(
                o,
                &self.config.codecs,
                self.config.local.ip(),
                9,
                Direction::SendRecv,
                1,
            )
            .is_ok()
        });
        let Some(dialog) = Dialog::from_uas(&msg, &tag).filter(|_| answerable) else {
            // No offer (we do not make offers in the 200), none we can
            // answer, or no Contact to reach the caller at.
            let bytes = refuse(StatusCode::NOT_ACCEPTABLE_HERE);
            return self.reply(now, key, StatusCode::NOT_ACCEPTABLE_HERE, bytes, false);
        };
        let line = LineId(self.next_line);
        self.next_line += 1;
        let call_id = msg
            .headers
            .all
            .iter()
            .find(|h| h.name.as_str().eq_ignore_ascii_case(CALL_HEADER))
            .map(|h| h.value_str().trim().to_string())
            // It names files and API paths: only the server's own shape.
            .filter(|c| is_call_id(c));
        let from = msg
            .headers
            .from
            .as_ref()
            .map(|f| f.to_string())
            .unwrap_or_default();
        let mut w = response_to(&msg, StatusCode::RINGING, Some(&tag));
        w.header(
            &HeaderName::Contact,
            format_args!("<{}>", contact(&self.config)),
        );
        let _ = self
            .layer
            .respond(now, key, StatusCode::RINGING, w.finish());
        self.lines.push(Line {
            id: line,
            state: LineState::Ringing,
            dialog,
            invite: msg,
            invite_key: key,
            outgoing: None,
            refer: None,
            offer,
            ours: None,
            local_rtp: None,
            unacked: None,
            bye_on_ack: false,
        });
        self.events.push_back(PhoneEvent::Ringing {
            line,
            call_id,
            from,
        });
    }

    fn in_dialog(&mut self, now: Instant, key: Key, msg: Message, method: Option<Method>) {
        let Some(i) = self
            .lines
            .iter()
            .position(|l| l.dialog.matches_request(&msg))
        else {
            let bytes = response_to(&msg, StatusCode::CALL_DOES_NOT_EXIST, None).finish();
            return self.reply(now, key, StatusCode::CALL_DOES_NOT_EXIST, bytes, true);
        };
        if !self.lines[i].dialog.accept_remote_cseq(&msg) {
            let bytes = response_to(&msg, StatusCode::SERVER_INTERNAL_ERROR, None).finish();
            return self.reply(now, key, StatusCode::SERVER_INTERNAL_ERROR, bytes, true);
        }
        match method {
            Some(Method::Bye) => {
                // A BYE in the early dialog: the INVITE still wants its
                // final response (§15.1.2), 487, before the BYE's 200.
                if self.lines[i].state == LineState::Ringing {
                    let l = &self.lines[i];
                    let bytes = response_to(
                        &l.invite,
                        StatusCode::REQUEST_TERMINATED,
                        Some(&l.dialog.local_tag),
                    )
                    .finish();
                    let _ = self.layer.respond(
                        now,
                        l.invite_key,
                        StatusCode::REQUEST_TERMINATED,
                        bytes,
                    );
                }
                let bytes = response_to(&msg, StatusCode::OK, None).finish();
                self.reply(now, key, StatusCode::OK, bytes, false);
                self.end(i, EndReason::RemoteHangUp);
            }
            Some(Method::Invite) | Some(Method::Update) if !msg.body.is_empty() => {
                self.on_offer(now, i, key, msg);
            }
            Some(Method::Invite) => {
                // An offerless re-INVITE wants our offer in the 200: we
                // give our current description again.
                let ours = self.lines[i].ours.clone();
                self.send_session(now, i, key, &msg, ours);
            }
            // The progress of a transfer we asked for.
            Some(Method::Notify)
                if msg
                    .headers
                    .get(&HeaderName::Event)
                    .is_some_and(|e| e.value_str().trim_start().starts_with("refer")) =>
            {
                self.on_transfer_notify(now, i, key, &msg);
            }
            // A session refresh by UPDATE, NOTIFY, INFO, OPTIONS: acknowledged.
            Some(Method::Update | Method::Notify | Method::Info | Method::Options) => {
                let bytes = response_to(&msg, StatusCode::OK, None).finish();
                self.reply(now, key, StatusCode::OK, bytes, false);
            }
            // REFER and the rest: transfers go through the server's API,
            // so a request to move this call elsewhere is refused, not
            // acknowledged and ignored.
            _ => {
                let mut w = response_to(&msg, StatusCode::METHOD_NOT_ALLOWED, None);
                w.header(&HeaderName::Allow, ALLOW);
                self.reply(now, key, StatusCode::METHOD_NOT_ALLOWED, w.finish(), false);
            }
        }
    }

    fn resend_2xx(&mut self, now: Instant, i: usize) {
        let t2 = self.layer.config().t2;
        let Some(u) = self.lines[i].unacked.as_mut() else {
            return;
        };
        if now >= u.give_up {
            self.lines[i].unacked = None;
            if self.lines[i].state == LineState::Answered {
                // RFC 3261 §13.3.1.4: no ACK, so the dialog ends with a BYE.
                self.lines[i].state = LineState::Confirmed;
                self.send_bye(now, i);
                self.end(i, EndReason::NoAck);
            }
            return;
        }
        if now >= u.next {
            self.layer
                .send_stateless(u.destination, false, u.bytes.clone());
            u.interval = (u.interval * 2).min(t2);
            u.next = now + u.interval;
        }
    }

    fn send_bye(&mut self, now: Instant, i: usize) {
        let branch = self.layer.new_branch();
        let local = self.config.local;
        let via = Via::new("UDP", Host::from(local.ip()), Some(local.port()), &branch);
        let us = contact(&self.config);
        let bytes = self.lines[i]
            .dialog
            .request(&Method::Bye, &via, &us)
            .finish();
        if let Ok(bye) = parse_datagram(bytes.clone()) {
            let _ = self
                .layer
                .send_request(now, &bye, bytes, self.config.account.remote, false);
        }
    }

    fn reply(&mut self, now: Instant, key: Key, status: StatusCode, bytes: Bytes, forget: bool) {
        let _ = if forget {
            self.layer.respond_and_forget(now, key, status, bytes)
        } else {
            self.layer.respond(now, key, status, bytes)
        };
    }

    fn end(&mut self, i: usize, reason: EndReason) {
        let line = self.lines.remove(i).id;
        self.events.push_back(PhoneEvent::Ended { line, reason });
    }
}

/// Whether `s` looks like a call id the server makes (`call-00000042`):
/// letters, digits, `-`, `_`, `.`, at most 64, not starting with a dot.
pub fn is_call_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Our Contact: the extension at our SIP address.
fn contact(config: &PhoneConfig) -> Uri {
    Uri::Sip(SipUri::new(
        Some(config.account.username.as_str()),
        Host::from(config.local.ip()),
        Some(config.local.port()),
    ))
}

#[path = "phone_dial.rs"]
mod dial;

#[path = "phone_refer.rs"]
mod refer;

#[path = "phone_session.rs"]
mod session;

#[cfg(test)]
#[path = "phone_tests.rs"]
mod tests;
