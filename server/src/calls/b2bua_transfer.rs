//! Blind transfers (RFC 3515 REFER from the agent's phone, or the API):
//! the agent hands the caller to a colleague (an extension), a queue (its
//! number) or `senior` (the senior tier of the call's queue). The caller
//! hears music while the target rings — over the same anchored media, on a
//! codec the caller already uses — and is joined to whoever answers; a
//! colleague who does not answer sends the call back to the queue.
//!
//! The transferor's phone gets `202 Accepted` and `NOTIFY`s carrying the
//! progress as `message/sipfrag` (`100 Trying`, then `200 OK` once the
//! target answers), then a BYE unless it has hung up already. A REFER with
//! `Replaces` completes an attended transfer (`b2bua_consult.rs`).

use std::time::Instant;

use bytes::Bytes;
use careline_shared::sdp::{self, CodecKind, Direction, Sdp};
use careline_shared::sip::transaction::{Key, TransactionLayer};
use careline_shared::sip::{HeaderName, Message, Method, StatusCode, Tag};

use super::{B2bua, CallTimer};
use crate::calls::acd::{AcdError, TransferTarget};
use crate::media::{Leg, Mode};
use crate::sip::registrar::Registrar;

/// Why a transfer was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    /// No such call in progress, or not connected to this agent.
    #[error("no call of yours in progress with that id")]
    NotYours,
    /// No such extension or queue.
    #[error("no colleague or queue `{0}`")]
    NoTarget(String),
    /// The colleague is not free.
    #[error("{0} cannot take a call now")]
    Busy(String),
    /// An attended transfer cannot be completed before the colleague answers.
    #[error("the colleague has not answered yet")]
    NotAnswered,
    /// No attended transfer of this call is in progress.
    #[error("no consultation in progress on that call")]
    NoConsultation,
}

impl From<AcdError> for TransferError {
    fn from(e: AcdError) -> Self {
        match e {
            AcdError::NoSuchAgent(t) | AcdError::NoSuchQueue(t) => TransferError::NoTarget(t),
            AcdError::Busy(t, _) => TransferError::Busy(t),
            AcdError::NoSuchCall | AcdError::StateNotSettable(_) => TransferError::NotYours,
            AcdError::NotAnswered => TransferError::NotAnswered,
        }
    }
}

/// The user part of a Refer-To value, and whether it carries `Replaces`
/// (an attended transfer).
fn refer_target(value: &str) -> Option<(String, bool)> {
    let uri = match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value.split(';').next()?,
    };
    let replaces = uri.to_ascii_lowercase().contains("replaces=");
    let rest = uri
        .trim()
        .strip_prefix("sip:")
        .or_else(|| uri.trim().strip_prefix("sips:"))?;
    let user = rest.split(['@', ';', '?']).next()?.trim();
    (!user.is_empty() && rest.contains('@')).then(|| (user.to_string(), replaces))
}

impl B2bua {
    /// What `user` names: `senior`, a queue's number, or an extension.
    pub(super) fn transfer_target(&self, user: &str) -> TransferTarget {
        if user.eq_ignore_ascii_case("senior") {
            TransferTarget::Senior
        } else if self.acd.queue_for(user).is_some() {
            TransferTarget::Queue(user.to_string())
        } else {
            TransferTarget::Extension(user.to_string())
        }
    }

    /// Hands `call` from `agent` to `target`. The agent's leg stays until
    /// they (or we) hang it up, but no longer carries the call.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn transfer(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        call: u64,
        agent: &str,
        target: TransferTarget,
        note: Option<String>,
    ) -> Result<Key, TransferError> {
        let leg = self
            .calls
            .get(&call)
            .and_then(|c| c.connected)
            .filter(|k| self.legs.get(k).is_some_and(|l| l.agent == agent))
            .ok_or(TransferError::NotYours)?;
        self.acd.handle_transfer(now, call, agent, target, note)?;
        self.timers.stop(CallTimer::HoldReminder(call));
        self.timers.stop(CallTimer::KeepAlive(call));
        let Some(c) = self.calls.get_mut(&call) else {
            return Ok(leg);
        };
        c.connected = None;
        c.hold = None;
        c.transferor = Some(leg);
        // Music for the caller meanwhile; the target is offered the codec
        // the caller already speaks, so the relay never transcodes.
        let caller_codecs = Sdp::parse(&c.sdp_for_caller)
            .ok()
            .and_then(|s| s.audio().map(|m| m.codecs()))
            .unwrap_or_default();
        if let (Some((_, anchor)), Some(media)) = (c.media.as_ref(), self.media.as_mut()) {
            if let Some(codec) = caller_codecs
                .iter()
                .find(|c| matches!(c.kind(), CodecKind::Pcmu | CodecKind::Pcma))
            {
                media.set_mode(
                    anchor.id,
                    Mode::Hold {
                        held: Leg::A,
                        codec: codec.clone(),
                    },
                );
            }
            if !caller_codecs.is_empty() {
                let offer = sdp::offer(
                    &caller_codecs,
                    media.address(),
                    anchor.port_b,
                    Direction::SendRecv,
                    call,
                );
                c.sdp_for_agent = Bytes::from(offer.to_bytes());
            }
        }
        self.run_commands(now, layer, registrar);
        Ok(leg)
    }

    /// A REFER from the agent's phone on a connected call.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn handle_refer(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        key: Key,
        msg: &Message,
        leg_key: Key,
        tag: &Tag,
    ) {
        let Some(leg) = self.legs.get(&leg_key) else {
            return;
        };
        let (call, agent) = (leg.call, leg.agent.clone());
        let target = msg
            .headers
            .get(&HeaderName::ReferTo)
            .and_then(|h| refer_target(&h.value_str()));
        let Some((user, replaces)) = target else {
            self.respond(now, layer, key, msg, tag, StatusCode::BAD_REQUEST, |w| {
                w.header(
                    &HeaderName::Warning,
                    "399 careline \"Refer-To names nobody\"",
                );
            });
            return;
        };
        if replaces {
            // An attended transfer: the caller goes to whom the agent
            // consulted, named by the consulting call's dialog.
            let refer_to = msg
                .headers
                .get(&HeaderName::ReferTo)
                .map(|h| h.value_str().to_string())
                .unwrap_or_default();
            if let Err((status, why)) = self.check_replaces(call, &refer_to) {
                let status = StatusCode::new(status).expect("a status code");
                self.respond(now, layer, key, msg, tag, status, |w| {
                    w.header(&HeaderName::Warning, format_args!("399 careline \"{why}\""));
                });
                return;
            }
            let accepted = StatusCode::new(202).expect("202 is a status code");
            self.respond(now, layer, key, msg, tag, accepted, |_| {});
            self.notify_transferor(now, layer, leg_key, "SIP/2.0 100 Trying", false);
            if let Err(e) = self.complete_consult(now, layer, registrar, call, &agent, true) {
                tracing::warn!(call, error = %e, "attended transfer not completed");
                self.notify_transferor(
                    now,
                    layer,
                    leg_key,
                    "SIP/2.0 500 Server Internal Error",
                    true,
                );
            }
            return;
        }
        let target = self.transfer_target(&user);
        let note = self.calls.get(&call).and_then(|c| c.note.clone());
        match self.transfer(now, layer, registrar, call, &agent, target, note) {
            Ok(_) => {
                let accepted = StatusCode::new(202).expect("202 is a status code");
                self.respond(now, layer, key, msg, tag, accepted, |_| {});
                self.notify_transferor(now, layer, leg_key, "SIP/2.0 100 Trying", false);
            }
            Err(e) => {
                let status =
                    StatusCode::new(super::consult::transfer_status(&e)).expect("a status code");
                let why = e.to_string().replace('"', "'");
                self.respond(now, layer, key, msg, tag, status, |w| {
                    w.header(&HeaderName::Warning, format_args!("399 careline \"{why}\""));
                });
            }
        }
    }

    /// A transfer asked for through the API by the agent on the call: as a
    /// REFER would, then the agent's phone is hung up for them.
    pub fn transfer_by_request(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        call: &str,
        agent: &str,
        to: &str,
        note: Option<String>,
    ) -> Result<(), TransferError> {
        let id = call
            .strip_prefix("call-")
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .ok_or(TransferError::NotYours)?;
        let target = match to.strip_prefix("queue:") {
            Some(number) => TransferTarget::Queue(number.to_string()),
            None => self.transfer_target(to),
        };
        let leg = self.transfer(now, layer, registrar, id, agent, target, note)?;
        if let Some(c) = self.calls.get_mut(&id) {
            c.transferor = None;
        }
        self.bye_agent(now, layer, leg);
        Ok(())
    }

    /// The transfer's progress to the transferor's phone (RFC 3515 §2.4.5).
    pub(super) fn notify_transferor(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        leg_key: Key,
        sipfrag: &str,
        last: bool,
    ) {
        let Some(leg) = self.legs.get(&leg_key) else {
            return;
        };
        let flow = leg.flow;
        let branch = layer.new_branch();
        let via = self.via(flow.transport, &branch);
        let contact = self.contact(flow.transport);
        let Some(dialog) = self.legs.get_mut(&leg_key).and_then(|l| l.dialog.as_mut()) else {
            return;
        };
        let mut w = dialog.request(&Method::Notify, &via, &contact);
        w.header(&HeaderName::Event, "refer").header_named(
            "Subscription-State",
            if last {
                "terminated;reason=noresource"
            } else {
                "active;expires=60"
            },
        );
        let bytes = w.finish_with_body(Some("message/sipfrag;version=2.0"), sipfrag.as_bytes());
        self.send_in_dialog(now, layer, flow, bytes);
    }

    /// The transfer is over (the target answered, or the call ended):
    /// the last NOTIFY, then the transferor's leg is hung up.
    pub(super) fn release_transferor(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        call: u64,
        sipfrag: &str,
    ) {
        let Some(leg) = self.calls.get_mut(&call).and_then(|c| c.transferor.take()) else {
            return;
        };
        self.notify_transferor(now, layer, leg, sipfrag, true);
        self.bye_agent(now, layer, leg);
    }
}

#[cfg(test)]
mod tests {
    use super::refer_target;

    #[test]
    fn refer_to_values() {
        assert_eq!(
            refer_target("<sip:2001@127.0.0.1>"),
            Some(("2001".into(), false))
        );
        assert_eq!(
            refer_target("sip:senior@clinic.example;transport=udp"),
            Some(("senior".into(), false))
        );
        assert_eq!(
            refer_target("<sip:2001@10.0.0.1?Replaces=abc%3Bto-tag%3D1%3Bfrom-tag%3D2>"),
            Some(("2001".into(), true))
        );
        assert_eq!(refer_target("<tel:+79210000000>"), None);
        assert_eq!(refer_target("garbage"), None);
    }
}
