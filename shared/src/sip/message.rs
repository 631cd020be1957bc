//! The parsed message: start line, headers (typed where the core needs them,
//! every one also kept raw in order) and body.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::net::SocketAddr;

use bytes::Bytes;

use super::header::HeaderName;
use super::method::Method;
use super::name_addr::NameAddr;
use super::scan::unfold;
use super::status::StatusCode;
use super::text::{Branch, CallId, SipStr, Tag};
use super::uri::Uri;
use super::via::Via;

/// A request line or a status line.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum StartLine {
    /// `METHOD uri SIP/2.0`
    Request {
        /// The method.
        method: Method,
        /// The Request-URI.
        uri: Uri,
    },
    /// `SIP/2.0 code reason`
    Response {
        /// The status code.
        status: StatusCode,
        /// The reason phrase (may be empty).
        reason: SipStr,
    },
}

/// One header line as received: its name and its raw value (trimmed, folds kept).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Header {
    /// The name (compact forms already mapped).
    pub name: HeaderName,
    /// The value bytes, shared with the message buffer.
    pub value: Bytes,
}

impl Header {
    /// The value with folds replaced by single spaces.
    pub fn value_unfolded(&self) -> Cow<'_, [u8]> {
        unfold(&self.value)
    }

    /// The unfolded value as text (lossy for the rare non-UTF-8 value).
    pub fn value_str(&self) -> Cow<'_, str> {
        match self.value_unfolded() {
            Cow::Borrowed(b) => String::from_utf8_lossy(b),
            Cow::Owned(v) => Cow::Owned(String::from_utf8_lossy(&v).into_owned()),
        }
    }
}

/// `CSeq: 42 INVITE`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CSeq {
    /// The sequence number, below 2^31 (RFC 3261 §8.1.1.5).
    pub seq: u32,
    /// The method.
    pub method: Method,
}

/// One Contact value.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Contact {
    /// `Contact: *` (remove every binding).
    Star,
    /// An address.
    Addr(NameAddr),
}

/// Every header of a message, raw and in order, plus typed views of the ones
/// the core uses.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct Headers {
    /// Every header line, in order.
    pub all: Vec<Header>,
    /// Via values, topmost first.
    pub via: Vec<Via>,
    /// From.
    pub from: Option<NameAddr>,
    /// To.
    pub to: Option<NameAddr>,
    /// Call-ID.
    pub call_id: Option<CallId>,
    /// CSeq.
    pub cseq: Option<CSeq>,
    /// Max-Forwards.
    pub max_forwards: Option<u8>,
    /// Contact values.
    pub contact: Vec<Contact>,
    /// Route values.
    pub route: Vec<NameAddr>,
    /// Record-Route values.
    pub record_route: Vec<NameAddr>,
    /// Content-Length, when present.
    pub content_length: Option<u32>,
    /// Content-Type, as written.
    pub content_type: Option<SipStr>,
    /// Expires (saturating at `u32::MAX` for absurd values).
    pub expires: Option<u32>,
    /// Single-valued headers that appeared more than once (RFC 4475 §3.3.8).
    pub repeated: Vec<HeaderName>,
}

impl Headers {
    /// The first header with this name.
    pub fn get(&self, name: &HeaderName) -> Option<&Header> {
        self.all.iter().find(|h| &h.name == name)
    }

    /// Every header with this name.
    pub fn get_all<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a Header> + 'a {
        self.all.iter().filter(move |h| &h.name == name)
    }

    /// Comma-separated tokens of every header with this name (Require,
    /// Supported, Allow, Accept …), trimmed.
    pub fn tokens(&self, name: &HeaderName) -> Vec<String> {
        let mut out = Vec::new();
        for h in self.get_all(name) {
            for t in h.value_str().split(',') {
                let t = t.trim();
                if !t.is_empty() {
                    out.push(t.to_string());
                }
            }
        }
        out
    }
}

/// A parsed SIP message. Built by [`super::parse_datagram`] or
/// [`super::StreamDecoder`]; written out by [`Message::to_bytes`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Message {
    /// Request or status line.
    pub start: StartLine,
    /// Headers.
    pub headers: Headers,
    /// The body (exactly Content-Length bytes).
    pub body: Bytes,
}

impl Message {
    /// Whether this is a request.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The request method; for a response, the CSeq method.
    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => self.headers.cseq.as_ref().map(|c| &c.method),
        }
    }

    /// The Request-URI of a request.
    pub fn request_uri(&self) -> Option<&Uri> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// The status of a response.
    pub fn status(&self) -> Option<StatusCode> {
        match &self.start {
            StartLine::Response { status, .. } => Some(*status),
            StartLine::Request { .. } => None,
        }
    }

    /// The topmost Via.
    pub fn top_via(&self) -> Option<&Via> {
        self.headers.via.first()
    }

    /// The top Via's branch.
    pub fn branch(&self) -> Option<Branch> {
        self.top_via()?.branch()
    }

    /// Call-ID.
    pub fn call_id(&self) -> Option<&CallId> {
        self.headers.call_id.as_ref()
    }

    /// From tag.
    pub fn from_tag(&self) -> Option<Tag> {
        self.headers.from.as_ref()?.tag()
    }

    /// To tag.
    pub fn to_tag(&self) -> Option<Tag> {
        self.headers.to.as_ref()?.tag()
    }

    /// CSeq.
    pub fn cseq(&self) -> Option<&CSeq> {
        self.headers.cseq.as_ref()
    }

    /// Records where a request really came from (RFC 3261 §18.2.1, RFC 3581):
    /// `received` when the address differs from the sent-by host, and the port
    /// in `rport` when the sender asked for it.
    pub fn stamp_received(&mut self, source: SocketAddr) {
        let Some(via) = self.headers.via.first_mut() else {
            return;
        };
        let asked_rport = via.params.contains("rport");
        if via.host.ip() != Some(source.ip()) || asked_rport {
            via.params
                .set("received", Some(SipStr::from(source.ip().to_string())));
        }
        if asked_rport {
            via.params
                .set("rport", Some(SipStr::from(source.port().to_string())));
        }
    }

    /// Where a response to a request that came over UDP goes (RFC 3261
    /// §18.2.2, RFC 3581 §4): the `received` address (or sent-by) at the
    /// `rport` (or sent-by) port. The request came over UDP whatever its Via's
    /// transport token says, so a sent-by without a port means 5060.
    pub fn response_destination(&self, source: SocketAddr) -> SocketAddr {
        let Some(via) = self.top_via() else {
            return source;
        };
        let ip = via
            .received()
            .or_else(|| via.host.ip())
            .unwrap_or(source.ip());
        let port = match via.rport() {
            Some(Some(p)) => p,
            Some(None) => source.port(),
            None => via.port.unwrap_or(5060),
        };
        SocketAddr::new(ip, port)
    }

    /// The message in canonical form: long header names, folds removed,
    /// typed Vias as stamped, and a Content-Length that matches the body.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = String::with_capacity(512 + self.body.len());
        match &self.start {
            StartLine::Request { method, uri } => {
                let _ = write!(out, "{method} {uri} SIP/2.0\r\n");
            }
            StartLine::Response { status, reason } => {
                let _ = write!(out, "SIP/2.0 {status} {reason}\r\n");
            }
        }
        let mut out = out.into_bytes();
        let mut vias = self.headers.via.iter();
        let mut via_header_seen = false;
        for h in &self.headers.all {
            match h.name {
                HeaderName::ContentLength => continue,
                HeaderName::Via => {
                    // Vias are written from their typed form so a stamped
                    // `received`/`rport` goes out; all values on the first line.
                    if !via_header_seen {
                        via_header_seen = true;
                        for v in vias.by_ref() {
                            out.extend_from_slice(format!("Via: {v}\r\n").as_bytes());
                        }
                    }
                    continue;
                }
                _ => {}
            }
            out.extend_from_slice(h.name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(&h.value_unfolded());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", self.body.len()).as_bytes());
        out.extend_from_slice(&self.body);
        Bytes::from(out)
    }
}
