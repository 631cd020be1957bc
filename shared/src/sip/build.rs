//! Writing messages: a small serializer for requests and responses the core
//! sends, and [`response_to`], which copies what RFC 3261 §8.2.6 says a
//! response copies from its request.

use std::fmt::{self, Write as _};

use bytes::Bytes;

use super::header::HeaderName;
use super::message::Message;
use super::method::Method;
use super::status::StatusCode;
use super::text::Tag;
use super::uri::Uri;

/// Writes one message: start line, headers, then Content-Length and the body.
#[derive(Debug)]
pub struct MessageWriter {
    buf: String,
}

impl MessageWriter {
    /// Starts a request.
    pub fn request(method: &Method, uri: &Uri) -> MessageWriter {
        let mut buf = String::with_capacity(512);
        let _ = write!(buf, "{method} {uri} SIP/2.0\r\n");
        MessageWriter { buf }
    }

    /// Starts a response with the canonical reason phrase.
    pub fn response(status: StatusCode) -> MessageWriter {
        let mut buf = String::with_capacity(512);
        let _ = write!(buf, "SIP/2.0 {status} {}\r\n", status.canonical_reason());
        MessageWriter { buf }
    }

    /// Adds a header line.
    pub fn header(&mut self, name: &HeaderName, value: impl fmt::Display) -> &mut MessageWriter {
        let _ = write!(self.buf, "{name}: {value}\r\n");
        self
    }

    /// Adds a header by name.
    pub fn header_named(&mut self, name: &str, value: impl fmt::Display) -> &mut MessageWriter {
        let _ = write!(self.buf, "{name}: {value}\r\n");
        self
    }

    /// Ends the message without a body.
    pub fn finish(self) -> Bytes {
        self.finish_with_body(None, &[])
    }

    /// Ends the message with a body of the given type.
    pub fn finish_with_body(mut self, content_type: Option<&str>, body: &[u8]) -> Bytes {
        if let Some(ct) = content_type {
            let _ = write!(self.buf, "Content-Type: {ct}\r\n");
        }
        let _ = write!(self.buf, "Content-Length: {}\r\n\r\n", body.len());
        let mut out = self.buf.into_bytes();
        out.extend_from_slice(body);
        Bytes::from(out)
    }
}

/// Starts a response to `req`: Via (as stamped on receipt), From, To (with
/// `to_tag` added when the request's To has none), Call-ID and CSeq.
pub fn response_to(req: &Message, status: StatusCode, to_tag: Option<&Tag>) -> MessageWriter {
    let mut w = MessageWriter::response(status);
    let h = &req.headers;
    for via in &h.via {
        w.header(&HeaderName::Via, via);
    }
    if let Some(from) = &h.from {
        w.header(&HeaderName::From, from);
    }
    if let Some(to) = &h.to {
        match (to.tag(), to_tag) {
            (None, Some(tag)) => {
                let mut to = to.clone();
                to.params.set("tag", Some(tag.as_str().into()));
                w.header(&HeaderName::To, to)
            }
            _ => w.header(&HeaderName::To, to),
        };
    }
    if let Some(call_id) = &h.call_id {
        w.header(&HeaderName::CallId, call_id);
    }
    if let Some(cseq) = &h.cseq {
        w.header(
            &HeaderName::CSeq,
            format_args!("{} {}", cseq.seq, cseq.method),
        );
    }
    w
}
