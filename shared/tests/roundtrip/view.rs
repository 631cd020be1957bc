//! Plain views of parsed values, so a generated model and a parsed message can
//! be compared field by field with readable failure output.

use careline_shared::sip::{Contact, HeaderName, Host, Message, NameAddr, StartLine, Uri, Via};

/// Parameters in order: name and value as written (quoted values with quotes).
pub type Params = Vec<(String, Option<String>)>;

#[derive(Clone, Debug, PartialEq)]
pub enum UriView {
    Sip {
        secure: bool,
        user: Option<String>,
        password: Option<String>,
        host: Host,
        port: Option<u16>,
        params: Params,
        headers: Option<String>,
    },
    Tel(String),
    Other {
        scheme: String,
        rest: String,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct AddrView {
    pub display: Option<String>,
    pub uri: UriView,
    pub params: Params,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ViaView {
    pub transport: String,
    pub host: Host,
    pub port: Option<u16>,
    pub params: Params,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ContactView {
    Star,
    Addr(AddrView),
}

#[derive(Clone, Debug, PartialEq)]
pub enum StartView {
    Request { method: String, uri: UriView },
    Response { code: u16, reason: String },
}

impl Default for StartView {
    fn default() -> StartView {
        StartView::Response {
            code: 0,
            reason: String::new(),
        }
    }
}

/// What parsing a generated message must give.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Expected {
    pub start: StartView,
    pub vias: Vec<ViaView>,
    pub from: Option<AddrView>,
    pub to: Option<AddrView>,
    pub call_id: Option<String>,
    pub cseq: Option<(u32, String)>,
    pub contact: Vec<ContactView>,
    pub route: Vec<AddrView>,
    pub max_forwards: Option<u8>,
    /// Every header line in order: name and unfolded value.
    pub headers: Vec<(HeaderName, String)>,
    pub body: Vec<u8>,
}

fn params(p: &careline_shared::sip::Params) -> Params {
    p.iter()
        .map(|(n, v)| (n.to_string(), v.map(|v| v.to_string())))
        .collect()
}

pub fn uri(u: &Uri) -> UriView {
    match u {
        Uri::Sip(s) => UriView::Sip {
            secure: s.secure,
            user: s.user.as_ref().map(|u| u.to_string()),
            password: s.password.as_ref().map(|p| p.to_string()),
            host: s.host.clone(),
            port: s.port,
            params: params(&s.params),
            headers: s.headers.as_ref().map(|h| h.to_string()),
        },
        Uri::Tel(rest) => UriView::Tel(rest.to_string()),
        Uri::Other { scheme, rest } => UriView::Other {
            scheme: scheme.to_string(),
            rest: rest.to_string(),
        },
    }
}

pub fn addr(a: &NameAddr) -> AddrView {
    AddrView {
        display: a.display.as_ref().map(|d| d.to_string()),
        uri: uri(&a.uri),
        params: params(&a.params),
    }
}

pub fn via(v: &Via) -> ViaView {
    ViaView {
        transport: v.transport.to_string(),
        host: v.host.clone(),
        port: v.port,
        params: params(&v.params),
    }
}

/// The view of a parsed message, comparable with [`Expected`].
pub fn message(m: &Message) -> Expected {
    let h = &m.headers;
    Expected {
        start: match &m.start {
            StartLine::Request { method, uri: u } => StartView::Request {
                method: method.to_string(),
                uri: uri(u),
            },
            StartLine::Response { status, reason } => StartView::Response {
                code: status.as_u16(),
                reason: reason.to_string(),
            },
        },
        vias: h.via.iter().map(via).collect(),
        from: h.from.as_ref().map(addr),
        to: h.to.as_ref().map(addr),
        call_id: h.call_id.as_ref().map(|c| c.to_string()),
        cseq: h.cseq.as_ref().map(|c| (c.seq, c.method.to_string())),
        contact: h
            .contact
            .iter()
            .map(|c| match c {
                Contact::Star => ContactView::Star,
                Contact::Addr(a) => ContactView::Addr(addr(a)),
            })
            .collect(),
        route: h.route.iter().map(addr).collect(),
        max_forwards: h.max_forwards,
        headers: h
            .all
            .iter()
            .map(|h| (h.name.clone(), h.value_str().into_owned()))
            .collect(),
        body: m.body.to_vec(),
    }
}
