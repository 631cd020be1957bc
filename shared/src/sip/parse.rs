//! The parser: one datagram (or one framed stream message) into a [`Message`].
//!
//! Syntax errors are reported with a reason and the status a server should
//! answer with; what is syntactically fine but semantically wrong (a missing
//! Call-ID, two CSeq headers) parses, and [`super::check_request`] judges it.

use bytes::Bytes;
use memchr::{memchr, memmem};

use super::header::HeaderName;
use super::message::{CSeq, Contact, Header, Headers, Message, StartLine};
use super::method::Method;
use super::name_addr::NameAddr;
use super::scan::{Cursor, is_lws, is_token, parse_decimal};
use super::status::StatusCode;
use super::text::{CallId, SipStr};
use super::uri::Uri;
use super::via::Via;

/// Why a message could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing but white space.
    #[error("empty message")]
    Empty,
    /// The header section never ends.
    #[error("no blank line after the headers")]
    NoBlankLine,
    /// The first line is neither a request line nor a status line.
    #[error("malformed start line")]
    StartLine,
    /// A SIP version other than 2.0.
    #[error("unsupported sip version")]
    Version,
    /// The Request-URI is malformed.
    #[error("malformed request-uri: {0}")]
    RequestUri(&'static str),
    /// The status code is not three digits from 100 to 699.
    #[error("malformed status code")]
    StatusCode,
    /// A header line without a name or colon.
    #[error("malformed header line")]
    HeaderLine,
    /// A header the core types did not parse.
    #[error("malformed {name} header: {reason}")]
    Header {
        /// Which header.
        name: HeaderName,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Content-Length promises more bytes than arrived in the datagram.
    #[error("content-length {declared} is larger than the {available} body bytes received")]
    Truncated {
        /// What Content-Length said.
        declared: u32,
        /// What the datagram held.
        available: usize,
    },
    /// The CSeq method differs from the request method.
    #[error("cseq method does not match the request method")]
    MethodMismatch {
        /// The request method is an extension (RFC 4475 §3.1.2.18 prefers 501).
        unknown_method: bool,
    },
}

impl ParseError {
    /// The status a server answers a request that fails this way with.
    pub fn status(&self) -> StatusCode {
        match self {
            ParseError::Version => StatusCode::VERSION_NOT_SUPPORTED,
            ParseError::MethodMismatch {
                unknown_method: true,
            } => StatusCode::NOT_IMPLEMENTED,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// The layout of a message's head: where the start line, the headers and the
/// body begin. Found without parsing any field.
pub(crate) struct Head {
    pub(crate) start: usize,
    /// End of the last header line (before its line ending).
    pub(crate) end: usize,
    pub(crate) body: usize,
}

/// Finds the blank line that ends the head, skipping leading CRLFs (RFC 3261 §7.5).
pub(crate) fn find_head(buf: &[u8]) -> Result<Head, ParseError> {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .ok_or(ParseError::Empty)?;
    let rest = &buf[start..];
    let crlf = memmem::find(rest, b"\n\r\n").map(|i| (i, 3));
    let lf = memmem::find(rest, b"\n\n").map(|i| (i, 2));
    let (i, len) = match (crlf, lf) {
        (Some(a), Some(b)) => {
            if a.0 <= b.0 {
                a
            } else {
                b
            }
        }
        (Some(a), None) => a,
        (None, Some(b)) => b,
        (None, None) => return Err(ParseError::NoBlankLine),
    };
    let mut end = start + i;
    if end > start && buf[end - 1] == b'\r' {
        end -= 1;
    }
    Ok(Head {
        start,
        end,
        body: start + i + len,
    })
}

/// Parses one UDP datagram. Bytes past Content-Length are ignored (RFC 3261
/// §18.3); without Content-Length the body is the rest of the datagram.
pub fn parse_datagram(buf: Bytes) -> Result<Message, ParseError> {
    let head = match find_head(&buf) {
        // A datagram is whole: a head that ends with its last line's CRLF but
        // lacks the blank line is taken as having no body.
        Err(ParseError::NoBlankLine) if buf.ends_with(b"\n") => {
            let start = buf
                .iter()
                .position(|&b| b != b'\r' && b != b'\n')
                .unwrap_or(0);
            let end = buf.len() - if buf.ends_with(b"\r\n") { 2 } else { 1 };
            Head {
                start,
                end,
                body: buf.len(),
            }
        }
        other => other?,
    };
    let (start, headers) = parse_head(&buf, &head)?;
    let available = buf.len() - head.body;
    let body = match headers.content_length {
        Some(declared) if declared as usize > available => {
            return Err(ParseError::Truncated {
                declared,
                available,
            });
        }
        Some(declared) => buf.slice(head.body..head.body + declared as usize),
        None => buf.slice(head.body..),
    };
    finish(start, headers, body)
}

/// Parses a message whose body is exactly `buf[head.body..]` (stream framing
/// has already cut it to Content-Length).
pub fn parse_message(buf: Bytes) -> Result<Message, ParseError> {
    parse_datagram(buf)
}

pub(crate) fn finish(
    start: StartLine,
    headers: Headers,
    body: Bytes,
) -> Result<Message, ParseError> {
    if let (StartLine::Request { method, .. }, Some(cseq)) = (&start, &headers.cseq)
        && &cseq.method != method
    {
        return Err(ParseError::MethodMismatch {
            unknown_method: method.is_other(),
        });
    }
    Ok(Message {
        start,
        headers,
        body,
    })
}

pub(crate) fn parse_head(buf: &Bytes, head: &Head) -> Result<(StartLine, Headers), ParseError> {
    let first_end = memchr(b'\n', &buf[head.start..head.end]).map_or(head.end, |i| head.start + i);
    let mut line_end = first_end;
    if line_end > head.start && buf[line_end - 1] == b'\r' {
        line_end -= 1;
    }
    // A CR that does not end a line is in no production of RFC 3261, and
    // elements differ on whether it ends one; refusing it leaves no doubt.
    if memchr(b'\r', &buf[head.start..line_end]).is_some() {
        return Err(ParseError::StartLine);
    }
    let start = parse_start_line(buf, head.start, line_end)?;

    // Collect (name, value range), extending the last value over folded lines.
    let mut lines: Vec<(HeaderName, usize, usize)> = Vec::with_capacity(16);
    let mut pos = first_end + 1;
    while pos < head.end {
        let nl = memchr(b'\n', &buf[pos..head.end]).map_or(head.end, |i| pos + i);
        let mut end = nl;
        if end > pos && buf[end - 1] == b'\r' {
            end -= 1;
        }
        if memchr(b'\r', &buf[pos..end]).is_some() {
            return Err(ParseError::HeaderLine);
        }
        if matches!(buf[pos], b' ' | b'\t') {
            let last = lines.last_mut().ok_or(ParseError::HeaderLine)?;
            last.2 = end;
        } else {
            let colon = memchr(b':', &buf[pos..end]).ok_or(ParseError::HeaderLine)? + pos;
            let mut name_end = colon;
            while name_end > pos && matches!(buf[name_end - 1], b' ' | b'\t') {
                name_end -= 1;
            }
            if name_end == pos || !buf[pos..name_end].iter().all(|&b| is_token(b)) {
                return Err(ParseError::HeaderLine);
            }
            // Token bytes are ASCII.
            let name =
                SipStr::from_bytes(buf.slice(pos..name_end)).ok_or(ParseError::HeaderLine)?;
            lines.push((HeaderName::from_token(name), colon + 1, end));
        }
        pos = nl + 1;
    }

    // One pass over the head: when it is all UTF-8 (nearly always), typed
    // fields are cut from it without validating each one again.
    let utf8 = std::str::from_utf8(&buf[head.start..head.end]).is_ok();
    let mut headers = Headers {
        all: Vec::with_capacity(lines.len()),
        ..Headers::default()
    };
    for (name, mut s, mut e) in lines {
        while s < e && is_lws(buf[s]) {
            s += 1;
        }
        while e > s && is_lws(buf[e - 1]) {
            e -= 1;
        }
        apply(&mut headers, &name, buf, s, e, utf8).map_err(|reason| ParseError::Header {
            name: name.clone(),
            reason,
        })?;
        headers.all.push(Header {
            name,
            value: buf.slice(s..e),
        });
    }
    Ok((start, headers))
}

fn parse_start_line(buf: &Bytes, s: usize, e: usize) -> Result<StartLine, ParseError> {
    let line = &buf[s..e];
    if line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"SIP/") {
        return parse_status_line(buf, s, e);
    }
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::StartLine);
    };
    if method.is_empty() || !method.iter().all(|&b| is_token(b)) || uri.is_empty() {
        return Err(ParseError::StartLine);
    }
    check_version(version)?;
    let method = Method::from_token(
        SipStr::from_bytes(buf.slice(s..s + method.len())).ok_or(ParseError::StartLine)?,
    );
    let uri_start = s + method.as_str().len() + 1;
    let uri_text = SipStr::from_bytes(buf.slice(uri_start..uri_start + uri.len()))
        .ok_or(ParseError::RequestUri("invalid utf-8"))?;
    let uri = Uri::parse(&uri_text).map_err(ParseError::RequestUri)?;
    if uri.as_sip().is_some_and(|u| u.headers.is_some()) {
        return Err(ParseError::RequestUri(
            "headers are not allowed in a request-uri",
        ));
    }
    Ok(StartLine::Request { method, uri })
}

fn check_version(v: &[u8]) -> Result<(), ParseError> {
    if v.len() == 7 && v[..4].eq_ignore_ascii_case(b"SIP/") && &v[4..] == b"2.0" {
        Ok(())
    } else if v.len() > 4 && v[..4].eq_ignore_ascii_case(b"SIP/") {
        Err(ParseError::Version)
    } else {
        Err(ParseError::StartLine)
    }
}

fn parse_status_line(buf: &Bytes, s: usize, e: usize) -> Result<StartLine, ParseError> {
    let line = &buf[s..e];
    let sp = memchr(b' ', line).ok_or(ParseError::StartLine)?;
    check_version(&line[..sp])?;
    let rest = &line[sp + 1..];
    let code_end = memchr(b' ', rest).unwrap_or(rest.len());
    if code_end != 3 {
        return Err(ParseError::StatusCode);
    }
    let status = parse_decimal(&rest[..3], 999)
        .and_then(|c| StatusCode::new(c as u16))
        .ok_or(ParseError::StatusCode)?;
    let reason_start = (s + sp + 1 + code_end + 1).min(e);
    let reason = SipStr::from_bytes(buf.slice(reason_start..e)).ok_or(ParseError::StartLine)?;
    Ok(StartLine::Response { status, reason })
}

/// Fills the typed view of one header; the raw line is kept by the caller.
fn apply(
    h: &mut Headers,
    name: &HeaderName,
    buf: &Bytes,
    s: usize,
    e: usize,
    utf8: bool,
) -> Result<(), &'static str> {
    let mut c = Cursor::new(buf, s, e).known_utf8(utf8);
    macro_rules! once {
        ($field:ident, $parse:expr) => {{
            if h.$field.is_some() {
                h.repeated.push(name.clone());
            } else {
                h.$field = Some($parse);
            }
        }};
    }
    match name {
        HeaderName::Via => Via::parse_list(&mut c, &mut h.via)?,
        HeaderName::From => once!(from, single_addr(&mut c)?),
        HeaderName::To => once!(to, single_addr(&mut c)?),
        HeaderName::CallId => {
            if s == e || buf[s..e].iter().any(|&b| is_lws(b)) {
                return Err("call-id must be one word");
            }
            once!(call_id, CallId::new(c.str(s, e)?))
        }
        HeaderName::CSeq => {
            let seq = c
                .number((1 << 31) - 1)
                .map_err(|_| "sequence number out of range")?;
            if !c.skip_lws() {
                return Err("missing method");
            }
            let method = c.token().ok_or("missing method")?;
            c.expect_end()?;
            once!(
                cseq,
                CSeq {
                    seq: seq as u32,
                    method: Method::from_token(method),
                }
            )
        }
        HeaderName::MaxForwards => {
            let n = c.number(255)?;
            c.expect_end()?;
            once!(max_forwards, n as u8)
        }
        HeaderName::ContentLength => {
            let n = c.number(u64::from(u32::MAX))?;
            c.expect_end()?;
            once!(content_length, n as u32)
        }
        HeaderName::ContentType => {
            if !buf[s..e].contains(&b'/') {
                return Err("media type needs a subtype");
            }
            once!(content_type, c.str(s, e)?)
        }
        HeaderName::Expires => {
            let (ds, de) = c.take_while(|b| b.is_ascii_digit());
            if ds == de {
                return Err("expected a number");
            }
            c.expect_end()?;
            let n = parse_decimal(&buf[ds..de], u64::from(u32::MAX)).unwrap_or(u64::from(u32::MAX));
            once!(expires, n as u32)
        }
        HeaderName::Date if (!buf[s..e].ends_with(b" GMT") || !buf[s..e].contains(&b',')) => {
            return Err("date must be an rfc 1123 date in GMT");
        }
        HeaderName::Contact => {
            if &buf[s..e] == b"*" {
                h.contact.push(Contact::Star);
            } else {
                let mut addrs = Vec::new();
                NameAddr::parse_list(&mut c, &mut addrs)?;
                h.contact.extend(addrs.into_iter().map(Contact::Addr));
            }
        }
        HeaderName::Route => NameAddr::parse_list(&mut c, &mut h.route)?,
        HeaderName::RecordRoute => NameAddr::parse_list(&mut c, &mut h.record_route)?,
        _ => {}
    }
    Ok(())
}

fn single_addr(c: &mut Cursor<'_>) -> Result<NameAddr, &'static str> {
    let addr = NameAddr::parse(c)?;
    c.expect_end()?;
    Ok(addr)
}

/// Builds a response to a request that did not parse, from its raw Via, From,
/// To, Call-ID and CSeq lines, when they can be found; `None` when no response
/// can be formed (then the message is dropped). The reason goes in a Warning.
pub fn salvage_response(buf: &[u8], status: StatusCode, why: &str) -> Option<Bytes> {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n')?;
    let buf = &buf[start..];
    if buf.len() >= 4 && buf[..4].eq_ignore_ascii_case(b"SIP/") {
        return None; // never answer a response
    }
    let head_end = memmem::find(buf, b"\r\n\r\n")
        .or_else(|| memmem::find(buf, b"\n\n"))
        .unwrap_or(buf.len());
    let head = &buf[..head_end];
    let mut lines: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for raw in head.split(|&b| b == b'\n').skip(1) {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            if let Some(last) = lines.last_mut() {
                last.1.push(b' ');
                last.1.extend_from_slice(raw.trim_ascii());
            }
            continue;
        }
        let Some(colon) = memchr(b':', raw) else {
            continue;
        };
        lines.push((
            raw[..colon].trim_ascii().to_vec(),
            raw[colon + 1..].trim_ascii().to_vec(),
        ));
    }
    let find = |long: &'static str, compact: &'static str| {
        lines.iter().filter(move |(n, _)| {
            n.eq_ignore_ascii_case(long.as_bytes()) || n.eq_ignore_ascii_case(compact.as_bytes())
        })
    };
    let vias: Vec<&Vec<u8>> = find("via", "v").map(|(_, v)| v).collect();
    let from = find("from", "f").next()?;
    let to = find("to", "t").next()?;
    let call_id = find("call-id", "i").next()?;
    let cseq = find("cseq", "cseq").next()?;
    if vias.is_empty() {
        return None;
    }
    let mut out = format!("SIP/2.0 {} {}\r\n", status, status.canonical_reason()).into_bytes();
    for v in vias {
        out.extend_from_slice(b"Via: ");
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
    for (name, (_, v)) in [
        ("From", from),
        ("To", to),
        ("Call-ID", call_id),
        ("CSeq", cseq),
    ] {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v);
        if name == "To" && !v.windows(4).any(|w| w.eq_ignore_ascii_case(b"tag=")) {
            out.extend_from_slice(b";tag=cl-bad");
        }
        out.extend_from_slice(b"\r\n");
    }
    let why: String = why
        .chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
        .collect();
    out.extend_from_slice(
        format!("Warning: 399 careline \"{why}\"\r\nContent-Length: 0\r\n\r\n").as_bytes(),
    );
    Some(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &[u8]) -> Result<Message, ParseError> {
        parse_datagram(Bytes::copy_from_slice(text))
    }

    #[test]
    fn bare_cr_inside_a_header_is_refused() {
        // Found by the round-trip property: the CR in the display name was
        // kept as received, but came out as a space in the canonical form.
        let msg =
            b"OPTIONS sip:a@b SIP/2.0\r\nFrom: \"a\rb\"\r\n <sip:x@y>;tag=1\r\nCall-ID: c\r\n\r\n";
        assert_eq!(parse(msg).unwrap_err(), ParseError::HeaderLine);
        let msg = b"OPTIONS sip:a@b SIP/2.0\r\nX-Odd: a\rb\r\n\r\n";
        assert_eq!(parse(msg).unwrap_err(), ParseError::HeaderLine);
    }

    #[test]
    fn bare_cr_in_a_reason_phrase_is_refused() {
        let msg = b"SIP/2.0 200 O\rK\r\nCall-ID: c\r\n\r\n";
        assert_eq!(parse(msg).unwrap_err(), ParseError::StartLine);
    }

    #[test]
    fn lines_ending_in_crlf_or_lf_still_parse() {
        let m = parse(b"SIP/2.0 200 OK\nCall-ID: c\r\nCSeq: 1\r\n INVITE\n\n").unwrap();
        assert_eq!(m.call_id().unwrap().as_str(), "c");
        assert_eq!(m.cseq().unwrap().seq, 1);
    }
}
