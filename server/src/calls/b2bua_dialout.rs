//! Calls the server places: "call back now" and doctors' teleconsults
//! (DESIGN §2.2). The staff member's phone rings first; once they answer
//! (hearing ringback), the patient is dialled — at a phone registered here
//! under that number, or through the trunk. Both legs are INVITEs we send,
//! anchored like a queue call's media: the staff member on leg A, the
//! patient on leg B, relayed once the patient answers.
//!
//! Every step is an event (`dialout_started`, `dialout_answered` per side,
//! `dialout_ended` with how far it got), so a call-back attempt records its
//! own outcome: `reached`, `no_answer`, `busy`, `wrong_number`; or
//! `staff_unavailable`, `cancelled`, `failed` when the patient was never
//! really tried.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use careline_shared::sdp::{self, Direction};
use careline_shared::sip::transaction::{Key, TransactionLayer};
use careline_shared::sip::{Dialog, Host, Message, Method, NameAddr, SipUri, StatusCode, Tag, Uri};

use super::anchoring::{OUR_CODECS, is_g711, point_leg};
use super::outgoing::OutgoingInvite;
use super::{AgentLegState, B2bua, CallTimer, DialogOwner, Flow, flow_of, hold};
use crate::calls::event::{EndReason, Event};
use crate::calls::media::Anchor;
use crate::config::Transport;
use crate::media::{Leg, Mode};
use crate::sip::registrar::Registrar;

/// How long the staff member's phone rings before the call is given up.
pub const STAFF_RING: Duration = Duration::from_secs(30);
/// How long the patient's phone rings before it counts as no answer.
pub const PATIENT_RING: Duration = Duration::from_secs(60);

/// Where calls to numbers that are not our extensions go: a trunk that
/// takes calls from our address, or challenges them (answered once with
/// `credentials`, `b2bua_trunks.rs`).
#[derive(Clone, PartialEq, Eq)]
pub struct OutboundRoute {
    /// The trunk's address.
    pub remote: SocketAddr,
    /// Its transport.
    pub transport: Transport,
    /// User name and password for its challenges.
    pub credentials: Option<(String, String)>,
}

impl std::fmt::Debug for OutboundRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundRoute")
            .field("remote", &self.remote)
            .field("transport", &self.transport)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .finish_non_exhaustive()
    }
}

/// A call to place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialOutRequest {
    /// The staff member whose phone rings first (an extension).
    pub staff: String,
    /// The patient's number.
    pub number: String,
    /// `callback` or `teleconsult`.
    pub purpose: &'static str,
    /// The call-back task or appointment it serves.
    pub link: Option<String>,
}

/// Why a call could not be placed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialOutError {
    /// The staff member has no phone registered.
    #[error("the phone of {0} is not registered")]
    NotRegistered(String),
    /// Their phone is ringing or on a call.
    #[error("{0} is already on a call or being rung")]
    Busy(String),
    /// The number is no extension here and no trunk is configured.
    #[error("the number is not an extension here and no trunk is configured to reach it")]
    NoRoute,
    /// No media ports are free.
    #[error("no media ports are free")]
    NoMedia,
}

/// A placed call.
#[derive(Debug)]
pub(super) struct DialOut {
    staff: String,
    number: String,
    link: Option<String>,
    pub(super) staff_leg: Key,
    pub(super) patient_leg: Option<Key>,
    anchor: Option<Anchor>,
    /// Our SDP towards each side (to answer their re-INVITEs with).
    sdp_staff: Bytes,
    sdp_patient: Bytes,
    patient_answered: bool,
}

/// What a patient's refusal means for the call-back.
fn refusal_outcome(status: StatusCode) -> &'static str {
    match status.as_u16() {
        486 | 600 => "busy",
        // The trunk refused our credentials: the patient was never tried.
        401 | 403 | 407 => "failed",
        404 | 410 | 484 | 485 | 604 => "wrong_number",
        _ => "no_answer",
    }
}

impl B2bua {
    /// Places a call: rings `req.staff`'s phone now, the patient once they
    /// answer. Returns the call's id (`call-…`).
    pub fn dial_out(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        req: DialOutRequest,
    ) -> Result<String, DialOutError> {
        let binding = registrar
            .bindings(&req.staff)
            .iter()
            .max_by_key(|b| b.expires_at)
            .cloned()
            .ok_or_else(|| DialOutError::NotRegistered(req.staff.clone()))?;
        if registrar.bindings(&req.number).is_empty() && self.settings.trunk.is_none() {
            return Err(DialOutError::NoRoute);
        }
        if self.dialouts.values().any(|d| d.staff == req.staff) {
            return Err(DialOutError::Busy(req.staff));
        }
        self.acd
            .handle_outside_call_started(now, &req.staff)
            .map_err(|_| DialOutError::Busy(req.staff.clone()))?;
        let id = self.next_call;
        self.next_call += 1;
        let (anchor, offer) = match self.media.as_mut() {
            Some(media) => {
                let Some(anchor) = media.create() else {
                    self.acd.handle_outside_call_ended(now, &req.staff);
                    return Err(DialOutError::NoMedia);
                };
                let offer = sdp::offer(
                    &OUR_CODECS,
                    media.address(),
                    anchor.port_a,
                    Direction::SendRecv,
                    id,
                );
                (Some(anchor), Bytes::from(offer.to_bytes()))
            }
            None => (None, Bytes::new()),
        };
        let flow = flow_of(&binding);
        // A staff member in the browser gets the gateway's WebRTC offer.
        let Some((offer, webrtc)) = self.offer_over(&flow, anchor.map(|a| a.id), offer) else {
            if let (Some(a), Some(media)) = (anchor, self.media.as_mut()) {
                media.destroy(a.id);
            }
            self.acd.handle_outside_call_ended(now, &req.staff);
            return Err(DialOutError::NoMedia);
        };
        // The staff member's phone shows whom they are about to call.
        let from = NameAddr::new(self.domain_uri(&req.number));
        let to = NameAddr::new(self.domain_uri(&req.staff));
        let content_type = (!offer.is_empty()).then_some("application/sdp");
        let Some(staff_leg) = self.send_invite(
            now,
            layer,
            OutgoingInvite {
                call: id,
                who: &req.staff,
                request_uri: &binding.contact.uri,
                to,
                from,
                flow,
                content_type,
                body: &offer,
                dialout: true,
                again: None,
            },
        ) else {
            self.forget_peer(webrtc);
            if let (Some(a), Some(media)) = (anchor, self.media.as_mut()) {
                media.destroy(a.id);
            }
            self.acd.handle_outside_call_ended(now, &req.staff);
            return Err(DialOutError::NotRegistered(req.staff));
        };
        if let Some(leg) = self.legs.get_mut(&staff_leg) {
            leg.webrtc = webrtc;
        }
        self.timers
            .set(CallTimer::DialOutRing(id), now + STAFF_RING);
        self.events.push_back(Event::DialOutStarted {
            call: id,
            staff: req.staff.clone(),
            number: req.number.clone(),
            purpose: req.purpose,
            link: req.link.clone(),
            at: now,
        });
        self.dialouts.insert(
            id,
            DialOut {
                staff: req.staff,
                number: req.number,
                link: req.link,
                staff_leg,
                patient_leg: None,
                anchor,
                sdp_staff: offer,
                sdp_patient: Bytes::new(),
                patient_answered: false,
            },
        );
        Ok(Self::call_ref(id))
    }

    fn domain_uri(&self, user: &str) -> Uri {
        Uri::Sip(SipUri::new(
            Some(user),
            Host::Domain(self.settings.domain.as_str().into()),
            None,
        ))
    }

    pub(super) fn is_dialout_leg(&self, key: Key) -> bool {
        self.legs.get(&key).is_some_and(|l| l.dialout)
    }

    /// A final response on a placed call's leg.
    pub(super) fn dialout_final(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        key: Key,
        msg: &Message,
        status: StatusCode,
    ) {
        let Some(id) = self.legs.get(&key).map(|l| l.call) else {
            return;
        };
        let live = self
            .dialouts
            .get(&id)
            .is_some_and(|d| d.staff_leg == key || d.patient_leg == Some(key));
        let patient = self
            .dialouts
            .get(&id)
            .is_some_and(|d| d.patient_leg == Some(key));
        // The trunk wants our credentials: the same INVITE again, once.
        if matches!(status.as_u16(), 401 | 407)
            && patient
            && let Some(again) = self.answer_challenge(now, layer, key, msg)
        {
            if let Some(d) = self.dialouts.get_mut(&id) {
                d.patient_leg = Some(again);
            }
            return;
        }
        let Some(leg) = self.legs.get(&key) else {
            return;
        };
        if !status.is_success() {
            self.remove_leg(key);
            if live {
                let staff = self.dialouts.get(&id).is_some_and(|d| d.staff_leg == key);
                let outcome = if staff {
                    "staff_unavailable"
                } else {
                    refusal_outcome(status)
                };
                self.finish_dialout(now, layer, registrar, id, outcome, EndReason::Completed);
            }
            return;
        }
        if leg.state == AgentLegState::Connected {
            // A retransmitted 2xx: our ACK was lost.
            self.ack_agent(layer, key);
            return;
        }
        let Some(dialog) = Dialog::from_uac(&leg.invite, msg) else {
            self.remove_leg(key);
            if live {
                self.finish_dialout(now, layer, registrar, id, "failed", EndReason::Completed);
            }
            return;
        };
        let call_id = dialog.call_id.as_str().to_string();
        if let Some(leg) = self.legs.get_mut(&key) {
            leg.dialog = Some(dialog);
            leg.state = AgentLegState::Connected;
        }
        self.index_dialog(&call_id, DialogOwner::Agent(key));
        self.ack_agent(layer, key);
        if !live {
            // Answered after we gave up on it.
            self.bye_agent(now, layer, key);
            return;
        }
        let staff_answered = self.dialouts.get(&id).is_some_and(|d| d.staff_leg == key);
        if staff_answered {
            // A browser's answer becomes the gateway's plain one.
            let Some(body) = self.answer_from(key, &msg.body, id) else {
                self.bye_agent(now, layer, key);
                self.finish_dialout(now, layer, registrar, id, "failed", EndReason::Completed);
                return;
            };
            self.staff_answered(now, layer, registrar, id, &body);
        } else {
            self.patient_answered(now, id, &msg.body);
        }
    }

    /// The staff member answered: ringback to them, and dial the patient.
    fn staff_answered(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        id: u64,
        answer: &Bytes,
    ) {
        let Some(d) = self.dialouts.get(&id) else {
            return;
        };
        let (staff, number, anchor) = (d.staff.clone(), d.number.clone(), d.anchor);
        self.events.push_back(Event::DialOutAnswered {
            call: id,
            staff: staff.clone(),
            side: "staff",
            at: now,
        });
        // Offer the patient what the staff member's phone chose, so the
        // relay never needs to transcode.
        let mut offer = Bytes::new();
        if let (Some(a), Some(media)) = (anchor, self.media.as_mut()) {
            let codecs = point_leg(&mut **media, a.id, Leg::A, answer);
            if let Some(codec) = codecs.iter().find(|c| is_g711(c)) {
                media.set_mode(
                    a.id,
                    Mode::Ringback {
                        codec: codec.clone(),
                    },
                );
            }
            let ours = if codecs.is_empty() {
                OUR_CODECS.to_vec()
            } else {
                codecs
            };
            let sdp = sdp::offer(&ours, media.address(), a.port_b, Direction::SendRecv, id);
            offer = Bytes::from(sdp.to_bytes());
        }
        // A phone registered under the number, else the trunk.
        let target = match registrar
            .bindings(&number)
            .iter()
            .max_by_key(|b| b.expires_at)
        {
            Some(b) => Some((b.contact.uri.clone(), flow_of(b))),
            None => self.settings.trunk.as_ref().map(|t| {
                let uri = Uri::Sip(SipUri::new(
                    Some(&number),
                    Host::from(t.remote.ip()),
                    Some(t.remote.port()),
                ));
                (
                    uri,
                    Flow {
                        transport: t.transport,
                        remote: t.remote,
                    },
                )
            }),
        };
        let Some((uri, flow)) = target else {
            self.finish_dialout(now, layer, registrar, id, "failed", EndReason::Completed);
            return;
        };
        let from = NameAddr::new(self.contact(flow.transport));
        let to = NameAddr::new(uri.clone());
        let content_type = (!offer.is_empty()).then_some("application/sdp");
        let sent = self.send_invite(
            now,
            layer,
            OutgoingInvite {
                call: id,
                who: &number,
                request_uri: &uri,
                to,
                from,
                flow,
                content_type,
                body: &offer,
                dialout: true,
                again: None,
            },
        );
        match sent {
            Some(key) => {
                if let Some(d) = self.dialouts.get_mut(&id) {
                    d.patient_leg = Some(key);
                    d.sdp_patient = offer;
                }
                self.timers
                    .set(CallTimer::DialOutRing(id), now + PATIENT_RING);
            }
            None => self.finish_dialout(now, layer, registrar, id, "failed", EndReason::Completed),
        }
    }

    /// The patient answered: relay.
    fn patient_answered(&mut self, now: Instant, id: u64, answer: &Bytes) {
        self.timers.stop(CallTimer::DialOutRing(id));
        let Some(d) = self.dialouts.get_mut(&id) else {
            return;
        };
        d.patient_answered = true;
        let (staff, anchor) = (d.staff.clone(), d.anchor);
        if let (Some(a), Some(media)) = (anchor, self.media.as_mut()) {
            point_leg(&mut **media, a.id, Leg::B, answer);
            media.set_mode(a.id, Mode::Relay);
        }
        self.events.push_back(Event::DialOutAnswered {
            call: id,
            staff,
            side: "patient",
            at: now,
        });
    }

    /// A placed call's leg is unreachable (its INVITE timed out).
    pub(super) fn dialout_leg_lost(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        key: Key,
    ) {
        let Some(leg) = self.remove_leg(key) else {
            return;
        };
        let Some(d) = self.dialouts.get(&leg.call) else {
            return;
        };
        let outcome = if d.staff_leg == key {
            "staff_unavailable"
        } else if d.patient_leg == Some(key) {
            "no_answer"
        } else {
            return;
        };
        self.finish_dialout(
            now,
            layer,
            registrar,
            leg.call,
            outcome,
            EndReason::Completed,
        );
    }

    /// The current leg rang too long.
    pub(super) fn dialout_ring_timeout(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        id: u64,
    ) {
        let Some(d) = self.dialouts.get(&id) else {
            return;
        };
        let outcome = match (d.patient_leg, d.patient_answered) {
            (None, _) => "staff_unavailable",
            (Some(_), false) => "no_answer",
            (Some(_), true) => return,
        };
        self.finish_dialout(now, layer, registrar, id, outcome, EndReason::Completed);
    }

    /// A request inside one of a placed call's dialogs.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn dialout_in_dialog(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        key: Key,
        msg: &Message,
        leg_key: Key,
        tag: &Tag,
    ) {
        let Some(id) = self.legs.get(&leg_key).map(|l| l.call) else {
            return;
        };
        let Some(d) = self.dialouts.get(&id) else {
            return;
        };
        let from_staff = d.staff_leg == leg_key;
        let our_sdp = if from_staff {
            d.sdp_staff.clone()
        } else {
            d.sdp_patient.clone()
        };
        match msg.method() {
            Some(Method::Bye) => {
                self.respond(now, layer, key, msg, tag, StatusCode::OK, |_| {});
                self.remove_leg(leg_key);
                let patient_answered = self.dialouts.get(&id).is_some_and(|d| d.patient_answered);
                let dropped = hold::abnormal_reason(msg);
                if let Some(cause) = &dropped
                    && patient_answered
                {
                    self.events.push_back(Event::LineDropped {
                        call: id,
                        side: if from_staff { "agent" } else { "caller" },
                        cause: cause.clone(),
                        at: now,
                    });
                }
                let (outcome, reason) = match (patient_answered, dropped.is_some()) {
                    (true, true) => ("reached", EndReason::Dropped),
                    (true, false) => ("reached", EndReason::Completed),
                    // The staff member hung up while the patient's phone rang.
                    (false, _) => ("cancelled", EndReason::Completed),
                };
                self.finish_dialout(now, layer, registrar, id, outcome, reason);
            }
            Some(Method::Invite | Method::Update) => {
                self.respond_sdp(now, layer, key, msg, tag, &our_sdp);
            }
            _ => self.respond(now, layer, key, msg, tag, StatusCode::OK, |_| {}),
        }
    }

    /// The media of a placed call went silent; `true` when it was one.
    pub(super) fn dialout_silence(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        session: crate::media::SessionId,
        leg: Leg,
    ) -> bool {
        let Some((&id, d)) = self
            .dialouts
            .iter()
            .find(|(_, d)| d.anchor.is_some_and(|a| a.id == session))
        else {
            return false;
        };
        if d.patient_answered {
            self.events.push_back(Event::LineDropped {
                call: id,
                side: if leg == Leg::A { "agent" } else { "caller" },
                cause: "rtp_timeout".into(),
                at: now,
            });
            self.finish_dialout(now, layer, registrar, id, "reached", EndReason::Dropped);
        }
        true
    }

    /// Ends a placed call: hangs up what is connected, cancels what rings,
    /// frees the media and the staff member.
    pub(super) fn finish_dialout(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        id: u64,
        outcome: &'static str,
        reason: EndReason,
    ) {
        let Some(d) = self.dialouts.remove(&id) else {
            return;
        };
        self.timers.stop(CallTimer::DialOutRing(id));
        let why = (reason == EndReason::Dropped).then_some(hold::DROPPED_REASON);
        for key in [Some(d.staff_leg), d.patient_leg].into_iter().flatten() {
            match self.legs.get(&key).map(|l| l.state) {
                Some(AgentLegState::Connected) => self.bye_agent_because(now, layer, key, why),
                Some(_) => self.cancel_leg(now, layer, key),
                None => {}
            }
        }
        if let Some(a) = d.anchor {
            // What the legs carried (`caller_*`: the staff member's leg A,
            // `agent_*`: the patient's leg B).
            self.media_stats(now, id, a, false);
            if let Some(media) = self.media.as_mut() {
                media.destroy(a.id);
            }
        }
        self.acd.handle_outside_call_ended(now, &d.staff);
        self.events.push_back(Event::DialOutEnded {
            call: id,
            staff: d.staff,
            outcome,
            reason,
            link: d.link,
            at: now,
        });
        self.run_commands(now, layer, registrar);
    }
}
