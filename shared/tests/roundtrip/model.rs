//! Generated SIP messages for the round-trip properties: a model of what the
//! parser must find (drawn by `strategy.rs`), and its rendering to wire text with the spellings the
//! grammar leaves open — compact and oddly cased header names, LWS and folds
//! around separators, quoted display names with escapes, IPv6 written long or
//! short. Those choices are drawn from a seed while rendering, so one model
//! has many wire forms and shrinking still works on the model.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use careline_shared::sip::{HeaderName, Host, SipStr};

use super::view::{AddrView, ContactView, Expected, Params, StartView, UriView, ViaView};

/// Linear white space as it may stand around a separator: blanks, or a fold
/// (CRLF and at least one SP or HT) with blanks before it.
const LWS: [&str; 8] = [
    " ", "\t", "  ", " \t", "\r\n ", "\r\n\t", " \r\n  ", "\t\r\n ",
];

/// The spelling choices of one rendering (splitmix64).
pub struct Noise(u64);

impl Noise {
    pub fn new(seed: u64) -> Noise {
        Noise(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    /// LWS: never empty.
    fn lws(&mut self) -> &'static str {
        LWS[self.below(LWS.len())]
    }

    /// SWS: usually nothing.
    fn sws(&mut self) -> &'static str {
        if self.one_in(3) { self.lws() } else { "" }
    }
}

/// Header text being written, with its unfolded reading beside it: a fold
/// and the white space after it read as one SP (RFC 3261 §7.3.1).
#[derive(Default)]
struct Out {
    wire: String,
    plain: String,
    in_fold: bool,
}

impl Out {
    fn push(&mut self, s: &str) {
        self.wire.push_str(s);
        for ch in s.chars() {
            match ch {
                '\r' | '\n' if self.in_fold => {}
                '\r' | '\n' => {
                    self.plain.push(' ');
                    self.in_fold = true;
                }
                ' ' | '\t' if self.in_fold => {}
                c => {
                    self.plain.push(c);
                    self.in_fold = false;
                }
            }
        }
    }

    /// `SWS c SWS`.
    fn sep(&mut self, n: &mut Noise, c: &str) {
        self.push(n.sws());
        self.push(c);
        self.push(n.sws());
    }
}

// ------------------------------------------------------------------ model

#[derive(Clone, Debug)]
pub enum GenHost {
    Domain(String),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

impl GenHost {
    fn typed(&self) -> Host {
        match self {
            GenHost::Domain(d) => Host::Domain(SipStr::from(d.as_str())),
            GenHost::V4(a) => Host::Ipv4(*a),
            GenHost::V6(a) => Host::Ipv6(*a),
        }
    }

    /// As a URI or sent-by host: IPv6 in brackets, short or written out in full.
    fn write(&self, n: &mut Noise) -> String {
        match self {
            GenHost::V6(_) => format!("[{}]", self.bare(n)),
            _ => self.bare(n),
        }
    }

    /// As a `received` value: IPv6 without brackets.
    pub fn bare(&self, n: &mut Noise) -> String {
        match self {
            GenHost::Domain(d) => d.clone(),
            GenHost::V4(a) => a.to_string(),
            GenHost::V6(a) if n.one_in(2) => a.to_string(),
            GenHost::V6(a) => {
                let upper = n.one_in(2);
                let segs: Vec<String> = a
                    .segments()
                    .iter()
                    .map(|s| {
                        if upper {
                            format!("{s:X}")
                        } else {
                            format!("{s:x}")
                        }
                    })
                    .collect();
                segs.join(":")
            }
        }
    }
}

#[derive(Clone, Debug)]
pub enum GenUri {
    Sip {
        secure: bool,
        user: Option<String>,
        password: Option<String>,
        host: GenHost,
        port: Option<u16>,
        params: Vec<(String, Option<String>)>,
        headers: Option<String>,
    },
    Tel(String),
    Other {
        scheme: String,
        rest: String,
    },
}

impl GenUri {
    /// Whether the URI may stand without `<>` in a header (RFC 3261 §20.10:
    /// not when it holds a comma, question mark or semicolon).
    fn bare_ok(&self) -> bool {
        let clean = |s: &str| !s.contains([',', ';', '?']);
        match self {
            GenUri::Sip {
                user,
                password,
                params,
                headers,
                ..
            } => {
                user.as_deref().is_none_or(clean)
                    && password.as_deref().is_none_or(clean)
                    && params.is_empty()
                    && headers.is_none()
            }
            GenUri::Tel(rest) | GenUri::Other { rest, .. } => clean(rest),
        }
    }

    fn write(&self, n: &mut Noise) -> String {
        let mut s = String::new();
        match self {
            GenUri::Sip {
                secure,
                user,
                password,
                host,
                port,
                params,
                headers,
            } => {
                let scheme = if *secure { "sips" } else { "sip" };
                s.push_str(&match n.below(4) {
                    0 => scheme.to_ascii_uppercase(),
                    1 => format!("S{}", &scheme[1..]),
                    _ => scheme.to_string(),
                });
                s.push(':');
                if let Some(user) = user {
                    s.push_str(user);
                    if let Some(pw) = password {
                        let _ = write!(s, ":{pw}");
                    }
                    s.push('@');
                }
                s.push_str(&host.write(n));
                if let Some(port) = port {
                    let _ = write!(s, ":{port}");
                }
                for (name, value) in params {
                    let _ = write!(s, ";{name}");
                    if let Some(v) = value {
                        let _ = write!(s, "={v}");
                    }
                }
                if let Some(h) = headers {
                    let _ = write!(s, "?{h}");
                }
            }
            GenUri::Tel(rest) => {
                let scheme = if n.one_in(3) { "TEL" } else { "tel" };
                let _ = write!(s, "{scheme}:{rest}");
            }
            GenUri::Other { scheme, rest } => {
                let _ = write!(s, "{scheme}:{rest}");
            }
        }
        s
    }

    pub fn view(&self) -> UriView {
        match self {
            GenUri::Sip {
                secure,
                user,
                password,
                host,
                port,
                params,
                headers,
            } => UriView::Sip {
                secure: *secure,
                user: user.clone(),
                password: password.clone(),
                host: host.typed(),
                port: *port,
                params: params.clone(),
                headers: headers.clone(),
            },
            GenUri::Tel(rest) => UriView::Tel(rest.clone()),
            GenUri::Other { scheme, rest } => UriView::Other {
                scheme: scheme.clone(),
                rest: rest.clone(),
            },
        }
    }
}

/// A piece of a quoted string.
#[derive(Clone, Debug)]
pub enum QPiece {
    /// qdtext: anything but `"`, `\` and line breaks (UTF-8 included).
    Text(String),
    /// A quoted-pair, `\` and the character.
    Escape(char),
    /// LWS, possibly a fold.
    Space,
}

fn write_quoted(out: &mut Out, n: &mut Noise, pieces: &[QPiece]) {
    out.push("\"");
    for p in pieces {
        match p {
            QPiece::Text(t) => out.push(t),
            QPiece::Escape(c) => out.push(&format!("\\{c}")),
            QPiece::Space => out.push(n.lws()),
        }
    }
    out.push("\"");
}

/// A generic parameter value.
#[derive(Clone, Debug)]
pub enum GenValue {
    Token(String),
    Host(GenHost),
    Quoted(Vec<QPiece>),
}

/// Writes `;name[=value]` parameters; returns them as the parser must see them.
fn write_params(out: &mut Out, n: &mut Noise, params: &[(String, Option<GenValue>)]) -> Params {
    let mut seen = Vec::new();
    for (name, value) in params {
        out.sep(n, ";");
        out.push(name);
        let value = value.as_ref().map(|v| {
            out.sep(n, "=");
            let start = out.plain.len();
            match v {
                GenValue::Token(t) => out.push(t),
                GenValue::Host(h) => out.push(&h.write(n)),
                GenValue::Quoted(pieces) => write_quoted(out, n, pieces),
            }
            out.plain[start..].to_string()
        });
        seen.push((name.clone(), value));
    }
    seen
}

#[derive(Clone, Debug)]
pub enum GenDisplay {
    None,
    Tokens(Vec<String>),
    Quoted(Vec<QPiece>),
}

#[derive(Clone, Debug)]
pub struct GenAddr {
    pub display: GenDisplay,
    pub uri: GenUri,
    /// Written as a bare addr-spec when the grammar allows it.
    pub bare: bool,
    pub params: Vec<(String, Option<GenValue>)>,
}

impl GenAddr {
    fn write(&self, out: &mut Out, n: &mut Noise) -> AddrView {
        let start = out.plain.len();
        let display = match &self.display {
            GenDisplay::None => None,
            GenDisplay::Tokens(words) => {
                for (i, w) in words.iter().enumerate() {
                    if i > 0 {
                        out.push(n.lws());
                    }
                    out.push(w);
                }
                Some(out.plain[start..].to_string())
            }
            GenDisplay::Quoted(pieces) => {
                write_quoted(out, n, pieces);
                Some(out.plain[start..].to_string())
            }
        };
        let uri = self.uri.write(n);
        if display.is_none() && self.bare && self.uri.bare_ok() {
            out.push(&uri);
        } else {
            if display.is_some() {
                out.push(n.sws());
            }
            out.push(&format!("<{uri}>"));
        }
        let params = write_params(out, n, &self.params);
        AddrView {
            display,
            uri: self.uri.view(),
            params,
        }
    }
}

#[derive(Clone, Debug)]
pub struct GenVia {
    pub transport: String,
    pub host: GenHost,
    pub port: Option<u16>,
    pub params: Vec<(String, Option<GenValue>)>,
}

impl GenVia {
    fn write(&self, out: &mut Out, n: &mut Noise) -> ViaView {
        out.push(if n.one_in(4) { "sip" } else { "SIP" });
        out.sep(n, "/");
        out.push("2.0");
        out.sep(n, "/");
        out.push(&self.transport);
        out.push(n.lws());
        out.push(&self.host.write(n));
        if let Some(port) = self.port {
            out.sep(n, ":");
            out.push(&port.to_string());
        }
        let params = write_params(out, n, &self.params);
        ViaView {
            transport: self.transport.clone(),
            host: self.host.typed(),
            port: self.port,
            params,
        }
    }
}

#[derive(Clone, Debug)]
pub enum Hdr {
    /// One line holding comma-separated values.
    Via(Vec<GenVia>),
    From(GenAddr),
    To(GenAddr),
    CallId(String),
    /// The method is the request's (set when the message is assembled).
    CSeq(u32, String),
    /// `None` is `Contact: *`.
    Contact(Option<Vec<GenAddr>>),
    Route(Vec<GenAddr>),
    MaxForwards(u8),
    Subject(Vec<String>),
    Supported(Vec<String>),
    ContentType(String, Vec<(String, Option<GenValue>)>),
    /// A header nobody knows: name and blank-separated words.
    Extension(String, Vec<String>),
}

#[derive(Clone, Debug)]
pub enum GenStart {
    Request { method: String, uri: GenUri },
    Response { code: u16, reason: String },
}

/// How Content-Length is written.
#[derive(Clone, Copy, Debug)]
pub enum Length {
    Long,
    Compact,
    LeadingZeros,
    /// Left out: the body is the rest of the datagram.
    Absent,
}

#[derive(Clone, Debug)]
pub struct Msg {
    pub start: GenStart,
    pub headers: Vec<Hdr>,
    pub body: Vec<u8>,
    pub length: Length,
    pub leading_crlf: bool,
    pub seed: u64,
}

/// A rendered message and what parsing it must give.
pub struct Wire {
    pub bytes: Vec<u8>,
    pub expect: Expected,
}

/// A header name as written: one of the long name's spellings, or the compact form.
fn spell(n: &mut Noise, long: &str, compact: Option<char>) -> String {
    if let Some(c) = compact.filter(|_| n.one_in(3)) {
        return if n.one_in(2) {
            c.to_ascii_uppercase()
        } else {
            c
        }
        .to_string();
    }
    match n.below(5) {
        0 => long.to_ascii_lowercase(),
        1 => long.to_ascii_uppercase(),
        _ => long.to_string(),
    }
}

impl Msg {
    pub fn render(&self) -> Wire {
        let mut n = Noise::new(self.seed);
        let mut bytes = Vec::new();
        if self.leading_crlf {
            bytes.extend_from_slice(b"\r\n");
        }
        let start = match &self.start {
            GenStart::Request { method, uri } => {
                let _ = write!(
                    ByteWriter(&mut bytes),
                    "{method} {} SIP/2.0\r\n",
                    uri.write(&mut n)
                );
                StartView::Request {
                    method: method.clone(),
                    uri: uri.view(),
                }
            }
            GenStart::Response { code, reason } => {
                if reason.is_empty() && n.one_in(2) {
                    let _ = write!(ByteWriter(&mut bytes), "SIP/2.0 {code}\r\n");
                } else {
                    let _ = write!(ByteWriter(&mut bytes), "SIP/2.0 {code} {reason}\r\n");
                }
                StartView::Response {
                    code: *code,
                    reason: reason.clone(),
                }
            }
        };
        let mut expect = Expected {
            start,
            body: self.body.clone(),
            ..Expected::default()
        };

        let mut order: Vec<usize> = (0..self.headers.len()).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, n.below(i + 1));
        }
        let length_at = n.below(order.len() + 1);
        for (i, &h) in order.iter().enumerate() {
            if i == length_at {
                self.write_length(&mut bytes, &mut expect, &mut n);
            }
            write_header(&self.headers[h], &mut bytes, &mut expect, &mut n);
        }
        if length_at == order.len() {
            self.write_length(&mut bytes, &mut expect, &mut n);
        }
        bytes.extend_from_slice(b"\r\n");
        bytes.extend_from_slice(&self.body);
        Wire { bytes, expect }
    }

    fn write_length(&self, bytes: &mut Vec<u8>, expect: &mut Expected, n: &mut Noise) {
        let len = self.body.len();
        let (name, value) = match self.length {
            Length::Absent => return,
            Length::Long => (spell(n, "Content-Length", None), len.to_string()),
            Length::Compact => ("l".to_string(), len.to_string()),
            Length::LeadingZeros => ("Content-Length".to_string(), format!("{len:05}")),
        };
        let mut out = Out::default();
        out.push(&value);
        finish_line(bytes, expect, n, HeaderName::ContentLength, &name, out);
    }
}

/// `io::Write`-free byte sink for `write!`.
struct ByteWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Writes `name HCOLON value [SWS] CRLF` and records the header as the parser must keep it.
fn finish_line(
    bytes: &mut Vec<u8>,
    expect: &mut Expected,
    n: &mut Noise,
    name: HeaderName,
    spelled: &str,
    mut value: Out,
) {
    let before_colon = ["", "", " ", "\t"][n.below(4)];
    let after_colon = if n.one_in(6) {
        ""
    } else {
        [" ", " ", " ", "\t", "  ", "\r\n "][n.below(6)]
    };
    if n.one_in(8) {
        value.push(n.lws());
    }
    let _ = write!(
        ByteWriter(bytes),
        "{spelled}{before_colon}:{after_colon}{}\r\n",
        value.wire
    );
    let plain = value.plain.trim_end_matches([' ', '\t']).to_string();
    expect.headers.push((name, plain));
}

fn write_header(h: &Hdr, bytes: &mut Vec<u8>, expect: &mut Expected, n: &mut Noise) {
    let mut out = Out::default();
    let (name, long, compact) = match h {
        Hdr::Via(vias) => {
            for (i, v) in vias.iter().enumerate() {
                if i > 0 {
                    out.sep(n, ",");
                }
                let view = v.write(&mut out, n);
                expect.vias.push(view);
            }
            (HeaderName::Via, "Via", Some('v'))
        }
        Hdr::From(a) => {
            let view = a.write(&mut out, n);
            expect.from.get_or_insert(view);
            (HeaderName::From, "From", Some('f'))
        }
        Hdr::To(a) => {
            let view = a.write(&mut out, n);
            expect.to.get_or_insert(view);
            (HeaderName::To, "To", Some('t'))
        }
        Hdr::CallId(id) => {
            out.push(id);
            expect.call_id.get_or_insert(id.clone());
            (HeaderName::CallId, "Call-ID", Some('i'))
        }
        Hdr::CSeq(seq, method) => {
            out.push(&seq.to_string());
            out.push(n.lws());
            out.push(method);
            expect.cseq.get_or_insert((*seq, method.clone()));
            (HeaderName::CSeq, "CSeq", None)
        }
        Hdr::Contact(None) => {
            out.push("*");
            expect.contact.push(ContactView::Star);
            (HeaderName::Contact, "Contact", Some('m'))
        }
        Hdr::Contact(Some(addrs)) => {
            for (i, a) in addrs.iter().enumerate() {
                if i > 0 {
                    out.sep(n, ",");
                }
                let view = a.write(&mut out, n);
                expect.contact.push(ContactView::Addr(view));
            }
            (HeaderName::Contact, "Contact", Some('m'))
        }
        Hdr::Route(addrs) => {
            for (i, a) in addrs.iter().enumerate() {
                if i > 0 {
                    out.sep(n, ",");
                }
                let view = a.write(&mut out, n);
                expect.route.push(view);
            }
            (HeaderName::Route, "Route", None)
        }
        Hdr::MaxForwards(hops) => {
            out.push(&hops.to_string());
            expect.max_forwards.get_or_insert(*hops);
            (HeaderName::MaxForwards, "Max-Forwards", None)
        }
        Hdr::Subject(words) => {
            write_words(&mut out, n, words);
            (HeaderName::Subject, "Subject", Some('s'))
        }
        Hdr::Supported(tags) => {
            for (i, t) in tags.iter().enumerate() {
                if i > 0 {
                    out.sep(n, ",");
                }
                out.push(t);
            }
            (HeaderName::Supported, "Supported", Some('k'))
        }
        Hdr::ContentType(media, params) => {
            let (ty, sub) = media
                .split_once('/')
                .expect("media types are generated with a slash");
            out.push(ty);
            out.sep(n, "/");
            out.push(sub);
            write_params(&mut out, n, params);
            (HeaderName::ContentType, "Content-Type", Some('c'))
        }
        Hdr::Extension(name, words) => {
            write_words(&mut out, n, words);
            let header = HeaderName::Other(SipStr::from(name.as_str()));
            finish_line(bytes, expect, n, header, name, out);
            return;
        }
    };
    let spelled = spell(n, long, compact);
    finish_line(bytes, expect, n, name, &spelled, out);
}

fn write_words(out: &mut Out, n: &mut Noise, words: &[String]) {
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            out.push(n.lws());
        }
        out.push(w);
    }
}
