//! `name-addr` / `addr-spec` with header parameters: From, To, Contact, Route.

use std::fmt;

use super::params::Params;
use super::scan::{Cursor, is_lws, is_token};
use super::text::{SipStr, Tag};
use super::uri::Uri;

/// An address with an optional display name and header parameters.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NameAddr {
    /// The display name as written: a quoted string with its quotes, or tokens.
    pub display: Option<SipStr>,
    /// The address.
    pub uri: Uri,
    /// Header parameters after the address (`;tag=…`, `;expires=…`).
    pub params: Params,
}

impl NameAddr {
    /// An address without display name or parameters.
    pub fn new(uri: Uri) -> NameAddr {
        NameAddr {
            display: None,
            uri,
            params: Params::new(),
        }
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<Tag> {
        self.params.value("tag").map(|t| Tag::new(t.clone()))
    }

    /// Parses one address at the cursor, stopping before a `,` or the end.
    pub(crate) fn parse(c: &mut Cursor<'_>) -> Result<NameAddr, &'static str> {
        c.skip_lws();
        let mut display = None;
        match c.peek() {
            Some(b'"') => {
                display = Some(c.quoted()?);
                c.skip_lws();
                if !c.eat(b'<') {
                    return Err("expected '<' after the display name");
                }
            }
            Some(b'<') => {
                c.eat(b'<');
            }
            _ => {
                let start = c.pos;
                let (s, e) = c.take_while(is_token);
                if s < e && c.peek() == Some(b':') {
                    // addr-spec: a bare URI, which ends at ';', ',' or white space.
                    c.pos = start;
                    let (s, e) = c.take_while(|b| !is_lws(b) && b != b';' && b != b',');
                    let uri = Uri::parse(&c.str(s, e)?)?;
                    if uri.as_sip().is_some_and(|u| u.headers.is_some()) {
                        return Err("a uri with headers must be enclosed in <>");
                    }
                    let params = Params::parse_header(c)?;
                    return Ok(NameAddr {
                        display: None,
                        uri,
                        params,
                    });
                }
                let mut last = e;
                if s == e {
                    return Err("malformed display name");
                }
                loop {
                    c.skip_lws();
                    if c.eat(b'<') {
                        break;
                    }
                    let (s, e) = c.take_while(is_token);
                    if s == e {
                        return Err("display name holds non-token characters");
                    }
                    last = e;
                }
                display = Some(c.str(start, last)?);
            }
        }
        let (s, e) = c.take_while(|b| b != b'>');
        if !c.eat(b'>') {
            return Err("missing '>'");
        }
        let uri = Uri::parse(&c.str(s, e)?)?;
        let params = Params::parse_header(c)?;
        Ok(NameAddr {
            display,
            uri,
            params,
        })
    }

    /// Parses a comma-separated list of addresses filling a whole header value.
    pub(crate) fn parse_list(
        c: &mut Cursor<'_>,
        out: &mut Vec<NameAddr>,
    ) -> Result<(), &'static str> {
        loop {
            out.push(NameAddr::parse(c)?);
            if !c.eat_sep(b',') {
                return c.expect_end();
            }
        }
    }
}

impl std::str::FromStr for NameAddr {
    type Err = &'static str;

    /// Parses one address written as in a header value (`"Name" <sip:…>;p=v`).
    fn from_str(s: &str) -> Result<NameAddr, &'static str> {
        let bytes = bytes::Bytes::copy_from_slice(s.as_bytes());
        let mut c = Cursor::new(&bytes, 0, bytes.len());
        let addr = NameAddr::parse(&mut c)?;
        c.expect_end()?;
        Ok(addr)
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            write!(f, "{d} ")?;
        }
        write!(f, "<{}>{}", self.uri, self.params)
    }
}
