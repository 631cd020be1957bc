//! Blind transfer from the phone itself (RFC 3515): a REFER inside the
//! call's dialog asks the server to take the caller to another number. Its
//! 202 says the server took it on; the NOTIFYs that follow carry the
//! transfer's progress as a `message/sipfrag` status line, each answered
//! 200. The server then ends our leg with a BYE, as for any transfer. (The
//! window transfers through the server's API, which also carries a note;
//! this is the plain SIP path, `Command::Refer` on the engine.)

use std::time::Instant;

use careline_shared::sip::transaction::Key;
use careline_shared::sip::{HeaderName, Host, Message, Method, SipUri, StatusCode, Uri, Via};
use careline_shared::sip::{parse_datagram, response_to};

use super::{LineId, LineState, Phone, PhoneError, PhoneEvent, contact};

impl Phone {
    /// Asks the server to transfer the call on `line` to `target`.
    pub fn refer(&mut self, now: Instant, line: LineId, target: &str) -> Result<(), PhoneError> {
        let i = self
            .lines
            .iter()
            .position(|l| l.id == line)
            .ok_or(PhoneError::NoSuchLine(line))?;
        if self.lines[i].state != LineState::Confirmed || self.lines[i].refer.is_some() {
            // Not talking, or a transfer already under way.
            return Err(PhoneError::NotRinging);
        }
        if target.is_empty()
            || !target
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-._*#".contains(&b))
        {
            return Err(PhoneError::BadTarget(target.to_string()));
        }
        let domain = self.config.account.domain.as_str();
        let to = Uri::Sip(SipUri::new(Some(target), Host::Domain(domain.into()), None));
        let us = contact(&self.config);
        let branch = self.layer.new_branch();
        let local = self.config.local;
        let via = Via::new("UDP", Host::from(local.ip()), Some(local.port()), &branch);
        let mut w = self.lines[i].dialog.request(&Method::Refer, &via, &us);
        w.header(&HeaderName::ReferTo, format_args!("<{to}>"))
            .header(&HeaderName::ReferredBy, format_args!("<{us}>"));
        let bytes = w.finish();
        let refer = parse_datagram(bytes.clone()).map_err(|e| PhoneError::Send(e.to_string()))?;
        let key = self
            .layer
            .send_request(now, &refer, bytes, self.config.account.remote, false)
            .map_err(|e| PhoneError::Send(e.to_string()))?;
        self.lines[i].refer = Some(key);
        Ok(())
    }

    /// A response to a REFER of ours: `true` when it was one.
    pub(super) fn on_refer_response(&mut self, key: Key, msg: &Message) -> bool {
        let Some(i) = self.lines.iter().position(|l| l.refer == Some(key)) else {
            return false;
        };
        if let Some(status) = msg.status().filter(|s| s.is_final()) {
            self.lines[i].refer = None;
            self.events.push_back(PhoneEvent::Transfer {
                line: self.lines[i].id,
                status: status.as_u16(),
                done: !status.is_success(),
            });
        }
        true
    }

    /// Our REFER got no answer at all: the transfer did not happen.
    pub(super) fn on_refer_timeout(&mut self, key: Key) -> bool {
        let Some(i) = self.lines.iter().position(|l| l.refer == Some(key)) else {
            return false;
        };
        self.lines[i].refer = None;
        self.events.push_back(PhoneEvent::Transfer {
            line: self.lines[i].id,
            status: 408,
            done: true,
        });
        true
    }

    /// A NOTIFY in the dialog of a line we referred: its sipfrag's status.
    pub(super) fn on_transfer_notify(&mut self, now: Instant, i: usize, key: Key, msg: &Message) {
        let frag = String::from_utf8_lossy(&msg.body);
        let status = frag
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("SIP/2.0 "))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|c| c.parse::<u16>().ok());
        let bytes = response_to(msg, StatusCode::OK, None).finish();
        self.reply(now, key, StatusCode::OK, bytes, false);
        if let Some(status) = status {
            self.events.push_back(PhoneEvent::Transfer {
                line: self.lines[i].id,
                status,
                done: status >= 200,
            });
        }
    }
}
