//! The B2BUA's media side: anchoring a new call (our ports in both legs'
//! SDP, ringback as early media), joining the legs when an agent answers,
//! and freeing the session when the call goes.

use bytes::Bytes;
use careline_shared::sdp::{self, Codec, CodecKind, Direction, Sdp};
use careline_shared::sip::StatusCode;

use super::{B2bua, Call, DialogOwner};
use crate::calls::media::Anchor;
use crate::media::{Leg, Mode};

/// The codecs we answer callers with and play ringback in.
pub(super) const OUR_CODECS: [Codec; 3] = [Codec::PCMU, Codec::PCMA, Codec::TELEPHONE_EVENT];

pub(super) fn is_g711(c: &Codec) -> bool {
    matches!(c.kind(), CodecKind::Pcmu | CodecKind::Pcma)
}

/// Whether `body` offers audio over DTLS-SRTP (a browser's), not plain RTP.
pub(super) fn is_webrtc_offer(body: &[u8]) -> bool {
    Sdp::parse(body)
        .ok()
        .and_then(|s| s.audio().map(|m| !m.is_plain_rtp()))
        .unwrap_or(false)
}

/// Points `leg` of session `id` at the peer whose SDP is `sdp`: where it
/// receives RTP, and the codecs it took (returned; none for SDP that says
/// nothing usable).
pub(super) fn point_leg(
    media: &mut dyn crate::calls::media::MediaControl,
    id: crate::media::SessionId,
    leg: Leg,
    sdp: &[u8],
) -> Vec<Codec> {
    let theirs = Sdp::parse(sdp).ok();
    let codecs = theirs
        .as_ref()
        .and_then(Sdp::audio)
        .map(|m| m.codecs())
        .unwrap_or_default();
    if let Some(remote) = theirs.as_ref().and_then(Sdp::remote_rtp) {
        media.set_remote(id, leg, remote);
    }
    media.set_codecs(id, leg, &codecs);
    codecs
}

/// What a new call's media comes to: the caller's offer with our session,
/// the SDP to offer agents, and the early answer for the caller.
pub(super) type Anchored = (Option<(Sdp, Anchor)>, Bytes, Option<Bytes>);

impl B2bua {
    /// Anchors a new call's media: a session, an early answer on our port A
    /// (with ringback playing), and the offer for agents on our port B.
    /// Without a media engine, or for an INVITE without an offer, SDP passes
    /// through untouched.
    ///
    /// A `browser`'s offer (a caller over SIP over WebSocket) goes through
    /// the WebRTC gateway first: the call goes on with the plain offer that
    /// stands for the browser, and the browser is answered with the
    /// gateway's own answer, early and final alike.
    pub(super) fn anchor(
        &mut self,
        call: u64,
        body: &Bytes,
        browser: bool,
    ) -> Result<Anchored, (StatusCode, &'static str)> {
        let Some(media) = self.media.as_mut() else {
            return Ok((None, body.clone(), None));
        };
        if body.is_empty() {
            return Ok((None, body.clone(), None));
        }
        let not_acceptable = StatusCode::NOT_ACCEPTABLE_HERE;
        let mut offer =
            Sdp::parse(body).map_err(|_| (StatusCode::BAD_REQUEST, "malformed SDP offer"))?;
        let anchor = media
            .create()
            .ok_or((StatusCode::SERVICE_UNAVAILABLE, "no media ports free"))?;
        let mut for_browser = None;
        if browser {
            let Some((_, answer, plain)) =
                media.webrtc_accept(anchor.id, anchor.port_a, body, call)
            else {
                media.destroy(anchor.id);
                return Err((not_acceptable, "the browser's offer was refused"));
            };
            let Ok(plain) = Sdp::parse(&plain) else {
                media.destroy(anchor.id);
                return Err((not_acceptable, "the browser's offer was refused"));
            };
            offer = plain;
            for_browser = Some(answer);
        }
        let ip = media.address();
        let Ok(answer) = sdp::answer(
            &offer,
            &OUR_CODECS,
            ip,
            anchor.port_a,
            Direction::SendRecv,
            call,
        ) else {
            media.destroy(anchor.id);
            return Err((not_acceptable, "no audio codec in common (PCMU or PCMA)"));
        };
        let mut for_agent = offer.clone();
        if for_agent.anchor(ip, anchor.port_b).is_err() {
            media.destroy(anchor.id);
            return Err((not_acceptable, "no plain RTP audio to anchor"));
        }
        if let Some(remote) = offer.remote_rtp() {
            media.set_remote(anchor.id, Leg::A, remote);
        }
        let codecs = answer.audio().map(|m| m.codecs()).unwrap_or_default();
        media.set_codecs(anchor.id, Leg::A, &codecs);
        if let Some(codec) = codecs.iter().find(|c| is_g711(c)) {
            media.set_mode(
                anchor.id,
                Mode::Ringback {
                    codec: codec.clone(),
                },
            );
        }
        let early = for_browser.unwrap_or_else(|| Bytes::from(answer.to_bytes()));
        Ok((
            Some((offer, anchor)),
            Bytes::from(for_agent.to_bytes()),
            Some(early),
        ))
    }

    /// The agent answered with `agent_sdp`: point leg B at it, answer the
    /// caller with the codecs the agent chose, and start relaying. Returns
    /// the SDP for the caller's 200 OK.
    pub(super) fn join_media(
        &mut self,
        now: std::time::Instant,
        call: u64,
        agent_sdp: &Bytes,
    ) -> Bytes {
        let Some(c) = self.calls.get(&call) else {
            return agent_sdp.clone();
        };
        let Some((offer, anchor)) = c.media.clone() else {
            return agent_sdp.clone();
        };
        let early = c.sdp_for_caller.clone();
        // A browser keeps the gateway's answer: its peer took one codec,
        // the one the agent was offered.
        let browser = c.caller.webrtc;
        self.media_stats(now, call, anchor, true);
        let Some(media) = self.media.as_mut() else {
            return agent_sdp.clone();
        };
        let agent_codecs = point_leg(&mut **media, anchor.id, Leg::B, agent_sdp);
        let ip = media.address();
        // Answer the caller with what the agent can take; keep the early
        // answer when the agent's SDP says nothing usable.
        let final_answer = if agent_codecs.is_empty() || browser {
            None
        } else {
            sdp::answer(
                &offer,
                &agent_codecs,
                ip,
                anchor.port_a,
                Direction::SendRecv,
                call,
            )
            .ok()
        };
        let sdp = match final_answer {
            Some(mut a) => {
                a.origin.session_version += 1;
                let codecs = a.audio().map(|m| m.codecs()).unwrap_or_default();
                media.set_codecs(anchor.id, Leg::A, &codecs);
                Bytes::from(a.to_bytes())
            }
            None => early,
        };
        media.set_mode(anchor.id, Mode::Relay);
        sdp
    }

    /// What a leg over `flow` is offered: a browser (SIP over WebSocket)
    /// gets the gateway's WebRTC offer for `session`, with the peer made for
    /// it; anyone else gets `body` as it is. `None` when a browser cannot
    /// take this media (no session to bridge, or no codec it plays).
    pub(super) fn offer_over(
        &mut self,
        flow: &super::Flow,
        session: Option<crate::media::SessionId>,
        body: Bytes,
    ) -> Option<(Bytes, Option<u64>)> {
        if !flow.transport.is_websocket() || body.is_empty() {
            return Some((body, None));
        }
        let (peer, offer) = self.media.as_mut()?.webrtc_offer(session?, &body)?;
        Some((offer, Some(peer)))
    }

    /// The answer on leg `key` as the relay takes it: a browser's goes
    /// through the gateway. `None` when the gateway refuses it.
    pub(super) fn answer_from(
        &mut self,
        key: careline_shared::sip::transaction::Key,
        body: &Bytes,
        call: u64,
    ) -> Option<Bytes> {
        let peer = self.legs.get(&key).and_then(|l| l.webrtc);
        match (peer, self.media.as_mut()) {
            (Some(peer), Some(media)) => media.webrtc_answer(peer, body, call),
            _ => Some(body.clone()),
        }
    }

    /// A browser's re-INVITE or UPDATE with an offer: the gateway does not
    /// renegotiate, so the session stays as it was (RFC 3261 §14.2); hold
    /// goes through the API.
    pub(super) fn refuse_renegotiation(
        &mut self,
        now: std::time::Instant,
        layer: &mut careline_shared::sip::transaction::TransactionLayer,
        key: careline_shared::sip::transaction::Key,
        msg: &careline_shared::sip::Message,
        tag: &careline_shared::sip::Tag,
    ) {
        let status = StatusCode::NOT_ACCEPTABLE_HERE;
        self.respond(now, layer, key, msg, tag, status, |w| {
            w.header(
                &careline_shared::sip::HeaderName::Warning,
                "399 careline \"a browser's media cannot be renegotiated\"",
            );
        });
    }

    /// Forgets a WebRTC peer made for a leg that was never sent.
    pub(super) fn forget_peer(&mut self, peer: Option<u64>) {
        if let (Some(peer), Some(media)) = (peer, self.media.as_mut()) {
            media.webrtc_close(peer);
        }
    }

    /// Forgets a call and frees its media, recording what it carried.
    pub(super) fn drop_call(&mut self, now: std::time::Instant, call: u64) -> Option<Box<Call>> {
        let mut c = self.calls.remove(&call)?;
        if let Some(k) = c.consult.take() {
            // Its legs are hung up when the distributor ends the consultation.
            self.orphan_consults.insert(call, k);
        }
        if !self.reinvites.is_empty() {
            self.reinvites.retain(|_, r| r.call != call);
        }
        self.timers.stop(super::CallTimer::HoldReminder(call));
        self.timers.stop(super::CallTimer::SessionExpiry(call));
        self.timers.stop(super::CallTimer::SessionRefresh(call));
        self.timers.stop(super::CallTimer::ReinviteRetry(call));
        self.timers.stop(super::CallTimer::ReinviteGiveUp(call));
        if !self.refreshes.is_empty() {
            self.refreshes.retain(|_, r| r.call != call);
        }
        self.timers.stop(super::CallTimer::KeepAlive(call));
        self.unindex_dialog(c.caller.dialog.call_id.as_str(), DialogOwner::Caller(call));
        self.by_invite.remove(&c.caller.key);
        if let Some((_, anchor)) = &c.media {
            self.media_stats(now, call, *anchor, false);
            if let Some(media) = self.media.as_mut() {
                media.destroy(anchor.id);
            }
        }
        Some(c)
    }

    pub(super) fn media_stats(
        &mut self,
        now: std::time::Instant,
        call: u64,
        anchor: Anchor,
        ringing: bool,
    ) {
        let Some(stats) = self.media.as_ref().and_then(|m| m.stats(anchor.id)) else {
            return;
        };
        self.events.push_back(super::Event::MediaStats {
            call,
            ringing,
            caller_in: stats.a.in_packets,
            caller_out: stats.a.out_packets,
            agent_in: stats.b.in_packets,
            agent_out: stats.b.out_packets,
            at: now,
        });
    }
}
