//! Which transaction a message belongs to.
//!
//! The TU names transactions by [`Key`], a small handle the layer gives out.
//! Matching a message to a transaction uses [`MatchKey`], built from the
//! message as RFC 3261 says: for a client, the top Via branch and the CSeq
//! method (§17.1.3); for a server, the branch, the sent-by and the method,
//! ACK counting as INVITE (§17.2.3); for a request whose branch lacks the
//! magic cookie, RFC 2543's Request-URI, tags, Call-ID, CSeq number and top
//! Via.

use std::fmt;

use crate::sip::{Branch, CallId, HeaderName, Message, Method, SipStr, Tag, Via};

use super::Error;
use super::event::Discard;

/// A handle to one transaction. Keys are never reused: once a transaction
/// ends, its key names nothing.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Key(pub(crate) u64);

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tx{}", self.0)
    }
}

/// What a message is matched on.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub(crate) enum MatchKey {
    /// A client transaction: the branch this element chose and the method.
    Client {
        /// Top Via branch.
        branch: Branch,
        /// CSeq method.
        method: Method,
    },
    /// A server transaction for a request with an RFC 3261 branch.
    Server {
        /// Top Via branch.
        branch: Branch,
        /// Top Via sent-by: two clients may pick the same branch.
        sent_by: SentBy,
        /// The method, ACK mapped to INVITE.
        method: Method,
    },
    /// A server transaction for an RFC 2543 request (boxed: it is rare and large).
    Legacy(Box<LegacyKey>),
}

/// The sent-by of a Via: host (lower-cased) and port as written.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub(crate) struct SentBy {
    host: String,
    port: Option<u16>,
}

/// RFC 3261 §17.2.3's rules for requests from RFC 2543 elements.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub(crate) struct LegacyKey {
    request_uri: String,
    /// The To tag of the request. For an ACK, the layer looks the INVITE up
    /// with no tag and then checks the tag against the response it sent.
    to_tag: Option<Tag>,
    from_tag: Option<Tag>,
    call_id: CallId,
    seq: u32,
    /// The top Via's identity: transport, sent-by and branch, without the
    /// `received`/`rport` a server adds.
    top_via: String,
    method: Method,
}

impl MatchKey {
    /// The server transaction a received request belongs to. ACK maps to the
    /// INVITE it acknowledges; CANCEL keeps its own method.
    pub(crate) fn for_request(msg: &Message) -> Result<MatchKey, Discard> {
        let via = msg
            .top_via()
            .ok_or(Discard::MissingHeader(HeaderName::Via))?;
        let cseq = msg.cseq().ok_or(Discard::MissingHeader(HeaderName::CSeq))?;
        let method = match msg.request_uri().and(msg.method()) {
            Some(Method::Ack) => Method::Invite,
            Some(m) => m.clone(),
            None => return Err(Discard::NotARequest),
        };
        if let Some(branch) = via.branch().filter(Branch::is_rfc3261) {
            return Ok(MatchKey::Server {
                branch,
                sent_by: SentBy::of(via),
                method,
            });
        }
        let call_id = msg
            .call_id()
            .ok_or(Discard::MissingHeader(HeaderName::CallId))?;
        Ok(MatchKey::Legacy(Box::new(LegacyKey {
            request_uri: msg.request_uri().map(|u| u.to_string()).unwrap_or_default(),
            to_tag: msg.to_tag(),
            from_tag: msg.from_tag(),
            call_id: call_id.clone(),
            seq: cseq.seq,
            top_via: via_identity(via),
            method,
        })))
    }

    /// The client transaction a request this element sends will be.
    pub(crate) fn for_sent_request(msg: &Message) -> Result<MatchKey, Error> {
        let method = match &msg.start {
            crate::sip::StartLine::Request { method, .. } => method.clone(),
            crate::sip::StartLine::Response { .. } => return Err(Error::NotARequest),
        };
        let via = msg.top_via().ok_or(Error::MissingHeader(HeaderName::Via))?;
        let branch = via.branch().ok_or(Error::MissingBranch)?;
        msg.cseq().ok_or(Error::MissingHeader(HeaderName::CSeq))?;
        Ok(MatchKey::Client { branch, method })
    }

    /// The client transaction a received response belongs to.
    pub(crate) fn for_response(msg: &Message) -> Result<MatchKey, Discard> {
        if msg.status().is_none() {
            return Err(Discard::NotAResponse);
        }
        let via = msg
            .top_via()
            .ok_or(Discard::MissingHeader(HeaderName::Via))?;
        let cseq = msg.cseq().ok_or(Discard::MissingHeader(HeaderName::CSeq))?;
        let branch = via.branch().ok_or(Discard::MissingBranch)?;
        Ok(MatchKey::Client {
            branch,
            method: cseq.method.clone(),
        })
    }

    /// The same key for another method: a CANCEL finds its INVITE this way.
    pub(crate) fn with_method(&self, method: Method) -> MatchKey {
        match self {
            MatchKey::Client { branch, .. } => MatchKey::Client {
                branch: branch.clone(),
                method,
            },
            MatchKey::Server {
                branch, sent_by, ..
            } => MatchKey::Server {
                branch: branch.clone(),
                sent_by: sent_by.clone(),
                method,
            },
            MatchKey::Legacy(k) => MatchKey::Legacy(Box::new(LegacyKey {
                method,
                ..(**k).clone()
            })),
        }
    }

    /// For an RFC 2543 key, the same key with another To tag.
    pub(crate) fn with_to_tag(&self, to_tag: Option<Tag>) -> Option<MatchKey> {
        match self {
            MatchKey::Legacy(k) => Some(MatchKey::Legacy(Box::new(LegacyKey {
                to_tag,
                ..(**k).clone()
            }))),
            _ => None,
        }
    }

    /// The To tag an RFC 2543 key was built with.
    pub(crate) fn legacy_to_tag(&self) -> Option<&Tag> {
        match self {
            MatchKey::Legacy(k) => k.to_tag.as_ref(),
            _ => None,
        }
    }

    /// Whether this key follows the RFC 2543 rules.
    pub(crate) fn is_legacy(&self) -> bool {
        matches!(self, MatchKey::Legacy(_))
    }

    /// A copy that owns its text. Keys built from a message share its
    /// buffer; a stored key must not keep a whole datagram alive for the
    /// transaction's lifetime (32 s on UDP).
    pub(crate) fn detached(&self) -> MatchKey {
        match self {
            MatchKey::Client { branch, method } => MatchKey::Client {
                branch: Branch::new(branch.as_str()),
                method: own_method(method),
            },
            MatchKey::Server {
                branch,
                sent_by,
                method,
            } => MatchKey::Server {
                branch: Branch::new(branch.as_str()),
                sent_by: sent_by.clone(),
                method: own_method(method),
            },
            MatchKey::Legacy(k) => MatchKey::Legacy(Box::new(LegacyKey {
                to_tag: k.to_tag.as_ref().map(|t| Tag::new(t.as_str())),
                from_tag: k.from_tag.as_ref().map(|t| Tag::new(t.as_str())),
                call_id: CallId::new(k.call_id.as_str()),
                method: own_method(&k.method),
                ..(**k).clone()
            })),
        }
    }
}

impl SentBy {
    fn of(via: &Via) -> SentBy {
        SentBy {
            host: via.host.to_string().to_ascii_lowercase(),
            port: via.port,
        }
    }
}

/// The parts of a Via that identify the hop that sent a request.
fn via_identity(via: &Via) -> String {
    let branch = via.branch();
    format!(
        "{}|{}|{}|{}",
        via.transport.to_ascii_uppercase(),
        via.host.to_string().to_ascii_lowercase(),
        via.port.map(|p| p.to_string()).unwrap_or_default(),
        branch.as_ref().map(Branch::as_str).unwrap_or(""),
    )
}

fn own_method(method: &Method) -> Method {
    match method {
        Method::Other(s) => Method::Other(SipStr::from(s.as_str())),
        m => m.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::transaction::testing::{legacy_request, request};

    #[test]
    fn ack_and_invite_share_a_server_key_and_cancel_does_not() {
        let invite = MatchKey::for_request(&request("INVITE", "z9hG4bKa1", 1)).unwrap();
        let ack = MatchKey::for_request(&request("ACK", "z9hG4bKa1", 1)).unwrap();
        let cancel = MatchKey::for_request(&request("CANCEL", "z9hG4bKa1", 1)).unwrap();
        assert_eq!(invite, ack);
        assert_ne!(invite, cancel);
        assert_eq!(cancel.with_method(Method::Invite), invite);
    }

    #[test]
    fn sent_by_is_part_of_a_server_key() {
        let a = request("OPTIONS", "z9hG4bKsame", 1);
        let text = String::from_utf8(a.to_bytes().to_vec())
            .unwrap()
            .replace("192.0.2.10:5060", "192.0.2.99:5060");
        let b = crate::sip::parse_datagram(bytes::Bytes::from(text)).unwrap();
        assert_ne!(
            MatchKey::for_request(&a).unwrap(),
            MatchKey::for_request(&b).unwrap()
        );
    }

    #[test]
    fn branch_without_magic_cookie_uses_rfc_2543_fields() {
        let first = legacy_request("INVITE", Some("old1"), 7, None);
        let key = MatchKey::for_request(&first).unwrap();
        assert!(key.is_legacy());
        assert_eq!(MatchKey::for_request(&first.clone()).unwrap(), key);
        let next_cseq = legacy_request("INVITE", Some("old1"), 8, None);
        assert_ne!(MatchKey::for_request(&next_cseq).unwrap(), key);
        let no_branch = legacy_request("INVITE", None, 7, None);
        assert_ne!(MatchKey::for_request(&no_branch).unwrap(), key);
    }

    #[test]
    fn response_key_is_branch_and_cseq_method() {
        let req = request("INVITE", "z9hG4bKc1", 1);
        let sent = MatchKey::for_sent_request(&req).unwrap();
        let resp = crate::sip::transaction::testing::reply(&req, 180, Some("t"));
        assert_eq!(MatchKey::for_response(&resp).unwrap(), sent);
    }

    #[test]
    fn detached_keys_are_equal_to_borrowed_ones() {
        let req = legacy_request("INVITE", None, 3, Some("tt"));
        let key = MatchKey::for_request(&req).unwrap();
        assert_eq!(key.detached(), key);
    }
}
