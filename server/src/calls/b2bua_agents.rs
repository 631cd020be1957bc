//! The agent legs of queue calls: the answers and refusals of the phones
//! the distributor rings, and the distributor's commands (ring, stop
//! ringing, give up on a call) carried out in SIP.

use std::time::Instant;

use careline_shared::sip::transaction::{Key, TransactionLayer};
use careline_shared::sip::{
    Dialog, HeaderName, Host, Message, Method, NameAddr, SipUri, StatusCode, Uri,
};

use super::{AgentLegState, B2bua, DialogOwner, flow_of, outgoing};
use crate::calls::acd::{AnswerOutcome, Command};
use crate::sip::registrar::Registrar;

impl B2bua {
    /// A registration changed; the ACD learns whether the agent has a phone.
    ///
    /// An agent whose phone lost its last registration while on a call has
    /// lost the line: the call ends as dropped.
    pub fn handle_registration(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        extension: &str,
        registrar: &Registrar,
    ) {
        let registered = !registrar.bindings(extension).is_empty();
        if !registered {
            let on_calls: Vec<u64> = self
                .calls
                .iter()
                .filter(|(_, c)| {
                    c.connected
                        .and_then(|k| self.legs.get(&k))
                        .is_some_and(|l| l.agent == extension)
                })
                .map(|(&call, _)| call)
                .collect();
            for call in on_calls {
                self.line_dropped(
                    now,
                    layer,
                    registrar,
                    call,
                    "agent",
                    "registration_lost".into(),
                );
            }
        }
        self.acd.handle_agent_registered(now, extension, registered);
    }

    /// An agent (or the API on their behalf) chose a state.
    pub fn set_agent_state(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        extension: &str,
        state: crate::calls::agents::AgentState,
    ) -> Result<(), crate::calls::acd::AcdError> {
        self.acd.handle_set_state(now, extension, state)?;
        self.run_commands(now, layer, registrar);
        Ok(())
    }

    /// A response on one of our client transactions.
    pub fn handle_response(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        key: Key,
        msg: &Message,
    ) {
        let Some(status) = msg.status() else { return };
        if self.keepalive_answered(now, layer, registrar, key, Some(status)) {
            return;
        }
        if self.reinvite_answered(now, layer, registrar, key, Some(msg)) {
            return;
        }
        if self.refresh_answered(now, layer, registrar, key, Some(msg)) {
            return;
        }
        if msg.cseq().is_some_and(|c| c.method != Method::Invite) {
            return; // answers to our CANCELs and BYEs need nothing more
        }
        let Some(leg) = self.legs.get_mut(&key) else {
            return;
        };
        if status.is_provisional() {
            if leg.state == AgentLegState::Calling {
                leg.state = AgentLegState::Ringing;
            } else if leg.state == AgentLegState::CancelPending {
                self.cancel_leg(now, layer, key);
            }
            return;
        }
        if self.is_dialout_leg(key) {
            self.dialout_final(now, layer, registrar, key, msg, status);
            return;
        }
        if status.is_success() {
            self.agent_answered(now, layer, registrar, key, msg);
            return;
        }
        // 3xx–6xx: a refusal, or the 487 that follows our CANCEL.
        let Some(leg) = self.remove_leg(key) else {
            return;
        };
        if !matches!(
            leg.state,
            AgentLegState::Cancelling | AgentLegState::CancelPending
        ) {
            self.acd.handle_agent_rejected(now, leg.call, &leg.agent);
            self.run_commands(now, layer, registrar);
        }
    }

    /// A client transaction gave up (Timer B): the agent's phone is unreachable.
    pub fn handle_transaction_timeout(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        key: Key,
    ) {
        if self.keepalive_answered(now, layer, registrar, key, None) {
            return;
        }
        if self.reinvite_answered(now, layer, registrar, key, None) {
            return;
        }
        if self.refresh_answered(now, layer, registrar, key, None) {
            return;
        }
        if self.is_dialout_leg(key) {
            self.dialout_leg_lost(now, layer, registrar, key);
            return;
        }
        if let Some(leg) = self.remove_leg(key)
            && !matches!(
                leg.state,
                AgentLegState::Cancelling | AgentLegState::CancelPending
            )
        {
            self.acd.handle_agent_rejected(now, leg.call, &leg.agent);
            self.run_commands(now, layer, registrar);
        }
    }

    pub(super) fn agent_answered(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        key: Key,
        msg: &Message,
    ) {
        let Some(leg) = self.legs.get_mut(&key) else {
            return;
        };
        if leg.state == AgentLegState::Connected {
            // A retransmitted 2xx: our ACK was lost, send it again.
            self.ack_agent(layer, key);
            return;
        }
        let Some(dialog) = Dialog::from_uac(&leg.invite, msg) else {
            // A 2xx without Contact or tags cannot be answered in a dialog.
            self.remove_leg(key);
            return;
        };
        let call_id = dialog.call_id.as_str().to_string();
        leg.dialog = Some(dialog);
        self.index_dialog(&call_id, DialogOwner::Agent(key));
        let Some(leg) = self.legs.get_mut(&key) else {
            return;
        };
        let (call, agent) = (leg.call, leg.agent.clone());
        self.ack_agent(layer, key);
        // A browser's answer becomes the gateway's plain one; a refused one
        // ends the leg and the call goes on to the next agent.
        let Some(body) = self.answer_from(key, &msg.body, call) else {
            self.bye_agent(now, layer, key);
            if self.calls.contains_key(&call) {
                self.acd.handle_agent_rejected(now, call, &agent);
            }
            self.run_commands(now, layer, registrar);
            return;
        };
        let outcome = if self.calls.contains_key(&call) {
            self.acd.handle_agent_answered(now, call, &agent)
        } else {
            AnswerOutcome::NotWanted
        };
        match outcome {
            AnswerOutcome::Connected => {
                if let Some(leg) = self.legs.get_mut(&key) {
                    leg.state = AgentLegState::Connected;
                }
                let sdp = self.join_media(now, call, &body);
                let c = self.calls.get_mut(&call).expect("checked above");
                c.connected = Some(key);
                if c.caller.answered {
                    // A transfer's target: the caller was answered long ago.
                    self.release_transferor(now, layer, call, "SIP/2.0 200 OK");
                    self.arm_keepalive(now, call);
                    self.run_commands(now, layer, registrar);
                    return;
                }
                c.caller.answered = true;
                c.sdp_for_caller = sdp.clone();
                let (caller_key, invite, tag) = (
                    c.caller.key,
                    c.caller.invite.clone(),
                    c.caller.dialog.local_tag.clone(),
                );
                let session = self.session_refreshed(now, call, &invite);
                self.respond_sdp_timed(now, layer, caller_key, &invite, &tag, &sdp, session);
                self.arm_keepalive(now, call);
            }
            AnswerOutcome::Consulting => {
                self.consult_connected(now, layer, registrar, key, call, &body);
            }
            AnswerOutcome::NotWanted => self.bye_agent(now, layer, key),
        }
        self.run_commands(now, layer, registrar);
    }

    pub(super) fn run_commands(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
    ) {
        while let Some(cmd) = self.acd.poll_command() {
            match cmd {
                Command::Ring { call, agent, .. } => self.ring(now, layer, registrar, call, &agent),
                Command::StopRinging { call, agent } => {
                    let key = self
                        .legs
                        .iter()
                        .find(|(_, l)| {
                            l.call == call
                                && l.agent == agent
                                && l.state != AgentLegState::Connected
                        })
                        .map(|(k, _)| *k);
                    if let Some(key) = key {
                        self.cancel_leg(now, layer, key);
                    }
                }
                // The joining itself happened when the 200 OK arrived.
                Command::Connect { .. } => {}
                Command::ConsultEnded { call, reason } => {
                    self.end_consult_legs(now, layer, call, reason);
                }
                Command::EndCall { call, .. } => {
                    self.release_transferor(
                        now,
                        layer,
                        call,
                        "SIP/2.0 480 Temporarily Unavailable",
                    );
                    if self.calls.get(&call).is_some_and(|c| c.caller.answered) {
                        // Handed on and never taken: the caller has waited
                        // the queue's maximum; hang up.
                        if let Some(c) = self.drop_call(now, call) {
                            self.bye_caller_because(now, layer, &c, None);
                        }
                    } else if let Some(c) = self.drop_call(now, call) {
                        let (key, invite, tag) =
                            (c.caller.key, c.caller.invite, c.caller.dialog.local_tag);
                        self.respond(
                            now,
                            layer,
                            key,
                            &invite,
                            &tag,
                            StatusCode::TEMPORARILY_UNAVAILABLE,
                            |w| {
                                w.header(
                                    &HeaderName::Warning,
                                    "399 careline \"nobody could take the call\"",
                                );
                            },
                        );
                    }
                }
            }
        }
    }

    /// Sends the INVITE that rings an agent's phone.
    pub(super) fn ring(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        call: u64,
        agent: &str,
    ) {
        let Some(binding) = registrar
            .bindings(agent)
            .iter()
            .max_by_key(|b| b.expires_at)
        else {
            self.acd.handle_agent_rejected(now, call, agent);
            return;
        };
        if !self.calls.contains_key(&call) {
            return;
        }
        let flow = flow_of(binding);
        let transport = flow.transport;
        let c = &self.calls[&call];
        // A consultation rings as a call from the agent; anything else
        // shows the caller.
        let caller = c
            .consult
            .as_ref()
            .map_or(&c.caller.invite, |k| &k.inbound.invite);
        let from = caller
            .headers
            .from
            .clone()
            .unwrap_or_else(|| NameAddr::new(self.contact(transport)));
        let to_uri = Uri::Sip(SipUri::new(
            Some(agent),
            Host::Domain(self.settings.domain.as_str().into()),
            None,
        ));
        let content_type = caller.headers.content_type.as_ref().map(|c| c.to_string());
        let body = c
            .consult
            .as_ref()
            .map_or(&c.sdp_for_agent, |k| &k.sdp_for_target)
            .clone();
        // Consultations are not bridged to browsers yet: no session for them.
        let session = c
            .consult
            .is_none()
            .then(|| c.media.as_ref().map(|(_, a)| a.id))
            .flatten();
        let Some((body, webrtc)) = self.offer_over(&flow, session, body) else {
            tracing::info!(
                call,
                agent,
                "a browser agent cannot take this call's media; skipped"
            );
            self.acd.handle_agent_rejected(now, call, agent);
            return;
        };
        let sent = self.send_invite(
            now,
            layer,
            outgoing::OutgoingInvite {
                call,
                who: agent,
                request_uri: &binding.contact.uri,
                to: NameAddr::new(to_uri),
                from,
                flow,
                content_type: content_type.as_deref(),
                body: &body,
                dialout: false,
                again: None,
            },
        );
        match sent {
            Some(key) => {
                if let Some(leg) = self.legs.get_mut(&key) {
                    leg.webrtc = webrtc;
                }
            }
            None => {
                self.forget_peer(webrtc);
                self.acd.handle_agent_rejected(now, call, agent);
            }
        }
    }
}
