//! Bringing a transfer's target onto the caller's media: the re-INVITE
//! that offers them our port towards agents in the caller's codec (the
//! caller hears music until it is answered), its ACK, a second try 3 s after
//! a 491, and — refused, or no final answer within 32 s — the caller back
//! to the queue rather than to silence.

use std::time::Instant;

use bytes::Bytes;
use careline_shared::sdp::{self, Direction, Sdp};
use careline_shared::sip::transaction::{Key, TransactionLayer};
use careline_shared::sip::{HeaderName, Message, Method, parse_datagram};

use super::anchoring::point_leg;
use super::{B2bua, CallTimer};
use crate::media::{Leg, Mode};
use crate::sip::registrar::Registrar;

/// A re-INVITE we sent to bring a transfer's target onto the caller's media.
#[derive(Debug, Clone, Copy)]
pub(super) struct Reinvite {
    pub(super) call: u64,
    /// The target's leg.
    pub(super) leg: Key,
    cseq: u32,
    /// Its 2xx was applied (a retransmitted 2xx only gets its ACK again).
    done: bool,
    /// A second try, after a 491 (RFC 3261 §14.1).
    retried: bool,
}

/// How long a re-INVITE to a transfer's target may go without a final
/// answer before the caller goes back to the queue (64 × T1).
const REINVITE_GIVE_UP: std::time::Duration = std::time::Duration::from_secs(32);
/// The wait before trying a re-INVITE again after a 491: we own the
/// target leg's Call-ID, so within 2.1–4 s (RFC 3261 §14.1).
const REINVITE_RETRY: std::time::Duration = std::time::Duration::from_secs(3);

impl B2bua {
    /// Offers the target the caller's media (our port towards agents, the
    /// caller's codec) in a re-INVITE; music plays until they answer it.
    pub(super) fn reinvite_target(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        call: u64,
        target: Key,
        previous: &Bytes,
        retried: bool,
    ) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let offer = match (c.media.as_ref(), self.media.as_ref()) {
            (Some((_, anchor)), Some(media)) => {
                let codecs = Sdp::parse(&c.sdp_for_caller)
                    .ok()
                    .and_then(|s| s.audio().map(|m| m.codecs()))
                    .unwrap_or_default();
                let mut offer = sdp::offer(
                    &codecs,
                    media.address(),
                    anchor.port_b,
                    Direction::SendRecv,
                    call,
                );
                // The same session as the target saw, one version on.
                if let Ok(prev) = Sdp::parse(previous) {
                    offer.origin = prev.origin.clone();
                    offer.origin.session_version += 1;
                }
                Bytes::from(offer.to_bytes())
            }
            _ => c.sdp_for_agent.clone(),
        };
        c.sdp_for_agent = offer.clone();
        let Some(leg) = self.legs.get(&target) else {
            return;
        };
        let flow = leg.flow;
        let branch = layer.new_branch();
        let via = self.via(flow.transport, &branch);
        let contact = self.contact(flow.transport);
        let server_name = self.settings.server_name.clone();
        let Some(dialog) = self.legs.get_mut(&target).and_then(|l| l.dialog.as_mut()) else {
            return;
        };
        let mut w = dialog.request(&Method::Invite, &via, &contact);
        w.header(&HeaderName::Allow, crate::sip::endpoint::ALLOW)
            .header(&HeaderName::UserAgent, &server_name)
            .header_named(super::CALL_HEADER, Self::call_ref(call));
        let cseq = dialog.local_cseq;
        let bytes = w.finish_with_body(Some("application/sdp"), &offer);
        let Ok(req) = parse_datagram(bytes.clone()) else {
            tracing::error!(call, "could not read back our own re-INVITE");
            return;
        };
        match layer.send_request(now, &req, bytes, flow.remote, flow.transport.is_stream()) {
            Ok(key) => {
                self.reinvites.insert(
                    key,
                    Reinvite {
                        call,
                        leg: target,
                        cseq,
                        done: false,
                        retried,
                    },
                );
                self.timers
                    .set(CallTimer::ReinviteGiveUp(call), now + REINVITE_GIVE_UP);
            }
            Err(e) => tracing::warn!(call, error = %e, "could not send a re-INVITE"),
        }
    }

    /// A response to (or the timeout of) one of our re-INVITEs; `false`
    /// when `key` is not one.
    pub(super) fn reinvite_answered(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        key: Key,
        msg: Option<&Message>,
    ) -> bool {
        let Some(r) = self.reinvites.get(&key).copied() else {
            return false;
        };
        let status = msg.and_then(Message::status);
        if status.is_some_and(|s| s.is_provisional()) {
            return true;
        }
        self.timers.stop(CallTimer::ReinviteGiveUp(r.call));
        if let (Some(status), Some(msg)) = (status, msg)
            && status.is_success()
        {
            self.ack_reinvite(layer, r);
            if !r.done {
                if let Some(r) = self.reinvites.get_mut(&key) {
                    r.done = true;
                }
                self.target_joined(r.call, &msg.body);
            }
            return true;
        }
        self.reinvites.remove(&key);
        if status.is_some_and(|s| s.as_u16() == 491) && !r.retried {
            // Our re-INVITE crossed one of the phone's: once more, later.
            self.timers
                .set(CallTimer::ReinviteRetry(r.call), now + REINVITE_RETRY);
            return true;
        }
        self.target_lost(now, layer, registrar, r);
        true
    }

    /// Time to try the re-INVITE again after a 491.
    pub(super) fn reinvite_retry(&mut self, now: Instant, layer: &mut TransactionLayer, call: u64) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let (Some(target), previous) = (c.connected, c.sdp_for_agent.clone()) else {
            return;
        };
        self.reinvite_target(now, layer, call, target, &previous, true);
    }

    /// The re-INVITE has had no final answer in 32 s.
    pub(super) fn reinvite_given_up(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        call: u64,
    ) {
        let pending: Vec<Key> = self
            .reinvites
            .iter()
            .filter(|(_, r)| r.call == call && !r.done)
            .map(|(k, _)| *k)
            .collect();
        for key in pending {
            if let Some(r) = self.reinvites.remove(&key) {
                self.target_lost(now, layer, registrar, r);
            }
        }
    }

    /// The target could not take the caller's media (refused, or never
    /// answered): the caller goes back to the queue rather than to silence.
    fn target_lost(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        r: Reinvite,
    ) {
        let agent = self.legs.get(&r.leg).map(|l| l.agent.clone());
        let number = self.acd.queue_number_of(r.call);
        if let (Some(agent), Some(number)) = (agent, number) {
            let target = crate::calls::acd::TransferTarget::Queue(number);
            if self
                .transfer(now, layer, registrar, r.call, &agent, target, None)
                .is_ok()
            {
                if let Some(c) = self.calls.get_mut(&r.call) {
                    c.transferor = None;
                }
                self.bye_agent(now, layer, r.leg);
            }
        }
    }

    fn ack_reinvite(&mut self, layer: &mut TransactionLayer, r: Reinvite) {
        let Some(leg) = self.legs.get(&r.leg) else {
            return;
        };
        let Some(dialog) = &leg.dialog else { return };
        let branch = layer.new_branch();
        let bytes = dialog
            .ack(
                r.cseq,
                &self.via(leg.flow.transport, &branch),
                &self.contact(leg.flow.transport),
            )
            .finish();
        layer.send_stateless(leg.flow.remote, leg.flow.transport.is_stream(), bytes);
    }

    /// The target accepted the caller's media: relay caller ↔ target.
    fn target_joined(&mut self, call: u64, answer: &Bytes) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let (Some((_, anchor)), Some(media)) = (c.media.as_ref(), self.media.as_mut()) else {
            return;
        };
        point_leg(&mut **media, anchor.id, Leg::B, answer);
        media.set_mode(anchor.id, Mode::Relay);
    }
}
