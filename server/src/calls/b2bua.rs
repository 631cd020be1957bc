//! The back-to-back user agent, sans-IO: every call is legs that this core
//! joins — the caller's leg (an INVITE we answer) and one leg per agent we
//! ring (INVITEs we send). The ACD decides who rings; this file speaks SIP
//! for it: ringing, CANCEL when another agent won or the caller gave up,
//! ACK and BYE when a 200 OK arrives too late, and BYE across when either
//! side hangs up.
//!
//! With a media engine, every call is anchored: the caller is answered with
//! our own RTP port (and hears our ringback in early media), the agents are
//! offered our other port, and the engine relays between them once someone
//! answers. Without one (unit tests of signalling), SDP passes through.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use careline_shared::sip::transaction::{Key, TransactionLayer};
use careline_shared::sip::{Dialog, HeaderName, Message, Method, StatusCode, Tag};

use careline_shared::sdp::Sdp;

use super::acd::Acd;
use super::event::{EndReason, Event};
use super::media::{Anchor, MediaControl};
use crate::config::Transport;
use crate::sip::registrar::Registrar;

/// The header that tells an agent's phone (and desktop) which call rings.
pub const CALL_HEADER: &str = "X-Careline-Call";

/// Where this server is, for Via and Contact.
#[derive(Debug, Clone)]
pub struct B2buaSettings {
    /// Our UDP socket, if we listen on UDP.
    pub udp: Option<SocketAddr>,
    /// Our TCP socket, if we listen on TCP.
    pub tcp: Option<SocketAddr>,
    /// Our WebSocket listener, if we take SIP over WebSocket.
    pub ws: Option<SocketAddr>,
    /// The SIP domain (for agents' To URIs).
    pub domain: String,
    /// The Server/User-Agent header.
    pub server_name: String,
    /// A caller on hold this long gets a reminder to the agent, and again
    /// every as long after (the clinics' rule: 30–40 s).
    pub hold_reminder: std::time::Duration,
    /// Where calls to numbers that are not our extensions go.
    pub trunk: Option<OutboundRoute>,
    /// The trunks whose calls we take, and their numbers.
    pub inbound: Vec<InboundTrunk>,
    /// How long a caller whose agent's line broke off hears the
    /// dropped-line message before we hang up (zero: at once).
    pub dropped_announcement: std::time::Duration,
    /// An OPTIONS in each connected leg's dialog this often (`None`: never).
    pub keepalive: Option<std::time::Duration>,
}

/// How to reach one leg's peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Flow {
    transport: Transport,
    remote: SocketAddr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AgentLegState {
    /// INVITE sent, no provisional yet.
    Calling,
    /// A provisional arrived (so a CANCEL may be sent).
    Ringing,
    /// We want it stopped but could not CANCEL before a provisional.
    CancelPending,
    /// CANCEL sent.
    Cancelling,
    /// Answered and joined with the caller.
    Connected,
}

#[derive(Debug)]
struct AgentLeg {
    call: u64,
    agent: String,
    invite: Message,
    flow: Flow,
    state: AgentLegState,
    dialog: Option<Dialog>,
    /// A leg of a call the server placed (not a queue call's agent leg).
    dialout: bool,
    /// Sent again with credentials after a challenge (so not again).
    auth_tried: bool,
    /// The WebRTC gateway's peer when the agent is a browser: its SDP is
    /// translated to and from the plain RTP the media session speaks.
    webrtc: Option<u64>,
}

#[derive(Debug)]
struct CallerLeg {
    key: Key,
    invite: Message,
    flow: Flow,
    dialog: Dialog,
    answered: bool,
    /// A browser's WebRTC leg, through the gateway.
    webrtc: bool,
}

#[derive(Debug)]
struct Call {
    caller: CallerLeg,
    /// The agent leg joined with the caller.
    connected: Option<Key>,
    /// The SDP each side last gave us, to answer re-INVITEs with the other's.
    /// The SDP we offer agents (the caller's, or ours when anchored).
    sdp_for_agent: Bytes,
    /// The SDP we answer the caller with (the agent's, or ours when anchored).
    sdp_for_caller: Bytes,
    /// The caller's offer and our media session, when anchored.
    media: Option<(Sdp, Anchor)>,
    /// Since when the agent has had the caller on hold, and the reminders so far.
    hold: Option<(Instant, u32)>,
    /// The session interval (s), when timed (RFC 4028).
    session: Option<u32>,
    /// We refresh the session (`refresher=uas`), not the caller.
    we_refresh: bool,
    /// During a blind transfer: the transferring agent's leg, awaiting the
    /// outcome (final NOTIFY), unless they hung up already.
    transferor: Option<Key>,
    /// During an attended transfer: the agent's consulting call.
    consult: Option<consult::Consult>,
    /// The agent's latest note on the call (for whoever it is handed to).
    note: Option<String>,
}

/// The call core's own timers (the queue's are the ACD's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum CallTimer {
    /// Remind the agent of the caller on hold.
    HoldReminder(u64),
    /// A placed call's current leg has rung long enough.
    DialOutRing(u64),
    /// The caller's session refresh is overdue.
    SessionExpiry(u64),
    /// Time for us to refresh the caller's session.
    SessionRefresh(u64),
    /// A transfer target's re-INVITE, tried again after a 491.
    ReinviteRetry(u64),
    /// A transfer target's re-INVITE has gone unanswered too long.
    ReinviteGiveUp(u64),
    /// Time to check the legs are still there.
    KeepAlive(u64),
    /// The dropped-line message has played: hang up on the caller.
    Farewell(u64),
}

/// The B2BUA.
pub struct B2bua {
    settings: B2buaSettings,
    acd: Acd,
    /// Calls and legs are boxed: they are kilobytes each (the INVITEs they
    /// keep), and a map that grows moves every slot at once on the core's
    /// thread; slots of pointers also keep an idle map's spare room small.
    calls: HashMap<u64, Box<Call>>,
    /// Agent legs by their INVITE client transaction, kept until the leg ends
    /// (also after its call ended, to hang up a 200 OK that comes too late).
    legs: HashMap<Key, Box<AgentLeg>>,
    /// Our dialogs by Call-ID: an in-dialog request finds its leg without
    /// looking at every call.
    dialogs: HashMap<String, Vec<DialogOwner>>,
    /// Calls by their caller's INVITE server transaction (for CANCEL).
    by_invite: HashMap<Key, u64>,
    timers: super::timers::Timers<CallTimer>,
    next_call: u64,
    tags: u64,
    events: VecDeque<Event>,
    media: Option<Box<dyn MediaControl>>,
    /// Calls the server placed (call-backs, teleconsults), by call number.
    dialouts: HashMap<u64, dialout::DialOut>,
    /// Keep-alive OPTIONS awaiting an answer: their call and leg.
    /// (The agent side's leg too: an answer from a leg that no longer
    /// carries the call, say after a transfer, means nothing.)
    keepalives: HashMap<Key, (u64, keepalive::Side, Option<Key>)>,
    /// Our session refreshes to callers awaiting an answer.
    refreshes: HashMap<Key, keepalive::Refresh>,
    /// Callers hearing the dropped-line message, by call.
    farewells: HashMap<u64, farewell::Farewell>,
    /// Our re-INVITEs bringing a transfer's target onto the caller's media.
    reinvites: HashMap<Key, reinvite::Reinvite>,
    /// Consulting calls whose call ended, until their legs are hung up.
    orphan_consults: HashMap<u64, consult::Consult>,
}

/// Whose dialog a Call-ID leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DialogOwner {
    /// A call's caller leg.
    Caller(u64),
    /// An agent leg, by its INVITE client transaction.
    Agent(Key),
    /// A dropped call's caller, hearing why.
    Farewell(u64),
    /// An agent's consulting call (attended transfer) about a call.
    Consult(u64),
}

/// What the B2BUA did with a request the endpoint handed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Taken care of (answered or passed on).
    Yes,
    /// Not ours: the endpoint answers it (404 for an unknown number, 481 for
    /// an unknown dialog).
    No,
}

impl B2bua {
    /// A B2BUA over a distributor.
    pub fn new(
        settings: B2buaSettings,
        acd: Acd,
        seed: u64,
        media: Option<Box<dyn MediaControl>>,
    ) -> B2bua {
        B2bua {
            settings,
            acd,
            calls: HashMap::new(),
            legs: HashMap::new(),
            dialogs: HashMap::new(),
            by_invite: HashMap::new(),
            timers: Default::default(),
            next_call: 1,
            tags: seed | 1,
            events: VecDeque::new(),
            media,
            dialouts: HashMap::new(),
            keepalives: HashMap::new(),
            refreshes: HashMap::new(),
            farewells: HashMap::new(),
            reinvites: HashMap::new(),
            orphan_consults: HashMap::new(),
        }
    }

    /// Numbers new calls after `last` (the highest stored before a restart),
    /// so call ids are never reused.
    pub fn resume_after(&mut self, last: u64) {
        self.next_call = self.next_call.max(last + 1);
    }

    /// The distributor (agent states, queues).
    pub fn acd(&self) -> &Acd {
        &self.acd
    }

    fn index_dialog(&mut self, call_id: &str, owner: DialogOwner) {
        self.dialogs
            .entry(call_id.to_string())
            .or_default()
            .push(owner);
    }

    fn unindex_dialog(&mut self, call_id: &str, owner: DialogOwner) {
        if let Some(owners) = self.dialogs.get_mut(call_id) {
            owners.retain(|&o| o != owner);
            if owners.is_empty() {
                self.dialogs.remove(call_id);
            }
        }
    }

    /// Forgets an agent leg and its dialog.
    fn remove_leg(&mut self, key: Key) -> Option<Box<AgentLeg>> {
        let leg = self.legs.remove(&key)?;
        if let (Some(peer), Some(media)) = (leg.webrtc, self.media.as_mut()) {
            media.webrtc_close(peer);
        }
        if !self.reinvites.is_empty() {
            self.reinvites.retain(|_, r| r.leg != key);
        }
        if let Some(d) = &leg.dialog {
            self.unindex_dialog(d.call_id.as_str(), DialogOwner::Agent(key));
        }
        Some(leg)
    }

    /// The end of a turn: the media commands it queued start now.
    pub fn flush_media(&mut self) {
        if let Some(media) = self.media.as_mut() {
            media.flush();
        }
    }

    /// Calls in progress (waiting or connected).
    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    /// The next fact.
    pub fn poll_event(&mut self) -> Option<Event> {
        while let Some(e) = self.acd.poll_event() {
            self.events.push_back(e);
        }
        self.events.pop_front()
    }

    /// The next deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.acd.poll_timeout(), self.timers.next()]
            .into_iter()
            .flatten()
            .min()
    }

    /// The public id of a call, as stored and sent in [`CALL_HEADER`].
    pub fn call_ref(call: u64) -> String {
        format!("call-{call:08x}")
    }

    fn next_tag(&mut self) -> Tag {
        self.tags = self
            .tags
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        Tag::new(format!("b2{:012x}", self.tags >> 16))
    }

    /// Timers.
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
    ) {
        self.acd.handle_timeout(now);
        while let Some((at, timer)) = self.timers.pop_due(now) {
            match timer {
                CallTimer::HoldReminder(call) => self.hold_reminder(at, call),
                CallTimer::DialOutRing(id) => self.dialout_ring_timeout(at, layer, registrar, id),
                CallTimer::SessionExpiry(call) => self.session_expired(at, layer, registrar, call),
                CallTimer::SessionRefresh(call) => self.refresh_session(at, layer, call),
                CallTimer::ReinviteRetry(call) => self.reinvite_retry(at, layer, call),
                CallTimer::ReinviteGiveUp(call) => {
                    self.reinvite_given_up(at, layer, registrar, call)
                }
                CallTimer::KeepAlive(call) => self.send_keepalives(at, layer, call),
                CallTimer::Farewell(call) => self.farewell_over(at, layer, call),
            }
        }
        self.run_commands(now, layer, registrar);
    }

    /// A new INVITE outside any dialog. Ours when its Request-URI user is a
    /// queue's number.
    #[allow(clippy::too_many_arguments)]
    pub fn handle_invite(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        key: Key,
        msg: &Message,
        source: SocketAddr,
        transport: Transport,
    ) -> Handled {
        let Some(dialled) = self.dialled_number(msg, source, registrar) else {
            return Handled::No;
        };
        let number = dialled.as_str();
        let flow = Flow {
            transport,
            remote: source,
        };
        // An agent with a caller on hold calling a colleague, a queue or
        // `senior`: an attended transfer's consultation.
        if let Some((call, agent)) = self.consult_for(msg, source) {
            let user = number.to_string();
            self.start_consult(now, layer, registrar, key, msg, flow, call, &agent, &user);
            return Handled::Yes;
        }
        if self.acd.queue_for(number).is_none() {
            return Handled::No;
        }
        let number = number.to_string();
        let tag = self.next_tag();
        let Some(dialog) = Dialog::from_uas(msg, &tag) else {
            // No Contact: nowhere to send in-dialog requests to.
            self.respond(now, layer, key, msg, &tag, StatusCode::BAD_REQUEST, |w| {
                w.header(
                    &HeaderName::Warning,
                    "399 careline \"INVITE without a Contact\"",
                );
            });
            return Handled::Yes;
        };
        // Session timers: too short an interval is refused (RFC 4028 §7.4).
        // The caller refreshes when it asks to (or leaves it to us and can);
        // we refresh when it asks us to or cannot do it itself (§9).
        let (session, we_refresh) = match keepalive::requested_session(msg) {
            Some((secs, _)) if secs < keepalive::MIN_SE => {
                let status = StatusCode::new(422).expect("422 is a status code");
                self.respond(now, layer, key, msg, &tag, status, |w| {
                    w.header(&HeaderName::MinSe, keepalive::MIN_SE);
                });
                return Handled::Yes;
            }
            Some((secs, uas)) => (Some(secs), uas || !keepalive::supports_timer(msg)),
            None => (None, false),
        };
        let call = self.next_call;
        self.next_call += 1;
        // A browser (SIP over WebSocket, offering DTLS-SRTP) goes through
        // the gateway; a WebSocket softphone offering plain RTP does not.
        let webrtc = transport.is_websocket() && anchoring::is_webrtc_offer(&msg.body);
        let (media, sdp_for_agent, early) = match self.anchor(call, &msg.body, webrtc) {
            Ok(anchored) => anchored,
            Err((status, why)) => {
                self.respond(now, layer, key, msg, &tag, status, |w| {
                    w.header(&HeaderName::Warning, format_args!("399 careline \"{why}\""));
                });
                return Handled::Yes;
            }
        };
        match &early {
            // Early media: the caller hears our ringback from the first ring.
            Some(sdp) => {
                let sdp = sdp.clone();
                self.respond_sdp_status(
                    now,
                    layer,
                    key,
                    msg,
                    &tag,
                    StatusCode::SESSION_PROGRESS,
                    &sdp,
                );
            }
            None => self.respond(now, layer, key, msg, &tag, StatusCode::RINGING, |_| {}),
        }
        self.index_dialog(dialog.call_id.as_str(), DialogOwner::Caller(call));
        self.by_invite.insert(key, call);
        self.calls.insert(
            call,
            Box::new(Call {
                caller: CallerLeg {
                    key,
                    invite: msg.clone(),
                    flow,
                    dialog,
                    answered: false,
                    webrtc,
                },
                connected: None,
                sdp_for_agent,
                sdp_for_caller: early.unwrap_or_default(),
                media,
                hold: None,
                session,
                we_refresh,
                transferor: None,
                consult: None,
                note: None,
            }),
        );
        let caller = msg
            .headers
            .from
            .as_ref()
            .and_then(|f| f.uri.as_sip())
            .and_then(|u| u.user.as_ref())
            .map_or_else(String::new, |u| u.to_string());
        if self
            .acd
            .handle_call_arrived(now, call, &number, &caller)
            .is_err()
        {
            // Checked above; a queue cannot vanish in between.
            self.drop_call(now, call);
            return Handled::No;
        }
        self.run_commands(now, layer, registrar);
        Handled::Yes
    }

    /// The caller cancelled its INVITE (`invite` is its server transaction).
    pub fn handle_cancel(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        invite: Key,
    ) {
        let Some(&call) = self.by_invite.get(&invite) else {
            return;
        };
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        if c.caller.key != invite {
            // The agent's consulting call, not the caller's.
            self.consult_cancelled(now, layer, registrar, call);
            return;
        }
        if c.caller.answered {
            return;
        }
        let (msg, tag) = (c.caller.invite.clone(), c.caller.dialog.local_tag.clone());
        self.respond(
            now,
            layer,
            invite,
            &msg,
            &tag,
            StatusCode::REQUEST_TERMINATED,
            |_| {},
        );
        let _ = self.acd.handle_caller_hangup(now, call);
        self.drop_call(now, call);
        self.run_commands(now, layer, registrar);
    }

    /// A request inside a dialog (BYE, re-INVITE, INFO …). `Handled::No`
    /// when it matches none of our legs.
    pub fn handle_in_dialog(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        key: Key,
        msg: &Message,
    ) -> Handled {
        let Some(method) = msg.method().cloned() else {
            return Handled::No;
        };
        let owner =
            msg.call_id()
                .and_then(|id| self.dialogs.get(id.as_str()))
                .and_then(|owners| {
                    owners.iter().copied().find(|o| match o {
                        DialogOwner::Caller(call) => self
                            .calls
                            .get(call)
                            .is_some_and(|c| c.caller.dialog.matches_request(msg)),
                        DialogOwner::Agent(key) => self.legs.get(key).is_some_and(|l| {
                            l.dialog.as_ref().is_some_and(|d| d.matches_request(msg))
                        }),
                        DialogOwner::Farewell(call) => self.in_farewell(*call, msg),
                        DialogOwner::Consult(call) => self.calls.get(call).is_some_and(|c| {
                            c.consult
                                .as_ref()
                                .is_some_and(|k| k.inbound.dialog.matches_request(msg))
                        }),
                    })
                });
        if let Some(DialogOwner::Consult(call)) = owner {
            self.consult_request(now, layer, registrar, key, msg, call);
            return Handled::Yes;
        }
        if let Some(DialogOwner::Farewell(call)) = owner {
            self.farewell_request(now, layer, key, msg, call);
            return Handled::Yes;
        }
        // From the caller?
        if let Some(DialogOwner::Caller(call)) = owner
            && let Some(c) = self.calls.get_mut(&call)
        {
            if !c.caller.dialog.accept_remote_cseq(msg) {
                let tag = c.caller.dialog.local_tag.clone();
                self.respond(
                    now,
                    layer,
                    key,
                    msg,
                    &tag,
                    StatusCode::SERVER_INTERNAL_ERROR,
                    |_| {},
                );
                return Handled::Yes;
            }
            let tag = c.caller.dialog.local_tag.clone();
            let sdp = c.sdp_for_caller.clone();
            let connected = c.connected;
            let c_browser = c.caller.webrtc;
            match method {
                Method::Bye => {
                    self.respond(now, layer, key, msg, &tag, StatusCode::OK, |_| {});
                    let dropped = connected.and(hold::abnormal_reason(msg));
                    if let Some(cause) = &dropped {
                        self.events.push_back(Event::LineDropped {
                            call,
                            side: "caller",
                            cause: cause.clone(),
                            at: now,
                        });
                    }
                    if let Some(leg) = connected {
                        let reason = dropped.as_ref().map(|_| hold::DROPPED_REASON);
                        self.bye_agent_because(now, layer, leg, reason);
                    }
                    if dropped.is_some() {
                        let _ = self.acd.handle_call_ended(now, call, EndReason::Dropped);
                    } else {
                        let _ = self.acd.handle_caller_hangup(now, call);
                    }
                    self.release_transferor(now, layer, call, "SIP/2.0 487 Request Terminated");
                    self.drop_call(now, call);
                    self.run_commands(now, layer, registrar);
                }
                Method::Invite | Method::Update => {
                    // Refused before it counts as a refresh (only a 2xx
                    // does, RFC 4028).
                    if c_browser && !msg.body.is_empty() {
                        self.refuse_renegotiation(now, layer, key, msg, &tag);
                        return Handled::Yes;
                    }
                    let session = self.session_refreshed(now, call, msg);
                    self.respond_sdp_timed(now, layer, key, msg, &tag, &sdp, session);
                }
                _ => self.respond(now, layer, key, msg, &tag, StatusCode::OK, |_| {}),
            }
            return Handled::Yes;
        }
        // From an agent?
        let Some(DialogOwner::Agent(leg_key)) = owner else {
            return Handled::No;
        };
        let Some(leg) = self.legs.get_mut(&leg_key) else {
            return Handled::No;
        };
        let Some(dialog) = leg.dialog.as_mut() else {
            return Handled::No;
        };
        let tag = dialog.local_tag.clone();
        if !dialog.accept_remote_cseq(msg) {
            self.respond(
                now,
                layer,
                key,
                msg,
                &tag,
                StatusCode::SERVER_INTERNAL_ERROR,
                |_| {},
            );
            return Handled::Yes;
        }
        let call = leg.call;
        let renegotiation =
            matches!(method, Method::Invite | Method::Update) && !msg.body.is_empty();
        if renegotiation && leg.webrtc.is_some() {
            // A browser's leg, whatever call it carries.
            self.refuse_renegotiation(now, layer, key, msg, &tag);
            return Handled::Yes;
        }
        if self.dialouts.contains_key(&call) {
            self.dialout_in_dialog(now, layer, registrar, key, msg, leg_key, &tag);
            return Handled::Yes;
        }
        let consulted = self
            .calls
            .get(&call)
            .and_then(|c| c.consult.as_ref())
            .is_some_and(|k| k.target == Some(leg_key));
        if consulted {
            self.consult_target_request(now, layer, registrar, key, msg, leg_key, &tag, call);
            return Handled::Yes;
        }
        let transferor = self
            .calls
            .get(&call)
            .is_some_and(|c| c.transferor == Some(leg_key));
        if transferor {
            // The agent who handed the call on: their leg no longer carries it.
            self.respond(now, layer, key, msg, &tag, StatusCode::OK, |_| {});
            if method == Method::Bye {
                self.remove_leg(leg_key);
                if let Some(c) = self.calls.get_mut(&call) {
                    c.transferor = None;
                }
            }
            return Handled::Yes;
        }
        let connected = self
            .calls
            .get(&call)
            .is_some_and(|c| c.connected == Some(leg_key));
        if method == Method::Refer {
            if connected {
                self.handle_refer(now, layer, registrar, key, msg, leg_key, &tag);
            } else {
                let status = StatusCode::new(481).expect("481 is a status code");
                self.respond(now, layer, key, msg, &tag, status, |_| {});
            }
            return Handled::Yes;
        }
        match method {
            Method::Bye => {
                self.respond(now, layer, key, msg, &tag, StatusCode::OK, |_| {});
                let agent = self.legs.get(&leg_key).map(|l| l.agent.clone());
                self.remove_leg(leg_key);
                let consult_answered = self
                    .calls
                    .get(&call)
                    .and_then(|c| c.consult.as_ref())
                    .is_some_and(|k| k.target.is_some());
                if connected
                    && consult_answered
                    && let Some(agent) = agent
                {
                    // The agent hung up on the held caller while speaking to
                    // the colleague: hand the caller over rather than lose them.
                    let _ = self.complete_consult(now, layer, registrar, call, &agent, false);
                    return Handled::Yes;
                }
                if let Some(cause) = hold::abnormal_reason(msg) {
                    // The agent's line failed: the caller hears why, then
                    // the hang-up.
                    self.line_dropped(now, layer, registrar, call, "agent", cause);
                    return Handled::Yes;
                }
                if let Some(c) = self.drop_call(now, call) {
                    self.bye_caller_because(now, layer, &c, None);
                }
                let _ = self.acd.handle_call_ended(now, call, EndReason::Completed);
                self.run_commands(now, layer, registrar);
            }
            Method::Invite | Method::Update => {
                let connected = self
                    .calls
                    .get(&call)
                    .is_some_and(|c| c.connected == Some(leg_key));
                let sdp = if connected {
                    self.agent_reoffer(now, call, &msg.body)
                } else {
                    self.calls
                        .get(&call)
                        .map(|c| c.sdp_for_agent.clone())
                        .unwrap_or_default()
                };
                self.respond_sdp(now, layer, key, msg, &tag, &sdp);
                self.run_commands(now, layer, registrar);
            }
            _ => self.respond(now, layer, key, msg, &tag, StatusCode::OK, |_| {}),
        }
        Handled::Yes
    }
}

/// How to reach a registered phone: over the flow its REGISTER came on.
fn flow_of(binding: &crate::sip::registrar::Binding) -> Flow {
    let transport = match binding.transport {
        "tcp" => Transport::Tcp,
        "ws" => Transport::Ws,
        "wss" => Transport::Wss,
        _ => Transport::Udp,
    };
    Flow {
        transport,
        remote: binding.source,
    }
}

#[path = "b2bua_agents.rs"]
mod agents;
#[path = "b2bua_dialout.rs"]
mod dialout;
pub use dialout::{DialOutError, DialOutRequest, OutboundRoute};
pub use hold::HoldError;
#[path = "b2bua_media.rs"]
mod anchoring;
#[path = "b2bua_consult.rs"]
mod consult;
#[path = "b2bua_reinvite.rs"]
mod reinvite;
#[path = "b2bua_trunks.rs"]
mod trunks;
pub use trunks::InboundTrunk;
#[path = "b2bua_hold.rs"]
mod hold;
#[path = "b2bua_transfer.rs"]
mod transfer;
pub use transfer::TransferError;
#[path = "b2bua_farewell.rs"]
mod farewell;
#[path = "b2bua_keepalive.rs"]
mod keepalive;
#[path = "b2bua_outgoing.rs"]
mod outgoing;

#[cfg(test)]
#[path = "b2bua_tests.rs"]
mod tests;
