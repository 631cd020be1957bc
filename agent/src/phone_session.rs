//! The phone's session work after the ring: a re-INVITE or UPDATE with a
//! new offer (hold music, a transfer moving the media) answered at once,
//! the 2xx that carries our description (resent until its ACK for an
//! INVITE), our answer to an offer with the media it agrees on, the ACK
//! that confirms a call, and CANCEL ending one still ringing.

use std::time::Instant;

use careline_shared::sdp::{self, CodecKind, Direction, NegotiationError, Sdp};
use careline_shared::sip::transaction::Key;
use careline_shared::sip::{HeaderName, Message, Method, StatusCode, response_to};

use super::{ALLOW, EndReason, LineState, Media, Phone, PhoneError, PhoneEvent, Unacked, contact};

impl Phone {
    /// A re-INVITE or UPDATE with a new offer: answered with our media.
    pub(super) fn on_offer(&mut self, now: Instant, i: usize, key: Key, msg: Message) {
        let offer = Sdp::parse(&msg.body).ok();
        let previous = std::mem::replace(&mut self.lines[i].offer, offer);
        let answered = match self.lines[i].local_rtp {
            Some(_) => self.answer_offer(i).ok(),
            // Not answered yet (an UPDATE while ringing): nothing of ours to give.
            None => None,
        };
        let Some((ours, media)) = answered else {
            self.lines[i].offer = previous;
            let bytes = response_to(&msg, StatusCode::NOT_ACCEPTABLE_HERE, None).finish();
            return self.reply(now, key, StatusCode::NOT_ACCEPTABLE_HERE, bytes, false);
        };
        self.send_session(now, i, key, &msg, Some(ours));
        let line = self.lines[i].id;
        self.events.push_back(PhoneEvent::Media { line, media });
    }

    /// A 2xx carrying our description, resent until the ACK for an INVITE.
    pub(super) fn send_session(
        &mut self,
        now: Instant,
        i: usize,
        key: Key,
        msg: &Message,
        ours: Option<Sdp>,
    ) {
        let mut w = response_to(msg, StatusCode::OK, None);
        w.header(
            &HeaderName::Contact,
            format_args!("<{}>", contact(&self.config)),
        )
        .header(&HeaderName::Allow, ALLOW);
        let bytes = match &ours {
            Some(sdp) => w.finish_with_body(Some("application/sdp"), &sdp.to_bytes()),
            None => w.finish(),
        };
        let _ = self.layer.respond(now, key, StatusCode::OK, bytes.clone());
        if let Some(sdp) = ours {
            self.lines[i].ours = Some(sdp);
        }
        if msg.method() == Some(&Method::Invite) {
            let t1 = self.layer.config().t1;
            self.lines[i].unacked = Some(Unacked {
                cseq: msg.cseq().map_or(0, |c| c.seq),
                destination: msg.response_destination(self.config.account.remote),
                bytes,
                next: now + t1,
                interval: t1,
                give_up: now + t1 * 64,
            });
        }
    }

    /// Our answer to the line's last offer, and the media it agrees on.
    pub(super) fn answer_offer(&mut self, i: usize) -> Result<(Sdp, Media), PhoneError> {
        let l = &self.lines[i];
        let rtp = l.local_rtp.ok_or(PhoneError::NotRinging)?;
        let offer = l.offer.as_ref().ok_or(NegotiationError::NoAudio)?;
        // The session id stays what the first answer said (a number of
        // ours); only the version moves.
        let session = l
            .ours
            .as_ref()
            .and_then(|o| o.origin.session_id.parse().ok())
            .unwrap_or((self.seed >> 16 ^ l.id.0) & 0xffff_ffff);
        let mut ours = sdp::answer(
            offer,
            &self.config.codecs,
            rtp.ip(),
            rtp.port(),
            Direction::SendRecv,
            session,
        )?;
        if let Some(previous) = &l.ours {
            ours.origin.session_version = previous.origin.session_version + 1;
        }
        let codecs = ours.audio().map(|m| m.codecs()).unwrap_or_default();
        let codec = codecs
            .iter()
            .find(|c| c.kind().is_voice())
            .cloned()
            .ok_or(NegotiationError::NoCommonCodec)?;
        let dtmf_pt = codecs
            .iter()
            .find(|c| c.kind() == CodecKind::TelephoneEvent)
            .map(|c| c.pt);
        let media = Media {
            remote: offer.remote_rtp(),
            codec,
            dtmf_pt,
            send: ours.direction().sends(),
        };
        Ok((ours, media))
    }

    pub(super) fn on_ack(&mut self, now: Instant, msg: &Message) {
        let Some(i) = self
            .lines
            .iter()
            .position(|l| l.dialog.matches_request(msg))
        else {
            return;
        };
        let cseq = msg.cseq().map_or(0, |c| c.seq);
        let l = &mut self.lines[i];
        if l.unacked.as_ref().is_some_and(|u| u.cseq == cseq) {
            l.unacked = None;
        }
        if l.state == LineState::Answered {
            l.state = LineState::Confirmed;
            if l.bye_on_ack {
                self.send_bye(now, i);
                self.end(i, EndReason::LocalHangUp);
            }
        }
    }

    pub(super) fn on_cancel(&mut self, now: Instant, key: Key, invite: Option<Key>, msg: &Message) {
        let line = invite.and_then(|k| self.lines.iter().position(|l| l.invite_key == k));
        let status = match line {
            Some(_) => StatusCode::OK,
            None => StatusCode::CALL_DOES_NOT_EXIST,
        };
        let bytes = response_to(msg, status, None).finish();
        self.reply(now, key, status, bytes, false);
        let Some(i) = line.filter(|&i| self.lines[i].state == LineState::Ringing) else {
            return;
        };
        let l = &self.lines[i];
        let bytes = response_to(
            &l.invite,
            StatusCode::REQUEST_TERMINATED,
            Some(&l.dialog.local_tag),
        )
        .finish();
        let _ = self
            .layer
            .respond(now, l.invite_key, StatusCode::REQUEST_TERMINATED, bytes);
        self.end(i, EndReason::Cancelled);
    }
}
