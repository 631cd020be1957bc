//! Attended transfers (DESIGN §1: first call the other department, say who
//! is on the line and why, then connect). The agent puts the caller on hold
//! and calls the target from their phone — an extension, a queue's number or
//! `senior` — while the caller hears music. That consulting call is ours too:
//! we answer the agent's INVITE and ring the target as a transfer (their
//! screen gets the caller's card and the agent's note, through the call id).
//! Once the target answers, agent and target speak over a media session of
//! their own. The agent then completes the transfer with a REFER carrying
//! `Replaces` for the consulting call (RFC 3515, RFC 3891) or through the
//! API, and we re-INVITE the target onto the caller's media; or the agent
//! hangs the consulting call up (or it is not answered in time) and keeps
//! the caller, as before.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use careline_shared::sdp::{self, Direction, Sdp};
use careline_shared::sip::transaction::{Key, TransactionLayer};
use careline_shared::sip::{Dialog, HeaderName, Message, Method, StatusCode, Tag, percent_decode};

use super::anchoring::point_leg;
use super::{AgentLegState, B2bua, CallTimer, CallerLeg, DialogOwner, Flow, TransferError};
use crate::calls::agents::AgentState;
use crate::calls::event::Event;
use crate::calls::media::Anchor;
use crate::media::{Leg, Mode};
use crate::sip::registrar::Registrar;

/// An attended transfer's consulting call.
#[derive(Debug)]
pub(super) struct Consult {
    /// The agent's INVITE to the target, which we answer.
    pub(super) inbound: CallerLeg,
    /// The agent hung the consulting call up (or cancelled it) already.
    gone: bool,
    /// The target's leg, once they answered.
    pub(super) target: Option<Key>,
    /// Agent ↔ target media, when anchored.
    anchor: Option<Anchor>,
    /// The agent's offer.
    offer: Option<Sdp>,
    /// What we offer the target.
    pub(super) sdp_for_target: Bytes,
    /// What we answered the agent with.
    sdp_for_agent: Bytes,
}

/// The dialog a `Replaces` value names: Call-ID and the tags given.
fn replaces_of(refer_to: &str) -> Option<(String, Vec<String>)> {
    let lower = refer_to.to_ascii_lowercase();
    let start = lower.find("replaces=")? + "replaces=".len();
    let rest = &refer_to[start..];
    let end = rest.find(['&', '>']).unwrap_or(rest.len());
    let value = String::from_utf8(percent_decode(rest[..end].as_bytes())).ok()?;
    let mut parts = value.split(';');
    let call_id = parts.next()?.trim().to_string();
    let tags = parts
        .filter_map(|p| {
            let (name, v) = p.split_once('=')?;
            let name = name.trim().to_ascii_lowercase();
            (name == "to-tag" || name == "from-tag").then(|| v.trim().to_string())
        })
        .collect();
    (!call_id.is_empty()).then_some((call_id, tags))
}

impl B2bua {
    /// The call an agent's new INVITE consults about: theirs, connected,
    /// with the caller on hold, and the INVITE from where their phone is.
    pub(super) fn consult_for(&self, msg: &Message, source: SocketAddr) -> Option<(u64, String)> {
        let from = msg
            .headers
            .from
            .as_ref()?
            .uri
            .as_sip()?
            .user
            .as_ref()?
            .to_string();
        if self.acd.agent_state(&from) != Some(AgentState::OnCall) {
            return None;
        }
        self.calls
            .iter()
            .find(|(_, c)| {
                c.hold.is_some()
                    && c.consult.is_none()
                    && c.transferor.is_none()
                    && c.connected
                        .and_then(|k| self.legs.get(&k))
                        .is_some_and(|l| l.agent == from && l.flow.remote.ip() == source.ip())
            })
            .map(|(&call, _)| (call, from))
    }

    /// The agent's phone calls `user` about `call`: answer it as ours and
    /// ring the target.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn start_consult(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        key: Key,
        msg: &Message,
        flow: Flow,
        call: u64,
        agent: &str,
        user: &str,
    ) {
        let tag = self.next_tag();
        let refuse = |b2bua: &mut B2bua, layer: &mut TransactionLayer, status: u16, why: &str| {
            let status = StatusCode::new(status).expect("a status code");
            b2bua.respond(now, layer, key, msg, &tag, status, |w| {
                w.header(&HeaderName::Warning, format_args!("399 careline \"{why}\""));
            });
        };
        let Some(dialog) = Dialog::from_uas(msg, &tag) else {
            refuse(self, layer, 400, "INVITE without a Contact");
            return;
        };
        let target = self.transfer_target(user);
        if self.media.is_some() && msg.body.is_empty() {
            // The offer would come in the target's 200 and its answer in the
            // agent's ACK, which we have no way to carry across.
            refuse(self, layer, 488, "a consultation needs an SDP offer");
            return;
        }
        // The target is offered what the agent's phone offered, on our port.
        let (anchor, offer, sdp_for_target) = match self.media.as_mut() {
            Some(media) if !msg.body.is_empty() => {
                let Ok(offer) = Sdp::parse(&msg.body) else {
                    refuse(self, layer, 400, "malformed SDP offer");
                    return;
                };
                let Some(anchor) = media.create() else {
                    refuse(self, layer, 503, "no media ports free");
                    return;
                };
                let mut for_target = offer.clone();
                if for_target.anchor(media.address(), anchor.port_b).is_err() {
                    media.destroy(anchor.id);
                    refuse(self, layer, 488, "no plain RTP audio to anchor");
                    return;
                }
                if let Some(remote) = offer.remote_rtp() {
                    media.set_remote(anchor.id, Leg::A, remote);
                }
                (
                    Some(anchor),
                    Some(offer),
                    Bytes::from(for_target.to_bytes()),
                )
            }
            _ => (None, None, msg.body.clone()),
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let note = c.note.clone();
        let call_id = dialog.call_id.as_str().to_string();
        c.consult = Some(Consult {
            inbound: CallerLeg {
                key,
                invite: msg.clone(),
                flow,
                dialog,
                answered: false,
                webrtc: false,
            },
            gone: false,
            target: None,
            anchor,
            offer,
            sdp_for_target,
            sdp_for_agent: Bytes::new(),
        });
        self.index_dialog(&call_id, DialogOwner::Consult(call));
        self.by_invite.insert(key, call);
        self.respond(now, layer, key, msg, &tag, StatusCode::RINGING, |_| {});
        if let Err(e) = self.acd.handle_consult(now, call, agent, target, note) {
            let e = TransferError::from(e);
            let status = transfer_status(&e);
            let why = e.to_string().replace('"', "'");
            self.forget_consult(now, layer, call);
            refuse(self, layer, status, &why);
            return;
        }
        self.run_commands(now, layer, registrar);
    }

    /// Forgets a consulting call without a word to either phone (the
    /// caller of this answers or hangs up what is still open).
    fn forget_consult(&mut self, _now: Instant, _layer: &mut TransactionLayer, call: u64) {
        let Some(k) = self.calls.get_mut(&call).and_then(|c| c.consult.take()) else {
            return;
        };
        self.drop_consult_state(call, &k);
    }

    fn drop_consult_state(&mut self, call: u64, k: &Consult) {
        self.unindex_dialog(
            k.inbound.dialog.call_id.as_str(),
            DialogOwner::Consult(call),
        );
        self.by_invite.remove(&k.inbound.key);
        if let (Some(anchor), Some(media)) = (k.anchor, self.media.as_mut()) {
            media.destroy(anchor.id);
        }
    }

    /// The consultation is over without a hand-over (the distributor said
    /// so, or the call itself ended): the agent's consulting call is
    /// refused or hung up, the target's leg hung up.
    pub(super) fn end_consult_legs(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        call: u64,
        reason: &str,
    ) {
        let k = match self.calls.get_mut(&call).and_then(|c| c.consult.take()) {
            Some(k) => k,
            None => match self.orphan_consults.remove(&call) {
                Some(k) => k,
                None => return,
            },
        };
        self.drop_consult_state(call, &k);
        if let Some(target) = k.target {
            self.bye_agent(now, layer, target);
        }
        if k.gone {
            return;
        }
        let inbound = k.inbound;
        if inbound.answered {
            let mut dialog = inbound.dialog;
            let branch = layer.new_branch();
            let via = self.via(inbound.flow.transport, &branch);
            let contact = self.contact(inbound.flow.transport);
            let bye = dialog.request(&Method::Bye, &via, &contact).finish();
            self.send_in_dialog(now, layer, inbound.flow, bye);
        } else {
            let (status, why) = match reason {
                "cancelled" => (StatusCode::REQUEST_TERMINATED, "the transfer was cancelled"),
                "no_answer" => (
                    StatusCode::TEMPORARILY_UNAVAILABLE,
                    "the colleague did not answer",
                ),
                "call_ended" => (
                    StatusCode::TEMPORARILY_UNAVAILABLE,
                    "the caller hung up meanwhile",
                ),
                _ => (
                    StatusCode::TEMPORARILY_UNAVAILABLE,
                    "the transfer did not go through",
                ),
            };
            let tag = inbound.dialog.local_tag.clone();
            self.respond(
                now,
                layer,
                inbound.key,
                &inbound.invite,
                &tag,
                status,
                |w| {
                    w.header(&HeaderName::Warning, format_args!("399 careline \"{why}\""));
                },
            );
        }
    }

    /// The target answered the consulting call: agent and target speak,
    /// the caller stays on hold.
    pub(super) fn consult_connected(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        key: Key,
        call: u64,
        answer: &Bytes,
    ) {
        if let Some(leg) = self.legs.get_mut(&key) {
            leg.state = AgentLegState::Connected;
        }
        let Some(k) = self.calls.get_mut(&call).and_then(|c| c.consult.as_mut()) else {
            self.bye_agent(now, layer, key);
            return;
        };
        k.target = Some(key);
        let sdp = match (k.anchor, k.offer.as_ref(), self.media.as_mut()) {
            (Some(anchor), Some(offer), Some(media)) => {
                let codecs = point_leg(&mut **media, anchor.id, Leg::B, answer);
                match sdp::answer(
                    offer,
                    &codecs,
                    media.address(),
                    anchor.port_a,
                    Direction::SendRecv,
                    call,
                ) {
                    Ok(ours) => {
                        let agreed = ours.audio().map(|m| m.codecs()).unwrap_or_default();
                        media.set_codecs(anchor.id, Leg::A, &agreed);
                        media.set_mode(anchor.id, Mode::Relay);
                        Some(Bytes::from(ours.to_bytes()))
                    }
                    Err(_) => None,
                }
            }
            _ => Some(answer.clone()),
        };
        let Some(sdp) = sdp else {
            // The two phones share no codec: the consultation cannot be held.
            let agent = self.agent_of(call).unwrap_or_default();
            let _ = self.acd.handle_consult_cancel(now, call, &agent, "failed");
            self.run_commands(now, layer, registrar);
            return;
        };
        let Some(k) = self.calls.get_mut(&call).and_then(|c| c.consult.as_mut()) else {
            return;
        };
        k.sdp_for_agent = sdp.clone();
        k.inbound.answered = true;
        let (ikey, invite, tag) = (
            k.inbound.key,
            k.inbound.invite.clone(),
            k.inbound.dialog.local_tag.clone(),
        );
        self.respond_sdp(now, layer, ikey, &invite, &tag, &sdp);
    }

    /// The agent's phone cancelled its consulting INVITE before the target
    /// answered.
    pub(super) fn consult_cancelled(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        call: u64,
    ) {
        let Some(k) = self.calls.get_mut(&call).and_then(|c| c.consult.as_mut()) else {
            return;
        };
        if k.inbound.answered {
            return;
        }
        k.gone = true;
        let (ikey, invite, tag) = (
            k.inbound.key,
            k.inbound.invite.clone(),
            k.inbound.dialog.local_tag.clone(),
        );
        self.respond(
            now,
            layer,
            ikey,
            &invite,
            &tag,
            StatusCode::REQUEST_TERMINATED,
            |_| {},
        );
        let agent = self.agent_of(call).unwrap_or_default();
        let _ = self
            .acd
            .handle_consult_cancel(now, call, &agent, "cancelled");
        self.run_commands(now, layer, registrar);
    }

    /// A request in the agent's consulting dialog.
    pub(super) fn consult_request(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        key: Key,
        msg: &Message,
        call: u64,
    ) {
        let Some(k) = self.calls.get_mut(&call).and_then(|c| c.consult.as_mut()) else {
            return;
        };
        let tag = k.inbound.dialog.local_tag.clone();
        if !k.inbound.dialog.accept_remote_cseq(msg) {
            self.respond(
                now,
                layer,
                key,
                msg,
                &tag,
                StatusCode::SERVER_INTERNAL_ERROR,
                |_| {},
            );
            return;
        }
        match msg.method() {
            Some(Method::Bye) => {
                k.gone = true;
                self.respond(now, layer, key, msg, &tag, StatusCode::OK, |_| {});
                let agent = self.agent_of(call).unwrap_or_default();
                let _ = self
                    .acd
                    .handle_consult_cancel(now, call, &agent, "cancelled");
                self.run_commands(now, layer, registrar);
            }
            Some(Method::Invite | Method::Update) => {
                let sdp = k.sdp_for_agent.clone();
                let remote = Sdp::parse(&msg.body).ok().and_then(|s| s.remote_rtp());
                if let (Some(anchor), Some(remote), Some(media)) =
                    (k.anchor, remote, self.media.as_mut())
                {
                    media.set_remote(anchor.id, Leg::A, remote);
                }
                self.respond_sdp(now, layer, key, msg, &tag, &sdp);
            }
            Some(Method::Refer) => {
                let status = StatusCode::new(501).expect("501 is a status code");
                self.respond(now, layer, key, msg, &tag, status, |w| {
                    w.header(
                        &HeaderName::Warning,
                        "399 careline \"send the REFER in the held call's dialog\"",
                    );
                });
            }
            _ => self.respond(now, layer, key, msg, &tag, StatusCode::OK, |_| {}),
        }
    }

    /// A request from the consulted target's phone while they speak to the
    /// agent.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn consult_target_request(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        key: Key,
        msg: &Message,
        leg_key: Key,
        tag: &Tag,
        call: u64,
    ) {
        match msg.method() {
            Some(Method::Bye) => {
                self.respond(now, layer, key, msg, tag, StatusCode::OK, |_| {});
                self.remove_leg(leg_key);
                if let Some(k) = self.calls.get_mut(&call).and_then(|c| c.consult.as_mut()) {
                    k.target = None;
                }
                let agent = self.agent_of(call).unwrap_or_default();
                let _ = self
                    .acd
                    .handle_consult_cancel(now, call, &agent, "target_hung_up");
                self.run_commands(now, layer, registrar);
            }
            Some(Method::Invite | Method::Update) => {
                let Some(k) = self.calls.get(&call).and_then(|c| c.consult.as_ref()) else {
                    return;
                };
                let sdp = k.sdp_for_target.clone();
                let remote = Sdp::parse(&msg.body).ok().and_then(|s| s.remote_rtp());
                if let (Some(anchor), Some(remote), Some(media)) =
                    (k.anchor, remote, self.media.as_mut())
                {
                    media.set_remote(anchor.id, Leg::B, remote);
                }
                self.respond_sdp(now, layer, key, msg, tag, &sdp);
            }
            _ => self.respond(now, layer, key, msg, tag, StatusCode::OK, |_| {}),
        }
    }

    /// Whether a REFER's `Replaces` names this call's answered consulting
    /// call: `Err` with the status and reason to refuse it with.
    pub(super) fn check_replaces(
        &self,
        call: u64,
        refer_to: &str,
    ) -> Result<(), (u16, &'static str)> {
        let Some((call_id, tags)) = replaces_of(refer_to) else {
            return Err((400, "Replaces names no dialog"));
        };
        let Some(k) = self.calls.get(&call).and_then(|c| c.consult.as_ref()) else {
            return Err((481, "no consulting call to hand the caller to"));
        };
        let d = &k.inbound.dialog;
        let ours = tags
            .iter()
            .all(|t| t == d.local_tag.as_str() || t == d.remote_tag.as_str());
        if call_id != d.call_id.as_str() || !ours {
            return Err((
                481,
                "Replaces names a dialog that is not this call's consultation",
            ));
        }
        if k.target.is_none() {
            return Err((491, "the colleague has not answered yet"));
        }
        Ok(())
    }

    /// Hands the caller to the colleague the agent consulted: the target's
    /// leg joins the caller's media (re-INVITE), the agent's legs go. With
    /// `refer` the agent's held leg gets the REFER's final NOTIFY first.
    pub(super) fn complete_consult(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        call: u64,
        agent: &str,
        refer: bool,
    ) -> Result<(), TransferError> {
        self.acd.handle_consult_complete(now, call, agent)?;
        let Some(c) = self.calls.get_mut(&call) else {
            return Err(TransferError::NotYours);
        };
        let Some(k) = c.consult.take() else {
            return Err(TransferError::NotYours);
        };
        let held_leg = c.connected.take();
        c.connected = k.target;
        c.transferor = held_leg.filter(|_| refer);
        let sdp_for_target = k.sdp_for_target.clone();
        if let Some((since, _)) = c.hold.take() {
            self.timers.stop(CallTimer::HoldReminder(call));
            self.events.push_back(Event::HoldEnded {
                call,
                agent: agent.to_string(),
                held_for: now - since,
                at: now,
            });
        }
        // The consulting call is over: hang up the agent's side of it.
        let target = k.target;
        let mut k = k;
        k.target = None;
        self.orphan_consults.insert(call, k);
        self.end_consult_legs(now, layer, call, "completed");
        if let Some(target) = target {
            self.reinvite_target(now, layer, call, target, &sdp_for_target, false);
        }
        if refer {
            self.release_transferor(now, layer, call, "SIP/2.0 200 OK");
        } else if let Some(leg) = held_leg {
            self.bye_agent(now, layer, leg);
        }
        self.arm_keepalive(now, call);
        self.run_commands(now, layer, registrar);
        Ok(())
    }

    /// The agent's latest note on their call (from their desktop), kept for
    /// whoever the call is handed to; notes on calls that are not theirs
    /// are ignored.
    pub fn remember_note(&mut self, call: &str, agent: &str, text: &str) {
        let Some(id) = call
            .strip_prefix("call-")
            .and_then(|h| u64::from_str_radix(h, 16).ok())
        else {
            return;
        };
        if self.agent_of(id).as_deref() != Some(agent) {
            return;
        }
        if let Some(c) = self.calls.get_mut(&id) {
            c.note = Some(text.chars().take(1_000).collect());
        }
    }

    /// The agent's request through the API: `complete` hands the caller
    /// to the colleague they consulted, otherwise the consultation ends and
    /// the caller stays with them.
    pub fn consult_by_request(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        call: &str,
        agent: &str,
        complete: bool,
    ) -> Result<(), TransferError> {
        let id = call
            .strip_prefix("call-")
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .filter(|id| self.acd.consulting(*id) && self.agent_of(*id).as_deref() == Some(agent))
            .ok_or(TransferError::NoConsultation)?;
        if complete {
            self.complete_consult(now, layer, registrar, id, agent, false)
        } else {
            self.acd
                .handle_consult_cancel(now, id, agent, "cancelled")?;
            self.run_commands(now, layer, registrar);
            Ok(())
        }
    }
}

/// The status a transfer refused for `e` is answered with.
pub(super) fn transfer_status(e: &TransferError) -> u16 {
    match e {
        TransferError::NotYours | TransferError::NoConsultation => 481,
        TransferError::NoTarget(_) => 404,
        TransferError::Busy(_) => 486,
        TransferError::NotAnswered => 491,
    }
}

#[cfg(test)]
mod tests {
    use super::replaces_of;

    #[test]
    fn replaces_values_in_refer_to() {
        assert_eq!(
            replaces_of("<sip:2001@10.0.0.1?Replaces=abc%40host%3Bto-tag%3D1%3Bfrom-tag%3D2>"),
            Some(("abc@host".into(), vec!["1".into(), "2".into()]))
        );
        assert_eq!(
            replaces_of("<sip:2001@h?replaces=x%3Bfrom-tag%3Df&Require=replaces>"),
            Some(("x".into(), vec!["f".into()]))
        );
        assert_eq!(replaces_of("<sip:2001@h>"), None);
        assert_eq!(replaces_of("<sip:2001@h?Replaces=%3Bto-tag%3D1>"), None);
        // A broken escape stays as written (and so names no dialog of ours).
        assert_eq!(
            replaces_of("<sip:2001@h?Replaces=x%zz%3Bfrom-tag%3Df>"),
            Some(("x%zz".into(), vec!["f".into()]))
        );
    }
}
