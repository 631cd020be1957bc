//! Dialog state (RFC 3261 §12), sans-IO: what both ends of a call agree on —
//! Call-ID, tags, the remote target, the route set, the CSeq counters — and
//! how to write requests inside it.
//!
//! The B2BUA keeps one dialog per leg. Where a leg's requests go (its flow)
//! is the caller's business: it answers phones behind NAT on the address they
//! came from, whatever their Contact says.

use super::build::MessageWriter;
use super::header::HeaderName;
use super::message::Message;
use super::method::Method;
use super::name_addr::NameAddr;
use super::text::{CallId, Tag};
use super::uri::Uri;
use super::via::Via;

/// One dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    /// Call-ID.
    pub call_id: CallId,
    /// Our tag.
    pub local_tag: Tag,
    /// Their tag.
    pub remote_tag: Tag,
    /// Our address (From on requests we send), with our tag.
    pub local: NameAddr,
    /// Their address (To on requests we send), with their tag.
    pub remote: NameAddr,
    /// Where requests go: their Contact.
    pub remote_target: Uri,
    /// Route headers for requests we send (from Record-Route).
    pub route_set: Vec<NameAddr>,
    /// The CSeq of the last request we sent.
    pub local_cseq: u32,
    /// The CSeq of the last request they sent.
    pub remote_cseq: Option<u32>,
}

/// The first Contact's URI of a message.
fn contact_uri(msg: &Message) -> Option<Uri> {
    msg.headers.contact.iter().find_map(|c| match c {
        super::message::Contact::Addr(a) => Some(a.uri.clone()),
        super::message::Contact::Star => None,
    })
}

impl Dialog {
    /// The dialog a UAC gets from its INVITE and a response with a To tag
    /// (RFC 3261 §12.1.2): route set is the Record-Route reversed.
    pub fn from_uac(request: &Message, response: &Message) -> Option<Dialog> {
        let from = request.headers.from.clone()?;
        let mut to = response.headers.to.clone()?;
        let local_tag = from.tag()?;
        let remote_tag = to.tag()?;
        to.params.set("tag", Some(remote_tag.as_str().into()));
        Some(Dialog {
            call_id: request.call_id()?.clone(),
            local_tag,
            remote_tag,
            local: from,
            remote: to,
            remote_target: contact_uri(response)?,
            route_set: response
                .headers
                .record_route
                .iter()
                .rev()
                .cloned()
                .collect(),
            local_cseq: request.cseq()?.seq,
            remote_cseq: None,
        })
    }

    /// The dialog a UAS gets from a request it answers with `local_tag`
    /// (RFC 3261 §12.1.1): route set is the Record-Route in order.
    pub fn from_uas(request: &Message, local_tag: &Tag) -> Option<Dialog> {
        let from = request.headers.from.clone()?;
        let mut to = request.headers.to.clone()?;
        to.params.set("tag", Some(local_tag.as_str().into()));
        Some(Dialog {
            call_id: request.call_id()?.clone(),
            local_tag: local_tag.clone(),
            // RFC 2543 peers may send no From tag; an empty one still matches them.
            remote_tag: from.tag().unwrap_or_else(|| Tag::new("")),
            local: to,
            remote: from,
            remote_target: contact_uri(request)?,
            route_set: request.headers.record_route.clone(),
            local_cseq: 0,
            remote_cseq: request.cseq().map(|c| c.seq),
        })
    }

    /// Whether a request the peer sent belongs to this dialog.
    pub fn matches_request(&self, msg: &Message) -> bool {
        msg.call_id() == Some(&self.call_id)
            && msg.to_tag().as_ref() == Some(&self.local_tag)
            && msg.from_tag().unwrap_or_else(|| Tag::new("")) == self.remote_tag
    }

    /// Whether a response to one of our requests belongs to this dialog.
    pub fn matches_response(&self, msg: &Message) -> bool {
        msg.call_id() == Some(&self.call_id)
            && msg.from_tag().as_ref() == Some(&self.local_tag)
            && msg.to_tag().as_ref() == Some(&self.remote_tag)
    }

    /// Records a request from the peer; `false` when its CSeq is lower than
    /// the last one (RFC 3261 §12.2.2: answer 500).
    pub fn accept_remote_cseq(&mut self, msg: &Message) -> bool {
        let Some(cseq) = msg.cseq() else { return false };
        if self.remote_cseq.is_some_and(|last| cseq.seq < last) {
            return false;
        }
        self.remote_cseq = Some(cseq.seq);
        true
    }

    /// A new request inside the dialog (BYE, re-INVITE, INFO …) with the next
    /// CSeq. The caller adds its own headers and body.
    pub fn request(&mut self, method: &Method, via: &Via, contact: &Uri) -> MessageWriter {
        self.local_cseq += 1;
        self.write(method, self.local_cseq, via, contact)
    }

    /// The ACK for a 2xx to our INVITE with CSeq `invite_cseq` (§13.2.2.4).
    pub fn ack(&self, invite_cseq: u32, via: &Via, contact: &Uri) -> MessageWriter {
        self.write(&Method::Ack, invite_cseq, via, contact)
    }

    fn write(&self, method: &Method, cseq: u32, via: &Via, contact: &Uri) -> MessageWriter {
        let mut w = MessageWriter::request(method, &self.remote_target);
        w.header(&HeaderName::Via, via)
            .header(&HeaderName::MaxForwards, 70)
            .header(&HeaderName::From, &self.local)
            .header(&HeaderName::To, &self.remote)
            .header(&HeaderName::CallId, &self.call_id)
            .header(&HeaderName::CSeq, format_args!("{cseq} {method}"));
        for r in &self.route_set {
            w.header(&HeaderName::Route, r);
        }
        if matches!(
            method,
            Method::Invite | Method::Update | Method::Refer | Method::Subscribe | Method::Notify
        ) {
            w.header(&HeaderName::Contact, format_args!("<{contact}>"));
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::sip::{Branch, Host, parse_datagram};

    const INVITE: &str = "INVITE sip:1001@10.0.0.5:5062 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKa\r\nFrom: \"Clinic\" <sip:100@clinic>;tag=ours\r\nTo: <sip:1001@clinic>\r\nCall-ID: c1@clinic\r\nCSeq: 7 INVITE\r\nContact: <sip:careline@127.0.0.1:5060>\r\nContent-Length: 0\r\n\r\n";
    const OK: &str = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKa\r\nRecord-Route: <sip:p1;lr>, <sip:p2;lr>\r\nFrom: \"Clinic\" <sip:100@clinic>;tag=ours\r\nTo: <sip:1001@clinic>;tag=theirs\r\nCall-ID: c1@clinic\r\nCSeq: 7 INVITE\r\nContact: <sip:1001@10.0.0.5:5062>\r\nContent-Length: 0\r\n\r\n";

    fn msg(s: &str) -> Message {
        parse_datagram(Bytes::copy_from_slice(s.as_bytes())).unwrap()
    }

    fn via() -> Via {
        Via::new(
            "UDP",
            Host::Ipv4([127, 0, 0, 1].into()),
            Some(5060),
            &Branch::new("z9hG4bKb"),
        )
    }

    #[test]
    fn uac_dialog_reverses_record_route_and_numbers_requests() {
        let mut d = Dialog::from_uac(&msg(INVITE), &msg(OK)).unwrap();
        assert_eq!(d.remote_tag.as_str(), "theirs");
        assert_eq!(d.remote_target.to_string(), "sip:1001@10.0.0.5:5062");
        assert_eq!(d.route_set[0].uri.to_string(), "sip:p2;lr");
        let contact: Uri = d.remote_target.clone();
        let bye = msg(&String::from_utf8(
            d.request(&Method::Bye, &via(), &contact).finish().to_vec(),
        )
        .unwrap());
        assert_eq!(bye.cseq().unwrap().seq, 8);
        assert_eq!(bye.to_tag().unwrap().as_str(), "theirs");
        assert_eq!(bye.from_tag().unwrap().as_str(), "ours");
        assert_eq!(bye.headers.route.len(), 2);
        assert!(d.matches_response(&msg(OK)));
        let ack = msg(&String::from_utf8(d.ack(7, &via(), &contact).finish().to_vec()).unwrap());
        assert_eq!(ack.cseq().unwrap().seq, 7);
        assert_eq!(ack.method(), Some(&Method::Ack));
    }

    #[test]
    fn uas_dialog_matches_the_peers_requests_and_refuses_old_cseq() {
        let invite = msg(&INVITE.replace("tag=ours", "tag=caller"));
        let mut d = Dialog::from_uas(&invite, &Tag::new("mine")).unwrap();
        let bye = msg(
            "BYE sip:careline@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKz\r\nFrom: <sip:100@clinic>;tag=caller\r\nTo: <sip:1001@clinic>;tag=mine\r\nCall-ID: c1@clinic\r\nCSeq: 8 BYE\r\nContent-Length: 0\r\n\r\n",
        );
        assert!(d.matches_request(&bye));
        assert!(d.accept_remote_cseq(&bye));
        let old = msg(&String::from_utf8(bye.to_bytes().to_vec())
            .unwrap()
            .replace("CSeq: 8", "CSeq: 3"));
        assert!(!d.accept_remote_cseq(&old));
        let stranger = msg(&String::from_utf8(bye.to_bytes().to_vec())
            .unwrap()
            .replace("tag=mine", "tag=other"));
        assert!(!d.matches_request(&stranger));
    }
}
