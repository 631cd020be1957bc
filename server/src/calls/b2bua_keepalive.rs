//! Is the other end still there? Two checks on connected calls, besides
//! the media's silence:
//!
//! - **Session timers** (RFC 4028) on the caller's leg. A caller that asks
//!   for them (`Session-Expires`, with `Supported: timer`) refreshes the
//!   session with re-INVITE or UPDATE; we answer `refresher=uac`. A refresh
//!   that does not come by the interval's end less a third (at most 32 s,
//!   §10) means the caller is gone: the call ends as dropped. A caller that
//!   asks us to refresh (`refresher=uas`), or cannot refresh itself (no
//!   `timer` support), gets `refresher=uas`: we send an UPDATE (a re-INVITE
//!   with our SDP when it does not allow UPDATE) every half interval, and a
//!   refresh answered 481 or 408, or not at all, ends the call as dropped.
//!   Intervals under 90 s get `422` with `Min-SE: 90`.
//! - **OPTIONS keep-alive** in each leg's dialog every `keepalive`: an
//!   answer of any kind but 481 (the dialog is gone) or 408 means the peer
//!   is there; 481, 408 or no answer at all ends the call as dropped.

use std::time::{Duration, Instant};

use careline_shared::sip::transaction::{Key, TransactionLayer};
use careline_shared::sip::{HeaderName, Message, Method, StatusCode};

use super::{B2bua, CallTimer, Flow};
use crate::sip::registrar::Registrar;

/// The shortest session interval we accept (RFC 4028 §4: 90 s).
pub const MIN_SE: u32 = 90;

/// Which leg a keep-alive went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    Caller,
    Agent,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Caller => "caller",
            Side::Agent => "agent",
        }
    }
}

/// What a request asks of session timers: its interval, and whether it
/// wants us (the UAS) to refresh.
pub(super) fn requested_session(msg: &Message) -> Option<(u32, bool)> {
    let value = msg.headers.get(&HeaderName::SessionExpires)?.value_str();
    let mut parts = value.split(';');
    let secs = parts.next()?.trim().parse::<u32>().ok()?;
    let uas = parts.any(|p| {
        p.trim()
            .strip_prefix("refresher=")
            .is_some_and(|r| r.trim().eq_ignore_ascii_case("uas"))
    });
    Some((secs, uas))
}

/// Whether the caller can refresh (it says it supports timers).
pub(super) fn supports_timer(msg: &Message) -> bool {
    msg.headers
        .tokens(&HeaderName::Supported)
        .iter()
        .chain(msg.headers.tokens(&HeaderName::Require).iter())
        .any(|t| t.eq_ignore_ascii_case("timer"))
}

/// A session refresh of ours awaiting its answer.
#[derive(Debug, Clone, Copy)]
pub(super) struct Refresh {
    /// Its call.
    pub(super) call: u64,
    /// Its CSeq (for the ACK of a re-INVITE's 2xx).
    cseq: u32,
    /// A re-INVITE (else an UPDATE).
    invite: bool,
}

/// When the refresher refreshes: half the interval (RFC 4028 §10).
fn half(secs: u32) -> Duration {
    Duration::from_secs(u64::from(secs)) / 2
}

/// When the non-refreshing side gives up: the interval less a third, at
/// most 32 s (RFC 4028 §10).
fn expiry(secs: u32) -> Duration {
    let s = Duration::from_secs(u64::from(secs));
    s - (s / 3).min(Duration::from_secs(32))
}

impl B2bua {
    /// A caller's request (INVITE, re-INVITE, UPDATE) answered 2xx: the
    /// session timer runs again from now. Returns the `Session-Expires`
    /// value to put in the answer, when the session is timed.
    pub(super) fn session_refreshed(
        &mut self,
        now: Instant,
        call: u64,
        req: &Message,
    ) -> Option<String> {
        let c = self.calls.get_mut(&call)?;
        // A refresh may change the interval, never below the minimum.
        if let Some((secs, _)) = requested_session(req).filter(|(s, _)| *s >= MIN_SE) {
            c.session = Some(secs);
        }
        let secs = c.session?;
        if c.we_refresh {
            self.timers
                .set(CallTimer::SessionRefresh(call), now + half(secs));
            return Some(format!("{secs};refresher=uas"));
        }
        self.timers
            .set(CallTimer::SessionExpiry(call), now + expiry(secs));
        Some(format!("{secs};refresher=uac"))
    }

    /// Our turn to refresh the caller's session: UPDATE without a body
    /// when the caller allows it, else a re-INVITE with the SDP it has.
    pub(super) fn refresh_session(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        call: u64,
    ) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        // Refreshed as long as the caller's dialog lives, also while a
        // transfer waits for its next agent.
        let Some(secs) = c.session.filter(|_| c.caller.answered) else {
            return;
        };
        let update = c
            .caller
            .invite
            .headers
            .tokens(&HeaderName::Allow)
            .iter()
            .any(|t| t.eq_ignore_ascii_case("UPDATE"));
        let flow = c.caller.flow;
        let sdp = c.sdp_for_caller.clone();
        let branch = layer.new_branch();
        let via = self.via(flow.transport, &branch);
        let contact = self.contact(flow.transport);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let method = if update {
            Method::Update
        } else {
            Method::Invite
        };
        let mut w = c.caller.dialog.request(&method, &via, &contact);
        let cseq = c.caller.dialog.local_cseq;
        // In our own refresh request we are its UAC, and the refresher.
        w.header(
            &HeaderName::SessionExpires,
            format_args!("{secs};refresher=uac"),
        )
        .header(&HeaderName::Supported, "timer");
        let bytes = if update || sdp.is_empty() {
            w.finish()
        } else {
            w.finish_with_body(Some("application/sdp"), &sdp)
        };
        let Ok(req) = careline_shared::sip::parse_datagram(bytes.clone()) else {
            return;
        };
        match layer.send_request(now, &req, bytes, flow.remote, flow.transport.is_stream()) {
            Ok(key) => {
                // The last one's answer (kept for a retransmitted 2xx) is
                // of no more use.
                self.refreshes.retain(|_, r| r.call != call);
                self.refreshes.insert(
                    key,
                    Refresh {
                        call,
                        cseq,
                        invite: !update,
                    },
                );
            }
            Err(e) => tracing::warn!(error = %e, "could not send a session refresh"),
        }
        // The next one, unless an answer says the caller is gone first.
        self.timers
            .set(CallTimer::SessionRefresh(call), now + half(secs));
    }

    /// The answer to one of our session refreshes (`None`: none came);
    /// `false` when the transaction was not one.
    pub(super) fn refresh_answered(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        key: Key,
        msg: Option<&Message>,
    ) -> bool {
        let Some(&r) = self.refreshes.get(&key) else {
            return false;
        };
        let status = msg.and_then(Message::status);
        if status.is_some_and(|s| s.is_provisional()) {
            return true;
        }
        if r.invite && status.is_some_and(|s| s.is_success()) {
            // A re-INVITE's 2xx (or its retransmission) gets its ACK.
            if let Some(c) = self.calls.get(&r.call) {
                let flow = c.caller.flow;
                let branch = layer.new_branch();
                let ack = c
                    .caller
                    .dialog
                    .ack(
                        r.cseq,
                        &self.via(flow.transport, &branch),
                        &self.contact(flow.transport),
                    )
                    .finish();
                layer.send_stateless(flow.remote, flow.transport.is_stream(), ack);
            }
            return true;
        }
        self.refreshes.remove(&key);
        let gone = match status.map(|s| s.as_u16()) {
            None => Some("session_refresh_unanswered"),
            Some(481) => Some("session_refresh_481"),
            Some(408) => Some("session_refresh_408"),
            // Any other answer: the caller is there (a refused refresh is
            // tried again at the next half interval).
            Some(_) => None,
        };
        if let Some(cause) = gone
            && self
                .calls
                .get(&r.call)
                .is_some_and(|c| c.connected.is_some())
        {
            self.line_dropped(now, layer, registrar, r.call, "caller", cause.into());
        }
        true
    }

    /// No refresh came: the caller is gone.
    pub(super) fn session_expired(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        call: u64,
    ) {
        if self.calls.get(&call).is_some_and(|c| c.connected.is_some()) {
            self.line_dropped(
                now,
                layer,
                registrar,
                call,
                "caller",
                "session_refresh_failed".into(),
            );
        }
    }

    /// Starts the keep-alives of a call just connected.
    pub(super) fn arm_keepalive(&mut self, now: Instant, call: u64) {
        if let Some(every) = self.settings.keepalive {
            self.timers.set(CallTimer::KeepAlive(call), now + every);
        }
    }

    /// Time for a keep-alive: an OPTIONS in each leg's dialog.
    pub(super) fn send_keepalives(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        call: u64,
    ) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(agent_key) = c.connected else {
            return;
        };
        let mut out: Vec<(Side, Option<Key>, Flow, bytes::Bytes)> = Vec::new();
        let caller_flow = c.caller.flow;
        let branch = layer.new_branch();
        let via = self.via(caller_flow.transport, &branch);
        let contact = self.contact(caller_flow.transport);
        if let Some(c) = self.calls.get_mut(&call) {
            let req = c.caller.dialog.request(&Method::Options, &via, &contact);
            out.push((Side::Caller, None, caller_flow, req.finish()));
        }
        if let Some(leg) = self.legs.get(&agent_key) {
            let flow = leg.flow;
            let branch = layer.new_branch();
            let via = self.via(flow.transport, &branch);
            let contact = self.contact(flow.transport);
            if let Some(d) = self
                .legs
                .get_mut(&agent_key)
                .and_then(|l| l.dialog.as_mut())
            {
                let req = d.request(&Method::Options, &via, &contact);
                out.push((Side::Agent, Some(agent_key), flow, req.finish()));
            }
        }
        for (side, leg, flow, bytes) in out {
            let Ok(req) = careline_shared::sip::parse_datagram(bytes.clone()) else {
                continue;
            };
            match layer.send_request(now, &req, bytes, flow.remote, flow.transport.is_stream()) {
                Ok(key) => {
                    self.keepalives.insert(key, (call, side, leg));
                }
                Err(e) => tracing::warn!(error = %e, "could not send a keep-alive"),
            }
        }
        if let Some(every) = self.settings.keepalive {
            self.timers.set(CallTimer::KeepAlive(call), now + every);
        }
    }

    /// A final answer to a keep-alive (`None`: no answer at all).
    /// `false` when the transaction was no keep-alive of ours.
    pub(super) fn keepalive_answered(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        registrar: &Registrar,
        key: Key,
        status: Option<StatusCode>,
    ) -> bool {
        let Some(&(call, side, leg)) = self.keepalives.get(&key) else {
            return false;
        };
        if status.is_some_and(|s| s.is_provisional()) {
            return true;
        }
        self.keepalives.remove(&key);
        let gone = match status.map(|s| s.as_u16()) {
            None => Some("keepalive_unanswered"),
            Some(481) => Some("keepalive_481"),
            Some(408) => Some("keepalive_408"),
            Some(_) => None,
        };
        let still_there = self.calls.get(&call).is_some_and(|c| match leg {
            Some(leg) => c.connected == Some(leg),
            None => c.connected.is_some(),
        });
        if let Some(cause) = gone
            && still_there
        {
            self.line_dropped(now, layer, registrar, call, side.name(), cause.into());
        }
        true
    }
}
