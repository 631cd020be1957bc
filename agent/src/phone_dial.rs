//! Calls the phone places: the consultation of an attended transfer (the
//! server takes an INVITE from the agent of a held call as one), a
//! call-back. An INVITE with our offer goes to the server; a digest
//! challenge is answered once; the 2xx is ACKed (again for each
//! retransmission) and its SDP answer becomes [`PhoneEvent::Media`]; a
//! refusal or no answer ends the line. Hanging up before the answer sends
//! CANCEL once the server has said anything (RFC 3261 §9.1).

use std::time::Instant;

use bytes::Bytes;
use careline_shared::sdp::{self, CodecKind, Direction, Sdp};
use careline_shared::sip::transaction::Key;
use careline_shared::sip::{
    Challenge, Dialog, HeaderName, Host, Message, MessageWriter, Method, NameAddr, SipUri, Tag,
    Uri, Via, parse_datagram,
};

use super::{
    ALLOW, EndReason, Line, LineId, LineState, Media, Phone, PhoneError, PhoneEvent, contact,
};

/// What a line we dialled keeps besides its dialog.
#[derive(Debug, Default)]
pub(super) struct Outgoing {
    /// The server has answered with a provisional: CANCEL may go.
    provisional: bool,
    /// Hung up before that: CANCEL as soon as it may.
    cancel: bool,
    /// Our INVITE already carries credentials (a second challenge ends it).
    authed: bool,
    /// The ACK for the 2xx, resent for each retransmitted 2xx.
    ack: Option<Bytes>,
}

impl Phone {
    /// Calls `target` (an extension, `senior`, a queue's number) through
    /// the server, with our audio at `local_rtp`.
    pub fn dial(
        &mut self,
        now: Instant,
        target: &str,
        local_rtp: std::net::SocketAddr,
    ) -> Result<LineId, PhoneError> {
        if target.is_empty()
            || !target
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-._*#".contains(&b))
        {
            return Err(PhoneError::BadTarget(target.to_string()));
        }
        let line = LineId(self.next_line);
        self.next_line += 1;
        let domain = self.config.account.domain.clone();
        let user = self.config.account.username.clone();
        let host = match domain.parse::<std::net::IpAddr>() {
            Ok(ip) => Host::from(ip),
            Err(_) => Host::Domain(domain.as_str().into()),
        };
        let uri = Uri::Sip(SipUri::new(Some(target), host, None));
        let tag = Tag::new(format!("ag{:08x}{:04x}", self.seed as u32, line.0));
        let call_id = format!(
            "out-{:012x}-{}@{}",
            self.seed >> 16,
            line.0,
            self.config.local.ip()
        );
        let offer = sdp::offer(
            &self.config.codecs,
            local_rtp.ip(),
            local_rtp.port(),
            Direction::SendRecv,
            (self.seed >> 20 ^ line.0) & 0xffff_ffff,
        );
        let mut from = NameAddr::new(Uri::Sip(SipUri::new(
            Some(user.as_str()),
            Host::Domain(domain.as_str().into()),
            None,
        )));
        from.params.set("tag", Some(tag.as_str().into()));
        let dialog = Dialog {
            call_id: careline_shared::sip::CallId::new(call_id.as_str()),
            local_tag: tag,
            remote_tag: Tag::new(""),
            local: from,
            remote: NameAddr::new(uri.clone()),
            remote_target: uri,
            route_set: Vec::new(),
            local_cseq: 0,
            remote_cseq: None,
        };
        let mut dialog = dialog;
        let (invite, invite_key) = self.send_invite(now, &mut dialog, &offer, None)?;
        self.lines.push(Line {
            id: line,
            state: LineState::Dialing,
            dialog,
            invite,
            invite_key,
            outgoing: Some(Outgoing::default()),
            offer: None,
            ours: Some(offer),
            local_rtp: Some(local_rtp),
            unacked: None,
            bye_on_ack: false,
            refer: None,
        });
        Ok(line)
    }

    /// Sends (or, with credentials, sends again) an INVITE in `dialog`
    /// with our `offer`: the INVITE and its client transaction.
    fn send_invite(
        &mut self,
        now: Instant,
        dialog: &mut Dialog,
        offer: &Sdp,
        authorization: Option<(HeaderName, String)>,
    ) -> Result<(Message, Key), PhoneError> {
        let branch = self.layer.new_branch();
        let local = self.config.local;
        let via = Via::new("UDP", Host::from(local.ip()), Some(local.port()), &branch);
        let us = contact(&self.config);
        let mut w: MessageWriter = dialog.request(&Method::Invite, &via, &us);
        w.header(&HeaderName::Allow, ALLOW)
            .header(&HeaderName::UserAgent, "Careline agent");
        if let Some((name, value)) = &authorization {
            w.header(name, value);
        }
        let bytes = w.finish_with_body(Some("application/sdp"), &offer.to_bytes());
        let failed = |why: &str| PhoneError::Send(why.to_string());
        let invite = parse_datagram(bytes.clone()).map_err(|e| failed(&e.to_string()))?;
        let key = self
            .layer
            .send_request(now, &invite, bytes, self.config.account.remote, false)
            .map_err(|e| failed(&e.to_string()))?;
        Ok((invite, key))
    }

    /// A response to one of our INVITEs (or a CANCEL or BYE we sent).
    pub(super) fn on_response(&mut self, now: Instant, key: Key, msg: &Message) {
        let Some(i) = self
            .lines
            .iter()
            .position(|l| l.outgoing.is_some() && l.invite_key == key)
        else {
            return; // a BYE's or CANCEL's answer: nothing to do
        };
        let Some(status) = msg.status() else { return };
        let code = status.as_u16();
        if status.is_provisional() {
            let cancel = self.lines[i].outgoing.as_mut().is_some_and(|o| {
                o.provisional = true;
                o.cancel
            });
            if cancel && self.lines[i].state == LineState::Dialing {
                self.send_cancel(now, i);
            }
            return;
        }
        if status.is_success() {
            return self.on_2xx(now, i, msg);
        }
        if matches!(code, 401 | 407) && self.lines[i].outgoing.as_ref().is_some_and(|o| !o.authed) {
            let (asked, answer) = if code == 407 {
                (
                    HeaderName::ProxyAuthenticate,
                    HeaderName::ProxyAuthorization,
                )
            } else {
                (HeaderName::WwwAuthenticate, HeaderName::Authorization)
            };
            let challenge = msg
                .headers
                .get_all(&asked)
                .find_map(|h| Challenge::parse(h.value_str().as_bytes()));
            if let Some(c) = challenge {
                let a = &self.config.account;
                let l = &self.lines[i];
                let value = c.authorization(
                    &a.username,
                    &a.password,
                    "INVITE",
                    &l.dialog.remote_target.to_string(),
                    &format!("{:016x}", self.seed.rotate_left(l.id.0 as u32)),
                );
                let mut dialog = l.dialog.clone();
                let offer = l.ours.clone().unwrap_or_default();
                if let Ok((invite, key)) =
                    self.send_invite(now, &mut dialog, &offer, Some((answer, value)))
                {
                    let l = &mut self.lines[i];
                    (l.dialog, l.invite, l.invite_key) = (dialog, invite, key);
                    if let Some(o) = &mut l.outgoing {
                        o.authed = true;
                        // The new INVITE has had no provisional yet (§9.1).
                        o.provisional = false;
                    }
                    return;
                }
            }
        }
        if self.lines[i].state == LineState::Dialing {
            let cancelled = self.lines[i].outgoing.as_ref().is_some_and(|o| o.cancel);
            let reason = if cancelled && code == 487 {
                EndReason::LocalHangUp
            } else {
                EndReason::Refused(code)
            };
            self.end(i, reason);
        }
    }

    fn on_2xx(&mut self, now: Instant, i: usize, msg: &Message) {
        let server = self.config.account.remote;
        if self.lines[i].state != LineState::Dialing {
            // A retransmitted 2xx: its ACK was lost.
            if let Some(ack) = self.lines[i].outgoing.as_ref().and_then(|o| o.ack.clone()) {
                self.layer.send_stateless(server, false, ack);
            }
            return;
        }
        let l = &mut self.lines[i];
        if let Some(d) = Dialog::from_uac(&l.invite, msg) {
            l.dialog = Dialog {
                local_cseq: l.dialog.local_cseq,
                ..d
            };
        }
        let cseq = l.invite.cseq().map_or(1, |c| c.seq);
        let branch = self.layer.new_branch();
        let local = self.config.local;
        let via = Via::new("UDP", Host::from(local.ip()), Some(local.port()), &branch);
        let ack = l.dialog.ack(cseq, &via, &contact(&self.config)).finish();
        self.layer.send_stateless(server, false, ack.clone());
        let cancel = l.outgoing.as_ref().is_some_and(|o| o.cancel);
        if let Some(o) = &mut l.outgoing {
            o.ack = Some(ack);
        }
        l.state = LineState::Confirmed;
        let line = l.id;
        if cancel {
            // Hung up while the answer crossed our CANCEL.
            self.send_bye(now, i);
            return self.end(i, EndReason::LocalHangUp);
        }
        let media = Sdp::parse(&msg.body).ok().and_then(|answer| {
            let codecs = answer.audio()?.codecs();
            Some(Media {
                remote: answer.remote_rtp(),
                codec: codecs.iter().find(|c| c.kind().is_voice())?.clone(),
                dtmf_pt: codecs
                    .iter()
                    .find(|c| c.kind() == CodecKind::TelephoneEvent)
                    .map(|c| c.pt),
                send: answer.direction().receives(),
            })
        });
        match media {
            Some(media) => self.events.push_back(PhoneEvent::Media { line, media }),
            None => {
                // An answer we cannot use: the call cannot carry speech.
                self.send_bye(now, i);
                self.end(i, EndReason::Refused(488));
            }
        }
    }

    /// Hanging up a call still ringing out.
    pub(super) fn cancel_dialing(&mut self, now: Instant, i: usize) {
        let may = self.lines[i].outgoing.as_mut().is_some_and(|o| {
            o.cancel = true;
            o.provisional
        });
        if may {
            self.send_cancel(now, i);
        }
    }

    fn send_cancel(&mut self, now: Instant, i: usize) {
        let l = &self.lines[i];
        let Some(branch) = l.invite.branch() else {
            return;
        };
        let local = self.config.local;
        let via = Via::new("UDP", Host::from(local.ip()), Some(local.port()), &branch);
        let mut w = MessageWriter::request(&Method::Cancel, &l.dialog.remote_target);
        w.header(&HeaderName::Via, &via)
            .header(&HeaderName::MaxForwards, 70)
            .header(&HeaderName::From, &l.dialog.local)
            .header(
                &HeaderName::To,
                l.invite
                    .headers
                    .to
                    .clone()
                    .unwrap_or_else(|| NameAddr::new(l.dialog.remote_target.clone())),
            )
            .header(&HeaderName::CallId, &l.dialog.call_id)
            .header(
                &HeaderName::CSeq,
                format_args!("{} CANCEL", l.invite.cseq().map_or(1, |c| c.seq)),
            );
        let bytes = w.finish();
        if let Ok(cancel) = parse_datagram(bytes.clone()) {
            let _ = self
                .layer
                .send_request(now, &cancel, bytes, self.config.account.remote, false);
        }
    }

    /// Timer B: our INVITE got no answer at all.
    pub(super) fn on_dial_timeout(&mut self, key: Key) {
        if let Some(i) = self.lines.iter().position(|l| {
            l.outgoing.is_some() && l.invite_key == key && l.state == LineState::Dialing
        }) {
            self.end(i, EndReason::Unanswered);
        }
    }
}

#[cfg(test)]
#[path = "phone_dial_tests.rs"]
mod tests;
