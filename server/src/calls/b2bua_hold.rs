//! Hold and dropped lines.
//!
//! Hold: an agent's re-INVITE (or UPDATE) whose SDP stops them receiving
//! (`sendonly`, `inactive`, or the old `c=0.0.0.0`) puts the caller on
//! music; one that receives again resumes the relay. While the caller
//! waits, the agent is reminded after `hold_reminder` and every
//! `hold_reminder` after that (virtual-time timers of the call core).
//!
//! Dropped: a connected call ends as `dropped` rather than `completed` when
//! a leg's RTP goes silent past `[media] rtp_timeout` while not on hold (the
//! media engine reports it), or when a BYE carries a Reason (RFC 3326) that
//! is not normal clearing. Both legs then get a BYE with a Reason saying so.

use std::time::Instant;

use bytes::Bytes;
use careline_shared::sdp::{self, Codec, CodecKind, Direction, Sdp};
use careline_shared::sip::transaction::TransactionLayer;
use careline_shared::sip::{HeaderName, Message, StatusCode};

use super::{AgentLegState, B2bua, CallTimer};
use crate::calls::event::{EndReason, Event};
use crate::media::{Leg, Mode, SessionId};
use crate::sip::registrar::Registrar;

/// The Reason our BYEs carry when a line dropped.
pub(super) const DROPPED_REASON: &str = "Q.850;cause=41;text=\"line dropped\"";

/// A BYE's Reason, when it is something other than normal clearing
/// (Q.850 causes 16 and 31, SIP 200): `Q.850 cause 41`, `SIP cause 408` …
pub(super) fn abnormal_reason(msg: &Message) -> Option<String> {
    msg.headers
        .get_all(&HeaderName::Reason)
        .flat_map(|h| {
            h.value_str()
                .split(',')
                .map(|s| s.trim().to_string())
                .collect::<Vec<_>>()
        })
        .find_map(|value| {
            let mut parts = value.split(';').map(str::trim);
            let protocol = parts.next()?.to_ascii_uppercase();
            let cause: u16 = parts
                .find_map(|p| {
                    p.strip_prefix("cause=")
                        .or_else(|| p.strip_prefix("CAUSE="))
                })?
                .trim()
                .parse()
                .ok()?;
            let normal = match protocol.as_str() {
                "Q.850" => matches!(cause, 16 | 31),
                "SIP" => (200..300).contains(&cause),
                _ => true,
            };
            (!normal).then(|| format!("{protocol} cause {cause}"))
        })
}

/// Why a hold asked for through the API was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HoldError {
    /// No call in progress with that id.
    #[error("no call in progress with that id")]
    NoSuchCall,
    /// The call is not connected to this agent.
    #[error("the call is not connected to you")]
    NotYours,
}

impl B2bua {
    /// The agent re-offered media on a connected call: hold, resume, or a
    /// new address. Returns our answer for the agent.
    pub(super) fn agent_reoffer(&mut self, now: Instant, call: u64, body: &Bytes) -> Bytes {
        let agent = self.agent_of(call).unwrap_or_default();
        let Some(c) = self.calls.get_mut(&call) else {
            return Bytes::new();
        };
        let current = c.sdp_for_agent.clone();
        let Some((_, anchor)) = c.media.clone() else {
            return current;
        };
        let Ok(offer) = Sdp::parse(body) else {
            // No offer (or one we cannot read): answer with what stands.
            return current;
        };
        let holding = !offer.direction().receives() || offer.remote_rtp().is_none();
        let ours = Sdp::parse(&current).ok();
        let codecs: Vec<Codec> = ours
            .as_ref()
            .and_then(Sdp::audio)
            .map(|m| m.codecs())
            .unwrap_or_default();
        let Some(media) = self.media.as_mut() else {
            return current;
        };
        let answer = sdp::answer(
            &offer,
            &codecs,
            media.address(),
            anchor.port_b,
            Direction::SendRecv,
            call,
        );
        let answer = match (answer, ours) {
            (Ok(mut a), Some(prev)) => {
                // The same session as before, one version on (RFC 3264 §8).
                a.origin = prev.origin.clone();
                a.origin.session_version += 1;
                Bytes::from(a.to_bytes())
            }
            (Ok(a), None) => Bytes::from(a.to_bytes()),
            (Err(_), _) => current,
        };
        if let Some(remote) = offer.remote_rtp() {
            media.set_remote(anchor.id, Leg::B, remote);
        }
        let Some(c) = self.calls.get_mut(&call) else {
            return answer;
        };
        c.sdp_for_agent = answer.clone();
        self.set_hold(now, call, &agent, holding);
        answer
    }

    /// Puts the caller on hold (music, reminders to the agent) or takes
    /// them off it; nothing when already so.
    fn set_hold(&mut self, now: Instant, call: u64, agent: &str, holding: bool) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let anchor = c.media.as_ref().map(|(_, a)| *a);
        let caller_codec = Sdp::parse(&c.sdp_for_caller)
            .ok()
            .and_then(|s| s.audio().map(|m| m.codecs()))
            .unwrap_or_default()
            .into_iter()
            .find(|c| matches!(c.kind(), CodecKind::Pcmu | CodecKind::Pcma));
        match (holding, c.hold) {
            (true, None) => {
                c.hold = Some((now, 0));
                if let (Some(a), Some(codec), Some(media)) =
                    (anchor, caller_codec, self.media.as_mut())
                {
                    media.set_mode(
                        a.id,
                        Mode::Hold {
                            held: Leg::A,
                            codec,
                        },
                    );
                }
                self.timers.set(
                    CallTimer::HoldReminder(call),
                    now + self.settings.hold_reminder,
                );
                self.events.push_back(Event::HoldStarted {
                    call,
                    agent: agent.to_string(),
                    at: now,
                });
            }
            (false, Some((since, _))) => {
                c.hold = None;
                if let (Some(a), Some(media)) = (anchor, self.media.as_mut()) {
                    media.set_mode(a.id, Mode::Relay);
                }
                self.timers.stop(CallTimer::HoldReminder(call));
                self.events.push_back(Event::HoldEnded {
                    call,
                    agent: agent.to_string(),
                    held_for: now - since,
                    at: now,
                });
            }
            _ => {}
        }
    }

    /// Hold or resume asked for through the API by `agent`, who must have
    /// the call: the server plays the caller music itself (no re-INVITE to
    /// either phone), with the same reminders as a hold from the phone.
    pub fn hold_by_request(
        &mut self,
        now: Instant,
        call: &str,
        agent: &str,
        holding: bool,
    ) -> Result<(), HoldError> {
        let id = call
            .strip_prefix("call-")
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .filter(|id| self.calls.contains_key(id))
            .ok_or(HoldError::NoSuchCall)?;
        if self.agent_of(id).as_deref() != Some(agent) {
            return Err(HoldError::NotYours);
        }
        self.set_hold(now, id, agent, holding);
        Ok(())
    }

    /// The reminder timer fired at `at`: tell the agent, and set the next.
    pub(super) fn hold_reminder(&mut self, at: Instant, call: u64) {
        let agent = self.agent_of(call).unwrap_or_default();
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some((since, reminders)) = c.hold.as_mut() else {
            return;
        };
        *reminders += 1;
        let (reminder, held_for) = (*reminders, at - *since);
        self.timers.set(
            CallTimer::HoldReminder(call),
            at + self.settings.hold_reminder,
        );
        self.events.push_back(Event::HoldReminder {
            call,
            agent,
            reminder,
            held_for,
            at,
        });
    }

    /// The media engine saw `leg` of `session` fall silent past the RTP
    /// timeout. On a connected call that is not on hold, the line dropped.
    pub fn handle_media_silence(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        session: SessionId,
        leg: Leg,
    ) {
        if self.dialout_silence(now, layer, registrar, session, leg) {
            return;
        }
        let Some((&call, c)) = self
            .calls
            .iter()
            .find(|(_, c)| c.media.as_ref().is_some_and(|(_, a)| a.id == session))
        else {
            return;
        };
        if c.connected.is_none() || c.hold.is_some() {
            return;
        }
        let side = if leg == Leg::A { "caller" } else { "agent" };
        self.line_dropped(now, layer, registrar, call, side, "rtp_timeout".into());
    }

    /// A key pressed on a phone (RFC 4733). A caller waiting in the queue
    /// who presses 1 asks to be called back: they leave the queue (the call
    /// ends with 480 and the reason) and a call-back task is opened for
    /// them in their turn.
    pub fn handle_media_dtmf(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        session: SessionId,
        leg: Leg,
        digit: char,
    ) {
        if leg != Leg::A || digit != '1' {
            return;
        }
        let Some((&call, c)) = self
            .calls
            .iter()
            .find(|(_, c)| c.media.as_ref().is_some_and(|(_, a)| a.id == session))
        else {
            return;
        };
        if c.caller.answered || c.connected.is_some() {
            return;
        }
        if self.acd.handle_callback_requested(now, call).is_err() {
            return;
        }
        if let Some(c) = self.drop_call(now, call) {
            let (key, invite, tag) = (c.caller.key, c.caller.invite, c.caller.dialog.local_tag);
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
                        "399 careline \"call-back requested: we will call you back\"",
                    );
                },
            );
        }
        self.run_commands(now, layer, registrar);
    }

    /// A TCP or WebSocket connection closed: a connected call with a leg over it has
    /// lost that leg.
    pub fn handle_flow_closed(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        remote: std::net::SocketAddr,
    ) {
        let over = |flow: &super::Flow| flow.transport.is_stream() && flow.remote == remote;
        let mut lost = Vec::new();
        for (&call, c) in &self.calls {
            let Some(key) = c.connected else { continue };
            if over(&c.caller.flow) {
                lost.push((call, "caller"));
            } else if self.legs.get(&key).is_some_and(|l| over(&l.flow)) {
                lost.push((call, "agent"));
            }
        }
        for (call, side) in lost {
            self.line_dropped(
                now,
                layer,
                registrar,
                call,
                side,
                "connection_closed".into(),
            );
        }
        // Calls the server placed (teleconsults, call-backs) with a leg
        // over it end as dropped.
        let placed: Vec<u64> = self
            .dialouts
            .iter()
            .filter(|(_, d)| {
                [Some(d.staff_leg), d.patient_leg]
                    .into_iter()
                    .flatten()
                    .any(|k| self.legs.get(&k).is_some_and(|l| over(&l.flow)))
            })
            .map(|(id, _)| *id)
            .collect();
        for id in placed {
            self.finish_dialout(now, layer, registrar, id, "dropped", EndReason::Dropped);
        }
        // A phone still ringing over it cannot answer: the call goes on to
        // the next agent now, not when the INVITE times out.
        let ringing: Vec<_> = self
            .legs
            .iter()
            .filter(|(_, l)| !l.dialout && l.state != AgentLegState::Connected && over(&l.flow))
            .map(|(k, _)| *k)
            .collect();
        for key in ringing {
            if let Some(leg) = self.remove_leg(key)
                && self.calls.contains_key(&leg.call)
            {
                self.acd.handle_agent_rejected(now, leg.call, &leg.agent);
            }
        }
        self.run_commands(now, layer, registrar);
    }

    /// Ends a connected call as dropped: both legs get a BYE with a Reason.
    pub(super) fn line_dropped(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        call: u64,
        side: &'static str,
        cause: String,
    ) {
        self.timers.stop(CallTimer::HoldReminder(call));
        self.events.push_back(Event::LineDropped {
            call,
            side,
            cause,
            at: now,
        });
        // When the agent's side broke off, the caller hears why before the
        // hang-up: their media outlives the call for the message.
        let announce = side != "caller" && !self.settings.dropped_announcement.is_zero();
        let kept = match self.calls.get_mut(&call) {
            Some(c) if announce => c.media.take().map(|(_, anchor)| anchor),
            _ => None,
        };
        if let Some(anchor) = kept {
            self.media_stats(now, call, anchor, false);
        }
        let Some(c) = self.drop_call(now, call) else {
            return;
        };
        if let Some(leg) = c.connected {
            self.bye_agent_because(now, layer, leg, Some(DROPPED_REASON));
        }
        match kept {
            Some(anchor) => self.farewell(now, layer, call, &c, anchor),
            None => self.bye_caller_because(now, layer, &c, Some(DROPPED_REASON)),
        }
        let _ = self.acd.handle_call_ended(now, call, EndReason::Dropped);
        self.run_commands(now, layer, registrar);
    }

    /// The agent on a connected call.
    pub(super) fn agent_of(&self, call: u64) -> Option<String> {
        let key = self.calls.get(&call)?.connected?;
        self.legs.get(&key).map(|l| l.agent.clone())
    }
}
